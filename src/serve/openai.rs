//! The OpenAI-compatible API of the gateway, translated to and from
//! Bedrock: `POST /v1/chat/completions` to Converse or ConverseStream
//! (server-sent events), `POST /v1/embeddings` to an embedding model's
//! InvokeModel, `GET /v1/models` from the config's `[models]`.
//!
//! Only the translation lives here: requests in, Bedrock's shapes out, and
//! back. The HTTP side is in `http.rs`, the calls in `mod.rs`.

use crate::aws::document;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole,
    ConverseStreamOutput, ImageBlock, ImageFormat, ImageSource, InferenceConfiguration, Message,
    SpecificToolChoice, StopReason, SystemContentBlock, TokenUsage, Tool, ToolChoice,
    ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpecification,
    ToolUseBlock,
};
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// The most tools a request may declare, and tool calls a conversation may
/// carry: OpenAI's own limit on tools, and a bound on the work one request
/// can ask of the gateway.
const MAX_TOOLS: usize = 128;
const MAX_TOOL_CALLS: usize = 1024;

/// Checks that `id` (in `field`) is a tool-call id Bedrock takes: 1 to 64
/// letters, digits, `_`, `.`, `:` or `-`.
fn check_tool_id(field: &str, id: &str) -> Result<(), String> {
    let valid = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{field} must be 1 to 64 letters, digits, _, ., : or - (Bedrock's rule for tool-call ids)"
        ))
    }
}

/// The name of the inert tool declared when a conversation holds tool calls
/// but the client offers no tools now: Bedrock wants tools declared
/// whenever tool blocks are present, and re-arming the tools the
/// conversation called would let the model call them again.
const NO_TOOL: &str = "no_tool_available";

