//! What each model family is asked and what it answers: an InvokeModel
//! body read into an [`Ask`] (after its documented parameters are checked,
//! see [`crate::catalogue`]), and a deterministic [`Reply`] written back in
//! the family's own shape, whole and as stream chunks.
//!
//! A reply is derived from the request (it names the model and quotes the
//! prompt), so a test can assert on it; tokens are counted as
//! whitespace-separated words. A stop sequence found in the reply ends it
//! there, with the family's stop reason for it. Offered tools are used when
//! the prompt names one (or the request forces one), and a guardrail that
//! blocks the prompt answers in the model's place.

use crate::catalogue::{self, Body, Resolved};
use serde_json::{Value, json};

/// What was asked, whatever the family's shape.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The body family (for InvokeModel replies).
    pub body: Body,
    /// The prompt text the reply will quote.
    pub prompt: String,
    /// The words of the conversation before the prompt (Converse's earlier
    /// messages), counted as input as Bedrock counts them.
    pub earlier_words: usize,
    /// The system prompt, if any.
    pub system: Option<String>,
    /// The output limit in tokens.
    pub max_tokens: usize,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Whether the model reasons before it answers (Converse shows it).
    pub reasoning: bool,
    /// The tools offered (Anthropic Messages bodies and Converse).
    pub tools: Vec<Tool>,
    /// The tool the request forces (`tool_choice`, `toolChoice`), if any:
    /// a name, or `*` for any.
    pub forced_tool: Option<String>,
    /// Whether the last user turn hands back tool results: the model then
    /// answers from them instead of asking again (unless a tool is forced).
    pub tool_results: bool,
    /// The guardrail the request names.
    pub guardrail: Option<crate::guardrails::Named>,
    /// The images and documents of the last user message, described
    /// (`image png, 68 bytes`), for the reply to acknowledge.
    pub attachments: Vec<String>,
}

/// A tool offered to the model.
#[derive(Debug, Clone)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// Its input's JSON schema.
    pub schema: Value,
}

/// The model's request to use a tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The id the model gives the call.
    pub id: String,
    /// The tool.
    pub name: String,
    /// Its input: each required property of the schema, with a value of its
    /// type.
    pub input: Value,
}

/// The tools `ask` leads to: the forced one, else every one the prompt
/// names, in the order offered (models call several at once), and none
/// when the turn hands back tool results.
fn chosen_tools(ask: &Ask) -> Vec<&Tool> {
    let prompt = ask.prompt.to_lowercase();
    match ask.forced_tool.as_deref() {
        Some("*") => ask.tools.first().into_iter().collect(),
        Some(name) => ask
            .tools
            .iter()
            .filter(|t| t.name == name)
            .take(1)
            .collect(),
        None if ask.tool_results => Vec::new(),
        None => ask
            .tools
            .iter()
            .filter(|t| prompt.contains(&t.name.to_lowercase()))
            .collect(),
    }
}

/// A tool call's id: `tooluse_` and 22 letters and digits, as Bedrock's
/// look, different for every call.
fn tool_use_id(ask: &Ask, tool: &str, n: usize) -> String {
    use std::hash::{Hash, Hasher};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // A count of the calls this process has made, so that two conversations
    // that ask the same never share an id.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&ask.prompt, ask.earlier_words, tool, n, call, salt).hash(&mut h);
        u128::from(h.finish())
    };
    let mut x = (half(0) << 64) | half(1);
    let mut id = String::from("tooluse_");
    for _ in 0..22 {
        id.push(ALPHABET[(x % 62) as usize] as char);
        x /= 62;
    }
    id
}

/// An input for `schema`: its required properties, each a value of its type.
fn input_for(schema: &Value) -> Value {
    let mut input = serde_json::Map::new();
    for name in schema["required"].as_array().into_iter().flatten() {
        let Some(name) = name.as_str() else { continue };
        let value = match schema["properties"][name]["type"].as_str() {
            Some("integer" | "number") => json!(1),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => json!("emulator"),
        };
        input.insert(name.to_string(), value);
    }
    Value::Object(input)
}

