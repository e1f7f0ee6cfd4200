//! The model catalogue (`data/models.json`): which model ids exist, which
//! are served on demand and which only through an inference profile
//! (`us.`, `eu.`, ...), what each takes in Converse (system prompt, images,
//! documents, tools, reasoning), its output limit, and the documented
//! parameters of its InvokeModel body, checked with the messages Bedrock
//! gives (`Malformed input request: #/temperature: 5.0 is not less or equal
//! to 1.0, please reformat your input and try again.`).

use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A request body family: the shape of InvokeModel's body and reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Body {
    /// Anthropic Claude, Messages API.
    AnthropicMessages,
    /// Anthropic Claude, Text Completions API.
    AnthropicCompletion,
    /// Amazon Nova, `messages-v1`.
    NovaMessages,
    /// Amazon Titan Text.
    TitanText,
    /// Meta Llama.
    Llama,
    /// Mistral AI, text completion.
    MistralPrompt,
    /// Mistral AI, chat completion.
    MistralChat,
    /// Cohere Command (generate).
    CohereGenerate,
    /// Cohere Command R (chat).
    CohereChat,
    /// AI21 Jamba (chat completion).
    JambaChat,
    /// DeepSeek (text completion).
    DeepseekPrompt,
    /// Writer Palmyra (chat completion).
    PalmyraChat,
    /// Amazon Titan Text Embeddings (v1).
    TitanEmbedV1,
    /// Amazon Titan Text Embeddings V2.
    TitanEmbedV2,
    /// Cohere Embed (v3).
    CohereEmbed,
    /// Amazon Nova Multimodal Embeddings.
    NovaEmbed,
    /// Amazon Titan Image Generator v1 and v2.
    TitanImage,
    /// Amazon Nova Canvas.
    NovaCanvas,
    /// Stability AI Stable Diffusion XL 1.0.
    Sdxl,
    /// Stability AI Stable Image models (SD3.5 Large, Core, Ultra).
    StableImage,
}

impl Body {
    /// Whether the family is an embedding model's: InvokeModel only, and
    /// an embedding back.
    pub fn embeds(self) -> bool {
        matches!(
            self,
            Body::TitanEmbedV1 | Body::TitanEmbedV2 | Body::CohereEmbed | Body::NovaEmbed
        )
    }

    /// Whether the family is an image generation model's: InvokeModel
    /// only, and pictures back.
    pub fn draws(self) -> bool {
        matches!(
            self,
            Body::TitanImage | Body::NovaCanvas | Body::Sdxl | Body::StableImage
        )
    }
}

/// A model in the catalogue.
#[derive(Debug, Clone, Deserialize)]
pub struct Model {
    /// The base model id.
    pub id: String,
    /// Its InvokeModel body family.
    pub body: Body,
    /// Whether the base id may be invoked directly (else only through an
    /// inference profile).
    pub on_demand: bool,
    /// What Converse accepts: `system`, `images`, `documents`, `tools`,
    /// `reasoning`.
    pub features: Vec<String>,
    /// The most output tokens a request may ask for.
    pub max_tokens: u64,
}

impl Model {
    /// Whether Converse accepts `feature` for this model.
    pub fn takes(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// One documented body parameter: its type and limits.
#[derive(Debug, Clone, Deserialize, Default)]
struct Param {
    #[serde(rename = "type")]
    kind: Kinds,
    min: Option<f64>,
    max: Option<f64>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    #[serde(rename = "enum")]
    allowed: Option<Vec<String>>,
    /// The numbers a numeric parameter may take.
    one_of: Option<Vec<f64>>,
    keys: Option<HashMap<String, Param>>,
}

/// One type or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Kinds {
    One(String),
    Many(Vec<String>),
}

impl Default for Kinds {
    fn default() -> Kinds {
        Kinds::Many(Vec::new())
    }
}

/// A body family's documented parameters.
#[derive(Debug, Clone, Deserialize)]
struct Schema {
    required: Vec<String>,
    keys: HashMap<String, Param>,
}

#[derive(Debug, Deserialize)]
struct Catalogue {
    profiles: Vec<String>,
    models: Vec<Model>,
    bodies: HashMap<Body, Schema>,
}

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        serde_json::from_str(include_str!("../data/models.json"))
            .expect("the bundled catalogue parses")
    })
}

