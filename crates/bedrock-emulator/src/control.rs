//! The Bedrock control plane's model-access operations (REST-JSON, signing
//! name `bedrock`, the `bedrock.<region>` endpoint on AWS):
//! ListFoundationModels, GetFoundationModel, GetFoundationModelAvailability,
//! ListInferenceProfiles and GetInferenceProfile.
//!
//! Inputs are checked against the API definition (`data/bedrock-2023-04-20.json`,
//! from botocore); the models are the catalogue's; the answers follow the
//! same permissions as the runtime: a model the account was not granted
//! (`no_model_access` in the identities) is `NOT_AVAILABLE` here and
//! refused there, and `authorizationStatus` says whether the caller's
//! policies (identity and session) allow invoking it. Any authenticated
//! caller may list.

use crate::bedrock::{auth_error, error};
use crate::catalogue::{self, Model};
use crate::identity::{KeyOwner, matches_any};
use crate::record::RecordEntry;
use crate::shapes::Api;
use crate::{Body, State, request_id, response, sigv4};
use bytes::Bytes;
use serde_json::{Value, json};
use std::time::SystemTime;

/// Whether `path` is one of the control plane's.
pub(crate) fn serves(path: &str) -> bool {
    path == "/foundation-models"
        || path.starts_with("/foundation-models/")
        || path.starts_with("/foundation-model-availability/")
        || path == "/inference-profiles"
        || path.starts_with("/inference-profiles/")
}

/// When the catalogue's models and profiles were "created": a fixed date,
/// so that answers are the same every time.
const CREATED: &str = "2024-08-01T00:00:00Z";

/// The operation a path names, and its URI label, percent-decoded.
fn operation(path: &str) -> Option<(&'static str, Option<String>)> {
    let decode = |s: &str| {
        percent_decode(s)
            .filter(|d| !d.is_empty())
            .map(Some)
            .unwrap_or(None)
    };
    if path == "/foundation-models" {
        return Some(("ListFoundationModels", None));
    }
    if path == "/inference-profiles" {
        return Some(("ListInferenceProfiles", None));
    }
    if let Some(id) = path.strip_prefix("/foundation-models/") {
        return Some(("GetFoundationModel", decode(id)));
    }
    if let Some(id) = path.strip_prefix("/foundation-model-availability/") {
        return Some(("GetFoundationModelAvailability", decode(id)));
    }
    if let Some(id) = path.strip_prefix("/inference-profiles/") {
        return Some(("GetInferenceProfile", decode(id)));
    }
    None
}