/// The text of a string, or of an array of `{"text": ...}` parts, or of one
/// `{"text": ...}` object.
pub(crate) fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Object(o) => o
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}

fn number(v: Option<&Value>, default: usize) -> usize {
    v.and_then(Value::as_u64).map_or(default, |n| n as usize)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The text of the last message with role `user` in `messages`.
fn last_user(messages: Option<&Value>) -> String {
    messages
        .and_then(Value::as_array)
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default()
}

/// The `system` message of an OpenAI-style chat, if any.
fn system_message(messages: Option<&Value>) -> Option<String> {
    messages
        .and_then(Value::as_array)
        .and_then(|m| m.iter().find(|m| m["role"] == "system"))
        .map(|m| text_of(&m["content"]))
}

/// Reads an InvokeModel body for `model`; the error is AWS's message.
pub fn parse_invoke(model: &Resolved, body: &Value) -> Result<Ask, String> {
    let family = model.model.body;
    catalogue::check_body(family, body)?;
    let get = |k: &str| body.get(k);
    let (prompt, system, max_tokens, stop) = match family {
        Body::AnthropicMessages => (
            last_user(get("messages")),
            get("system").map(text_of),
            number(get("max_tokens"), 1000),
            strings(get("stop_sequences")),
        ),
        Body::AnthropicCompletion => (
            completion_prompt(body)?,
            None,
            number(get("max_tokens_to_sample"), 1000),
            strings(get("stop_sequences")),
        ),
        Body::NovaMessages => {
            let config = &body["inferenceConfig"];
            let max = config.get("maxTokens").or(config.get("max_new_tokens"));
            (
                last_user(get("messages")),
                get("system").map(text_of),
                number(max, 512),
                strings(config.get("stopSequences")),
            )
        }
        Body::TitanText => {
            let config = &body["textGenerationConfig"];
            (
                body["inputText"].as_str().unwrap_or("").to_string(),
                None,
                number(config.get("maxTokenCount"), 512),
                strings(config.get("stopSequences")),
            )
        }
        Body::Llama => (
            strip_chat_markup(body["prompt"].as_str().unwrap_or("")),
            None,
            number(get("max_gen_len"), 512),
            Vec::new(),
        ),
        Body::MistralPrompt => (
            strip_chat_markup(body["prompt"].as_str().unwrap_or("")),
            None,
            number(get("max_tokens"), 512),
            strings(get("stop")),
        ),
        Body::MistralChat | Body::JambaChat | Body::PalmyraChat => (
            last_user(get("messages")),
            system_message(get("messages")),
            number(get("max_tokens"), 512),
            strings(get("stop")),
        ),
        Body::CohereGenerate => (
            body["prompt"].as_str().unwrap_or("").to_string(),
            None,
            number(get("max_tokens"), 20),
            strings(get("stop_sequences")),
        ),
        Body::CohereChat => (
            body["message"].as_str().unwrap_or("").to_string(),
            get("preamble").map(text_of),
            number(get("max_tokens"), 512),
            strings(get("stop_sequences")),
        ),
        Body::DeepseekPrompt => (
            body["prompt"].as_str().unwrap_or("").to_string(),
            None,
            number(get("max_tokens"), 512),
            strings(get("stop")),
        ),
        // Answered by `embeddings`, never as text.
        Body::TitanEmbedV1
        | Body::TitanEmbedV2
        | Body::CohereEmbed
        | Body::NovaEmbed
        | Body::TitanImage
        | Body::NovaCanvas
        | Body::Sdxl
        | Body::StableImage => {
            return Err("The model is unsupported for this operation.".into());
        }
    };
    check_limit(model, max_tokens)?;
    let (tools, forced_tool) = match family {
        Body::AnthropicMessages => anthropic_tools(body),
        _ => (Vec::new(), None),
    };
    Ok(Ask {
        body: family,
        earlier_words: 0,
        prompt,
        system,
        max_tokens,
        stop,
        reasoning: false,
        tools,
        forced_tool,
        tool_results: false,
        guardrail: None,
        attachments: Vec::new(),
    })
}

/// The Messages API's `tools` and `tool_choice`.
fn anthropic_tools(body: &Value) -> (Vec<Tool>, Option<String>) {
    let tools = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(Tool {
                name: t["name"].as_str()?.to_string(),
                schema: t["input_schema"].clone(),
            })
        })
        .collect();
    let forced = match body["tool_choice"]["type"].as_str() {
        Some("any") => Some("*".to_string()),
        Some("tool") => body["tool_choice"]["name"].as_str().map(str::to_string),
        _ => None,
    };
    (tools, forced)
}

