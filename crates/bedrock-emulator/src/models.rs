//! Model families: what each InvokeModel body looks like, and deterministic
//! replies in each family's own shape, whole and in stream chunks.
//!
//! A reply is derived from the request (it quotes the prompt), so a test can
//! assert on it; tokens are counted as whitespace-separated words.

use serde_json::{Value, json};

/// A family of models with its own request and response bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Anthropic Claude, Messages API.
    AnthropicMessages,
    /// Anthropic Claude, the older Text Completions API.
    AnthropicCompletion,
    /// Amazon Titan Text.
    Titan,
    /// Meta Llama.
    Llama,
    /// Mistral AI.
    Mistral,
    /// Cohere Command R (chat).
    CohereChat,
    /// Cohere Command (generate).
    CohereGenerate,
}

/// The geographic prefixes of cross-region inference profiles.
const PROFILE_PREFIXES: [&str; 6] = ["us.", "eu.", "apac.", "us-gov.", "jp.", "global."];

/// The foundation model behind an id: the resource part of an ARN, without
/// an inference profile's geographic prefix.
pub fn base_model_id(model: &str) -> &str {
    let model = model.rsplit('/').next().unwrap_or(model);
    PROFILE_PREFIXES
        .iter()
        .find_map(|p| model.strip_prefix(p))
        .unwrap_or(model)
}

/// Whether Converse accepts a system prompt for the model, after the
/// Bedrock User Guide's table "Supported models and model features"
/// (Converse API): not for Amazon Titan Text, Mistral AI Instruct (7B and
/// Mixtral), Cohere Command (text and light) or AI21 Jurassic-2.
pub fn supports_system(model: &str) -> bool {
    const WITHOUT: [&str; 6] = [
        "amazon.titan-text",
        "mistral.mistral-7b-instruct",
        "mistral.mixtral-8x7b-instruct",
        "cohere.command-text",
        "cohere.command-light-text",
        "ai21.j2",
    ];
    let base = base_model_id(model);
    !WITHOUT.iter().any(|p| base.starts_with(p))
}

/// Which providers the emulator serves; others are "invalid model identifier".
pub fn provider(model: &str) -> Option<&'static str> {
    let base = base_model_id(model);
    [
        "anthropic.",
        "amazon.titan-text",
        "meta.llama",
        "mistral.",
        "cohere.command",
    ]
    .into_iter()
    .find(|p| base.starts_with(p))
}

/// What was asked, whatever the family's shape.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The family.
    pub family: Family,
    /// The prompt text the reply will quote.
    pub prompt: String,
    /// The system prompt, if any.
    pub system: Option<String>,
    /// The output limit in tokens.
    pub max_tokens: usize,
}

/// AWS's message for a body without a required key.
fn malformed(key: &str) -> String {
    format!(
        "Malformed input request: #: required key [{key}] not found, please reformat your input and try again."
    )
}

/// The text of a string, or of an array of `{"text": ...}` parts.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn number(v: Option<&Value>, default: usize) -> usize {
    v.and_then(Value::as_u64).map_or(default, |n| n as usize)
}

/// A required string member.
fn required<'a>(body: &'a Value, key: &str) -> Result<&'a str, String> {
    body.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(key))
}

/// Reads an InvokeModel body for `model`; the error is AWS's message.
pub fn parse_invoke(model: &str, body: &Value) -> Result<Ask, String> {
    let base = base_model_id(model);
    if base.starts_with("anthropic.") {
        anthropic(body)
    } else if base.starts_with("amazon.titan-text") {
        Ok(Ask {
            family: Family::Titan,
            prompt: required(body, "inputText")?.to_string(),
            system: None,
            max_tokens: number(body.pointer("/textGenerationConfig/maxTokenCount"), 512),
        })
    } else if base.starts_with("meta.llama") {
        Ok(Ask {
            family: Family::Llama,
            prompt: strip_chat_markup(required(body, "prompt")?),
            system: None,
            max_tokens: number(body.get("max_gen_len"), 512),
        })
    } else if base.starts_with("mistral.") {
        Ok(Ask {
            family: Family::Mistral,
            prompt: strip_chat_markup(required(body, "prompt")?),
            system: None,
            max_tokens: number(body.get("max_tokens"), 512),
        })
    } else if base.starts_with("cohere.command-r") {
        Ok(Ask {
            family: Family::CohereChat,
            prompt: required(body, "message")?.to_string(),
            system: body.get("preamble").map(text_of),
            max_tokens: number(body.get("max_tokens"), 512),
        })
    } else if base.starts_with("cohere.command") {
        Ok(Ask {
            family: Family::CohereGenerate,
            prompt: required(body, "prompt")?.to_string(),
            system: None,
            max_tokens: number(body.get("max_tokens"), 512),
        })
    } else {
        Err("The provided model identifier is invalid.".into())
    }
}

