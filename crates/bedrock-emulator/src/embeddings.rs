//! Embedding models through InvokeModel: Titan Text Embeddings v1 and V2
//! and Cohere Embed v3, each answering in its documented shape.
//!
//! The vectors are deterministic and carry some meaning: each word of the
//! text is hashed to a dimension and a sign, so texts that share words point
//! the same way and a comparison of them (cosine similarity) behaves as a
//! test expects: the same text 1, shared words high, none near 0.

use crate::catalogue::Body;
use serde_json::{Value, json};

/// A deterministic vector of `dims` for `text`; of length 1 when `normalize`.
pub fn vector(text: &str, dims: usize, normalize: bool) -> Vec<f64> {
    let mut v = vec![0.0; dims.max(1)];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        // FNV-1a of the lower-cased word.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in word.to_lowercase().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let i = (h % v.len() as u64) as usize;
        v[i] += if h >> 63 == 0 { 1.0 } else { -1.0 };
    }
    if normalize {
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
    }
    v
}

fn tokens(text: &str) -> usize {
    text.split_whitespace().count().max(1)
}

/// The InvokeModel reply of an embedding model to `body` (already checked
/// against the family's documented parameters), and its input token count.
pub fn answer(family: Body, body: &Value) -> (Value, usize) {
    match family {
        Body::TitanEmbedV1 => {
            let text = body["inputText"].as_str().unwrap_or_default();
            let n = tokens(text);
            (
                json!({"embedding": vector(text, 1536, false), "inputTextTokenCount": n}),
                n,
            )
        }
        Body::TitanEmbedV2 => {
            let text = body["inputText"].as_str().unwrap_or_default();
            let dims = body["dimensions"].as_u64().unwrap_or(1024) as usize;
            let normalize = body["normalize"].as_bool().unwrap_or(true);
            let n = tokens(text);
            let v = vector(text, dims, normalize);
            (
                json!({"embedding": v, "embeddingsByType": {"float": v}, "inputTextTokenCount": n}),
                n,
            )
        }
        Body::NovaEmbed => {
            let params = &body["singleEmbeddingParams"];
            // Text, or for another medium its base64 bytes: a vector either way.
            let input = params["text"]["value"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| params.to_string());
            let dims = params["embeddingDimension"].as_u64().unwrap_or(3072) as usize;
            let kind = if params.get("text").is_some() {
                "TEXT"
            } else {
                "IMAGE"
            };
            let n = tokens(&input);
            (
                json!({"embeddings": [{"embeddingType": kind, "embedding": vector(&input, dims, true)}]}),
                n,
            )
        }
        _ => {
            let texts: Vec<&str> = body["texts"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let n = texts.iter().map(|t| tokens(t)).sum();
            let embeddings: Vec<Vec<f64>> = texts.iter().map(|t| vector(t, 1024, true)).collect();
            (
                json!({
                    "id": "emulator-embed",
                    "response_type": "embeddings_floats",
                    "embeddings": embeddings,
                    "texts": texts,
                }),
                n,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f64], b: &[f64]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let n = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        dot / (n(a) * n(b))
    }

    #[test]
    fn shared_words_point_the_same_way() {
        let a = vector("the cat sat on the mat", 1024, true);
        let b = vector("the cat sat on the rug", 1024, true);
        let c = vector("quantum chromodynamics lectures", 1024, true);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-9);
        assert!(cosine(&a, &b) > 0.6, "{}", cosine(&a, &b));
        assert!(cosine(&a, &c).abs() < 0.3, "{}", cosine(&a, &c));
        assert_eq!(vector("x", 256, false).len(), 256);
    }
}
