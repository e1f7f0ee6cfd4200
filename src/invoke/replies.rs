//! InvokeModel replies and stream chunks of every current family, read by
//! their shape: where the text, the reasoning, tool-use requests, the stop
//! reason and the token counts sit, and whether a guardrail intervened.
//!
//! | shape | families |
//! |---|---|
//! | `content` blocks, `type` events | Anthropic Claude (Messages) |
//! | `completion` | Anthropic Claude (Text Completions) |
//! | `output.message.content`, `contentBlockDelta` events | Amazon Nova |
//! | `results[].outputText`, `outputText` | Amazon Titan Text |
//! | `generation` | Meta Llama |
//! | `outputs[].text` | Mistral AI (text completion) |
//! | `choices[].message` / `.delta` / `.text` | Mistral AI (chat), AI21 Jamba, Writer Palmyra, DeepSeek |
//! | `generations[].text`, `text` + `finish_reason` | Cohere Command, Command R |
//!
//! DeepSeek-R1 writes its reasoning before `</think>` in the text itself;
//! it is told apart from the answer.

use serde_json::Value;

/// A tool the model asks to be called.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct ToolUse {
    /// The tool's name.
    pub(crate) name: String,
    /// Its input, as the model wrote it.
    pub(crate) input: Value,
}

/// What one reply or chunk holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Piece {
    /// Answer text.
    pub(crate) text: String,
    /// Reasoning text.
    pub(crate) reasoning: String,
    /// Whole tool-use requests.
    pub(crate) tool_uses: Vec<ToolUse>,
    /// A tool-use request that starts here, its input to follow in parts.
    pub(crate) tool_start: Option<String>,
    /// A part of the current tool-use request's JSON input.
    pub(crate) tool_input: String,
    /// The stop reason, if this piece carries it.
    pub(crate) stop_reason: Option<String>,
    /// Input tokens, if given.
    pub(crate) input_tokens: Option<u64>,
    /// Output tokens, if given.
    pub(crate) output_tokens: Option<u64>,
    /// Whether a guardrail intervened.
    pub(crate) guardrail: bool,
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn u64_at(v: &Value, pointer: &str) -> Option<u64> {
    v.pointer(pointer).and_then(Value::as_u64)
}

/// The parts of a piece every shape may carry: the invocation metrics of a
/// last chunk, and a guardrail's action.
fn common(v: &Value) -> Piece {
    Piece {
        input_tokens: u64_at(v, "/amazon-bedrock-invocationMetrics/inputTokenCount"),
        output_tokens: u64_at(v, "/amazon-bedrock-invocationMetrics/outputTokenCount"),
        guardrail: str_at(v, "/amazon-bedrock-guardrailAction") == Some("INTERVENED"),
        ..Piece::default()
    }
}

/// Reads a whole InvokeModel reply.
pub(crate) fn read_reply(body: &Value) -> Piece {
    let mut p = common(body);
    if let Some(blocks) = body["content"].as_array() {
        anthropic_blocks(blocks, &mut p);
        p.stop_reason = str_at(body, "/stop_reason").map(str::to_string);
        p.input_tokens = u64_at(body, "/usage/input_tokens");
        p.output_tokens = u64_at(body, "/usage/output_tokens");
    } else if let Some(blocks) = body
        .pointer("/output/message/content")
        .and_then(Value::as_array)
    {
        nova_blocks(blocks, &mut p);
        p.stop_reason = str_at(body, "/stopReason").map(str::to_string);
        p.input_tokens = u64_at(body, "/usage/inputTokens");
        p.output_tokens = u64_at(body, "/usage/outputTokens");
    } else if let Some(choices) = body["choices"].as_array() {
        for c in choices {
            choice(c, &mut p);
        }
        p.input_tokens = u64_at(body, "/usage/prompt_tokens").or(p.input_tokens);
        p.output_tokens = u64_at(body, "/usage/completion_tokens").or(p.output_tokens);
        split_think(&mut p);
    } else {
        simple(body, &mut p, false);
    }
    p
}

