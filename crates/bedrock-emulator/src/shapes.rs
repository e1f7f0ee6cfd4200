//! Requests checked against AWS's published API definitions (the service
//! definitions the SDKs are generated from, in `data/`): required members,
//! lengths, ranges, enums and unions, reported the way AWS's services report
//! them:
//!
//! ```text
//! 1 validation error detected: Value '5.0' at 'inferenceConfig.temperature'
//! failed to satisfy constraint: Member must have value less than or equal to 1
//! ```
//!
//! Member paths follow AWS's form: list items are `name.N.member` with N
//! counted from 1, and services of the query protocol (STS) name members
//! in camel case (`roleSessionName` for `RoleSessionName`). String
//! patterns are checked as whole-value matches, as AWS applies them; the
//! few a Rust regex cannot read are skipped.

use serde_json::Value;
use std::sync::OnceLock;

/// A service definition, parsed once.
pub struct Api {
    operations: serde_json::Map<String, Value>,
    shapes: serde_json::Map<String, Value>,
    /// Each string shape's pattern, anchored, by shape name.
    patterns: std::collections::HashMap<String, regex::Regex>,
    /// Whether messages name members in camel case (the query protocol).
    camel: bool,
}

impl Api {
    fn load(text: &str) -> Api {
        let doc: Value = serde_json::from_str(text).expect("the bundled service definition parses");
        let operations = doc["operations"].as_object().cloned().unwrap_or_default();
        let shapes = doc["shapes"].as_object().cloned().unwrap_or_default();
        let patterns = shapes
            .iter()
            .filter_map(|(name, shape)| {
                let pattern = shape["pattern"].as_str()?;
                let re = regex::Regex::new(&format!("^(?:{pattern})$")).ok()?;
                Some((name.clone(), re))
            })
            .collect();
        let camel = doc["metadata"]["protocol"].as_str() == Some("query");
        Api {
            operations,
            shapes,
            patterns,
            camel,
        }
    }

