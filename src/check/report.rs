//! The report of `invoke check`: one line per step (pass, warn, fail or
//! skip, its time, what happened, and on trouble the likely cause), as a
//! table on stdout or as JSON, and the exit code it comes to.

use crate::error::{Error, ExitCode};
use crate::output::Format;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Instant;

/// A step's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Worked.
    Pass,
    /// Worked, but worth attention.
    Warn,
    /// Failed.
    Fail,
    /// Not run, because an earlier step failed or it does not apply.
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Step {
    /// `config`, `dns`, `tcp`, `tls`, `imds`, `identity`, `access`, `bedrock`, `load`, `public`.
    pub(crate) step: &'static str,
    /// `bedrock` or `sts` for the network steps.
    pub(crate) target: Option<&'static str>,
    /// Outcome.
    pub(crate) status: Status,
    /// Time taken, in milliseconds.
    pub(crate) ms: f64,
    /// One line on what happened.
    pub(crate) summary: String,
    /// On failure or warning: the likely cause and what to do.
    pub(crate) hint: Option<String>,
    /// Addresses, certificate, identities: the details, for JSON.
    pub(crate) details: Value,
    /// The exit code this step's failure gets.
    #[serde(skip)]
    pub(crate) exit: Option<ExitCode>,
}

impl Step {
    /// A step that took from `started` until now.
    pub(crate) fn new(
        step: &'static str,
        target: Option<&'static str>,
        status: Status,
        started: Instant,
        summary: String,
    ) -> Step {
        Step {
            step,
            target,
            status,
            ms: crate::invoke::reply::ms(started.elapsed()),
            summary,
            hint: None,
            details: Value::Null,
            exit: None,
        }
    }

    /// A failed step, with the error's hint and exit code.
    pub(crate) fn failed(
        step: &'static str,
        target: Option<&'static str>,
        started: Instant,
        error: &Error,
    ) -> Step {
        let (summary, hint) = match error {
            Error::Remote {
                hop,
                code,
                message,
                hint,
                ..
            } => (format!("{hop}: {code}: {message}"), hint.clone()),
            other => (other.to_string(), None),
        };
        Step {
            hint,
            exit: Some(error.exit_code()),
            ..Step::new(step, target, Status::Fail, started, summary)
        }
    }

    /// A step that fails with `hint` and exit code `exit`.
    pub(crate) fn fail_with(mut self, hint: String, exit: ExitCode) -> Step {
        self.status = Status::Fail;
        self.hint = Some(hint);
        self.exit = Some(exit);
        self
    }

    /// A step not run, and why.
    pub(crate) fn skip(step: &'static str, target: Option<&'static str>, why: &str) -> Step {
        Step::new(step, target, Status::Skip, Instant::now(), why.to_string())
    }
}

/// The whole report and its exit code.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// The JSON schema's version ([`crate::output::SCHEMA`]).
    pub(crate) schema: &'static str,
    /// The config checked.
    pub(crate) config: PathBuf,
    /// Every step, in order.
    pub(crate) steps: Vec<Step>,
    /// The exit code.
    #[serde(serialize_with = "code_number")]
    pub(crate) exit_code: ExitCode,
}

fn code_number<S: serde::Serializer>(code: &ExitCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(code.code())
}

impl Report {
    /// The report of `steps`: the exit code of the first failure, else
    /// [`ExitCode::NotPrivate`] when a name resolved to a public address on
    /// a private path, else success.
    pub(crate) fn new(config: PathBuf, steps: Vec<Step>) -> Report {
        let exit = steps
            .iter()
            .find(|s| s.status == Status::Fail)
            .and_then(|s| s.exit)
            .or_else(|| {
                steps
                    .iter()
                    .any(|s| s.step == "dns" && s.status == Status::Warn)
                    .then_some(ExitCode::NotPrivate)
            })
            .unwrap_or(ExitCode::Ok);
        Report {
            schema: crate::output::SCHEMA,
            config,
            steps,
            exit_code: exit,
        }
    }
}

/// Prints the report: a table on stdout, or JSON.
pub(crate) fn print(report: &Report, format: Format) {
    if format == Format::Json {
        crate::output::print_json(report);
        return;
    }
    let colour = crate::output::colour_allowed_stdout();
    println!("invoke check: {}", report.config.display());
    for s in &report.steps {
        let (label, code) = match s.status {
            Status::Pass => ("PASS", "32"),
            Status::Warn => ("WARN", "33"),
            Status::Fail => ("FAIL", "31"),
            Status::Skip => ("SKIP", "2"),
        };
        let label = if colour {
            format!("\x1b[{code}m{label}\x1b[0m")
        } else {
            label.to_string()
        };
        let name = match s.target {
            Some(t) => format!("{} {t}", s.step),
            None => s.step.to_string(),
        };
        println!("  {label}  {name:<12} {:>8.1} ms  {}", s.ms, s.summary);
        if let Some(h) = &s.hint {
            println!("        likely cause: {h}");
        }
    }
    let verdict = match report.exit_code {
        ExitCode::Ok => "all steps passed".to_string(),
        ExitCode::NotPrivate => {
            "it works, but not privately: a hop uses a public address".to_string()
        }
        code => format!("failed (exit code {})", code.code()),
    };
    println!("result: {verdict}");
}
