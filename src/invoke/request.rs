//! What is sent: one user message through Converse, the workshop's
//! system prompt and template, or an InvokeModel body as written.
//!
//! Sources, first found wins: `--body FILE`; `--prompt TEXT` (or `-` for
//! standard input); text piped on standard input when the config names no
//! prompt file; a `PromptFilePath` that holds JSON (the older workshop's raw
//! InvokeModel body); the workshop flow, where the `PromptFilePath` template
//! has its `{{log_entry}}` replaced by `UserQueryFile` (or `--input FILE`)
//! and `SystemPromptFile` is the system prompt.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::invoke::families;
use std::path::{Path, PathBuf};

/// The placeholder of the workshop's template.
pub(crate) const PLACEHOLDER: &str = "{{log_entry}}";

/// A request to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    /// Converse / ConverseStream with one user message.
    Converse {
        /// The system prompt.
        system: Option<String>,
        /// The user message.
        user: String,
    },
    /// InvokeModel / InvokeModelWithResponseStream with a body as written.
    Invoke {
        /// The JSON body.
        body: Vec<u8>,
        /// Where it came from.
        from: PathBuf,
    },
}

/// What the command line says about the request.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestArgs {
    /// `--prompt`.
    pub(crate) prompt: Option<String>,
    /// `--input`.
    pub(crate) input: Option<PathBuf>,
    /// `--body`.
    pub(crate) body: Option<PathBuf>,
}

/// Builds the request; `stdin` reads standard input when it may be used.
pub(crate) fn build(
    args: &RequestArgs,
    config: &Config,
    model: &str,
    stdin_is_terminal: bool,
    stdin: impl FnOnce() -> Result<String>,
    warnings: &mut Vec<String>,
) -> Result<Request> {
    if let Some(path) = &args.body {
        return invoke_body(path);
    }
    match args.prompt.as_deref() {
        Some("-") => return converse_text(stdin()?, "standard input"),
        Some(text) => return converse_text(text.to_string(), "--prompt"),
        None => {}
    }
    if config.prompt_file.is_none() && args.input.is_none() && !stdin_is_terminal {
        let text = stdin()?;
        if !text.trim().is_empty() {
            return converse_text(text, "standard input");
        }
    }
    let Some(template_path) = &config.prompt_file else {
        return Err(Error::Usage(
            "nothing to send: give --prompt TEXT, pipe text on standard input, or set PromptFilePath in the config".into(),
        ));
    };
    let template_path = template_path.resolved.clone();
    let template = read(&template_path)?;
    if serde_json::from_str::<serde_json::Value>(&template).is_ok_and(|v| v.is_object()) {
        return Ok(Request::Invoke {
            body: template.into_bytes(),
            from: template_path,
        });
    }
    let query = match (&args.input, &config.user_query_file) {
        (Some(path), _) => Some(read(path)?),
        (None, Some(path)) => Some(read(&path.resolved)?),
        (None, None) => None,
    };
    let user = match query {
        Some(q) => {
            if !template.contains(PLACEHOLDER) {
                warnings.push(format!(
                    "{}: the template has no {PLACEHOLDER}; the user query is not used",
                    template_path.display()
                ));
            }
            template.replace(PLACEHOLDER, q.trim_end())
        }
        None => template,
    };
    let system = match &config.system_prompt_file {
        Some(path) => Some(read(&path.resolved)?),
        None => None,
    };
    Ok(match system {
        Some(s) if families::folds_system(model) => Request::Converse {
            system: None,
            user: format!("{}\n\n{}", s.trim_end(), user),
        },
        system => Request::Converse { system, user },
    })
}

fn converse_text(text: String, from: &str) -> Result<Request> {
    if text.trim().is_empty() {
        return Err(Error::Usage(format!("{from}: the prompt is empty")));
    }
    Ok(Request::Converse {
        system: None,
        user: text,
    })
}

fn invoke_body(path: &Path) -> Result<Request> {
    let text = read(path)?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) if v.is_object() => Ok(Request::Invoke {
            body: text.into_bytes(),
            from: path.to_path_buf(),
        }),
        Ok(_) => Err(Error::Usage(format!(
            "--body {}: expected a JSON object",
            path.display()
        ))),
        Err(e) => Err(Error::Usage(format!(
            "--body {}: not valid JSON (line {}, column {}): {}",
            path.display(),
            e.line(),
            e.column(),
            e
        ))),
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}