fn percent_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// The operation's input as the definition names its members: the URI
/// label and the query string (integers as numbers).
fn input(api: &Api, op: &str, label: Option<String>, query: &str) -> Value {
    let shape_name = format!("{op}Request");
    let mut out = serde_json::Map::new();
    let Some(members) = api
        .shape(&shape_name)
        .and_then(|s| s["members"].as_object())
    else {
        return Value::Object(out);
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    for (name, member) in members {
        let wire = member["locationName"].as_str().unwrap_or(name);
        let value = match member["location"].as_str() {
            Some("uri") => label.clone(),
            Some("querystring") => pairs
                .iter()
                .find(|(k, _)| k == wire)
                .map(|(_, v)| v.clone()),
            _ => None,
        };
        let Some(value) = value else { continue };
        let is_integer = member["shape"]
            .as_str()
            .and_then(|s| api.shape(s))
            .is_some_and(|s| s["type"] == "integer");
        let value = match value.parse::<i64>() {
            Ok(n) if is_integer => json!(n),
            _ => json!(value),
        };
        out.insert(name.clone(), value);
    }
    Value::Object(out)
}

/// Handles a control-plane request.
pub(crate) fn handle(
    state: &State,
    parts: &http::request::Parts,
    body: &Bytes,
) -> hyper::Response<Body> {
    let path = parts.uri.path().to_string();
    let Some((op, label)) = operation(&path) else {
        return error(404, "UnknownOperationException", "Unknown operation");
    };
    let mut entry = RecordEntry::begin("bedrock-control", op, parts);
    if parts.method != http::Method::GET {
        state
            .record
            .push(entry.failed(404, "UnknownOperationException"));
        return error(404, "UnknownOperationException", "Unknown operation");
    }
    let answer = answer(state, parts, body, op, label, &mut entry);
    match answer {
        Ok(value) => {
            state.record.push(entry);
            response(
                200,
                &[
                    ("content-type", "application/json"),
                    ("x-amzn-requestid", &request_id()),
                ],
                serde_json::to_vec(&value).unwrap_or_default(),
            )
        }
        Err((status, kind, message)) => {
            state.record.push(entry.failed(status, kind));
            error(status, kind, &message)
        }
    }
}

type Refusal = (u16, &'static str, String);

fn answer(
    state: &State,
    parts: &http::request::Parts,
    body: &Bytes,
    op: &'static str,
    label: Option<String>,
    entry: &mut RecordEntry,
) -> Result<Value, Refusal> {
    if entry.auth.as_deref() == Some("bearer") {
        return Err((
            403,
            "AccessDeniedException",
            "Authentication failed: Please make sure your API Key is valid.".into(),
        ));
    }
    let region = state.region_for(&crate::host_of(parts));
    let owner = sigv4::verify(
        &state.identities,
        parts,
        body,
        "bedrock",
        &region,
        SystemTime::now(),
    )
    .map_err(|e| auth_error(&e))?
    .owner;
    entry.caller = Some(owner.principal.caller_arn().to_string());
    let api = Api::bedrock();
    let input = input(api, op, label, parts.uri.query().unwrap_or(""));
    if let Some(message) = Api::message(&api.all_violations(&format!("{op}Request"), &input)) {
        return Err((400, "ValidationException", message));
    }
    let account = owner.principal.account().to_string();
    let ctx = Ctx {
        state,
        owner: &owner,
        region: &region,
        account: &account,
    };
    match op {
        "ListFoundationModels" => Ok(list_models(&ctx, &input)),
        "GetFoundationModel" => {
            let id = input["modelIdentifier"].as_str().unwrap_or_default();
            let model = find_model(id)?;
            entry.model = Some(model.id.clone());
            Ok(json!({"modelDetails": ctx.summary(model)}))
        }
        "GetFoundationModelAvailability" => {
            let id = input["modelId"].as_str().unwrap_or_default();
            let model = find_model(id)?;
            entry.model = Some(model.id.clone());
            Ok(ctx.availability(model))
        }
        "ListInferenceProfiles" => list_profiles(&ctx, &input),
        _ => {
            let id = input["inferenceProfileIdentifier"]
                .as_str()
                .unwrap_or_default();
            let wanted = id.rsplit('/').next().unwrap_or(id);
            ctx.profiles()
                .into_iter()
                .find(|p| p["inferenceProfileId"] == wanted)
                .ok_or_else(|| {
                    (
                        404,
                        "ResourceNotFoundException",
                        format!("Inference profile {id} not found."),
                    )
                })
        }
    }
}

fn find_model(id: &str) -> Result<&'static Model, Refusal> {
    let base = id.rsplit('/').next().unwrap_or(id);
    catalogue::models()
        .iter()
        .find(|m| m.id == base)
        .ok_or_else(|| {
            (
                404,
                "ResourceNotFoundException",
                format!("The model {id} is not found."),
            )
        })
}

/// What an answer depends on: who asks, in which region and account.
struct Ctx<'a> {
    state: &'a State,
    owner: &'a KeyOwner,
    region: &'a str,
    account: &'a str,
}