/// A model id as a request names it, resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The model.
    pub model: &'static Model,
    /// The inference profile's geography, when called through one.
    pub profile: Option<String>,
}

/// Why a model id is refused, in AWS's words.
pub fn lookup(model_id: &str) -> Result<Resolved, String> {
    let resource = model_id.rsplit('/').next().unwrap_or(model_id);
    let c = catalogue();
    let (profile, base) = match c.profiles.iter().find_map(|p| {
        resource
            .strip_prefix(&format!("{p}."))
            .map(|rest| (p, rest))
    }) {
        Some((p, rest)) => (Some(p.clone()), rest),
        None => (None, resource),
    };
    let model = c
        .models
        .iter()
        .find(|m| m.id == base)
        .ok_or_else(|| "The provided model identifier is invalid.".to_string())?;
    if profile.is_none() && !model.on_demand {
        return Err(format!(
            "Invocation of model ID {base} with on-demand throughput isn\u{2019}t supported. Retry your request with \
             the ID or ARN of an inference profile that contains this model."
        ));
    }
    Ok(Resolved { model, profile })
}

/// Every model of the catalogue.
pub fn models() -> &'static [Model] {
    &catalogue().models
}

/// The message for a body that breaks its family's documented parameters:
/// the first violation, as Bedrock's validator words it.
pub fn check_body(body: Body, value: &Value) -> Result<(), String> {
    let Some(schema) = catalogue().bodies.get(&body) else {
        return Ok(());
    };
    let object = value.as_object().ok_or_else(|| {
        malformed("#: expected type: JSONObject, found: ".to_string() + type_name(value))
    })?;
    for key in &schema.required {
        if !object.contains_key(key) {
            return Err(malformed(format!("#: required key [{key}] not found")));
        }
    }
    check_keys(&schema.keys, object, "#")
}

fn check_keys(
    keys: &HashMap<String, Param>,
    object: &serde_json::Map<String, Value>,
    at: &str,
) -> Result<(), String> {
    for (name, value) in object {
        let Some(param) = keys.get(name) else {
            return Err(malformed(format!(
                "{at}: extraneous key [{name}] is not permitted"
            )));
        };
        check_param(param, value, &format!("{at}/{name}"))?;
    }
    Ok(())
}

