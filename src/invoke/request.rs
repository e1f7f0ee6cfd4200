//! What is sent: one user message through Converse, the workshop's
//! system prompt and template, or an InvokeModel body as written.
//!
//! Sources, first found wins: `--body FILE`; `--prompt TEXT` (or `-` for
//! standard input); a `PromptFilePath` that holds JSON (the older
//! workshop's raw InvokeModel body); the workshop flow, where the
//! `PromptFilePath` template has its `{{log_entry}}` replaced by the text
//! piped on standard input, else `--input FILE`, else `UserQueryFile`, and
//! `SystemPromptFile` is the system prompt. Text piped in without a
//! template (or with one that has no place for it) is the prompt.

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
        /// Images and documents sent with it (`--image`, `--document`).
        attachments: Vec<super::attach::Attachment>,
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
    /// `--image`, in order.
    pub(crate) images: Vec<PathBuf>,
    /// `--document`, in order.
    pub(crate) documents: Vec<PathBuf>,
}

/// Builds the request. `stdin_piped` says whether standard input is a
/// pipe or a file (not a terminal, and not a socket or device that might
/// never end); `stdin` reads it.
///
/// Text piped in is what the user means to send: without a template it is
/// the prompt; with the workshop's template it fills `{{log_entry}}`, as
/// `UserQueryFile` would.
pub(crate) fn build(
    args: &RequestArgs,
    config: &Config,
    model: &str,
    stdin_piped: bool,
    stdin: impl FnOnce() -> Result<String>,
    warnings: &mut Vec<String>,
) -> Result<Request> {
    let files = super::attach::read_all(&args.images, &args.documents)?;
    let mut request = text_request(args, config, model, stdin_piped, stdin, warnings)?;
    super::attach::check(&files, &request, model)?;
    if let Request::Converse { attachments, .. } = &mut request {
        *attachments = files;
    }
    Ok(request)
}

/// The request without its attachments.
fn text_request(
    args: &RequestArgs,
    config: &Config,
    model: &str,
    stdin_piped: bool,
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
    let piped = if stdin_piped && args.input.is_none() {
        Some(stdin()?).filter(|t| !t.trim().is_empty())
    } else {
        None
    };
    let Some(template_path) = &config.prompt_file else {
        return match piped {
            Some(text) => converse_text(text, "standard input"),
            None => Err(Error::Usage(
                "nothing to send: give --prompt TEXT, pipe text on standard input, or set PromptFilePath in the config".into(),
            )),
        };
    };
    let template_path = template_path.resolved.clone();
    let template = read(&template_path)?;
    let is_body = serde_json::from_str::<serde_json::Value>(&template).is_ok_and(|v| v.is_object());
    if let Some(text) = &piped
        && (is_body || !template.contains(PLACEHOLDER))
    {
        warnings.push(format!(
            "{}: {}; the text on standard input is sent as the prompt instead",
            template_path.display(),
            if is_body {
                "PromptFilePath holds an InvokeModel body"
            } else {
                "the template has no {{log_entry}} for it"
            }
        ));
        return converse_text(text.clone(), "standard input");
    }
    if is_body {
        return Ok(Request::Invoke {
            body: template.into_bytes(),
            from: template_path,
        });
    }
    let query = match (piped, &args.input, &config.user_query_file) {
        (Some(text), _, _) => Some(text),
        (None, Some(path), _) => Some(read_flag(path, "--input")?),
        (None, None, Some(path)) => Some(read(&path.resolved)?),
        (None, None, None) => None,
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
        None => {
            if template.contains(PLACEHOLDER) {
                warnings.push(format!(
                    "{}: nothing fills its {PLACEHOLDER}, so it is sent as written: set UserQueryFile, give --input FILE, or pipe the text on standard input",
                    template_path.display()
                ));
            }
            template
        }
    };
    let system = match &config.system_prompt_file {
        Some(path) => Some(read(&path.resolved)?),
        None => None,
    };
    Ok(match system {
        Some(s) if families::folds_system(model) => Request::Converse {
            system: None,
            user: format!("{}\n\n{}", s.trim_end(), user),
            attachments: Vec::new(),
        },
        system => Request::Converse {
            system,
            user,
            attachments: Vec::new(),
        },
    })
}

