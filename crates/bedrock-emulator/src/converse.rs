//! Converse and ConverseStream: the request checked as Bedrock checks it
//! (the API definition's constraints, then the conversation's rules and
//! what the model takes), and the reply as Converse's output and events,
//! with the model's reasoning first where the model reasons.

use crate::catalogue::Resolved;
use crate::models::{self, Ask, Reply, Tool};
use crate::shapes::Api;
use serde_json::{Value, json};

/// Reads a Converse request for `model`; the error is AWS's message.
pub(crate) fn parse(model: &Resolved, body: &Value) -> Result<Ask, String> {
    let api = Api::bedrock_runtime();
    if let Some(message) = Api::message(&api.violations("ConverseRequest", body)) {
        return Err(message);
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    check_turns(&messages)?;
    check_features(model, body, &messages)?;
    check_tool_turns(&messages)?;
    let config = &body["inferenceConfig"];
    let max_tokens = config["maxTokens"].as_u64().map_or(512, |n| n as usize);
    models::check_limit(model, max_tokens)?;
    let system = body
        .get("system")
        .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()))
        .map(models::text_of);
    let last = messages.iter().rposition(|m| m["role"] == "user");
    let last_user = last.map(|i| &messages[i]);
    let earlier_words = messages[..last.unwrap_or(0)]
        .iter()
        .map(|m| turn_text(&m["content"]).split_whitespace().count())
        .sum();
    Ok(Ask {
        earlier_words,
        body: model.model.body,
        prompt: last_user
            .map(|m| turn_text(&m["content"]))
            .unwrap_or_default(),
        tool_results: last_user.is_some_and(|m| {
            m["content"]
                .as_array()
                .is_some_and(|c| c.iter().any(|b| b.get("toolResult").is_some()))
        }),
        system,
        max_tokens,
        stop: config["stopSequences"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        reasoning: reasons(model, body),
        tools: tools(body),
        forced_tool: match &body["toolConfig"]["toolChoice"] {
            c if c.get("any").is_some() => Some("*".into()),
            c => c["tool"]["name"].as_str().map(str::to_string),
        },
        attachments: last_user
            .map(|m| attachments(&m["content"]))
            .unwrap_or_default(),
        guardrail: body
            .get("guardrailConfig")
            .map(|g| crate::guardrails::Named {
                identifier: g["guardrailIdentifier"].as_str().unwrap_or_default().into(),
                version: g["guardrailVersion"].as_str().unwrap_or_default().into(),
            }),
    })
}

/// The images and documents among a message's content blocks, described:
/// their format, a document's name, and their size once decoded.
fn attachments(content: &Value) -> Vec<String> {
    use base64::Engine;
    let size = |block: &Value| {
        block["source"]["bytes"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map_or(0, |b| b.len())
    };
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            if let Some(i) = b.get("image") {
                Some(format!(
                    "image {}, {} bytes",
                    i["format"].as_str().unwrap_or("?"),
                    size(i)
                ))
            } else {
                b.get("document").map(|d| {
                    format!(
                        "document {} \"{}\", {} bytes",
                        d["format"].as_str().unwrap_or("?"),
                        d["name"].as_str().unwrap_or(""),
                        size(d)
                    )
                })
            }
        })
        .collect()
}

/// The words of a turn the model reads: its text blocks, and the text and
/// JSON its tool results hand back, each introduced by the call it answers.
fn turn_text(content: &Value) -> String {
    let mut parts = Vec::new();
    for block in content.as_array().into_iter().flatten() {
        if let Some(t) = block["text"].as_str() {
            parts.push(t.to_string());
        } else if let Some(r) = block.get("toolResult") {
            let inner: Vec<String> = r["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    c["text"]
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| c.get("json").map(Value::to_string))
                })
                .collect();
            parts.push(format!(
                "[result of {}: {}]",
                r["toolUseId"].as_str().unwrap_or("?"),
                inner.join(" ")
            ));
        }
    }
    parts.join(" ")
}