/// An Anthropic body: the Messages API, or the older Text Completions API.
fn anthropic(body: &Value) -> Result<Ask, String> {
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        let prompt = messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(|m| m.get("content"))
            .map(text_of)
            .unwrap_or_default();
        if body.get("max_tokens").is_none() {
            return Err(malformed("max_tokens"));
        }
        return Ok(Ask {
            family: Family::AnthropicMessages,
            prompt,
            system: body.get("system").map(text_of),
            max_tokens: number(body.get("max_tokens"), 1000),
        });
    }
    let prompt = body
        .get("prompt")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("messages"))?;
    if !prompt.contains("Human:") {
        return Err(
            "prompt must start with \"\n\nHuman:\" turn after an optional system prompt".into(),
        );
    }
    let prompt = prompt
        .replace("\n\nHuman:", "")
        .replace("\n\nAssistant:", "")
        .trim()
        .to_string();
    Ok(Ask {
        family: Family::AnthropicCompletion,
        prompt,
        system: None,
        max_tokens: number(body.get("max_tokens_to_sample"), 1000),
    })
}

/// Removes instruction markup such as `[INST]` or Llama 3 header tokens, so
/// the reply quotes the words the user wrote.
fn strip_chat_markup(prompt: &str) -> String {
    let mut text = prompt.to_string();
    for tag in [
        "<s>",
        "</s>",
        "[INST]",
        "[/INST]",
        "<|begin_of_text|>",
        "<|eot_id|>",
        "<|start_header_id|>user<|end_header_id|>",
        "<|start_header_id|>assistant<|end_header_id|>",
        "<|start_header_id|>system<|end_header_id|>",
    ] {
        text = text.replace(tag, " ");
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A deterministic reply and its token counts.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Words of the reply, each a stream chunk's text (with its leading space).
    pub pieces: Vec<String>,
    /// Input tokens.
    pub input_tokens: usize,
    /// Output tokens.
    pub output_tokens: usize,
    /// Whether the reply was cut at the token limit.
    pub truncated: bool,
}

impl Reply {
    /// The whole reply text.
    pub fn text(&self) -> String {
        self.pieces.concat()
    }
}

/// The reply to `prompt` from `model`: it names the model and quotes the
/// prompt, limited to `max_tokens` words.
pub fn reply(model: &str, prompt: &str, system: Option<&str>, max_tokens: usize) -> Reply {
    let full = format!("Reply from {}: {}", base_model_id(model), prompt.trim());
    let words: Vec<&str> = full.split_whitespace().collect();
    let limit = max_tokens.max(1);
    let truncated = words.len() > limit;
    let pieces: Vec<String> = words
        .iter()
        .take(limit)
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_string()
            } else {
                format!(" {w}")
            }
        })
        .collect();
    let input_tokens = count(prompt) + system.map(count).unwrap_or(0);
    Reply {
        output_tokens: pieces.len(),
        pieces,
        input_tokens: input_tokens.max(1),
        truncated,
    }
}

