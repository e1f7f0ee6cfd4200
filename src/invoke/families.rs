//! What the tool knows about model ids and each family's reply shapes:
//! the base id behind an inference profile, which models take a system
//! prompt, and where the text, stop reason and token counts sit in each
//! family's InvokeModel replies and stream chunks.

use serde_json::Value;

/// The base model id: any ARN prefix and inference-profile prefix (`us.`,
/// `eu.`, `apac.`, `global.`, `us-gov.`) removed.
pub(crate) fn base_model_id(model: &str) -> &str {
    let model = model.rsplit('/').next().unwrap_or(model);
    for prefix in ["us.", "eu.", "apac.", "global.", "us-gov."] {
        if let Some(rest) = model.strip_prefix(prefix) {
            return rest;
        }
    }
    model
}

/// Whether Converse takes a system prompt for this model. The Bedrock User
/// Guide's table of Converse features says no for Amazon Titan Text, the
/// Mistral AI Instruct models (7B and Mixtral), Cohere Command (text and
/// light) and AI21 Jurassic-2.
pub(crate) fn supports_system(model: &str) -> bool {
    const WITHOUT: [&str; 6] = [
        "amazon.titan-text",
        "mistral.mistral-7b",
        "mistral.mixtral",
        "cohere.command-text",
        "cohere.command-light",
        "ai21.j2",
    ];
    let base = base_model_id(model);
    !WITHOUT.iter().any(|p| base.starts_with(p))
}

/// Whether the workshop flow folds the system prompt into the user message
/// for this model, as the Python tool did for Titan and Mistral models.
pub(crate) fn folds_system(model: &str) -> bool {
    let base = base_model_id(model);
    !supports_system(model) || base.starts_with("amazon.titan") || base.starts_with("mistral.")
}

/// The inference-profile prefix for a region (`us`, `eu`, `apac`), for the
/// hint when a model needs a profile for on-demand use.
pub(crate) fn profile_prefix(region: &str) -> &'static str {
    if region.starts_with("eu-") {
        "eu"
    } else if region.starts_with("ap-") {
        "apac"
    } else if region.starts_with("us-gov-") {
        "us-gov"
    } else {
        "us"
    }
}

/// Text, stop reason and token counts read from one reply or chunk.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Piece {
    /// Text in this piece.
    pub(crate) text: String,
    /// The stop reason, if this piece carries it.
    pub(crate) stop_reason: Option<String>,
    /// Input tokens, if given.
    pub(crate) input_tokens: Option<u64>,
    /// Output tokens, if given.
    pub(crate) output_tokens: Option<u64>,
}

/// Reads a whole InvokeModel reply, whatever the family.
pub(crate) fn read_reply(body: &Value) -> Piece {
    let text = if let Some(parts) = body.get("content").and_then(Value::as_array) {
        parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<String>()
    } else {
        first_str(
            body,
            &[
                "/completion",
                "/results/0/outputText",
                "/generation",
                "/outputs/0/text",
                "/text",
                "/generations/0/text",
            ],
        )
        .unwrap_or_default()
    };
    Piece {
        text,
        stop_reason: first_str(
            body,
            &[
                "/stop_reason",
                "/results/0/completionReason",
                "/outputs/0/stop_reason",
                "/finish_reason",
                "/generations/0/finish_reason",
            ],
        ),
        input_tokens: first_u64(
            body,
            &[
                "/usage/input_tokens",
                "/inputTextTokenCount",
                "/prompt_token_count",
            ],
        ),
        output_tokens: first_u64(
            body,
            &[
                "/usage/output_tokens",
                "/results/0/tokenCount",
                "/generation_token_count",
            ],
        ),
    }
}

