//! `invoke embed`: embeddings through the same credentials and endpoint as
//! a call, for Titan Text Embeddings v1 and V2 and Cohere Embed v3, each
//! with its documented body; one JSON line per input, or with
//! `--similarity` each input's cosine similarity to the first, as the
//! embeddings guide compares texts.

use super::Options;
use crate::error::{Error, ExitCode, Result};
use crate::output::Format;
use serde_json::{Value, json};
use std::path::PathBuf;

/// The model used when none is named.
pub(crate) const DEFAULT_MODEL: &str = "amazon.titan-embed-text-v2:0";
/// Cohere Embed takes at most this many texts a request.
const COHERE_BATCH: usize = 96;

/// What `invoke embed` was asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct EmbedOptions {
    /// The texts given as arguments.
    pub(crate) texts: Vec<String>,
    /// `--file`: one text a line.
    pub(crate) file: Option<PathBuf>,
    /// `--dimensions` (Titan V2).
    pub(crate) dimensions: Option<u32>,
    /// `--no-normalize` (Titan V2).
    pub(crate) no_normalize: bool,
    /// `--similarity`.
    pub(crate) similarity: bool,
    /// `--input-type` (Cohere; `search_document` when not given).
    pub(crate) input_type: Option<String>,
}

/// A family of embedding models, by its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    TitanV1,
    TitanV2,
    Cohere,
    /// Amazon Nova Multimodal Embeddings, for text here.
    Nova,
}

pub(crate) fn family(model: &str) -> Option<Family> {
    let base = super::families::base_model_id(model);
    if base.starts_with("amazon.titan-embed-text-v1") {
        Some(Family::TitanV1)
    } else if base.starts_with("amazon.titan-embed-text-v2") {
        Some(Family::TitanV2)
    } else if base.starts_with("cohere.embed-") {
        Some(Family::Cohere)
    } else if base.starts_with("amazon.nova-2-multimodal-embeddings") {
        Some(Family::Nova)
    } else {
        None
    }
}

/// The texts: the arguments, else `--file`, else standard input, one a
/// line; blank lines are skipped.
fn texts(e: &EmbedOptions) -> Result<Vec<String>> {
    let lines = |text: String| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let texts =
        if !e.texts.is_empty() {
            e.texts.clone()
        } else if let Some(path) = &e.file {
            lines(std::fs::read_to_string(path).map_err(|e| {
                Error::Usage(format!("--file {}: cannot read it: {e}", path.display()))
            })?)
        } else if super::request::stdin_piped() {
            lines(super::read_stdin()?)
        } else {
            Vec::new()
        };
    if texts.is_empty() {
        return Err(Error::Usage(
            "invoke embed: nothing to embed: give texts, --file FILE, or pipe them in, one a line"
                .into(),
        ));
    }
    Ok(texts)
}

/// Checks the options against the model's family.
fn check(e: &EmbedOptions, model: &str, family: Family) -> Result<()> {
    if let Some(d) = e.dimensions {
        let (name, sizes): (&str, &[u32]) = match family {
            Family::TitanV2 => ("Titan Text Embeddings V2", &[256, 512, 1024]),
            Family::Nova => ("Nova Multimodal Embeddings", &[256, 384, 1024, 3072]),
            _ => {
                return Err(Error::Usage(format!(
                    "--dimensions: {model} has a fixed size; Titan Text Embeddings V2 (256, 512 or 1024) and \
                     Nova Multimodal Embeddings (256, 384, 1024 or 3072) take it"
                )));
            }
        };
        if !sizes.contains(&d) {
            let list: Vec<String> = sizes.iter().map(u32::to_string).collect();
            let (last, rest) = list.split_last().expect("sizes are listed");
            return Err(Error::Usage(format!(
                "--dimensions {d}: {name} takes {} or {last}",
                rest.join(", ")
            )));
        }
    }
    if e.no_normalize && family != Family::TitanV2 {
        return Err(Error::Usage(format!(
            "--no-normalize: only Titan Text Embeddings V2 takes it, not {model}"
        )));
    }
    const TYPES: [&str; 4] = [
        "search_document",
        "search_query",
        "classification",
        "clustering",
    ];
    if let Some(t) = &e.input_type
        && family != Family::Cohere
    {
        return Err(Error::Usage(format!(
            "--input-type {t}: only Cohere Embed takes it, not {model}"
        )));
    }
    if family == Family::Cohere && !TYPES.contains(&input_type(e)) {
        return Err(Error::Usage(format!(
            "--input-type {}: expected {}",
            input_type(e),
            TYPES.join(", ")
        )));
    }
    Ok(())
}

/// Cohere's `input_type`: the one given, else `search_document`.
fn input_type(e: &EmbedOptions) -> &str {
    e.input_type.as_deref().unwrap_or("search_document")
}