/// Reads one InvokeModelWithResponseStream chunk.
pub(crate) fn read_chunk(chunk: &Value) -> Piece {
    let mut p = common(chunk);
    if let Some(kind) = str_at(chunk, "/type") {
        anthropic_event(kind, chunk, &mut p);
    } else if chunk.get("contentBlockDelta").is_some()
        || chunk.get("contentBlockStart").is_some()
        || chunk.get("messageStop").is_some()
        || chunk.get("metadata").is_some()
    {
        nova_event(chunk, &mut p);
    } else if let Some(choices) = chunk["choices"].as_array() {
        for c in choices {
            choice(c, &mut p);
        }
    } else {
        simple(chunk, &mut p, true);
    }
    p
}

fn anthropic_blocks(blocks: &[Value], p: &mut Piece) {
    for b in blocks {
        match str_at(b, "/type") {
            Some("text") => p.text.push_str(str_at(b, "/text").unwrap_or("")),
            Some("thinking") => p.reasoning.push_str(str_at(b, "/thinking").unwrap_or("")),
            Some("tool_use") => p.tool_uses.push(ToolUse {
                name: str_at(b, "/name").unwrap_or("").to_string(),
                input: b["input"].clone(),
            }),
            _ => {}
        }
    }
}

fn anthropic_event(kind: &str, e: &Value, p: &mut Piece) {
    match kind {
        "message_start" => {
            p.input_tokens = u64_at(e, "/message/usage/input_tokens").or(p.input_tokens)
        }
        "content_block_start" if str_at(e, "/content_block/type") == Some("tool_use") => {
            p.tool_start = str_at(e, "/content_block/name").map(str::to_string);
        }
        "content_block_delta" => match str_at(e, "/delta/type") {
            Some("thinking_delta") => {
                p.reasoning = str_at(e, "/delta/thinking").unwrap_or("").into()
            }
            Some("input_json_delta") => {
                p.tool_input = str_at(e, "/delta/partial_json").unwrap_or("").into()
            }
            _ => p.text = str_at(e, "/delta/text").unwrap_or("").into(),
        },
        "message_delta" => {
            p.stop_reason = str_at(e, "/delta/stop_reason").map(str::to_string);
            p.output_tokens = u64_at(e, "/usage/output_tokens").or(p.output_tokens);
        }
        _ => {}
    }
}

fn nova_blocks(blocks: &[Value], p: &mut Piece) {
    for b in blocks {
        if let Some(t) = str_at(b, "/text") {
            p.text.push_str(t);
        }
        if let Some(r) = str_at(b, "/reasoningContent/reasoningText/text") {
            p.reasoning.push_str(r);
        }
        if let Some(name) = str_at(b, "/toolUse/name") {
            p.tool_uses.push(ToolUse {
                name: name.to_string(),
                input: b["toolUse"]["input"].clone(),
            });
        }
    }
}

fn nova_event(e: &Value, p: &mut Piece) {
    p.text = str_at(e, "/contentBlockDelta/delta/text")
        .unwrap_or("")
        .into();
    p.reasoning = str_at(e, "/contentBlockDelta/delta/reasoningContent/text")
        .unwrap_or("")
        .into();
    p.tool_input = str_at(e, "/contentBlockDelta/delta/toolUse/input")
        .unwrap_or("")
        .into();
    p.tool_start = str_at(e, "/contentBlockStart/start/toolUse/name").map(str::to_string);
    p.stop_reason = str_at(e, "/messageStop/stopReason").map(str::to_string);
    p.input_tokens = u64_at(e, "/metadata/usage/inputTokens").or(p.input_tokens);
    p.output_tokens = u64_at(e, "/metadata/usage/outputTokens").or(p.output_tokens);
}