/// Whether standard input is a pipe or a regular file: text someone
/// meant to send. A terminal is the user's, and a socket or device (an ssh
/// session's, `/dev/null`) may never end or holds nothing.
pub(crate) fn stdin_piped() -> bool {
    // SAFETY: fstat only writes into the struct it is given.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(0, &mut st) } != 0 {
        return false;
    }
    let kind = st.st_mode & libc::S_IFMT;
    kind == libc::S_IFIFO || kind == libc::S_IFREG
}

fn converse_text(text: String, from: &str) -> Result<Request> {
    if text.trim().is_empty() {
        return Err(Error::Usage(format!("{from}: the prompt is empty")));
    }
    Ok(Request::Converse {
        system: None,
        user: text,
        attachments: Vec::new(),
    })
}

fn invoke_body(path: &Path) -> Result<Request> {
    let text = read_flag(path, "--body")?;
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

/// A file a flag names: one that cannot be read is a usage error naming
/// the flag (exit 252), where a file the config names is the config's.
fn read_flag(path: &Path, flag: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("{flag} {}: cannot read it: {e}", path.display())))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Values, validate};

    const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";
    const TITAN: &str = "amazon.titan-text-express-v1";

    /// A config in `dir` with `lines` in `[default]` (mode 0).
    fn config(dir: &Path, lines: &[(&str, &str)]) -> Config {
        let mut default = vec![("GetCredentialsFrom", "0")];
        default.extend_from_slice(lines);
        validate(&Values::of(&dir.join("config.properties"), &default))
            .unwrap()
            .config
    }

    fn args(prompt: Option<&str>, input: Option<PathBuf>, body: Option<PathBuf>) -> RequestArgs {
        RequestArgs {
            prompt: prompt.map(str::to_string),
            input,
            body,
            ..RequestArgs::default()
        }
    }

    /// Standard input that must not be read.
    fn unread() -> Result<String> {
        panic!("standard input read")
    }

    fn user(r: &Request) -> &str {
        match r {
            Request::Converse { user, .. } => user,
            other => panic!("expected Converse, got {other:?}"),
        }
    }

    #[test]
    fn flags_come_first_and_piped_text_is_what_is_meant() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("body.json"), r#"{"inputText": "hi"}"#).unwrap();
        std::fs::write(d.join("template.txt"), "T {{log_entry}}").unwrap();
        std::fs::write(d.join("plain.txt"), "no placeholder").unwrap();
        std::fs::write(d.join("query.txt"), "from the file").unwrap();
        let with_template = config(d, &[("PromptFilePath", "template.txt")]);
        let bare = config(d, &[]);
        let mut w = Vec::new();
        // --body wins over the template and standard input.
        let r = build(
            &args(None, None, Some(d.join("body.json"))),
            &with_template,
            TITAN,
            true,
            unread,
            &mut w,
        );
        assert!(matches!(r.unwrap(), Request::Invoke { .. }));
        // --prompt TEXT wins over the template and standard input.
        let r = build(
            &args(Some("asked"), None, None),
            &with_template,
            CLAUDE,
            true,
            unread,
            &mut w,
        )
        .unwrap();
        assert_eq!(user(&r), "asked");
        // --prompt - reads standard input, even on a terminal.
        let r = build(
            &args(Some("-"), None, None),
            &with_template,
            CLAUDE,
            false,
            || Ok("piped".into()),
            &mut w,
        )
        .unwrap();
        assert_eq!(user(&r), "piped");
        // Piped text is the prompt when the config names no template...
        let r = build(
            &args(None, None, None),
            &bare,
            CLAUDE,
            true,
            || Ok("piped".into()),
            &mut w,
        )
        .unwrap();
        assert_eq!(user(&r), "piped");
        // ...and fills the template's {{log_entry}} when it names one
        // (fixed: it used to be ignored for the template as written).
        let r = build(
            &args(None, None, None),
            &with_template,
            CLAUDE,
            true,
            || Ok("piped\n".into()),
            &mut w,
        )
        .unwrap();
        assert_eq!(user(&r), "T piped");
        // --input names the query itself: standard input is left alone.
        let r = build(
            &args(None, Some(d.join("query.txt")), None),
            &with_template,
            CLAUDE,
            true,
            unread,
            &mut w,
        )
        .unwrap();
        assert_eq!(user(&r), "T from the file");
        assert!(w.is_empty(), "{w:?}");
        // A template with no place for it: the piped text is the prompt, said so.
        let no_place = config(d, &[("PromptFilePath", "plain.txt")]);
        let r = build(
            &args(None, None, None),
            &no_place,
            CLAUDE,
            true,
            || Ok("piped".into()),
            &mut w,
        )
        .unwrap();
        assert_eq!(user(&r), "piped");
        assert!(w.pop().unwrap().contains("sent as the prompt instead"));
        // A terminal is never read.
        let e = build(
            &args(None, None, None),
            &bare,
            CLAUDE,
            false,
            unread,
            &mut w,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("nothing to send"), "{e}");
        // Nothing fills the placeholder: sent as written, with a warning.
        let r = build(
            &args(None, None, None),
            &with_template,
            CLAUDE,
            false,
            unread,
            &mut w,
        )
        .unwrap();
        assert_eq!(user(&r), "T {{log_entry}}");
        assert!(w.pop().unwrap().contains("nothing fills its {{log_entry}}"));
        // Empty piped input is no prompt.
        let e = build(
            &args(None, None, None),
            &bare,
            CLAUDE,
            true,
            || Ok(" \n".into()),
            &mut w,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("nothing to send"), "{e}");
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn the_workshop_flow_fills_the_template_and_places_the_system_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("system.txt"), "Be terse.\n").unwrap();
        std::fs::write(d.join("template.txt"), "Explain: {{log_entry}}").unwrap();
        std::fs::write(d.join("query.txt"), "disk full\n").unwrap();
        std::fs::write(d.join("other.txt"), "network down").unwrap();
        let c = config(
            d,
            &[
                ("PromptFilePath", "template.txt"),
                ("UserQueryFile", "query.txt"),
                ("SystemPromptFile", "system.txt"),
            ],
        );
        let mut w = Vec::new();
        let r = build(&args(None, None, None), &c, CLAUDE, false, unread, &mut w).unwrap();
        assert_eq!(
            r,
            Request::Converse {
                system: Some("Be terse.\n".into()),
                user: "Explain: disk full".into(),
                attachments: Vec::new(),
            }
        );
        // --input replaces UserQueryFile.
        let r = build(
            &args(None, Some(d.join("other.txt")), None),
            &c,
            CLAUDE,
            false,
            unread,
            &mut w,
        )
        .unwrap();
        assert_eq!(user(&r), "Explain: network down");
        // A model without system prompts gets it folded in.
        let r = build(&args(None, None, None), &c, TITAN, false, unread, &mut w).unwrap();
        assert_eq!(
            r,
            Request::Converse {
                system: None,
                user: "Be terse.\n\nExplain: disk full".into(),
                attachments: Vec::new(),
            }
        );
        assert!(w.is_empty(), "{w:?}");
        // A template without the placeholder: the query is unused, and said so.
        std::fs::write(d.join("template.txt"), "Explain this").unwrap();
        build(&args(None, None, None), &c, CLAUDE, false, unread, &mut w).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("the template has no {{log_entry}}"), "{w:?}");
        // A template that is a JSON object is an InvokeModel body.
        std::fs::write(d.join("template.txt"), r#"{"prompt": "x"}"#).unwrap();
        let r = build(&args(None, None, None), &c, CLAUDE, false, unread, &mut w).unwrap();
        assert!(matches!(r, Request::Invoke { .. }), "{r:?}");
    }
}