fn check_param(p: &Param, value: &Value, at: &str) -> Result<(), String> {
    let kinds: Vec<&str> = match &p.kind {
        Kinds::One(k) => vec![k.as_str()],
        Kinds::Many(ks) => ks.iter().map(String::as_str).collect(),
    };
    if !kinds.is_empty() && !kinds.iter().any(|k| is_kind(value, k)) {
        return Err(malformed(format!(
            "{at}: expected type: {}, found: {}",
            kinds
                .iter()
                .map(|k| expected_name(k))
                .collect::<Vec<_>>()
                .join(" or "),
            type_name(value)
        )));
    }
    if let (Some(allowed), Some(s)) = (&p.allowed, value.as_str())
        && !allowed.iter().any(|a| a == s)
    {
        return Err(malformed(format!("{at}: {s} is not a valid enum value")));
    }
    if let (Some(allowed), Some(n)) = (&p.one_of, value.as_f64())
        && !allowed.contains(&n)
    {
        return Err(malformed(format!(
            "{at}: {} is not a valid enum value",
            number(value)
        )));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = p.min.filter(|m| n < *m) {
            return Err(malformed(format!(
                "{at}: {} is not greater or equal to {}",
                number(value),
                float(min)
            )));
        }
        if let Some(max) = p.max.filter(|m| n > *m) {
            return Err(malformed(format!(
                "{at}: {} is not less or equal to {}",
                number(value),
                float(max)
            )));
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = p.min_items.filter(|m| items.len() < *m) {
            return Err(malformed(format!(
                "{at}: expected minimum item count: {min}, found: {}",
                items.len()
            )));
        }
        if let Some(max) = p.max_items.filter(|m| items.len() > *m) {
            return Err(malformed(format!(
                "{at}: expected maximum item count: {max}, found: {}",
                items.len()
            )));
        }
    }
    match (&p.keys, value.as_object()) {
        (Some(keys), Some(object)) => check_keys(keys, object, at),
        _ => Ok(()),
    }
}

fn malformed(what: String) -> String {
    format!("Malformed input request: {what}, please reformat your input and try again.")
}

fn is_kind(value: &Value, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn expected_name(kind: &str) -> &'static str {
    match kind {
        "string" => "String",
        "integer" => "Integer",
        "number" => "Number",
        "boolean" => "Boolean",
        "array" => "JSONArray",
        "object" => "JSONObject",
        _ => "Object",
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "String",
        Value::Number(n) if n.is_f64() => "BigDecimal",
        Value::Number(_) => "Integer",
        Value::Bool(_) => "Boolean",
        Value::Array(_) => "JSONArray",
        Value::Object(_) => "JSONObject",
        Value::Null => "Null",
    }
}

/// A number as the validator shows a value: `5.0`, `0`.
fn number(value: &Value) -> String {
    match value.as_i64() {
        Some(i) => i.to_string(),
        None => float(value.as_f64().unwrap_or_default()),
    }
}

fn float(f: f64) -> String {
    if f.fract() == 0.0 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_profiles_and_on_demand() {
        assert_eq!(
            lookup("anthropic.claude-3-haiku-20240307-v1:0")
                .unwrap()
                .model
                .body,
            Body::AnthropicMessages
        );
        assert_eq!(
            lookup("us.anthropic.claude-3-7-sonnet-20250219-v1:0")
                .unwrap()
                .profile
                .as_deref(),
            Some("us")
        );
        assert!(
            lookup("anthropic.claude-3-7-sonnet-20250219-v1:0")
                .unwrap_err()
                .starts_with("Invocation of model ID anthropic.claude-3-7-sonnet-20250219-v1:0 with on-demand throughput")
        );
        assert_eq!(
            lookup("anthropic.claude-made-up-v9:0").unwrap_err(),
            "The provided model identifier is invalid."
        );
        assert!(
            lookup("arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-8b-instruct-v1:0")
                .is_ok()
        );
        assert!(
            lookup("arn:aws:bedrock:us-west-2:111111111111:inference-profile/us.deepseek.r1-v1:0")
                .is_ok()
        );
        assert!(lookup("deepseek.r1-v1:0").is_err());
        assert!(models().len() >= 40);
    }

    #[test]
    fn bodies_are_checked_as_bedrock_checks_them() {
        let ok = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(check_body(Body::AnthropicMessages, &ok), Ok(()));
        let cases = [
            (
                Body::AnthropicMessages,
                json!({"max_tokens": 10, "messages": []}),
                "#: required key [anthropic_version] not found",
            ),
            (
                Body::AnthropicMessages,
                json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [{}], "tempreature": 1}),
                "#: extraneous key [tempreature] is not permitted",
            ),
            (
                Body::AnthropicMessages,
                json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": [{}], "temperature": 5.0}),
                "#/temperature: 5.0 is not less or equal to 1.0",
            ),
            (
                Body::AnthropicMessages,
                json!({"anthropic_version": "2023", "max_tokens": 10, "messages": [{}]}),
                "#/anthropic_version: 2023 is not a valid enum value",
            ),
            (
                Body::AnthropicMessages,
                json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": "10", "messages": [{}]}),
                "#/max_tokens: expected type: Integer, found: String",
            ),
            (
                Body::TitanText,
                json!({"inputText": "x", "textGenerationConfig": {"topP": 2}}),
                "#/textGenerationConfig/topP: 2 is not less or equal to 1.0",
            ),
            (
                Body::CohereGenerate,
                json!({"prompt": "x", "temperature": 5.5}),
                "#/temperature: 5.5 is not less or equal to 5.0",
            ),
            (
                Body::DeepseekPrompt,
                json!({"prompt": "x", "stop": ["a","b","c","d","e","f","g","h","i","j","k"]}),
                "#/stop: expected maximum item count: 10, found: 11",
            ),
        ];
        for (body, value, expected) in cases {
            let e = check_body(body, &value).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "Malformed input request: {expected}, please reformat your input and try again."
                )
            );
        }
    }
}