/// One choice of an OpenAI-style chat reply or chunk, or of DeepSeek's
/// text completion.
fn choice(c: &Value, p: &mut Piece) {
    let text = str_at(c, "/message/content")
        .or_else(|| str_at(c, "/delta/content"))
        .or_else(|| str_at(c, "/text"));
    p.text.push_str(text.unwrap_or(""));
    let calls = c
        .pointer("/message/tool_calls")
        .or_else(|| c.pointer("/delta/tool_calls"));
    for call in calls.and_then(Value::as_array).into_iter().flatten() {
        let arguments = str_at(call, "/function/arguments").unwrap_or("");
        p.tool_uses.push(ToolUse {
            name: str_at(call, "/function/name").unwrap_or("").to_string(),
            input: serde_json::from_str(arguments).unwrap_or(Value::String(arguments.into())),
        });
    }
    let stop = str_at(c, "/finish_reason").or_else(|| str_at(c, "/stop_reason"));
    p.stop_reason = stop.map(str::to_string).or(p.stop_reason.take());
}

/// The families with one text field: Titan, Llama, Mistral's text
/// completion, Claude's Text Completions, Cohere.
fn simple(v: &Value, p: &mut Piece, chunk: bool) {
    let text = str_at(v, "/results/0/outputText")
        .or_else(|| str_at(v, "/outputText"))
        .or_else(|| str_at(v, "/generation"))
        .or_else(|| str_at(v, "/outputs/0/text"))
        .or_else(|| str_at(v, "/completion"))
        .or_else(|| str_at(v, "/generations/0/text"))
        .or_else(|| {
            // Cohere's stream: text in text-generation events only.
            let cohere_end = v.get("is_finished") == Some(&Value::Bool(true));
            (!cohere_end).then(|| str_at(v, "/text")).flatten()
        });
    p.text = text.unwrap_or("").to_string();
    p.stop_reason = str_at(v, "/results/0/completionReason")
        .or_else(|| str_at(v, "/completionReason"))
        .or_else(|| str_at(v, "/stop_reason"))
        .or_else(|| str_at(v, "/outputs/0/stop_reason"))
        .or_else(|| str_at(v, "/generations/0/finish_reason"))
        .or_else(|| str_at(v, "/finish_reason"))
        .map(str::to_string);
    if !chunk {
        p.input_tokens =
            u64_at(v, "/inputTextTokenCount").or_else(|| u64_at(v, "/prompt_token_count"));
        p.output_tokens =
            u64_at(v, "/results/0/tokenCount").or_else(|| u64_at(v, "/generation_token_count"));
    }
    for call in v["tool_calls"].as_array().into_iter().flatten() {
        p.tool_uses.push(ToolUse {
            name: str_at(call, "/name").unwrap_or("").to_string(),
            input: call["parameters"].clone(),
        });
    }
}