    /// Amazon Bedrock Runtime, 2023-09-30.
    pub fn bedrock_runtime() -> &'static Api {
        static API: OnceLock<Api> = OnceLock::new();
        API.get_or_init(|| Api::load(include_str!("../data/bedrock-runtime-2023-09-30.json")))
    }

    /// Amazon Bedrock (the control plane), 2023-04-20: the model-access
    /// operations only.
    pub fn bedrock() -> &'static Api {
        static API: OnceLock<Api> = OnceLock::new();
        API.get_or_init(|| Api::load(include_str!("../data/bedrock-2023-04-20.json")))
    }

    /// AWS STS, 2011-06-15.
    pub fn sts() -> &'static Api {
        static API: OnceLock<Api> = OnceLock::new();
        API.get_or_init(|| Api::load(include_str!("../data/sts-2011-06-15.json")))
    }

    /// A shape by name.
    pub fn shape(&self, name: &str) -> Option<&Value> {
        self.shapes.get(name)
    }

    /// The error types `operation` is defined to return, in the order the
    /// definition lists them.
    pub fn errors(&self, operation: &str) -> Vec<String> {
        self.operations
            .get(operation)
            .and_then(|op| op["errors"].as_array())
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["shape"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The HTTP status AWS answers the error type `kind` with, if the
    /// definition has such an error.
    pub fn error_status(&self, kind: &str) -> Option<u16> {
        let shape = self.shape(kind)?;
        shape.get("exception")?;
        shape["error"]["httpStatusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
    }

    /// The body members of an input structure (those not bound to the URI,
    /// a header or the query string) checked against `value`: every
    /// constraint violation, in AWS's words.
    pub fn violations(&self, input_shape: &str, value: &Value) -> Vec<String> {
        self.violations_of(input_shape, value, false)
    }

    /// Every member of an input structure, those bound to the URI and the
    /// query string too, checked against `value` (which names them as the
    /// definition does): for REST operations whose input is all there.
    pub fn all_violations(&self, input_shape: &str, value: &Value) -> Vec<String> {
        self.violations_of(input_shape, value, true)
    }

    fn violations_of(&self, input_shape: &str, value: &Value, located: bool) -> Vec<String> {
        let mut out = Vec::new();
        let Some(shape) = self.shape(input_shape) else {
            return out;
        };
        let members = shape["members"].as_object().cloned().unwrap_or_default();
        let required: Vec<&str> = required(shape);
        for (name, member) in &members {
            if !located && member.get("location").is_some() {
                continue;
            }
            let path = self.member_name(name);
            match value.get(name) {
                None | Some(Value::Null) if required.contains(&name.as_str()) => {
                    out.push(format!("Value null at '{path}' failed to satisfy constraint: Member must not be null"));
                }
                None | Some(Value::Null) => {}
                Some(v) => self.check(member["shape"].as_str().unwrap_or(""), v, &path, &mut out),
            }
        }
        out
    }

    /// AWS's message for `violations`, or `None` when there are none.
    pub fn message(violations: &[String]) -> Option<String> {
        match violations.len() {
            0 => None,
            1 => Some(format!("1 validation error detected: {}", violations[0])),
            n => Some(format!(
                "{n} validation errors detected: {}",
                violations.join("; ")
            )),
        }
    }

    /// A member as AWS's messages name it.
    fn member_name(&self, name: &str) -> String {
        let mut chars = name.chars();
        match chars.next() {
            Some(first) if self.camel => first.to_ascii_lowercase().to_string() + chars.as_str(),
            _ => name.to_string(),
        }
    }

    fn check(&self, shape_name: &str, value: &Value, path: &str, out: &mut Vec<String>) {
        let Some(shape) = self.shape(shape_name) else {
            return;
        };
        match shape["type"].as_str().unwrap_or("") {
            "structure" => self.structure(shape, value, path, out),
            "list" => self.list(shape, value, path, out),
            "map" => {
                if let Some(map) = value.as_object() {
                    let member = shape["value"]["shape"].as_str().unwrap_or("");
                    for (k, v) in map {
                        self.check(member, v, &format!("{path}.{k}"), out);
                    }
                }
            }
            "string" => {
                string(shape, value, path, out);
                if let (Some(re), Some(text)) = (self.patterns.get(shape_name), value.as_str())
                    && !re.is_match(text)
                {
                    out.push(format!(
                        "Value '{text}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {}",
                        shape["pattern"].as_str().unwrap_or_default()
                    ));
                }
            }
            "integer" | "long" | "float" | "double" => number(shape, value, path, out),
            "blob" => blob(shape, value, path, out),
            _ => {}
        }
    }

    fn structure(&self, shape: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
        let Some(object) = value.as_object() else {
            return;
        };
        let members = shape["members"].as_object().cloned().unwrap_or_default();
        if shape["union"].as_bool() == Some(true) {
            let set = object.values().filter(|v| !v.is_null()).count();
            if set != 1 {
                out.push(format!(
                    "Value at '{path}' failed to satisfy constraint: Member must have exactly one member set"
                ));
            }
        }
        for name in required(shape) {
            if object.get(name).is_none_or(Value::is_null) {
                out.push(format!(
                    "Value null at '{path}.{}' failed to satisfy constraint: Member must not be null",
                    self.member_name(name)
                ));
            }
        }
        for (name, v) in object {
            if let Some(member) = members.get(name) {
                self.check(
                    member["shape"].as_str().unwrap_or(""),
                    v,
                    &format!("{path}.{}", self.member_name(name)),
                    out,
                );
            }
        }
    }

    fn list(&self, shape: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
        let Some(items) = value.as_array() else {
            return;
        };
        length(
            shape,
            items.len(),
            path,
            &format!("{items:?}").replace('"', ""),
            out,
        );
        let member = shape["member"]["shape"].as_str().unwrap_or("");
        for (i, item) in items.iter().enumerate() {
            self.check(member, item, &format!("{path}.{}.member", i + 1), out);
        }
    }
}

fn required(shape: &Value) -> Vec<&str> {
    shape["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// AWS's rendering of a value in a message: `'text'`, `'5.0'`.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or_default();
            if f.fract() == 0.0 {
                format!("{f:.1}")
            } else {
                f.to_string()
            }
        }
        other => other.to_string(),
    }
}

fn length(shape: &Value, len: usize, path: &str, shown: &str, out: &mut Vec<String>) {
    if let Some(min) = shape["min"].as_u64().filter(|m| (len as u64) < *m) {
        out.push(format!(
            "Value '{shown}' at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
        ));
    }
    if let Some(max) = shape["max"].as_u64().filter(|m| (len as u64) > *m) {
        out.push(format!(
            "Value '{shown}' at '{path}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        ));
    }
}

fn string(shape: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    let Some(s) = value.as_str() else {
        return;
    };
    if let Some(allowed) = shape["enum"].as_array() {
        let allowed: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        if !allowed.contains(&s) {
            out.push(format!(
                "Value '{s}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ));
        }
    }
    length(shape, s.chars().count(), path, s, out);
}

fn number(shape: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    let Some(n) = value.as_f64() else {
        return;
    };
    let bound = |b: &Value| b.as_f64().map(|f| (f, b.to_string()));
    if let Some((min, text)) = bound(&shape["min"]).filter(|(m, _)| n < *m) {
        let _ = min;
        out.push(format!(
            "Value '{}' at '{path}' failed to satisfy constraint: Member must have value greater than or equal to {text}",
            shown(value)
        ));
    }
    if let Some((max, text)) = bound(&shape["max"]).filter(|(m, _)| n > *m) {
        let _ = max;
        out.push(format!(
            "Value '{}' at '{path}' failed to satisfy constraint: Member must have value less than or equal to {text}",
            shown(value)
        ));
    }
}

/// A blob travels as base64 in JSON; its limits are on the decoded bytes.
fn blob(shape: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    use base64::Engine;
    let Some(text) = value.as_str() else {
        return;
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text) else {
        out.push(format!(
            "Value at '{path}' failed to satisfy constraint: Member must be base64-encoded"
        ));
        return;
    };
    length(shape, bytes.len(), path, "(bytes)", out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn converse(body: Value) -> Option<String> {
        let api = Api::bedrock_runtime();
        Api::message(&api.violations("ConverseRequest", &body))
    }

    #[test]
    fn every_pattern_of_the_definitions_is_checked() {
        for api in [Api::bedrock_runtime(), Api::sts()] {
            let with_pattern = api
                .shapes
                .values()
                .filter(|s| s["pattern"].is_string())
                .count();
            assert_eq!(api.patterns.len(), with_pattern);
        }
        let sts = Api::sts();
        let v = sts.violations(
            "AssumeRoleRequest",
            &json!({"RoleArn": "arn:aws:iam::222222222222:role/R", "RoleSessionName": "has space"}),
        );
        assert_eq!(
            v,
            [
                "Value 'has space' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            ]
        );
    }

    #[test]
    fn ranges_enums_lengths_and_unions_are_aws_s() {
        let ok = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]});
        assert_eq!(converse(ok), None);
        let hot = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
                         "inferenceConfig": {"temperature": 5.0, "maxTokens": 0}});
        assert_eq!(
            converse(hot).unwrap(),
            "2 validation errors detected: Value '0' at 'inferenceConfig.maxTokens' failed to satisfy constraint: \
             Member must have value greater than or equal to 1; Value '5.0' at 'inferenceConfig.temperature' failed \
             to satisfy constraint: Member must have value less than or equal to 1"
        );
        let bmp = json!({"messages": [{"role": "user", "content": [
            {"image": {"format": "bmp", "source": {"bytes": "AAAA"}}}]}]});
        assert_eq!(
            converse(bmp).unwrap(),
            "1 validation error detected: Value 'bmp' at 'messages.1.member.content.1.member.image.format' failed to \
             satisfy constraint: Member must satisfy enum value set: [png, jpeg, gif, webp]"
        );
        let role = json!({"messages": [{"role": "robot", "content": [{"text": "hi"}]}]});
        assert!(
            converse(role)
                .unwrap()
                .contains("Member must satisfy enum value set: [user, assistant]")
        );
        let two = json!({"messages": [{"role": "user", "content": [{"text": "hi", "image": null}, {"text": "a", "cachePoint": {"type": "default"}}]}]});
        assert!(converse(two).unwrap().contains("'messages.1.member.content.2.member' failed to satisfy constraint: Member must have exactly one member set"));
        let missing = json!({"messages": [{"content": [{"text": "hi"}]}]});
        assert!(converse(missing).unwrap().contains("Value null at 'messages.1.member.role' failed to satisfy constraint: Member must not be null"));
        let empty = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"stopSequences": [""]}});
        assert!(converse(empty).unwrap().contains("at 'inferenceConfig.stopSequences.1.member' failed to satisfy constraint: Member must have length greater than or equal to 1"));
        let warp = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "performanceConfig": {"latency": "warp"}});
        assert!(
            converse(warp)
                .unwrap()
                .contains("Member must satisfy enum value set: [standard, optimized]")
        );
    }
}