/// AWS's refusal of a request for more output than the model gives.
pub(crate) fn check_limit(model: &Resolved, max_tokens: usize) -> Result<(), String> {
    let limit = model.model.max_tokens;
    if max_tokens as u64 > limit {
        return Err(format!(
            "The maximum tokens you requested exceeds the model limit of {limit}. Try again with a maximum tokens value that is lower than {limit}."
        ));
    }
    Ok(())
}

/// The Text Completions prompt, which must hold a `Human:` turn.
fn completion_prompt(body: &Value) -> Result<String, String> {
    let prompt = body["prompt"].as_str().unwrap_or("");
    if !prompt.contains("\n\nHuman:") {
        return Err(
            "prompt must start with \"\n\nHuman:\" turn after an optional system prompt".into(),
        );
    }
    Ok(prompt
        .replace("\n\nHuman:", "")
        .replace("\n\nAssistant:", "")
        .trim()
        .to_string())
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

/// How a reply ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The model finished.
    Done,
    /// It reached the token limit.
    Limit,
    /// It wrote this stop sequence (not included in the text).
    Stop(String),
    /// It asks for a tool to be used.
    ToolUse,
    /// A guardrail blocked the prompt and answered instead.
    Guardrail,
}

/// A deterministic reply and its token counts.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Words of the reply, each a stream chunk's text (with its leading space).
    pub pieces: Vec<String>,
    /// Reasoning before the answer, for models that reason.
    pub reasoning: Option<String>,
    /// Input tokens.
    pub input_tokens: usize,
    /// Output tokens.
    pub output_tokens: usize,
    /// How it ended.
    pub ending: Ending,
    /// The tools the model asks to use, in order.
    pub tool_uses: Vec<ToolCall>,
    /// With a guardrail: whether it intervened.
    pub guardrail: Option<bool>,
}

impl Reply {
    /// The whole reply text.
    pub fn text(&self) -> String {
        self.pieces.concat()
    }

    /// Whether the reply has a text block: all but a tool call made alone
    /// (an empty text, as a stop sequence at the start leaves, is a block).
    pub fn has_text(&self) -> bool {
        !self.pieces.is_empty() || self.tool_uses.is_empty()
    }
}

