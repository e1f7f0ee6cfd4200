//! Smithy documents and JSON, both ways. Converse carries a tool's input
//! schema and a call's input as documents; the tool prints them, and the
//! gateway takes and gives them as the JSON its clients speak.

use aws_smithy_types::{Document, Number};
use serde_json::Value;

/// A document as JSON. A float that JSON cannot hold (NaN, infinity) is
/// null, as serde_json writes it.
pub(crate) fn to_json(d: &Document) -> Value {
    match d {
        Document::Object(o) => o.iter().map(|(k, v)| (k.clone(), to_json(v))).collect(),
        Document::Array(a) => a.iter().map(to_json).collect(),
        Document::Number(Number::PosInt(n)) => (*n).into(),
        Document::Number(Number::NegInt(n)) => (*n).into(),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Into::into)
        }
        Document::String(s) => s.clone().into(),
        Document::Bool(b) => (*b).into(),
        Document::Null => Value::Null,
    }
}

/// JSON as a document; whole numbers stay whole.
pub(crate) fn from_json(v: &Value) -> Document {
    match v {
        Value::Object(o) => {
            Document::Object(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
        Value::Array(a) => Document::Array(a.iter().map(from_json).collect()),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Bool(b) => Document::Bool(*b),
        Value::Null => Document::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_survives_the_round_trip() {
        let v = json!({"city": "Paris", "days": 3, "delta": -2, "ratio": 0.5,
                       "tags": ["a", null, true], "nested": {"x": {}}});
        assert_eq!(to_json(&from_json(&v)), v);
        assert!(matches!(
            from_json(&json!(-2)),
            Document::Number(Number::NegInt(-2))
        ));
        assert!(matches!(
            from_json(&json!(7)),
            Document::Number(Number::PosInt(7))
        ));
    }
}
