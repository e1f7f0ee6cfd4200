//! `encrypt-config --check`: a file opened exactly as `invoke` opens it,
//! and described with every secret redacted by the rule of its field.

use crate::config::keys::KeyOptions;
use crate::config::schema::shown_value;
use crate::config::sealed::{self, Format, Opened};
use crate::config::{BedrockEndpoint, Config, ConfigPath, Validated};
use crate::error::Result;
use std::path::Path;

/// The redacted summary `--check` prints.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    /// One line per fact, already redacted.
    pub(crate) lines: Vec<String>,
    /// Warnings.
    pub(crate) warnings: Vec<String>,
}

/// Opens, verifies, decrypts and validates a file, and describes it with
/// every secret redacted.
pub(crate) fn check(config_path: &Path, keys_in: &KeyOptions) -> Result<Summary> {
    let (opened, validated) = sealed::open_validated(config_path, keys_in)?;
    Ok(Summary {
        lines: lines(&opened, &validated),
        warnings: validated.warnings,
    })
}

fn lines(opened: &Opened, v: &Validated) -> Vec<String> {
    let mut out = integrity(opened);
    out.extend(settings(&v.config, &opened.encrypted));
    out
}

fn row(name: &str, value: &str) -> String {
    format!("  {name:<19} {value}")
}

/// What opening the file proved, and its key and generation.
fn integrity(opened: &Opened) -> Vec<String> {
    let path = opened.doc.path().display();
    let fields = opened.encrypted.len();
    match (&opened.format, &opened.key) {
        (Format::Sealed, Some((key, origin))) => vec![
            format!("{path}: MAC verified, {fields} field(s) decrypted"),
            row("key", &format!("{} (from {origin})", key.id())),
            row(
                "generation",
                &match &opened.lineage {
                    Some(l) => format!("{} (file {})", l.generation, l.file_id),
                    None => "none (format 1)".to_string(),
                },
            ),
        ],
        (Format::Python, _) => vec![format!(
            "{path}: Python workshop tool format, {fields} field(s) decrypted, no MAC"
        )],
        _ => vec![format!("{path}: plaintext, nothing encrypted")],
    }
}

/// Every setting of the file, secrets as their field shows them.
fn settings(c: &Config, encrypted: &[String]) -> Vec<String> {
    let mut out = vec![
        row(
            "UseVPCe",
            &matches!(c.bedrock, BedrockEndpoint::Vpc(_)).to_string(),
        ),
        row("GetCredentialsFrom", &c.source.mode().to_string()),
        row(
            "Region",
            c.region
                .as_ref()
                .map(|r| r.as_str())
                .unwrap_or("(not set: from --region or the AWS environment)"),
        ),
    ];
    for s in &c.sensitive {
        let stored = if encrypted.iter().any(|e| e == s.field) {
            "encrypted"
        } else {
            "clear text"
        };
        out.push(row(
            s.field,
            &format!("{}  ({stored})", shown_value(s.field, &s.value)),
        ));
    }
    let role = c.source.role();
    let path = |p: &Option<ConfigPath>| p.as_ref().map(|p| p.written.display().to_string());
    let plain: [(&str, Option<String>); 10] = [
        ("RoleSessionName", role.and_then(|r| r.session_name.clone())),
        (
            "SessionDuration",
            role.and_then(|r| r.duration).map(|d| format!("{d} s")),
        ),
        ("Profile", c.profile.clone()),
        ("ModelID", c.model_id.clone()),
        ("PromptFilePath", path(&c.prompt_file)),
        ("SystemPromptFile", path(&c.system_prompt_file)),
        ("UserQueryFile", path(&c.user_query_file)),
        ("CABundle", path(&c.ca_bundle)),
        ("Debug", c.debug.then(|| "true".to_string())),
        ("models", models(c)),
    ];
    out.extend(
        plain
            .into_iter()
            .filter_map(|(field, shown)| shown.map(|s| row(field, &s))),
    );
    out
}

fn models(c: &Config) -> Option<String> {
    (!c.models.is_empty()).then(|| {
        let names: Vec<String> = c
            .models
            .iter()
            .map(|m| crate::config::document::shown_name(&m.alias))
            .collect();
        format!("{} ({})", c.models.len(), names.join(", "))
    })
}