/// The reply to `ask` from `model`: it names the model and quotes the
/// prompt, limited to `max_tokens` words and cut at the first stop sequence.
pub fn reply(model: &str, ask: &Ask) -> Reply {
    let count = |t: &str| t.split_whitespace().count();
    let input_tokens =
        (count(&ask.prompt) + ask.system.as_deref().map_or(0, count) + ask.earlier_words).max(1);
    if ask.guardrail.is_some() && crate::guardrails::intervenes(&ask.prompt) {
        let pieces = words(crate::guardrails::BLOCKED_INPUT_MESSAGE, usize::MAX);
        return Reply {
            pieces,
            reasoning: None,
            input_tokens,
            output_tokens: 0,
            ending: Ending::Guardrail,
            tool_uses: Vec::new(),
            guardrail: Some(true),
        };
    }
    let seen: String = ask.attachments.iter().map(|a| format!(" [{a}]")).collect();
    let full = format!("Reply from {model}: {}{seen}", ask.prompt.trim());
    let (full, stopped) = match ask
        .stop
        .iter()
        .filter_map(|s| full.find(s.as_str()).map(|at| (at, s)))
        .min_by_key(|(at, _)| *at)
    {
        Some((at, s)) => (full[..at].to_string(), Some(s.clone())),
        None => (full, None),
    };
    let limit = ask.max_tokens.max(1);
    let mut pieces = words(&full, limit);
    let tool_uses: Vec<ToolCall> = chosen_tools(ask)
        .into_iter()
        .enumerate()
        .map(|(n, t)| ToolCall {
            id: tool_use_id(ask, &t.name, n),
            name: t.name.clone(),
            input: input_for(&t.schema),
        })
        .collect();
    // A model made to call a tool calls it and writes nothing else.
    if ask.forced_tool.is_some() && !tool_uses.is_empty() {
        pieces.clear();
    }
    let ending = match stopped {
        _ if pieces.is_empty() && !tool_uses.is_empty() => Ending::ToolUse,
        _ if full.split_whitespace().count() > limit => Ending::Limit,
        _ if !tool_uses.is_empty() => Ending::ToolUse,
        Some(s) => Ending::Stop(s),
        None => Ending::Done,
    };
    Reply {
        output_tokens: pieces.len()
            + tool_uses
                .iter()
                .map(|t| json_parts(&t.input).len())
                .sum::<usize>(),
        pieces,
        reasoning: ask
            .reasoning
            .then(|| format!("The user asks about: {}", ask.prompt.trim())),
        input_tokens,
        ending,
        tool_uses,
        guardrail: ask.guardrail.as_ref().map(|_| false),
    }
}

/// The first `limit` words of `text`, each with its leading space but the
/// first: the pieces a stream sends.
fn words(text: &str, limit: usize) -> Vec<String> {
    text.split_whitespace()
        .take(limit)
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_string()
            } else {
                format!(" {w}")
            }
        })
        .collect()
}

/// Converse's stop reason.
pub fn converse_stop_reason(r: &Reply) -> &'static str {
    match r.ending {
        Ending::Done => "end_turn",
        Ending::Limit => "max_tokens",
        Ending::Stop(_) => "stop_sequence",
        Ending::ToolUse => "tool_use",
        Ending::Guardrail => "guardrail_intervened",
    }
}

/// The family's own word for how a reply ended.
fn stop_word(body: Body, r: &Reply) -> &'static str {
    let (done, limit, stop) = match body {
        Body::AnthropicMessages | Body::NovaMessages => ("end_turn", "max_tokens", "stop_sequence"),
        Body::AnthropicCompletion => ("stop_sequence", "max_tokens", "stop_sequence"),
        Body::TitanText => ("FINISH", "LENGTH", "STOP_CRITERIA_MET"),
        Body::CohereGenerate | Body::CohereChat => ("COMPLETE", "MAX_TOKENS", "COMPLETE"),
        _ => ("stop", "length", "stop"),
    };
    match r.ending {
        Ending::Done | Ending::Guardrail => done,
        Ending::ToolUse if body == Body::AnthropicMessages => "tool_use",
        Ending::ToolUse => done,
        Ending::Limit => limit,
        Ending::Stop(_) => stop,
    }
}

/// The stop sequence that ended the reply, or JSON null.
fn stop_sequence(r: &Reply) -> Value {
    match &r.ending {
        Ending::Stop(s) => json!(s),
        _ => Value::Null,
    }
}

/// The InvokeModel response body in the family's shape, with the
/// guardrail's action when the request named one.
pub fn invoke_body(body: Body, model: &str, r: &Reply) -> Value {
    let mut value = family_body(body, model, r);
    if let Some(intervened) = r.guardrail {
        value["amazon-bedrock-guardrailAction"] =
            json!(if intervened { "INTERVENED" } else { "NONE" });
    }
    value
}