fn count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The InvokeModel response body in the family's shape.
pub fn invoke_body(family: Family, model: &str, r: &Reply) -> Value {
    let text = r.text();
    match family {
        Family::AnthropicMessages => json!({
            "id": "msg_bdrk_emulator",
            "type": "message",
            "role": "assistant",
            "model": base_model_id(model),
            "content": [{"type": "text", "text": text}],
            "stop_reason": if r.truncated { "max_tokens" } else { "end_turn" },
            "stop_sequence": null,
            "usage": {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens}
        }),
        Family::AnthropicCompletion => json!({
            "type": "completion",
            "completion": format!(" {text}"),
            "stop_reason": if r.truncated { "max_tokens" } else { "stop_sequence" },
            "stop": if r.truncated { Value::Null } else { json!("\n\nHuman:") }
        }),
        Family::Titan => json!({
            "inputTextTokenCount": r.input_tokens,
            "results": [{
                "tokenCount": r.output_tokens,
                "outputText": text,
                "completionReason": if r.truncated { "LENGTH" } else { "FINISH" }
            }]
        }),
        Family::Llama => json!({
            "generation": text,
            "prompt_token_count": r.input_tokens,
            "generation_token_count": r.output_tokens,
            "stop_reason": if r.truncated { "length" } else { "stop" }
        }),
        Family::Mistral => json!({
            "outputs": [{"text": text, "stop_reason": if r.truncated { "length" } else { "stop" }}]
        }),
        Family::CohereChat => json!({
            "response_id": "emulator-response",
            "text": text,
            "generation_id": "emulator-generation",
            "chat_history": [],
            "finish_reason": if r.truncated { "MAX_TOKENS" } else { "COMPLETE" }
        }),
        Family::CohereGenerate => json!({
            "id": "emulator-generate",
            "generations": [{
                "id": "emulator-generation",
                "text": text,
                "finish_reason": if r.truncated { "MAX_TOKENS" } else { "COMPLETE" }
            }]
        }),
    }
}

/// The chunks of InvokeModelWithResponseStream in the family's shape; the
/// last carries `amazon-bedrock-invocationMetrics`, as on AWS.
pub fn stream_chunks(
    family: Family,
    model: &str,
    r: &Reply,
    latency_ms: u64,
    first_byte_ms: u64,
) -> Vec<Value> {
    let metrics = json!({
        "inputTokenCount": r.input_tokens,
        "outputTokenCount": r.output_tokens,
        "invocationLatency": latency_ms,
        "firstByteLatency": first_byte_ms
    });
    let n = r.pieces.len();
    let mut chunks: Vec<Value> = Vec::new();
    match family {
        Family::AnthropicMessages => {
            chunks.push(json!({"type": "message_start", "message": {
                "id": "msg_bdrk_emulator", "type": "message", "role": "assistant",
                "model": base_model_id(model), "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": r.input_tokens, "output_tokens": 1}}}));
            chunks.push(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
            for p in &r.pieces {
                chunks.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}));
            }
            chunks.push(json!({"type": "content_block_stop", "index": 0}));
            chunks.push(json!({"type": "message_delta",
                "delta": {"stop_reason": if r.truncated { "max_tokens" } else { "end_turn" }, "stop_sequence": null},
                "usage": {"output_tokens": r.output_tokens}}));
            chunks
                .push(json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics}));
        }
        _ => {
            for (i, p) in r.pieces.iter().enumerate() {
                let last = i + 1 == n;
                let done = |finished: Value| if last { finished } else { Value::Null };
                let mut c = match family {
                    Family::AnthropicCompletion => {
                        json!({"completion": if i == 0 { format!(" {p}") } else { p.clone() },
                        "stop_reason": done(json!(if r.truncated { "max_tokens" } else { "stop_sequence" })),
                        "stop": done(json!("\n\nHuman:"))})
                    }
                    Family::Titan => {
                        json!({"outputText": p, "index": 0, "totalOutputTextTokenCount": i + 1,
                        "completionReason": done(json!(if r.truncated { "LENGTH" } else { "FINISH" })),
                        "inputTextTokenCount": if i == 0 { json!(r.input_tokens) } else { Value::Null }})
                    }
                    Family::Llama => {
                        json!({"generation": p, "prompt_token_count": if i == 0 { json!(r.input_tokens) } else { Value::Null },
                        "generation_token_count": i + 1,
                        "stop_reason": done(json!(if r.truncated { "length" } else { "stop" }))})
                    }
                    Family::Mistral => json!({"outputs": [{"text": p,
                        "stop_reason": done(json!(if r.truncated { "length" } else { "stop" }))}]}),
                    Family::CohereChat => {
                        json!({"is_finished": false, "event_type": "text-generation", "text": p})
                    }
                    Family::CohereGenerate => json!({"is_finished": false, "text": p}),
                    Family::AnthropicMessages => unreachable!(),
                };
                if last && !matches!(family, Family::CohereChat | Family::CohereGenerate) {
                    c["amazon-bedrock-invocationMetrics"] = metrics.clone();
                }
                chunks.push(c);
            }
            if matches!(family, Family::CohereChat | Family::CohereGenerate) {
                let reason = if r.truncated {
                    "MAX_TOKENS"
                } else {
                    "COMPLETE"
                };
                let mut end = json!({"is_finished": true, "event_type": "stream-end", "finish_reason": reason});
                end["amazon-bedrock-invocationMetrics"] = metrics;
                chunks.push(end);
            }
        }
    }
    chunks
}