/// Tool calls and their results pair up as Bedrock requires: each call of
/// an assistant turn answered in the next turn, no more results than calls, and an error result that says
/// something.
fn check_tool_turns<'a>(messages: &'a [Value]) -> Result<(), String> {
    let blocks = |m: &'a Value| m["content"].as_array().map_or(&[][..], Vec::as_slice);
    let ids = |m: &'a Value, kind: &str| -> Vec<&'a str> {
        blocks(m)
            .iter()
            .filter_map(|b| b[kind]["toolUseId"].as_str())
            .collect()
    };
    for (i, m) in messages.iter().enumerate() {
        for (k, b) in blocks(m).iter().enumerate() {
            let r = &b["toolResult"];
            if r["status"] == "error" && r["content"].as_array().is_none_or(Vec::is_empty) {
                return Err(format!(
                    "The content field at messages.{i}.content.{k}.toolResult cannot be empty when status value is error."
                ));
            }
            for (j, c) in r["content"].as_array().into_iter().flatten().enumerate() {
                if c["text"].as_str().is_some_and(|t| t.trim().is_empty()) {
                    return Err(format!(
                        "The text field in the ToolResultContentBlock object at messages.{i}.content.{k}.toolResult.content.{j} is blank. Add text to the text field, and try again."
                    ));
                }
            }
        }
        let results = ids(m, "toolResult");
        let asked = match i.checked_sub(1) {
            Some(p) => ids(&messages[p], "toolUse"),
            None => Vec::new(),
        };
        let missing: Vec<&str> = asked
            .iter()
            .copied()
            .filter(|id| !results.contains(id))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "Expected toolResult blocks at messages.{i}.content for the following Ids: {}",
                missing.join(", ")
            ));
        }
        if results.len() > asked.len() {
            return Err(format!(
                "The number of toolResult blocks at messages.{i}.content exceeds the number of toolUse blocks of previous turn."
            ));
        }
        if let Some(stray) = results.iter().find(|id| !asked.contains(id)) {
            return Err(format!(
                "messages.{i}.content: the toolResult block for {stray} answers no toolUse block of the previous turn."
            ));
        }
        // The models want the results first in the turn that answers
        // calls (Anthropic's rule, which Bedrock passes on).
        let leading = blocks(m)
            .iter()
            .take_while(|b| b.get("toolResult").is_some())
            .count();
        if !asked.is_empty() && leading < asked.len() {
            return Err(format!(
                "messages.{i}.content: Did not find {} toolResult block(s) at the beginning of this message. Messages following toolUse blocks must begin with a matching number of toolResult blocks.",
                asked.len()
            ));
        }
    }
    Ok(())
}

/// The tools of `toolConfig`.
fn tools(body: &Value) -> Vec<Tool> {
    body["toolConfig"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let spec = &t["toolSpec"];
            Some(Tool {
                name: spec["name"].as_str()?.to_string(),
                schema: spec["inputSchema"]["json"].clone(),
            })
        })
        .collect()
}

/// A conversation starts with the user and alternates.
fn check_turns(messages: &[Value]) -> Result<(), String> {
    if messages.first().is_none_or(|m| m["role"] != "user") {
        return Err("A conversation must start with a user message. Try again with a conversation that starts with a user message.".into());
    }
    if messages.windows(2).any(|w| w[0]["role"] == w[1]["role"]) {
        return Err("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.".into());
    }
    for (i, m) in messages.iter().enumerate() {
        for (k, b) in m["content"].as_array().into_iter().flatten().enumerate() {
            if b["text"].as_str().is_some_and(|t| t.trim().is_empty()) {
                return Err(format!(
                    "The text field in the ContentBlock object at messages.{i}.content.{k} is blank. Add text to the text field, and try again."
                ));
            }
        }
    }
    Ok(())
}

