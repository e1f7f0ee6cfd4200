//! The OpenAI-compatible API of the gateway, translated to and from
//! Bedrock: `POST /v1/chat/completions` to Converse or ConverseStream
//! (server-sent events), `POST /v1/embeddings` to an embedding model's
//! InvokeModel, `GET /v1/models` from the config's `[models]`.
//!
//! Only the translation lives here: requests in, Bedrock's shapes out, and
//! back. The HTTP side is in `http.rs`, the calls in `mod.rs`.

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ImageBlock, ImageFormat, ImageSource, InferenceConfiguration,
    Message, StopReason, SystemContentBlock,
};
use base64::Engine as _;
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

/// An `image_url` part as a Converse image block. Only `data:` URLs are
/// taken: a gateway that fetched the URLs its clients name would fetch
/// them from inside the VPC, for anyone holding a token.
fn image_part(part: &Value) -> Result<ContentBlock, String> {
    let url = part["image_url"]["url"]
        .as_str()
        .or_else(|| part["image_url"].as_str())
        .ok_or("an image_url part without a url")?;
    let rest = url.strip_prefix("data:").ok_or(
        "image_url: only data: URLs (data:image/png;base64,...) are taken; the gateway fetches nothing",
    )?;
    let (media, data) = rest
        .split_once(";base64,")
        .ok_or("image_url: expected data:image/TYPE;base64,DATA")?;
    let format = match media {
        "image/png" => ImageFormat::Png,
        "image/jpeg" | "image/jpg" => ImageFormat::Jpeg,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::Webp,
        other => {
            return Err(format!(
                "image_url: {other} is not an image Converse takes (png, jpeg, gif, webp)"
            ));
        }
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| format!("image_url: the data is not base64: {e}"))?;
    let image = ImageBlock::builder()
        .format(format)
        .source(ImageSource::Bytes(Blob::new(bytes)))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(ContentBlock::Image(image))
}

/// A message's `content` as Converse blocks: a string, or a list of `text`
/// and `image_url` parts.
fn content_blocks(content: &Value) -> Result<Vec<ContentBlock>, String> {
    match content {
        Value::String(s) => Ok(vec![ContentBlock::Text(s.clone())]),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p["type"].as_str() {
                Some("text") => Ok(ContentBlock::Text(
                    p["text"].as_str().unwrap_or_default().to_string(),
                )),
                Some("image_url") => image_part(p),
                Some(other) => Err(format!(
                    "content part type {other} is not supported by this gateway (text, image_url)"
                )),
                None => Err("a content part without a type".into()),
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err("content must be a string or a list of parts".into()),
    }
}

/// The text of a system message's content.
fn content_text(content: &Value) -> Result<String, String> {
    content_blocks(content)?
        .iter()
        .map(|b| {
            b.as_text()
                .cloned()
                .map_err(|_| "a system message takes text only".to_string())
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|t| t.join("\n"))
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
    let mut messages: Vec<(ConversationRole, Vec<ContentBlock>)> = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let at = |e: String| format!("messages[{i}]: {e}");
        let role = match m["role"].as_str() {
            Some("system" | "developer") => {
                system.push(SystemContentBlock::Text(
                    content_text(&m["content"]).map_err(at)?,
                ));
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
        let blocks = content_blocks(&m["content"]).map_err(at)?;
        match messages.last_mut() {
            Some((last, b)) if *last == role => b.extend(blocks),
            _ => messages.push((role, blocks)),
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
        .map(|(role, blocks)| {
            Message::builder()
                .role(role)
                .set_content(Some(blocks))
                .build()
                .expect("role and content set")
        })
        .collect();
    // A field of the wrong type is an error, never dropped in silence.
    let number = |k: &str| -> Result<Option<f64>, String> {
        match &body[k] {
            Value::Null => Ok(None),
            v => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| format!("{k} must be a number")),
        }
    };
    let mut max_tokens = None;
    for k in ["max_tokens", "max_completion_tokens"] {
        match &body[k] {
            Value::Null => {}
            v => {
                let n = v
                    .as_i64()
                    .filter(|n| (1..=i64::from(i32::MAX)).contains(n))
                    .ok_or_else(|| format!("{k} must be a whole number from 1"))?;
                max_tokens = Some(n as i32);
            }
        }
    }
    let stop: Option<Vec<String>> = match &body["stop"] {
        Value::Null => None,
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_string)
                        .ok_or("stop must be a string or a list of strings")
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err("stop must be a string or a list of strings".into()),
    };
    if !matches!(body["stream"], Value::Null | Value::Bool(_)) {
        return Err("stream must be true or false".into());
    }
    let temperature = number("temperature")?;
    let top_p = number("top_p")?;
    let inference = InferenceConfiguration::builder()
        .set_max_tokens(max_tokens)
        .set_temperature(temperature.map(|t| t as f32))
        .set_top_p(top_p.map(|t| t as f32))
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
        assert_eq!(r.messages[0].content().len(), 2, "one turn, two blocks");
        assert_eq!(r.messages[0].content()[1].as_text().unwrap(), "two");
        assert_eq!(r.inference.max_tokens(), Some(50));
        assert_eq!(r.inference.stop_sequences(), ["END"]);
        assert!(r.stream && r.include_usage);
        assert!(chat_request(&json!({"model": "m", "messages": []})).is_err());
        let typed = |extra: Value| {
            let mut b = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            chat_request(&b)
        };
        assert!(typed(json!({"temperature": "hot"})).is_err());
        assert!(typed(json!({"max_tokens": 1e30})).is_err());
        assert!(typed(json!({"max_tokens": -5})).is_err());
        assert!(typed(json!({"stop": 3})).is_err());
        assert!(typed(json!({"max_tokens": 5, "temperature": 0.2})).is_ok());
        assert!(
            chat_request(
                &json!({"model": "m", "messages": [{"role": "assistant", "content": "x"}]})
            )
            .is_err()
        );
        let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG\r\n\x1a\n");
        let image = |url: String| {
            chat_request(
                &json!({"model": "m", "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": url}}
                ]}]}),
            )
        };
        let r = image(format!("data:image/png;base64,{png}")).unwrap();
        assert!(r.messages[0].content()[1].as_image().is_ok());
        assert!(
            image("https://example.com/x.png".into())
                .unwrap_err()
                .contains("fetches nothing")
        );
        assert!(
            image("data:image/bmp;base64,AAAA".into())
                .unwrap_err()
                .contains("bmp")
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