impl Ctx<'_> {
    fn model_arn(&self, region: &str, id: &str) -> String {
        format!("arn:aws:bedrock:{region}::foundation-model/{id}")
    }

    fn summary(&self, m: &Model) -> Value {
        let (input, output): (Vec<&str>, Vec<&str>) = if m.body.embeds() {
            (vec!["TEXT"], vec!["EMBEDDING"])
        } else if m.body.draws() {
            (vec!["TEXT", "IMAGE"], vec!["IMAGE"])
        } else if m.takes("images") {
            (vec!["TEXT", "IMAGE"], vec!["TEXT"])
        } else {
            (vec!["TEXT"], vec!["TEXT"])
        };
        json!({
            "modelArn": self.model_arn(self.region, &m.id),
            "modelId": m.id,
            "modelName": model_name(&m.id),
            "providerName": provider_name(&m.id),
            "inputModalities": input,
            "outputModalities": output,
            "responseStreamingSupported": !(m.body.embeds() || m.body.draws()),
            "customizationsSupported": [],
            // The definition's enum has ON_DEMAND and PROVISIONED only; a
            // model served only through inference profiles has neither.
            "inferenceTypesSupported": if m.on_demand { vec!["ON_DEMAND"] } else { vec![] },
            "modelLifecycle": {"status": "ACTIVE"},
        })
    }

    /// Whether the account was granted the model (model access).
    fn entitled(&self, m: &Model) -> bool {
        !matches_any(&self.state.identities.directory.no_model_access, &m.id)
    }

    /// Whether the caller's identity and session policies allow invoking it.
    fn authorized(&self, m: &Model) -> bool {
        let session = self
            .owner
            .facts
            .policy_models
            .as_ref()
            .is_none_or(|allowed| matches_any(allowed, &m.id));
        session
            && self
                .state
                .identities
                .may_invoke(&self.owner.principal, &m.id)
    }

    fn availability(&self, m: &Model) -> Value {
        let entitled = self.entitled(m);
        let word = |ok: bool| if ok { "AVAILABLE" } else { "NOT_AVAILABLE" };
        json!({
            "modelId": m.id,
            "agreementAvailability": {"status": word(entitled)},
            "authorizationStatus": if self.authorized(m) { "AUTHORIZED" } else { "NOT_AUTHORIZED" },
            "entitlementAvailability": word(entitled),
            "regionAvailability": "AVAILABLE",
        })
    }

    /// The system-defined inference profiles of the region's geography:
    /// one for each text model.
    fn profiles(&self) -> Vec<Value> {
        let (geo, regions) = geography(self.region);
        catalogue::models()
            .iter()
            .filter(|m| !(m.body.embeds() || m.body.draws()))
            .map(|m| {
                let id = format!("{geo}.{}", m.id);
                json!({
                    "inferenceProfileName": format!("{} {}", geo.to_uppercase(), model_name(&m.id)),
                    "description": format!("Routes requests to {} in {}.", model_name(&m.id), regions.join(", ")),
                    "createdAt": CREATED,
                    "updatedAt": CREATED,
                    "inferenceProfileArn": format!("arn:aws:bedrock:{}:{}:inference-profile/{id}", self.region, self.account),
                    "models": regions.iter().map(|r| json!({"modelArn": self.model_arn(r, &m.id)})).collect::<Vec<_>>(),
                    "inferenceProfileId": id,
                    "status": "ACTIVE",
                    "type": "SYSTEM_DEFINED",
                })
            })
            .collect()
    }
}

fn list_models(ctx: &Ctx<'_>, input: &Value) -> Value {
    let wanted = |key: &str| input[key].as_str();
    let models: Vec<Value> = catalogue::models()
        .iter()
        .map(|m| ctx.summary(m))
        .filter(|s| {
            wanted("byProvider").is_none_or(|p| {
                s["providerName"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(p))
                    || s["modelId"]
                        .as_str()
                        .is_some_and(|id| id.split('.').next() == Some(&p.to_ascii_lowercase()))
            })
        })
        .filter(|s| {
            wanted("byOutputModality").is_none_or(|o| {
                s["outputModalities"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!(o)))
            })
        })
        .filter(|s| {
            wanted("byInferenceType").is_none_or(|t| {
                s["inferenceTypesSupported"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!(t)))
            })
        })
        // No model of the catalogue can be customised.
        .filter(|_| wanted("byCustomizationType").is_none())
        .collect();
    json!({"modelSummaries": models})
}

