//! The OpenAI-compatible API of the gateway, translated to and from
//! Bedrock: `POST /v1/chat/completions` to Converse or ConverseStream
//! (server-sent events), `POST /v1/embeddings` to an embedding model's
//! InvokeModel, `GET /v1/models` from the config's `[models]`.
//!
//! Only the translation lives here: requests in, Bedrock's shapes out, and
//! back. The HTTP side is in `http.rs`, the calls in `mod.rs`.

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, StopReason, SystemContentBlock,
};
use serde_json::{Value, json};

/// A chat completion request, checked and translated.
#[derive(Debug)]
pub(crate) struct ChatRequest {
    /// The model as the client named it (an alias or an id).
    pub(crate) model: String,
    pub(crate) system: Vec<SystemContentBlock>,
    pub(crate) messages: Vec<Message>,
    pub(crate) inference: InferenceConfiguration,
    pub(crate) stream: bool,
    /// `stream_options.include_usage`: a last chunk with the token counts.
    pub(crate) include_usage: bool,
}

/// The text of a message's `content`: a string, or the `text` parts of a
/// list of parts. Other parts (images) are refused by the caller.
fn content_text(content: &Value) -> Result<String, String> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut out = Vec::new();
            for p in parts {
                match p["type"].as_str() {
                    Some("text") => out.push(p["text"].as_str().unwrap_or_default().to_string()),
                    Some(other) => {
                        return Err(format!(
                            "content part type {other} is not supported by this gateway yet; send text"
                        ));
                    }
                    None => return Err("a content part without a type".into()),
                }
            }
            Ok(out.join("\n"))
        }
        Value::Null => Ok(String::new()),
        _ => Err("content must be a string or a list of parts".into()),
    }
}

/// Reads a chat completion request; the error is the message for a 400.
pub(crate) fn chat_request(body: &Value) -> Result<ChatRequest, String> {
    let model = body["model"]
        .as_str()
        .filter(|m| !m.is_empty())
        .ok_or("model is required")?
        .to_string();
    let list = body["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or("messages must be a non-empty list")?;
    let mut system = Vec::new();
    let mut messages: Vec<(ConversationRole, String)> = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let text = content_text(&m["content"]).map_err(|e| format!("messages[{i}]: {e}"))?;
        let role = match m["role"].as_str() {
            Some("system" | "developer") => {
                system.push(SystemContentBlock::Text(text));
                continue;
            }
            Some("user") => ConversationRole::User,
            Some("assistant") => ConversationRole::Assistant,
            Some(other) => {
                return Err(format!(
                    "messages[{i}]: role {other} is not supported by this gateway yet (system, user, assistant)"
                ));
            }
            None => return Err(format!("messages[{i}]: role is required")),
        };
        // Converse wants turns that alternate: consecutive messages of one
        // role are one turn.
        match messages.last_mut() {
            Some((last, t)) if *last == role => {
                t.push_str("\n\n");
                t.push_str(&text);
            }
            _ => messages.push((role, text)),
        }
    }
    if messages
        .first()
        .is_none_or(|(r, _)| *r != ConversationRole::User)
    {
        return Err(
            "the conversation must start with a user message (after any system messages)".into(),
        );
    }
    let messages = messages
        .into_iter()
        .map(|(role, text)| {
            Message::builder()
                .role(role)
                .content(ContentBlock::Text(text))
                .build()
                .expect("role and content set")
        })
        .collect();
    let number = |k: &str| body[k].as_f64();
    let max_tokens = body["max_completion_tokens"]
        .as_i64()
        .or_else(|| body["max_tokens"].as_i64());
    let stop: Option<Vec<String>> = match &body["stop"] {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    };
    let inference = InferenceConfiguration::builder()
        .set_max_tokens(max_tokens.map(|n| n.clamp(1, i64::from(i32::MAX)) as i32))
        .set_temperature(number("temperature").map(|t| t as f32))
        .set_top_p(number("top_p").map(|t| t as f32))
        .set_stop_sequences(stop)
        .build();
    Ok(ChatRequest {
        model,
        system,
        messages,
        inference,
        stream: body["stream"].as_bool().unwrap_or(false),
        include_usage: body["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false),
    })
}

/// OpenAI's `finish_reason` for a Converse stop reason.
pub(crate) fn finish_reason(stop: &StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFiltered | StopReason::GuardrailIntervened => "content_filter",
        _ => "stop",
    }
}

/// `usage`, from Converse's token counts.
pub(crate) fn usage(input: i32, output: i32) -> Value {
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

/// A whole chat completion.
pub(crate) fn completion(
    id: &str,
    created: u64,
    model: &str,
    text: &str,
    finish: &str,
    usage: Value,
) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish,
        }],
        "usage": usage,
    })
}

/// One chunk of a streamed chat completion.
pub(crate) fn chunk(
    id: &str,
    created: u64,
    model: &str,
    delta: Value,
    finish: Option<&str>,
) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
}

/// The last chunk of a stream that asked for usage: no choices.
pub(crate) fn usage_chunk(id: &str, created: u64, model: &str, usage: Value) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage,
    })
}

/// An OpenAI-style error body.
pub(crate) fn error(message: &str, kind: &str, code: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// The texts of an embeddings request's `input`: a string or a list of
/// strings (token arrays are not taken).
pub(crate) fn embedding_inputs(body: &Value) -> Result<Vec<String>, String> {
    match &body["input"] {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| "input must be a string or a list of strings".to_string())
            })
            .collect(),
        _ => Err("input must be a string or a non-empty list of strings".into()),
    }
}

/// The embeddings response.
pub(crate) fn embeddings(model: &str, vectors: &[Vec<f64>], tokens: u64) -> Value {
    json!({
        "object": "list",
        "data": vectors.iter().enumerate().map(|(i, v)| json!({
            "object": "embedding", "index": i, "embedding": v,
        })).collect::<Vec<_>>(),
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_requests_become_converse_turns() {
        let r = chat_request(&json!({
            "model": "Haiku",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "one"},
                {"role": "user", "content": [{"type": "text", "text": "two"}]},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "three"}
            ],
            "max_tokens": 50, "temperature": 0.5, "stop": "END", "stream": true,
            "stream_options": {"include_usage": true}
        }))
        .unwrap();
        assert_eq!(r.system.len(), 1);
        assert_eq!(
            r.messages.len(),
            3,
            "consecutive user messages are one turn"
        );
        assert_eq!(r.messages[0].content()[0].as_text().unwrap(), "one\n\ntwo");
        assert_eq!(r.inference.max_tokens(), Some(50));
        assert_eq!(r.inference.stop_sequences(), ["END"]);
        assert!(r.stream && r.include_usage);
        assert!(chat_request(&json!({"model": "m", "messages": []})).is_err());
        assert!(
            chat_request(
                &json!({"model": "m", "messages": [{"role": "assistant", "content": "x"}]})
            )
            .is_err()
        );
        assert!(
            chat_request(&json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}))
                .unwrap_err()
                .contains("image_url")
        );
        assert_eq!(finish_reason(&StopReason::MaxTokens), "length");
        assert_eq!(
            embedding_inputs(&json!({"input": ["a", "b"]}))
                .unwrap()
                .len(),
            2
        );
        assert!(embedding_inputs(&json!({"input": [1, 2]})).is_err());
    }
}