/// Converse's stop reason.
pub fn converse_stop_reason(r: &Reply) -> &'static str {
    if r.truncated {
        "max_tokens"
    } else {
        "end_turn"
    }
}

/// Reads a Converse request: the last user message's text, the system
/// prompt and the output limit.
pub fn parse_converse(model: &str, body: &Value) -> Result<Ask, String> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or("A conversation must start with a user message. Try again with a conversation that starts with a user message.")?;
    let text = |content: Option<&Value>| -> String {
        content
            .and_then(Value::as_array)
            .map(|parts| {
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .ok_or("A conversation must start with a user message. Try again with a conversation that starts with a user message.")?;
    let system = body
        .get("system")
        .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()))
        .map(|s| text(Some(s)));
    if system.is_some() && !supports_system(model) {
        return Err("This model doesn't support system messages. Try your request again without a system message or use a different model.".into());
    }
    let max_tokens = body
        .pointer("/inferenceConfig/maxTokens")
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .unwrap_or(512);
    Ok(Ask {
        family: Family::AnthropicMessages,
        prompt: text(last_user.get("content")),
        system,
        max_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers() {
        assert_eq!(provider("us.cohere.command-r-v1:0"), Some("cohere.command"));
        assert_eq!(provider("stability.sd3"), None);
    }

    #[test]
    fn reply_quotes_prompt_and_respects_limit() {
        let r = reply("anthropic.claude-v2", "what is two plus two", None, 100);
        assert_eq!(
            r.text(),
            "Reply from anthropic.claude-v2: what is two plus two"
        );
        assert_eq!(
            (r.input_tokens, r.output_tokens, r.truncated),
            (5, 8, false)
        );
        let short = reply("anthropic.claude-v2", "what is two plus two", None, 3);
        assert_eq!(short.text(), "Reply from anthropic.claude-v2:");
        assert!(short.truncated);
    }

    #[test]
    fn every_family_parses_its_own_body() {
        let cases = [
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [{"role": "user", "content": "hi there"}]}),
                Family::AnthropicMessages,
            ),
            (
                "anthropic.claude-v2",
                json!({"prompt": "\n\nHuman: hi there\n\nAssistant:", "max_tokens_to_sample": 10}),
                Family::AnthropicCompletion,
            ),
            (
                "amazon.titan-text-express-v1",
                json!({"inputText": "hi there"}),
                Family::Titan,
            ),
            (
                "meta.llama3-8b-instruct-v1:0",
                json!({"prompt": "<|begin_of_text|>hi there", "max_gen_len": 10}),
                Family::Llama,
            ),
            (
                "mistral.mistral-7b-instruct-v0:2",
                json!({"prompt": "<s>[INST] hi there [/INST]"}),
                Family::Mistral,
            ),
            (
                "cohere.command-r-v1:0",
                json!({"message": "hi there"}),
                Family::CohereChat,
            ),
            (
                "cohere.command-text-v14",
                json!({"prompt": "hi there"}),
                Family::CohereGenerate,
            ),
        ];
        for (model, body, family) in cases {
            let ask = parse_invoke(model, &body).unwrap();
            assert_eq!(ask.family, family, "{model}");
            assert_eq!(ask.prompt, "hi there", "{model}");
        }
        assert!(
            parse_invoke("amazon.titan-text-express-v1", &json!({"prompt": "x"}))
                .unwrap_err()
                .contains("[inputText]")
        );
    }
}