fn family_body(body: Body, model: &str, r: &Reply) -> Value {
    let text = r.text();
    let stop = stop_word(body, r);
    let (input, output) = (r.input_tokens, r.output_tokens);
    match body {
        Body::AnthropicMessages => json!({
            "id": "msg_bdrk_emulator", "type": "message", "role": "assistant", "model": model,
            "content": anthropic_content(&text, r),
            "stop_reason": stop, "stop_sequence": stop_sequence(r),
            "usage": {"input_tokens": input, "output_tokens": output}
        }),
        Body::AnthropicCompletion => json!({
            "type": "completion", "completion": format!(" {text}"), "stop_reason": stop,
            "stop": if r.ending == Ending::Limit { Value::Null } else { stop_sequence(r).as_str().map_or(json!("\n\nHuman:"), |s| json!(s)) }
        }),
        Body::NovaMessages => json!({
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": stop,
            "usage": {"inputTokens": input, "outputTokens": output, "totalTokens": input + output}
        }),
        Body::TitanText => json!({
            "inputTextTokenCount": input,
            "results": [{"tokenCount": output, "outputText": text, "completionReason": stop}]
        }),
        Body::Llama => json!({
            "generation": text, "prompt_token_count": input, "generation_token_count": output, "stop_reason": stop
        }),
        Body::MistralPrompt => json!({"outputs": [{"text": text, "stop_reason": stop}]}),
        Body::MistralChat => json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "stop_reason": stop}]
        }),
        Body::CohereGenerate => json!({
            "id": "emulator", "prompt": null,
            "generations": [{"id": "emulator-0", "text": text, "finish_reason": stop}]
        }),
        Body::CohereChat => json!({
            "response_id": "emulator", "generation_id": "emulator-0", "text": text,
            "chat_history": [], "finish_reason": stop
        }),
        Body::JambaChat | Body::PalmyraChat => json!({
            "id": "chatcmpl-emulator", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": stop}],
            "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}
        }),
        Body::DeepseekPrompt => json!({"choices": [{"text": text, "stop_reason": stop}]}),
        Body::TitanEmbedV1
        | Body::TitanEmbedV2
        | Body::CohereEmbed
        | Body::NovaEmbed
        | Body::TitanImage
        | Body::NovaCanvas
        | Body::Sdxl
        | Body::StableImage => Value::Null,
    }
}

/// The chunks of InvokeModelWithResponseStream in the family's shape; the
/// last carries `amazon-bedrock-invocationMetrics`, as on AWS.
pub fn stream_chunks(
    body: Body,
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
    let mut chunks = match body {
        Body::AnthropicMessages => anthropic_chunks(model, r),
        Body::NovaMessages => nova_chunks(r),
        Body::CohereGenerate | Body::CohereChat => {
            let mut c: Vec<Value> = r
                .pieces
                .iter()
                .map(|p| match body {
                    Body::CohereChat => {
                        json!({"is_finished": false, "event_type": "text-generation", "text": p})
                    }
                    _ => json!({"is_finished": false, "text": p}),
                })
                .collect();
            c.push(json!({"is_finished": true, "event_type": "stream-end", "finish_reason": stop_word(body, r)}));
            c
        }
        _ => r
            .pieces
            .iter()
            .enumerate()
            .map(|(i, p)| piece_chunk(body, r, i, p))
            .collect(),
    };
    if let Some(last) = chunks.last_mut() {
        last["amazon-bedrock-invocationMetrics"] = metrics;
        if let Some(intervened) = r.guardrail {
            last["amazon-bedrock-guardrailAction"] =
                json!(if intervened { "INTERVENED" } else { "NONE" });
        }
    }
    chunks
}