/// DeepSeek-R1's reasoning, written before `</think>` in a whole reply.
fn split_think(p: &mut Piece) {
    if let Some((reasoning, answer)) = p.text.split_once("</think>") {
        p.reasoning = reasoning.trim_start_matches("<think>").trim().to_string();
        p.text = answer.trim_start().to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text_and_stop(p: &Piece) -> (&str, Option<&str>) {
        (p.text.as_str(), p.stop_reason.as_deref())
    }

    /// One reply of each family, in the shape its documentation gives.
    #[test]
    fn every_family_s_reply_is_read() {
        let cases = [
            (
                json!({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 2}}),
                "ab",
                "end_turn",
            ),
            (
                json!({"type": "completion", "completion": " hi", "stop_reason": "stop_sequence"}),
                " hi",
                "stop_sequence",
            ),
            (
                json!({"output": {"message": {"role": "assistant", "content": [{"text": "nova"}]}}, "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1}}),
                "nova",
                "end_turn",
            ),
            (
                json!({"inputTextTokenCount": 4, "results": [{"tokenCount": 1, "outputText": "t", "completionReason": "FINISH"}]}),
                "t",
                "FINISH",
            ),
            (
                json!({"generation": "llama", "stop_reason": "stop"}),
                "llama",
                "stop",
            ),
            (
                json!({"outputs": [{"text": "mistral", "stop_reason": "length"}]}),
                "mistral",
                "length",
            ),
            (
                json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "large"}, "stop_reason": "stop"}]}),
                "large",
                "stop",
            ),
            (
                json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "jamba"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 2, "completion_tokens": 1}}),
                "jamba",
                "stop",
            ),
            (
                json!({"choices": [{"text": "deepseek", "stop_reason": "stop"}]}),
                "deepseek",
                "stop",
            ),
            (
                json!({"generations": [{"id": "g", "text": "command", "finish_reason": "COMPLETE"}]}),
                "command",
                "COMPLETE",
            ),
            (
                json!({"text": "command r", "finish_reason": "COMPLETE", "chat_history": []}),
                "command r",
                "COMPLETE",
            ),
        ];
        for (body, text, stop) in cases {
            let p = read_reply(&body);
            assert_eq!(text_and_stop(&p), (text, Some(stop)), "{body}");
        }
    }

    #[test]
    fn every_family_s_chunks_are_read() {
        let cases = [
            (
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}),
                "x",
            ),
            (
                json!({"contentBlockDelta": {"delta": {"text": "nova"}, "contentBlockIndex": 0}}),
                "nova",
            ),
            (json!({"outputText": "t", "index": 0}), "t"),
            (json!({"generation": "g"}), "g"),
            (
                json!({"outputs": [{"text": "m", "stop_reason": null}]}),
                "m",
            ),
            (
                json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ml"}, "stop_reason": null}]}),
                "ml",
            ),
            (
                json!({"choices": [{"index": 0, "delta": {"content": "j"}, "finish_reason": null}]}),
                "j",
            ),
            (
                json!({"choices": [{"text": "d", "stop_reason": null}]}),
                "d",
            ),
            (
                json!({"is_finished": false, "event_type": "text-generation", "text": "c"}),
                "c",
            ),
            (json!({"completion": " hi", "stop_reason": null}), " hi"),
        ];
        for (chunk, text) in cases {
            assert_eq!(read_chunk(&chunk).text, text, "{chunk}");
        }
        let end = read_chunk(
            &json!({"is_finished": true, "event_type": "stream-end", "finish_reason": "COMPLETE", "text": "whole reply again",
            "amazon-bedrock-invocationMetrics": {"inputTokenCount": 5, "outputTokenCount": 6}}),
        );
        assert_eq!(
            (
                end.text.as_str(),
                end.stop_reason.as_deref(),
                end.input_tokens,
                end.output_tokens
            ),
            ("", Some("COMPLETE"), Some(5), Some(6))
        );
    }

    #[test]
    fn reasoning_tools_and_guardrails_are_told_apart() {
        let r1 = read_reply(
            &json!({"choices": [{"text": "<think>two and two</think>\n\nfour", "stop_reason": "stop"}]}),
        );
        assert_eq!(
            (r1.reasoning.as_str(), r1.text.as_str()),
            ("two and two", "four")
        );
        let claude = read_reply(
            &json!({"content": [{"type": "thinking", "thinking": "hmm"}, {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Oslo"}}], "stop_reason": "tool_use"}),
        );
        assert_eq!(claude.reasoning, "hmm");
        assert_eq!(
            claude.tool_uses,
            vec![ToolUse {
                name: "get_weather".into(),
                input: json!({"city": "Oslo"})
            }]
        );
        let mistral = read_reply(
            &json!({"choices": [{"message": {"role": "assistant", "content": "", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]}, "stop_reason": "tool_calls"}]}),
        );
        assert_eq!(mistral.tool_uses[0].input, json!({"x": 1}));
        let start = read_chunk(
            &json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}}),
        );
        assert_eq!(start.tool_start.as_deref(), Some("f"));
        let part = read_chunk(
            &json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"x\":"}}),
        );
        assert_eq!(
            (part.tool_input.as_str(), part.text.as_str()),
            ("{\"x\":", "")
        );
        let blocked = read_reply(
            &json!({"amazon-bedrock-guardrailAction": "INTERVENED", "content": [{"type": "text", "text": "Sorry."}], "stop_reason": "end_turn"}),
        );
        assert!(blocked.guardrail);
    }
}
