//! A query-protocol request (`Action=AssumeRole&RoleArn=...&Tags.member.1.Key=...`)
//! read into the JSON form of its input shape, so that the API definition's
//! constraints can be checked on it as on any other request.

use crate::shapes::Api;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The members of `shape` present in `form` under `prefix`, as JSON.
/// Numbers that do not parse stay text, for [`not_numbers`] to report.
pub(super) fn read(api: &Api, shape: &str, form: &HashMap<String, String>) -> Value {
    member(api, shape, form, "").unwrap_or_else(|| Value::Object(Map::new()))
}

fn member(api: &Api, shape: &str, form: &HashMap<String, String>, key: &str) -> Option<Value> {
    let def = api.shape(shape)?;
    match def["type"].as_str().unwrap_or_default() {
        "structure" => {
            let mut object = Map::new();
            for (name, m) in def["members"].as_object()? {
                let key = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}.{name}")
                };
                if let Some(v) = member(api, m["shape"].as_str()?, form, &key) {
                    object.insert(name.clone(), v);
                }
            }
            (key.is_empty() || !object.is_empty()).then_some(Value::Object(object))
        }
        "list" => {
            let item = def["member"]["shape"].as_str()?;
            let items: Vec<Value> = (1..)
                .map_while(|n| member(api, item, form, &format!("{key}.member.{n}")))
                .collect();
            // `Tags=` with nothing after it is how the protocol sends an empty list.
            (!items.is_empty() || form.contains_key(key)).then_some(Value::Array(items))
        }
        "integer" | "long" => {
            let text = form.get(key)?;
            Some(
                text.parse::<i64>()
                    .map_or_else(|_| Value::String(text.clone()), Value::from),
            )
        }
        "boolean" => form.get(key).map(|t| Value::Bool(t == "true")),
        _ => form.get(key).map(|t| Value::String(t.clone())),
    }
}

/// The integer members of `shape` that arrived as something else, in AWS's
/// words.
pub(super) fn not_numbers(api: &Api, shape: &str, input: &Value) -> Vec<String> {
    let Some(members) = api.shape(shape).and_then(|d| d["members"].as_object()) else {
        return Vec::new();
    };
    members
        .iter()
        .filter(|(_, m)| {
            let kind = api
                .shape(m["shape"].as_str().unwrap_or_default())
                .map(|d| d["type"].clone());
            matches!(kind.as_ref().and_then(Value::as_str), Some("integer" | "long"))
        })
        .filter_map(|(name, _)| {
            let text = input.get(name)?.as_str()?;
            let mut chars = name.chars();
            let first = chars.next()?.to_ascii_lowercase();
            Some(format!(
                "Value '{text}' at '{first}{}' failed to satisfy constraint: Member must be a number",
                chars.as_str()
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn members_lists_and_numbers_take_their_shapes() {
        let api = Api::sts();
        let input = read(
            api,
            "AssumeRoleRequest",
            &form(&[
                ("Action", "AssumeRole"),
                ("RoleArn", "arn:aws:iam::222222222222:role/R"),
                ("DurationSeconds", "900"),
                ("Tags.member.1.Key", "team"),
                ("Tags.member.1.Value", "ml"),
                ("Tags.member.2.Key", "cost"),
                ("Tags.member.2.Value", "42"),
                (
                    "PolicyArns.member.1.arn",
                    "arn:aws:iam::aws:policy/ReadOnlyAccess",
                ),
            ]),
        );
        assert_eq!(
            input,
            json!({
                "RoleArn": "arn:aws:iam::222222222222:role/R",
                "DurationSeconds": 900,
                "Tags": [{"Key": "team", "Value": "ml"}, {"Key": "cost", "Value": "42"}],
                "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
            })
        );
        let bad = read(
            api,
            "AssumeRoleRequest",
            &form(&[("DurationSeconds", "an hour")]),
        );
        assert_eq!(
            not_numbers(api, "AssumeRoleRequest", &bad),
            [
                "Value 'an hour' at 'durationSeconds' failed to satisfy constraint: Member must be a number"
            ]
        );
    }
}