fn list_profiles(ctx: &Ctx<'_>, input: &Value) -> Result<Value, Refusal> {
    let all = match input["typeEquals"].as_str() {
        Some("APPLICATION") => Vec::new(),
        _ => ctx.profiles(),
    };
    let start = match input["nextToken"].as_str() {
        None => 0,
        Some(t) => t.parse::<usize>().ok().filter(|n| *n <= all.len()).ok_or((
            400,
            "ValidationException",
            "The pagination token is invalid.".to_string(),
        ))?,
    };
    let size = input["maxResults"].as_u64().unwrap_or(1000) as usize;
    let end = (start + size).min(all.len());
    let mut out = json!({"inferenceProfileSummaries": all[start..end]});
    if end < all.len() {
        out["nextToken"] = json!(end.to_string());
    }
    Ok(out)
}

/// The geography prefix of a region's system-defined profiles, and the
/// regions they route to.
fn geography(region: &str) -> (&'static str, Vec<&'static str>) {
    if region.starts_with("us-gov-") {
        ("us-gov", vec!["us-gov-west-1", "us-gov-east-1"])
    } else if region.starts_with("eu-") {
        ("eu", vec!["eu-central-1", "eu-west-1", "eu-west-3"])
    } else if region.starts_with("ap-") {
        (
            "apac",
            vec!["ap-northeast-1", "ap-southeast-1", "ap-southeast-2"],
        )
    } else {
        ("us", vec!["us-east-1", "us-east-2", "us-west-2"])
    }
}

fn provider_name(id: &str) -> &'static str {
    match id.split('.').next().unwrap_or_default() {
        "anthropic" => "Anthropic",
        "amazon" => "Amazon",
        "meta" => "Meta",
        "mistral" => "Mistral AI",
        "cohere" => "Cohere",
        "ai21" => "AI21 Labs",
        "deepseek" => "DeepSeek",
        "writer" => "Writer",
        "stability" => "Stability AI",
        _ => "Other",
    }
}

/// A readable name from an id: `anthropic.claude-3-haiku-20240307-v1:0`
/// is "Claude 3 Haiku"; at most 20 characters, as the definition's
/// `BrandedName` allows.
fn model_name(id: &str) -> String {
    let name = long_name(id);
    name.chars()
        .take(20)
        .collect::<String>()
        .trim_end()
        .to_string()
}

fn long_name(id: &str) -> String {
    let rest = id.split_once('.').map_or(id, |(_, r)| r);
    let rest = rest.split(':').next().unwrap_or(rest);
    rest.split('-')
        .filter(|w| !(is_date(w) || is_version(w)))
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `20240307` in a model id.
fn is_date(word: &str) -> bool {
    word.len() == 8 && word.bytes().all(|b| b.is_ascii_digit())
}

/// `v1`, `v2` in a model id.
fn is_version(word: &str) -> bool {
    word.strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(
            model_name("anthropic.claude-3-haiku-20240307-v1:0"),
            "Claude 3 Haiku"
        );
        assert_eq!(model_name("amazon.nova-lite-v1:0"), "Nova Lite");
        assert_eq!(
            operation("/foundation-model-availability/anthropic.claude-v2%3A1"),
            Some((
                "GetFoundationModelAvailability",
                Some("anthropic.claude-v2:1".into())
            ))
        );
        assert!(serves("/inference-profiles"));
        assert!(!serves("/model/x/invoke"));
        let api = Api::bedrock();
        let bad = input(
            api,
            "ListInferenceProfiles",
            None,
            "maxResults=0&type=SYSTEM_DEFINED",
        );
        assert_eq!(bad["maxResults"], 0);
        let message = Api::message(&api.all_violations("ListInferenceProfilesRequest", &bad));
        assert!(message.unwrap().contains("greater than or equal to 1"));
    }
}