/// The request bodies for `texts`: one per text, or Cohere's batches.
pub(crate) fn bodies(e: &EmbedOptions, family: Family, texts: &[String]) -> Vec<Value> {
    match family {
        Family::TitanV1 => texts.iter().map(|t| json!({"inputText": t})).collect(),
        Family::TitanV2 => texts
            .iter()
            .map(|t| {
                let mut b = json!({"inputText": t, "normalize": !e.no_normalize});
                if let Some(d) = e.dimensions {
                    b["dimensions"] = d.into();
                }
                b
            })
            .collect(),
        Family::Cohere => texts
            .chunks(COHERE_BATCH)
            .map(|chunk| json!({"texts": chunk, "input_type": input_type(e)}))
            .collect(),
        Family::Nova => texts
            .iter()
            .map(|t| {
                let mut params = json!({
                    "embeddingPurpose": "GENERIC_INDEX",
                    "text": {"truncationMode": "END", "value": t},
                });
                if let Some(d) = e.dimensions {
                    params["embeddingDimension"] = d.into();
                }
                json!({"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": params})
            })
            .collect(),
    }
}

/// The vectors of a reply, in order.
pub(crate) fn vectors(family: Family, reply: &Value) -> Vec<Vec<f64>> {
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    match family {
        Family::Cohere => reply["embeddings"]
            .as_array()
            .map(|a| a.iter().map(floats).collect())
            .unwrap_or_default(),
        Family::Nova => reply["embeddings"]
            .as_array()
            .and_then(|a| a.first())
            .map(|e| vec![floats(&e["embedding"])])
            .unwrap_or_default(),
        _ => vec![floats(&reply["embedding"])],
    }
}

/// Cosine similarity; 0 for a zero vector.
pub(crate) fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let n = norm(a) * norm(b);
    if n == 0.0 { 0.0 } else { dot / n }
}

/// Runs `invoke embed`.
pub(crate) async fn run(opts: &Options, e: &EmbedOptions) -> Result<ExitCode> {
    let planned = super::json_model::plan(opts, DEFAULT_MODEL).await?;
    let model = planned.model.clone();
    let family = family(&model).ok_or_else(|| {
        Error::Usage(format!(
            "--model {model}: not an embedding model this tool knows: Titan Text Embeddings \
             (amazon.titan-embed-text-v1, amazon.titan-embed-text-v2:0), Cohere Embed (cohere.embed-english-v3, \
             cohere.embed-multilingual-v3) or Nova Multimodal Embeddings (amazon.nova-2-multimodal-embeddings-v1:0)"
        ))
    })?;
    check(e, &model, family)?;
    let texts = texts(e)?;
    let caller = planned.connect().await?;
    let mut all = Vec::new();
    for body in bodies(e, family, &texts) {
        all.extend(vectors(family, &caller.call(&body).await?));
    }
    if all.len() != texts.len() || all.iter().any(Vec::is_empty) {
        return Err(Error::NoAnswer {
            stop: "(embeddings)".into(),
            raw: format!("{} vectors for {} inputs", all.len(), texts.len()),
        });
    }
    for (i, (text, v)) in texts.iter().zip(&all).enumerate() {
        let similarity = cosine(&all[0], v);
        if e.similarity && opts.format == Format::Text {
            println!("{similarity:.4}\t{text}");
            continue;
        }
        let mut line = json!({
            "schema": crate::output::SCHEMA,
            "index": i + 1,
            "text": text,
            "model": model,
            "dimensions": v.len(),
        });
        if e.similarity {
            line["similarity"] = similarity.into();
        } else {
            line["embedding"] = json!(v);
        }
        println!("{line}");
    }
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_bodies_and_checks() {
        assert_eq!(
            family("amazon.titan-embed-text-v2:0"),
            Some(Family::TitanV2)
        );
        assert_eq!(family("cohere.embed-english-v3"), Some(Family::Cohere));
        assert_eq!(family("anthropic.claude-v2"), None);
        let e = EmbedOptions {
            dimensions: Some(256),
            ..EmbedOptions::default()
        };
        assert_eq!(
            bodies(&e, Family::TitanV2, &["a".into()]),
            [json!({"inputText": "a", "normalize": true, "dimensions": 256})]
        );
        let many: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert_eq!(bodies(&e, Family::Cohere, &many).len(), 2);
        assert!(check(&e, "cohere.embed-english-v3", Family::Cohere).is_err());
        let bad = EmbedOptions {
            dimensions: Some(300),
            ..e.clone()
        };
        assert!(check(&bad, "amazon.titan-embed-text-v2:0", Family::TitanV2).is_err());
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[0.0], &[1.0]), 0.0);
    }
}