/// Reads one InvokeModelWithResponseStream chunk, whatever the family.
pub(crate) fn read_chunk(chunk: &Value) -> Piece {
    let text = match chunk.get("type").and_then(Value::as_str) {
        Some("content_block_delta") => first_str(chunk, &["/delta/text"]),
        Some(_) => None,
        None if chunk
            .get("event_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "text-generation") =>
        {
            None
        }
        None => first_str(
            chunk,
            &[
                "/completion",
                "/outputText",
                "/generation",
                "/outputs/0/text",
                "/text",
            ],
        ),
    }
    .unwrap_or_default();
    let metrics = chunk.get("amazon-bedrock-invocationMetrics");
    Piece {
        text,
        stop_reason: first_str(
            chunk,
            &[
                "/delta/stop_reason",
                "/stop_reason",
                "/completionReason",
                "/outputs/0/stop_reason",
                "/finish_reason",
            ],
        ),
        input_tokens: metrics
            .and_then(|m| m.get("inputTokenCount"))
            .and_then(Value::as_u64),
        output_tokens: metrics
            .and_then(|m| m.get("outputTokenCount"))
            .and_then(Value::as_u64),
    }
}

fn first_str(v: &Value, pointers: &[&str]) -> Option<String> {
    pointers
        .iter()
        .find_map(|p| v.pointer(p).and_then(Value::as_str))
        .map(str::to_string)
}

fn first_u64(v: &Value, pointers: &[&str]) -> Option<u64> {
    pointers
        .iter()
        .find_map(|p| v.pointer(p).and_then(Value::as_u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids() {
        assert_eq!(
            base_model_id("us.anthropic.claude-3-haiku-20240307-v1:0"),
            "anthropic.claude-3-haiku-20240307-v1:0"
        );
        assert_eq!(
            base_model_id(
                "arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-8b-instruct-v1:0"
            ),
            "meta.llama3-8b-instruct-v1:0"
        );
        assert!(folds_system("mistral.mistral-large-2407-v1:0"));
        assert!(folds_system("cohere.command-text-v14"));
        assert!(!folds_system("cohere.command-r-plus-v1:0"));
        assert!(folds_system("amazon.titan-text-lite-v1"));
        assert!(!folds_system("anthropic.claude-v2"));
        assert_eq!(profile_prefix("eu-central-1"), "eu");
        assert_eq!(profile_prefix("ap-southeast-2"), "apac");
    }

    /// Which models take a system prompt in Converse, after AWS's table;
    /// a rule broken in either direction fails here.
    #[test]
    fn system_prompt_support_follows_the_converse_feature_table() {
        for (model, takes) in [
            ("anthropic.claude-3-haiku-20240307-v1:0", true),
            ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", true),
            ("amazon.nova-pro-v1:0", true),
            ("amazon.titan-text-express-v1", false),
            ("amazon.titan-text-premier-v1:0", false),
            ("meta.llama3-1-8b-instruct-v1:0", true),
            ("mistral.mistral-7b-instruct-v0:2", false),
            ("mistral.mixtral-8x7b-instruct-v0:1", false),
            ("mistral.mistral-large-2407-v1:0", true),
            ("cohere.command-text-v14", false),
            ("cohere.command-light-text-v14", false),
            ("cohere.command-r-plus-v1:0", true),
            ("ai21.j2-ultra-v1", false),
            ("ai21.jamba-1-5-large-v1:0", true),
            ("us.deepseek.r1-v1:0", true),
        ] {
            assert_eq!(supports_system(model), takes, "{model}");
        }
    }

    #[test]
    fn replies_and_chunks() {
        let r = read_reply(
            &json!({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 2}}),
        );
        assert_eq!(
            (
                r.text.as_str(),
                r.stop_reason.as_deref(),
                r.input_tokens,
                r.output_tokens
            ),
            ("ab", Some("end_turn"), Some(3), Some(2))
        );
        assert_eq!(read_reply(&json!({"results": [{"outputText": "t", "tokenCount": 1, "completionReason": "FINISH"}], "inputTextTokenCount": 4})).stop_reason.as_deref(), Some("FINISH"));
        assert_eq!(
            read_chunk(&json!({"type": "content_block_delta", "delta": {"text": "x"}})).text,
            "x"
        );
        assert_eq!(
            read_chunk(&json!({"type": "message_start", "message": {"content": []}})).text,
            ""
        );
        assert_eq!(read_chunk(&json!({"is_finished": true, "event_type": "stream-end", "finish_reason": "COMPLETE"})).text, "");
        let last = read_chunk(
            &json!({"generation": "z", "stop_reason": "stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 5, "outputTokenCount": 6}}),
        );
        assert_eq!(
            (last.text.as_str(), last.input_tokens, last.output_tokens),
            ("z", Some(5), Some(6))
        );
    }
}