/// A chat completion request, checked and translated.
#[derive(Debug)]
pub(crate) struct ChatRequest {
    /// The model as the client named it (an alias or an id).
    pub(crate) model: String,
    pub(crate) system: Vec<SystemContentBlock>,
    pub(crate) messages: Vec<Message>,
    pub(crate) inference: InferenceConfiguration,
    /// `tools` and `tool_choice` as Converse's tool configuration.
    pub(crate) tools: Option<ToolConfiguration>,
    /// Whether the client offered tools the model may call now (`tools`,
    /// and `tool_choice` not `none`): when not, tool calls in the reply are
    /// left out, as OpenAI never returns them.
    pub(crate) tools_offered: bool,
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
/// and `image_url` parts. Blank text is left out: Bedrock refuses a blank
/// text block, and clients send `""` beside tool calls.
fn content_blocks(content: &Value) -> Result<Vec<ContentBlock>, String> {
    let text = |s: &str| (!s.trim().is_empty()).then(|| ContentBlock::Text(s.to_string()));
    match content {
        Value::String(s) => Ok(text(s).into_iter().collect()),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p["type"].as_str() {
                Some("text") => text(p["text"].as_str().unwrap_or_default()).map(Ok),
                Some("image_url") => Some(image_part(p)),
                Some(other) => Some(Err(format!(
                    "content part type {other} is not supported by this gateway (text, image_url)"
                ))),
                None => Some(Err("a content part without a type".into())),
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err("content must be a string or a list of parts".into()),
    }
}

/// An assistant message's `tool_calls` as Converse tool-use blocks.
fn tool_calls(calls: &Value) -> Result<Vec<ContentBlock>, String> {
    let Some(calls) = calls.as_array() else {
        return match calls {
            Value::Null => Ok(Vec::new()),
            _ => Err("tool_calls must be a list".into()),
        };
    };
    calls
        .iter()
        .enumerate()
        .map(|(j, c)| {
            let at = |e: &str| format!("tool_calls[{j}]: {e}");
            let id = c["id"].as_str().ok_or_else(|| at("id is required"))?;
            check_tool_id("id", id).map_err(|e| at(&e))?;
            let name = c["function"]["name"]
                .as_str()
                .ok_or_else(|| at("function.name is required"))?;
            // The arguments are JSON text (an object also passes, as some
            // clients send it); missing or empty is no arguments.
            let input = match &c["function"]["arguments"] {
                Value::Null => json!({}),
                Value::String(text) if text.trim().is_empty() => json!({}),
                Value::String(text) => serde_json::from_str::<Value>(text)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| at("function.arguments must be a JSON object, as text"))?,
                object @ Value::Object(_) => object.clone(),
                _ => return Err(at("function.arguments must be a JSON object, as text")),
            };
            ToolUseBlock::builder()
                .tool_use_id(id)
                .name(name)
                .input(document::from_json(&input))
                .build()
                .map(ContentBlock::ToolUse)
                .map_err(|e| at(&e.to_string()))
        })
        .collect()
}

/// A `tool` message as a Converse tool-result block: its text, as the
/// result of the call it names.
fn tool_result(m: &Value) -> Result<ContentBlock, String> {
    let id = m["tool_call_id"]
        .as_str()
        .ok_or("a tool message needs tool_call_id")?;
    check_tool_id("tool_call_id", id)?;
    let text: Vec<String> = match &m["content"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(parts) => parts
            .iter()
            .map(|p| {
                p["text"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or("a tool message's content parts must be text")
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("a tool message's content must be a string or text parts".into()),
    };
    // Bedrock refuses blank text; a tool that printed nothing says so.
    let mut content = text
        .into_iter()
        .filter(|t| !t.trim().is_empty())
        .map(ToolResultContentBlock::Text)
        .collect::<Vec<_>>();
    if content.is_empty() {
        content.push(ToolResultContentBlock::Text("(no output)".into()));
    }
    ToolResultBlock::builder()
        .tool_use_id(id)
        .set_content(Some(content))
        .build()
        .map(ContentBlock::ToolResult)
        .map_err(|e| e.to_string())
}

/// `tools` and `tool_choice` as Converse's tool configuration, and whether
/// the model may call the tools offered. `history_has_tools` says the
/// conversation holds tool calls: Bedrock then wants tools declared even
/// when none are offered, so an inert one is.
fn tool_config(
    body: &Value,
    history_has_tools: bool,
) -> Result<(Option<ToolConfiguration>, bool), String> {
    if !body["functions"].is_null() || !body["function_call"].is_null() {
        return Err(
            "functions and function_call are the deprecated form of tools; send tools and tool_choice"
                .into(),
        );
    }
    let spec = |name: &str, description: Option<&str>, schema: &Value| {
        ToolSpecification::builder()
            .name(name)
            // Bedrock refuses an empty description; LangChain sends one.
            .set_description(
                description
                    .filter(|d| !d.trim().is_empty())
                    .map(str::to_string),
            )
            .input_schema(ToolInputSchema::Json(document::from_json(schema)))
            .build()
            .map_err(|e| e.to_string())
    };
    let mut specs = Vec::new();
    let mut names = HashSet::new();
    match &body["tools"] {
        Value::Null => {}
        Value::Array(tools) if tools.len() > MAX_TOOLS => {
            return Err(format!("tools: at most {MAX_TOOLS} tools"));
        }
        Value::Array(tools) => {
            for (i, t) in tools.iter().enumerate() {
                let at = |e: &str| format!("tools[{i}]: {e}");
                if t["type"] != "function" {
                    return Err(at("only tools of type function are supported"));
                }
                let f = &t["function"];
                let name = f["name"]
                    .as_str()
                    .ok_or_else(|| at("function.name is required"))?;
                if !names.insert(name) {
                    return Err(at(&format!("{name} is declared twice")));
                }
                let schema = match &f["parameters"] {
                    Value::Null => json!({"type": "object", "properties": {}}),
                    p if p.is_object() => p.clone(),
                    _ => return Err(at("function.parameters must be a JSON schema object")),
                };
                specs.push(spec(name, f["description"].as_str(), &schema).map_err(|e| at(&e))?);
            }
        }
        _ => return Err("tools must be a list".into()),
    }
    let choice = match &body["tool_choice"] {
        // Bedrock's default is `auto`; some models refuse the field.
        Value::Null => None,
        Value::String(s) if s == "auto" => None,
        Value::String(s) if s == "none" => {
            // Converse has no "none": the tools are not sent at all.
            specs.clear();
            None
        }
        Value::String(s) if s == "required" => {
            Some(ToolChoice::Any(AnyToolChoice::builder().build()))
        }
        c if c["type"] == "function" => {
            let name = c["function"]["name"]
                .as_str()
                .ok_or("tool_choice: function.name is required")?;
            if !names.contains(name) {
                return Err(format!("tool_choice: {name} is not one of the tools"));
            }
            Some(ToolChoice::Tool(
                SpecificToolChoice::builder()
                    .name(name)
                    .build()
                    .map_err(|e| e.to_string())?,
            ))
        }
        _ => {
            return Err(
                "tool_choice must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}".into(),
            );
        }
    };
    if choice.is_some() && specs.is_empty() {
        return Err("tool_choice needs tools".into());
    }
    let offered = !specs.is_empty();
    if !offered && history_has_tools {
        specs.push(spec(
            NO_TOOL,
            Some("No tool is available now; answer in text."),
            &json!({"type": "object", "properties": {}}),
        )?);
    }
    if specs.is_empty() {
        return Ok((None, false));
    }
    let config = ToolConfiguration::builder()
        .set_tools(Some(specs.into_iter().map(Tool::ToolSpec).collect()))
        .set_tool_choice(choice)
        .build()
        .map_err(|e| e.to_string())?;
    Ok((Some(config), offered))
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
    let mut calls_seen = 0;
    let mut results_seen = false;
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
            // Tool results go back to the model in the user's turn.
            Some("tool") => ConversationRole::User,
            Some(other) => {
                return Err(format!(
                    "messages[{i}]: role {other} is not supported by this gateway (system, developer, user, assistant, tool)"
                ));
            }
            None => return Err(format!("messages[{i}]: role is required")),
        };
        let blocks = if m["role"] == "tool" {
            results_seen = true;
            vec![tool_result(m).map_err(at)?]
        } else {
            let mut blocks = content_blocks(&m["content"]).map_err(at)?;
            if m["role"] == "assistant" {
                let calls = tool_calls(&m["tool_calls"]).map_err(at)?;
                calls_seen += calls.len();
                if calls_seen > MAX_TOOL_CALLS {
                    return Err(format!(
                        "at most {MAX_TOOL_CALLS} tool calls in a conversation"
                    ));
                }
                blocks.extend(calls);
            }
            blocks
        };
        if blocks.is_empty() {
            return Err(at("the message has no content".into()));
        }
        // Converse wants turns that alternate: consecutive messages of one
        // role are one turn.
        match messages.last_mut() {
            Some((last, b)) if *last == role => {
                b.extend(blocks);
                // Tool results open the turn that answers the calls, as
                // Bedrock's models require, whatever order they came in.
                b.sort_by_key(|block| !block.is_tool_result());
            }
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
    let (tools, tools_offered) = tool_config(body, calls_seen > 0 || results_seen)?;
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
        tools,
        tools_offered,
        stream: body["stream"].as_bool().unwrap_or(false),
        include_usage: body["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false),
    })
}

/// OpenAI's `finish_reason` for a Converse stop reason; `tools_offered`
/// false turns a tool call the client cannot answer into a plain stop.
pub(crate) fn finish_reason(stop: &StopReason, tools_offered: bool) -> &'static str {
    match stop {
        StopReason::ToolUse if !tools_offered => "stop",
        StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFiltered | StopReason::GuardrailIntervened => "content_filter",
        _ => "stop",
    }
}

/// The input and output token counts of a Converse reply, 0 when absent.
pub(crate) fn tokens(usage: Option<&TokenUsage>) -> (i32, i32) {
    usage.map_or((0, 0), |u| (u.input_tokens(), u.output_tokens()))
}

/// `usage`, from Converse's token counts.
pub(crate) fn usage(input: i32, output: i32) -> Value {
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

/// The assistant's message of a whole reply: its text (null when it has
/// none, as OpenAI sends beside tool calls) and its tool calls, when the
/// client offered tools.
pub(crate) fn assistant_message(content: &[ContentBlock], tools_offered: bool) -> Value {
    let text: String = content
        .iter()
        .filter_map(|b| b.as_text().ok().map(String::as_str))
        .collect();
    let calls: Vec<Value> = content
        .iter()
        .filter_map(|b| b.as_tool_use().ok())
        .filter(|_| tools_offered)
        .map(|t| {
            json!({"id": t.tool_use_id(), "type": "function",
                   "function": {"name": t.name(), "arguments": document::to_json(t.input()).to_string()}})
        })
        .collect();
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        if text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = Value::Array(calls);
    }
    message
}

/// A whole chat completion.
pub(crate) fn completion(
    id: &str,
    created: u64,
    model: &str,
    message: Value,
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
            "message": message,
            "finish_reason": finish,
        }],
        "usage": usage,
    })
}