/// The Messages API's content: the text, then the tool use asked for.
fn anthropic_content(text: &str, r: &Reply) -> Value {
    let mut content = Vec::new();
    if r.has_text() {
        content.push(json!({"type": "text", "text": text}));
    }
    for t in &r.tool_uses {
        content.push(json!({"type": "tool_use", "id": t.id, "name": t.name, "input": t.input}));
    }
    Value::Array(content)
}

/// One chunk of a family whose chunks each carry a piece of text, the last
/// with the stop reason.
fn piece_chunk(body: Body, r: &Reply, i: usize, piece: &str) -> Value {
    let last = i + 1 == r.pieces.len();
    let done = |v: Value| if last { v } else { Value::Null };
    let stop = done(json!(stop_word(body, r)));
    match body {
        Body::AnthropicCompletion => json!({
            "completion": if i == 0 { format!(" {piece}") } else { piece.to_string() },
            "stop_reason": stop, "stop": done(stop_sequence(r).as_str().map_or(json!("\n\nHuman:"), |s| json!(s)))
        }),
        Body::TitanText => json!({
            "outputText": piece, "index": 0, "totalOutputTextTokenCount": i + 1, "completionReason": stop,
            "inputTextTokenCount": if i == 0 { json!(r.input_tokens) } else { Value::Null }
        }),
        Body::Llama => json!({
            "generation": piece, "prompt_token_count": if i == 0 { json!(r.input_tokens) } else { Value::Null },
            "generation_token_count": i + 1, "stop_reason": stop
        }),
        Body::MistralPrompt => json!({"outputs": [{"text": piece, "stop_reason": stop}]}),
        Body::MistralChat => {
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": piece}, "stop_reason": stop}]})
        }
        Body::JambaChat | Body::PalmyraChat => json!({
            "id": "chatcmpl-emulator", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": stop}]
        }),
        Body::DeepseekPrompt => json!({"choices": [{"text": piece, "stop_reason": stop}]}),
        _ => json!({"text": piece}),
    }
}