/// What the model does not take is refused before it is asked.
fn check_features(model: &Resolved, body: &Value, messages: &[Value]) -> Result<(), String> {
    let m = model.model;
    let has_system = body["system"].as_array().is_some_and(|a| !a.is_empty());
    if has_system && !m.takes("system") {
        return Err("This model doesn't support system messages. Try your request again without a system message or use a different model.".into());
    }
    let blocks: Vec<&Value> = messages
        .iter()
        .filter_map(|msg| msg["content"].as_array())
        .flatten()
        .collect();
    if blocks.iter().any(|b| b.get("image").is_some()) && !m.takes("images") {
        return Err("This model doesn't support the image content block that you provided. Try again with a supported content block or use a different model.".into());
    }
    if blocks.iter().any(|b| b.get("document").is_some()) && !m.takes("documents") {
        return Err("This model doesn't support the document content block that you provided. Try again with a supported content block or use a different model.".into());
    }
    let tool_blocks = blocks
        .iter()
        .any(|b| b.get("toolUse").is_some() || b.get("toolResult").is_some());
    let tool_config = body.get("toolConfig").is_some();
    if (tool_config || tool_blocks) && !m.takes("tools") {
        return Err("This model doesn't support tool use.".into());
    }
    if tool_blocks && !tool_config {
        return Err(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
                .into(),
        );
    }
    Ok(())
}

/// Whether the reply begins with the model's reasoning: always for a model
/// that only reasons (DeepSeek-R1), and when asked (`thinking` enabled in
/// `additionalModelRequestFields`) for one that can.
fn reasons(model: &Resolved, body: &Value) -> bool {
    let m = model.model;
    if !m.takes("reasoning") {
        return false;
    }
    let asked = body["additionalModelRequestFields"]["thinking"]["type"] == "enabled";
    asked || !m.takes("tools")
}

/// The content blocks of a whole Converse reply.
fn content(reply: &Reply) -> Vec<Value> {
    let mut blocks = Vec::new();
    if let Some(r) = &reply.reasoning {
        blocks.push(
            json!({"reasoningContent": {"reasoningText": {"text": r, "signature": "emulator"}}}),
        );
    }
    if reply.has_text() {
        blocks.push(json!({"text": reply.text()}));
    }
    for t in &reply.tool_uses {
        blocks.push(json!({"toolUse": {"toolUseId": t.id, "name": t.name, "input": t.input}}));
    }
    blocks
}

/// The usage object of a reply.
fn usage(reply: &Reply) -> Value {
    json!({"inputTokens": reply.input_tokens, "outputTokens": reply.output_tokens,
           "totalTokens": reply.input_tokens + reply.output_tokens})
}

/// Converse's response body.
pub(crate) fn whole(reply: &Reply, latency_ms: u64) -> Value {
    json!({
        "output": {"message": {"role": "assistant", "content": content(reply)}},
        "stopReason": models::converse_stop_reason(reply),
        "usage": usage(reply),
        "metrics": {"latencyMs": latency_ms}
    })
}