/// A ConverseStream as chat completion chunks.
pub(crate) struct Chunks {
    id: String,
    created: u64,
    model: String,
    /// Each tool-use content block's index among the reply's tool calls.
    calls: HashMap<i32, usize>,
    /// Whether the client offered tools (else calls are left out).
    tools_offered: bool,
}

/// What one stream event means for the client.
pub(crate) enum Translated {
    /// A chunk to send.
    Chunk(Value),
    /// The token counts (input, output), sent as a chunk only when asked.
    Usage(i32, i32),
    /// Nothing the client sees.
    Nothing,
}

impl Chunks {
    pub(crate) fn new(id: String, created: u64, model: String, tools_offered: bool) -> Self {
        Self {
            id,
            created,
            model,
            calls: HashMap::new(),
            tools_offered,
        }
    }

    /// The chunk that opens the reply.
    pub(crate) fn first(&self) -> Value {
        self.chunk(json!({"role": "assistant", "content": ""}), None)
    }

    /// One chunk of the stream.
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }

    /// The last chunk of a stream that asked for usage: no choices.
    pub(crate) fn usage(&self, input: i32, output: i32) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage(input, output),
        })
    }

    /// One event of the stream: text, the start and pieces of tool calls
    /// (OpenAI's `tool_calls` deltas, numbered in order), the end.
    pub(crate) fn translate(&mut self, event: &ConverseStreamOutput) -> Translated {
        match event {
            ConverseStreamOutput::ContentBlockStart(s) => match s.start() {
                Some(ContentBlockStart::ToolUse(t)) if self.tools_offered => {
                    let index = self.calls.len();
                    self.calls.insert(s.content_block_index(), index);
                    Translated::Chunk(self.chunk(
                        json!({"tool_calls": [{"index": index, "id": t.tool_use_id(), "type": "function",
                                "function": {"name": t.name(), "arguments": ""}}]}),
                        None,
                    ))
                }
                _ => Translated::Nothing,
            },
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta() {
                Some(ContentBlockDelta::Text(t)) => {
                    Translated::Chunk(self.chunk(json!({"content": t}), None))
                }
                Some(ContentBlockDelta::ToolUse(t)) => {
                    match self.calls.get(&d.content_block_index()) {
                        Some(index) => Translated::Chunk(self.chunk(
                            json!({"tool_calls": [{"index": index, "function": {"arguments": t.input()}}]}),
                            None,
                        )),
                        None => Translated::Nothing,
                    }
                }
                _ => Translated::Nothing,
            },
            ConverseStreamOutput::MessageStop(m) => Translated::Chunk(self.chunk(
                json!({}),
                Some(finish_reason(m.stop_reason(), self.tools_offered)),
            )),
            ConverseStreamOutput::Metadata(m) => {
                let (i, o) = tokens(m.usage());
                Translated::Usage(i, o)
            }
            _ => Translated::Nothing,
        }
    }
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
        assert_eq!(finish_reason(&StopReason::MaxTokens, true), "length");
        assert_eq!(finish_reason(&StopReason::ToolUse, false), "stop");
        assert_eq!(
            embedding_inputs(&json!({"input": ["a", "b"]}))
                .unwrap()
                .len(),
            2
        );
        assert!(embedding_inputs(&json!({"input": [1, 2]})).is_err());
    }

    fn weather() -> Value {
        json!([{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
    }

    #[test]
    fn tool_calls_and_results_become_converse_blocks() {
        let r = chat_request(&json!({
            "model": "m", "tools": weather(), "tool_choice": "required",
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees"},
                {"role": "user", "content": "and so?"}
            ]
        }))
        .unwrap();
        let config = r.tools.expect("a tool configuration");
        assert_eq!(config.tools().len(), 1);
        assert!(matches!(config.tool_choice(), Some(ToolChoice::Any(_))));
        assert_eq!(
            r.messages.len(),
            3,
            "the tool result and the next question are one turn"
        );
        let asked = &r.messages[1].content();
        assert_eq!(asked.len(), 1, "blank text is left out: {asked:?}");
        let call = asked[0].as_tool_use().unwrap();
        assert_eq!((call.tool_use_id(), call.name()), ("call_1", "get_weather"));
        assert_eq!(document::to_json(call.input()), json!({"city": "Paris"}));
        let answered = &r.messages[2].content();
        let result = answered[0].as_tool_result().unwrap();
        assert_eq!(result.tool_use_id(), "call_1");
        assert_eq!(result.content()[0].as_text().unwrap(), "18 degrees");
        assert_eq!(answered[1].as_text().unwrap(), "and so?");

        // Earlier calls without tools now: an inert tool is declared for
        // Bedrock, and the model's calls would not reach the client.
        let history = |extra: Value| {
            let mut b = json!({"model": "m", "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                    "function": {"name": "lookup", "arguments": {"q": 1}}}]},
                {"role": "user", "content": "and?"},
                {"role": "tool", "tool_call_id": "c", "content": ""}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            chat_request(&b).unwrap()
        };
        let r = history(json!({}));
        let declared = r.tools.expect("declared for Bedrock");
        assert_eq!(declared.tools().len(), 1);
        assert_eq!(declared.tools()[0].as_tool_spec().unwrap().name(), NO_TOOL);
        assert!(declared.tool_choice().is_none() && !r.tools_offered);
        let call = r.messages[1].content()[0].as_tool_use().unwrap();
        assert_eq!(
            document::to_json(call.input()),
            json!({"q": 1}),
            "an object passes"
        );
        let turn = r.messages[2].content();
        let result = turn[0].as_tool_result().expect("results open the turn");
        assert_eq!(result.content()[0].as_text().unwrap(), "(no output)");
        assert_eq!(turn[1].as_text().unwrap(), "and?");
        // `none` sends no tools: only the inert one, for the history.
        let r = history(json!({"tools": weather(), "tool_choice": "none", "functions": null}));
        assert!(!r.tools_offered);
        assert_eq!(
            r.tools.unwrap().tools()[0].as_tool_spec().unwrap().name(),
            NO_TOOL
        );
        let r = history(json!({"tools": weather()}));
        assert!(r.tools_offered);
        let config = r.tools.unwrap();
        assert_eq!(
            config.tools()[0].as_tool_spec().unwrap().name(),
            "get_weather"
        );
        assert!(
            config.tool_choice().is_none(),
            "auto is Bedrock's default, not sent"
        );
        let blank = json!([{"type": "function", "function": {"name": "f", "description": ""}}]);
        let r = chat_request(&json!({"model": "m", "tools": blank,
            "messages": [{"role": "user", "content": "x"}]}))
        .unwrap();
        assert!(
            r.tools.unwrap().tools()[0]
                .as_tool_spec()
                .unwrap()
                .description()
                .is_none()
        );

        let refused = |body: Value| chat_request(&body).unwrap_err();
        let base = |extra: Value| {
            let mut b = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        assert!(refused(base(json!({"functions": []}))).contains("send tools"));
        assert!(refused(base(json!({"tool_choice": "required"}))).contains("needs tools"));
        assert!(
            refused(base(json!({"tools": weather(),
                "tool_choice": {"type": "function", "function": {"name": "other"}}})))
            .contains("other is not one of the tools")
        );
        assert!(
            refused(base(json!({"tools": [{"type": "code_interpreter"}]}))).contains("tools[0]")
        );
        assert!(
            refused(json!({"model": "m", "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "not json"}}]}]}))
            .contains("messages[1]: tool_calls[0]: function.arguments")
        );
        assert!(
            refused(json!({"model": "m", "messages": [{"role": "user", "content": "  "}]}))
                .contains("messages[0]: the message has no content")
        );
        let call = |id: &str, arguments: Value| {
            json!({"model": "m", "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [{"id": id, "function": {"name": "f", "arguments": arguments}}]}]})
        };
        assert!(refused(call("call|1", json!("{}"))).contains("tool_calls[0]: id must be"));
        assert!(refused(call(&"x".repeat(65), json!("{}"))).contains("id must be"));
        assert!(refused(call("c", json!(5))).contains("function.arguments"));
        let twice = json!([weather()[0], weather()[0]]);
        assert!(refused(base(json!({"tools": twice}))).contains("declared twice"));
        let many: Vec<Value> = (0..=MAX_TOOLS)
            .map(|i| json!({"type": "function", "function": {"name": format!("f{i}")}}))
            .collect();
        assert!(refused(base(json!({"tools": many}))).contains("at most 128 tools"));
    }

    #[test]
    fn replies_with_tool_calls_take_openai_shapes() {
        let call = ContentBlock::ToolUse(
            ToolUseBlock::builder()
                .tool_use_id("tooluse_1")
                .name("get_weather")
                .input(document::from_json(&json!({"city": "Oslo"})))
                .build()
                .unwrap(),
        );
        let m = assistant_message(std::slice::from_ref(&call), true);
        assert_eq!(m["content"], Value::Null);
        assert_eq!(m["tool_calls"][0]["id"], "tooluse_1");
        assert_eq!(
            m["tool_calls"][0]["function"]["arguments"],
            r#"{"city":"Oslo"}"#
        );
        let m = assistant_message(&[ContentBlock::Text("hi".into())], true);
        assert_eq!(m, json!({"role": "assistant", "content": "hi"}));

        use aws_sdk_bedrockruntime::types::{
            ContentBlockDeltaEvent, ContentBlockStartEvent, ToolUseBlockDelta, ToolUseBlockStart,
        };
        let mut chunks = Chunks::new("id".into(), 1, "m".into(), true);
        let start = |index: i32, id: &str| {
            ConverseStreamOutput::ContentBlockStart(
                ContentBlockStartEvent::builder()
                    .content_block_index(index)
                    .start(ContentBlockStart::ToolUse(
                        ToolUseBlockStart::builder()
                            .tool_use_id(id)
                            .name("get_weather")
                            .build()
                            .unwrap(),
                    ))
                    .build()
                    .unwrap(),
            )
        };
        let piece = |index: i32, text: &str| {
            ConverseStreamOutput::ContentBlockDelta(
                ContentBlockDeltaEvent::builder()
                    .content_block_index(index)
                    .delta(ContentBlockDelta::ToolUse(
                        ToolUseBlockDelta::builder().input(text).build().unwrap(),
                    ))
                    .build()
                    .unwrap(),
            )
        };
        let delta = |t: Translated| match t {
            Translated::Chunk(c) => c["choices"][0]["delta"]["tool_calls"][0].clone(),
            _ => panic!("a chunk"),
        };
        // Content block 1 is the first call, block 2 the second.
        let first = delta(chunks.translate(&start(1, "a")));
        assert_eq!(
            (first["index"].clone(), first["id"].clone()),
            (json!(0), json!("a"))
        );
        assert_eq!(delta(chunks.translate(&start(2, "b")))["index"], 1);
        let more = delta(chunks.translate(&piece(2, "{\"ci")));
        assert_eq!(
            more,
            json!({"index": 1, "function": {"arguments": "{\"ci"}})
        );
        assert_eq!(delta(chunks.translate(&piece(1, "{}")))["index"], 0);
    }
}