fn anthropic_chunks(model: &str, r: &Reply) -> Vec<Value> {
    let mut chunks = vec![json!({"type": "message_start", "message": {
            "id": "msg_bdrk_emulator", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": r.input_tokens, "output_tokens": 1}}})];
    let text = usize::from(r.has_text());
    if text == 1 {
        chunks.push(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
        for p in &r.pieces {
            chunks.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}));
        }
        chunks.push(json!({"type": "content_block_stop", "index": 0}));
    }
    for (n, t) in r.tool_uses.iter().enumerate() {
        let index = n + text;
        chunks.push(json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": t.id, "name": t.name, "input": {}}}));
        for part in json_parts(&t.input) {
            chunks.push(json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": part}}));
        }
        chunks.push(json!({"type": "content_block_stop", "index": index}));
    }
    chunks.push(json!({"type": "message_delta",
        "delta": {"stop_reason": stop_word(Body::AnthropicMessages, r), "stop_sequence": stop_sequence(r)},
        "usage": {"output_tokens": r.output_tokens}}));
    chunks.push(json!({"type": "message_stop"}));
    chunks
}

/// A tool's input as JSON text in the pieces a stream sends it in: models
/// stream the input a few characters at a time, so a client must join them
/// before it parses.
pub(crate) fn json_parts(input: &Value) -> Vec<String> {
    let text = input.to_string();
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(8).map(|c| c.iter().collect()).collect()
}

fn nova_chunks(r: &Reply) -> Vec<Value> {
    let mut chunks = vec![json!({"messageStart": {"role": "assistant"}})];
    for p in &r.pieces {
        chunks.push(json!({"contentBlockDelta": {"delta": {"text": p}, "contentBlockIndex": 0}}));
    }
    chunks.push(json!({"contentBlockStop": {"contentBlockIndex": 0}}));
    chunks.push(json!({"messageStop": {"stopReason": stop_word(Body::NovaMessages, r)}}));
    chunks.push(json!({"metadata": {"usage": {"inputTokens": r.input_tokens, "outputTokens": r.output_tokens}}}));
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(prompt: &str, max_tokens: usize, stop: &[&str]) -> Ask {
        Ask {
            tools: Vec::new(),
            forced_tool: None,
            tool_results: false,
            guardrail: None,
            attachments: Vec::new(),
            body: Body::AnthropicMessages,
            prompt: prompt.into(),
            earlier_words: 0,
            system: None,
            max_tokens,
            stop: stop.iter().map(|s| s.to_string()).collect(),
            reasoning: false,
        }
    }

    #[test]
    fn reply_quotes_prompt_and_respects_limit_and_stop_sequences() {
        let r = reply(
            "anthropic.claude-v2",
            &ask("what is two plus two", 100, &[]),
        );
        assert_eq!(
            r.text(),
            "Reply from anthropic.claude-v2: what is two plus two"
        );
        assert_eq!(
            (r.input_tokens, r.output_tokens, r.ending.clone()),
            (5, 8, Ending::Done)
        );
        let short = reply("anthropic.claude-v2", &ask("what is two plus two", 3, &[]));
        assert_eq!(short.text(), "Reply from anthropic.claude-v2:");
        assert_eq!(short.ending, Ending::Limit);
        let stopped = reply(
            "anthropic.claude-v2",
            &ask("what is two plus two", 100, &["plus", "is"]),
        );
        assert_eq!(stopped.text(), "Reply from anthropic.claude-v2: what");
        assert_eq!(stopped.ending, Ending::Stop("is".into()));
        assert_eq!(converse_stop_reason(&stopped), "stop_sequence");
    }

    #[test]
    fn every_family_parses_its_own_body() {
        let cases = [
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [{"role": "user", "content": "hi there"}]}),
            ),
            (
                "anthropic.claude-v2",
                json!({"prompt": "\n\nHuman: hi there\n\nAssistant:", "max_tokens_to_sample": 10}),
            ),
            (
                "amazon.nova-lite-v1:0",
                json!({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "hi there"}]}]}),
            ),
            (
                "amazon.titan-text-express-v1",
                json!({"inputText": "hi there"}),
            ),
            (
                "meta.llama3-8b-instruct-v1:0",
                json!({"prompt": "<|begin_of_text|>hi there", "max_gen_len": 10}),
            ),
            (
                "mistral.mistral-7b-instruct-v0:2",
                json!({"prompt": "<s>[INST] hi there [/INST]"}),
            ),
            (
                "mistral.mistral-large-2407-v1:0",
                json!({"messages": [{"role": "user", "content": "hi there"}]}),
            ),
            ("cohere.command-r-v1:0", json!({"message": "hi there"})),
            ("cohere.command-text-v14", json!({"prompt": "hi there"})),
            (
                "ai21.jamba-1-5-mini-v1:0",
                json!({"messages": [{"role": "user", "content": "hi there"}]}),
            ),
            ("us.deepseek.r1-v1:0", json!({"prompt": "hi there"})),
            (
                "us.writer.palmyra-x4-v1:0",
                json!({"messages": [{"role": "user", "content": {"text": "hi there"}}]}),
            ),
        ];
        for (model, body) in cases {
            let resolved = catalogue::lookup(model).unwrap();
            let a = parse_invoke(&resolved, &body).unwrap_or_else(|e| panic!("{model}: {e}"));
            assert_eq!(a.prompt, "hi there", "{model}");
        }
        let titan = catalogue::lookup("amazon.titan-text-express-v1").unwrap();
        assert!(
            parse_invoke(&titan, &json!({"prompt": "x"}))
                .unwrap_err()
                .contains("required key [inputText] not found")
        );
        let e = parse_invoke(
            &titan,
            &json!({"inputText": "x", "textGenerationConfig": {"maxTokenCount": 9000}}),
        )
        .unwrap_err();
        assert!(
            e.starts_with("The maximum tokens you requested exceeds the model limit of 8192"),
            "{e}"
        );
    }
}