/// ConverseStream's events: their type and payload, in order.
pub(crate) fn events(reply: &Reply, latency_ms: u64) -> Vec<(&'static str, Value)> {
    let mut events = vec![("messageStart", json!({"role": "assistant"}))];
    let mut index = 0;
    if let Some(r) = &reply.reasoning {
        for word in r.split_inclusive(' ') {
            events.push((
                "contentBlockDelta",
                json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"text": word}}}),
            ));
        }
        events.push(("contentBlockDelta", json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": "emulator"}}})));
        events.push(("contentBlockStop", json!({"contentBlockIndex": index})));
        index += 1;
    }
    if reply.has_text() {
        for p in &reply.pieces {
            events.push((
                "contentBlockDelta",
                json!({"contentBlockIndex": index, "delta": {"text": p}}),
            ));
        }
        events.push(("contentBlockStop", json!({"contentBlockIndex": index})));
        index += 1;
    }
    for t in &reply.tool_uses {
        events.push((
            "contentBlockStart",
            json!({"contentBlockIndex": index,
            "start": {"toolUse": {"toolUseId": t.id, "name": t.name}}}),
        ));
        for part in models::json_parts(&t.input) {
            events.push((
                "contentBlockDelta",
                json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": part}}}),
            ));
        }
        events.push(("contentBlockStop", json!({"contentBlockIndex": index})));
        index += 1;
    }
    events.push((
        "messageStop",
        json!({"stopReason": models::converse_stop_reason(reply)}),
    ));
    events.push((
        "metadata",
        json!({"usage": usage(reply), "metrics": {"latencyMs": latency_ms}}),
    ));
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;

    fn parse_for(model: &str, body: Value) -> Result<Ask, String> {
        parse(&catalogue::lookup(model).unwrap(), &body)
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": [{"text": text}]})
    }

    #[test]
    fn conversations_start_with_the_user_and_alternate() {
        let claude = "anthropic.claude-3-haiku-20240307-v1:0";
        assert!(parse_for(claude, json!({"messages": [user("hi")]})).is_ok());
        let e = parse_for(
            claude,
            json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}),
        )
        .unwrap_err();
        assert!(
            e.starts_with("A conversation must start with a user message"),
            "{e}"
        );
        let e = parse_for(claude, json!({"messages": [user("a"), user("b")]})).unwrap_err();
        assert!(
            e.starts_with("A conversation must alternate between user and assistant roles"),
            "{e}"
        );
        let e = parse_for(
            claude,
            json!({"messages": [{"role": "user", "content": [{"text": " "}]}]}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "The text field in the ContentBlock object at messages.0.content.0 is blank. Add text to the text field, and try again."
        );
        let e = parse_for(claude, json!({"messages": []})).unwrap_err();
        assert!(
            e.starts_with("A conversation must start with a user message"),
            "{e}"
        );
    }

    #[test]
    fn each_model_takes_only_what_it_supports() {
        let system = json!({"messages": [user("hi")], "system": [{"text": "be terse"}]});
        for (model, takes) in [
            ("amazon.titan-text-express-v1", false),
            ("mistral.mistral-7b-instruct-v0:2", false),
            ("cohere.command-text-v14", false),
            ("anthropic.claude-3-haiku-20240307-v1:0", true),
            ("us.deepseek.r1-v1:0", true),
        ] {
            let r = parse_for(model, system.clone());
            assert_eq!(r.is_ok(), takes, "{model}: {r:?}");
        }
        let image = json!({"messages": [{"role": "user", "content": [
            {"text": "what is this"}, {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}]}]});
        assert!(parse_for("anthropic.claude-3-haiku-20240307-v1:0", image.clone()).is_ok());
        assert!(
            parse_for("amazon.nova-micro-v1:0", image)
                .unwrap_err()
                .contains("image content block")
        );
        let tools = json!({"messages": [user("hi")], "toolConfig": {"tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": {}}}}]}});
        assert_eq!(
            parse_for("amazon.titan-text-express-v1", tools).unwrap_err(),
            "This model doesn't support tool use."
        );
        let long = json!({"messages": [user("hi")], "inferenceConfig": {"maxTokens": 5000}});
        assert!(
            parse_for("anthropic.claude-3-haiku-20240307-v1:0", long)
                .unwrap_err()
                .contains("model limit of 4096")
        );
    }

    #[test]
    fn tool_calls_and_results_pair_up_as_bedrock_requires() {
        let claude = "anthropic.claude-3-haiku-20240307-v1:0";
        let config = json!({"tools": [
            {"toolSpec": {"name": "weather", "inputSchema": {"json": {"type": "object",
                "properties": {"city": {"type": "string"}}, "required": ["city"]}}}},
            {"toolSpec": {"name": "clock", "inputSchema": {"json": {}}}}]});
        // The prompt names both tools: both are called, with distinct ids,
        // and the streamed input comes in pieces that join to the whole.
        let first = parse_for(
            claude,
            json!({"messages": [user("use weather and clock")], "toolConfig": config}),
        )
        .unwrap();
        let reply = models::reply(claude, &first);
        assert_eq!(reply.tool_uses.len(), 2);
        assert_ne!(reply.tool_uses[0].id, reply.tool_uses[1].id);
        assert!(reply.tool_uses[0].id.starts_with("tooluse_"));
        let joined: String = events(&reply, 1)
            .iter()
            .filter_map(|(_, e)| e["delta"]["toolUse"]["input"].as_str())
            .collect();
        assert_eq!(joined, r#"{"city":"emulator"}{}"#);
        let first_reply = whole(&reply, 1);
        assert_eq!(first_reply["stopReason"], "tool_use");
        let asked = first_reply["output"]["message"].clone();
        let (a, b) = (&reply.tool_uses[0].id, &reply.tool_uses[1].id);
        let result = |id: &str, text: &str| json!({"toolResult": {"toolUseId": id, "content": [{"text": text}]}});
        let turn = |results: Vec<Value>| {
            json!({"messages": [user("use weather and clock"), asked.clone(),
                {"role": "user", "content": results}], "toolConfig": config})
        };
        // Both answered: the model reads the results and answers in text.
        let next = parse_for(
            claude,
            turn(vec![result(a, "18 degrees"), result(b, "noon")]),
        )
        .unwrap();
        assert!(
            next.tool_results && next.prompt.contains("18 degrees"),
            "{}",
            next.prompt
        );
        let answer = models::reply(claude, &next);
        assert!(answer.tool_uses.is_empty());
        assert!(answer.text().contains("noon"));
        // One left out, one made up, tools without a toolConfig.
        let e = parse_for(claude, turn(vec![result(a, "18 degrees")])).unwrap_err();
        assert_eq!(
            e,
            format!("Expected toolResult blocks at messages.2.content for the following Ids: {b}")
        );
        let e = parse_for(
            claude,
            turn(vec![
                result(a, "x"),
                result(b, "y"),
                result("tooluse_other", "z"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "The number of toolResult blocks at messages.2.content exceeds the number of toolUse blocks of previous turn."
        );
        let mut bare = turn(vec![result(a, "x"), result(b, "y")]);
        bare.as_object_mut().unwrap().remove("toolConfig");
        assert_eq!(
            parse_for(claude, bare).unwrap_err(),
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        );
        let e = parse_for(
            claude,
            turn(vec![result(a, "x"), result("tooluse_other", "z")]),
        )
        .unwrap_err();
        assert!(e.contains("Expected toolResult blocks"), "{e}");
        let e = parse_for(
            claude,
            turn(vec![
                result(a, "x"),
                json!({"text": "and?"}),
                result(b, "y"),
            ]),
        )
        .unwrap_err();
        assert!(
            e.contains("Did not find 2 toolResult block(s) at the beginning"),
            "{e}"
        );
        let e = parse_for(claude, turn(vec![result(a, "x"), result(b, " ")])).unwrap_err();
        assert!(
            e.contains("messages.2.content.1.toolResult.content.0 is blank"),
            "{e}"
        );
        assert!(
            parse_for(
                claude,
                turn(vec![
                    result(b, "y"),
                    result(a, "x"),
                    json!({"text": "and?"})
                ])
            )
            .is_ok()
        );
        // A forced tool is called alone: no text block, whole or streamed.
        let mut forced = json!({"messages": [user("what now")], "toolConfig": config});
        forced["toolConfig"]["toolChoice"] = json!({"tool": {"name": "clock"}});
        let reply = models::reply(claude, &parse_for(claude, forced).unwrap());
        let blocks = whole(&reply, 1)["output"]["message"]["content"].clone();
        assert_eq!(blocks.as_array().unwrap().len(), 1);
        assert_eq!(blocks[0]["toolUse"]["name"], "clock");
        let streamed = events(&reply, 1);
        assert!(
            streamed
                .iter()
                .all(|(_, e)| e["delta"].get("text").is_none())
        );
        assert_eq!(streamed[1].1["contentBlockIndex"], 0);
        let failed = json!({"toolResult": {"toolUseId": a, "status": "error", "content": []}});
        let e = parse_for(claude, turn(vec![failed, result(b, "y")])).unwrap_err();
        assert!(
            e.starts_with("The content field at messages.2.content.0.toolResult cannot be empty"),
            "{e}"
        );
    }

    #[test]
    fn reasoning_comes_first_where_the_model_reasons() {
        let r1 = parse_for("us.deepseek.r1-v1:0", json!({"messages": [user("why")]})).unwrap();
        assert!(r1.reasoning);
        let reply = models::reply("deepseek.r1-v1:0", &r1);
        let whole = whole(&reply, 1);
        assert!(
            whole["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"]["text"]
                .is_string()
        );
        assert_eq!(
            whole["output"]["message"]["content"][1]["text"],
            "Reply from deepseek.r1-v1:0: why"
        );
        let sonnet = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
        assert!(
            !parse_for(sonnet, json!({"messages": [user("why")]}))
                .unwrap()
                .reasoning
        );
        let asked = json!({"messages": [user("why")], "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}}});
        assert!(parse_for(sonnet, asked).unwrap().reasoning);
    }
}
