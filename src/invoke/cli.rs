//! Arguments of `invoke`: parsed by clap into plain data, then checked and
//! typed into [`InvokeOptions`] before anything runs.

use crate::error::{Error, ExitCode, Result};
use crate::invoke::request::RequestArgs;
use crate::invoke::{Auth, InvokeOptions};
use crate::output::Format;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = "\
The prompt, first found: --body FILE (sent as-is to InvokeModel); --prompt TEXT
(or - for standard input); text piped on standard input when the config names
no prompt file; PromptFilePath holding JSON (InvokeModel); the workshop flow
(SystemPromptFile, and PromptFilePath with {{log_entry}} replaced by
UserQueryFile or --input FILE).

Exit codes:
  0 ok, 130 interrupted, 250 check: works but not private, 251 integrity failure (tampered config, wrong key,
  downgrade, rollback, or refused by --require-sealed),
  252 bad arguments, 253 invalid configuration or credentials,
  254 the service returned an error, 255 other errors (network, I/O).";

/// Command-line arguments of `invoke`.
#[derive(Debug, Parser)]
#[command(
    name = "invoke",
    version,
    about = "Call Amazon Bedrock with the credentials and network path a properties file describes",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// What to do besides calling a model.
    #[command(subcommand)]
    pub command: Option<Sub>,
    /// The properties file (default ./config.properties).
    #[arg(short, long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The config's key file, if not where the config says.
    #[arg(long, global = true, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Refuse plaintext and Python-format configs, embedded keys and key files
    /// others can read (also $BEDROCK_PRIVATE_REQUIRE_SEALED=1).
    #[arg(long, global = true)]
    pub require_sealed: bool,
    /// An alias from [models], its number, or a model or inference-profile id.
    #[arg(short, long, value_name = "MODEL", global = true)]
    pub model: Option<String>,
    /// One user message (- reads standard input).
    #[arg(short, long, value_name = "TEXT", conflicts_with = "body")]
    pub prompt: Option<String>,
    /// The user query for the workshop template, instead of UserQueryFile.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["body", "prompt"])]
    pub input: Option<PathBuf>,
    /// A JSON body sent as-is to InvokeModel.
    #[arg(long, value_name = "FILE")]
    pub body: Option<PathBuf>,
    /// Converse: the most tokens to generate.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub max_tokens: i32,
    /// Converse: sampling temperature, 0 to 1.
    #[arg(long, value_name = "T", default_value_t = 0.0)]
    pub temperature: f32,
    /// Converse: nucleus sampling, 0 to 1.
    #[arg(long, value_name = "P")]
    pub top_p: Option<f32>,
    /// Wait for the whole reply instead of streaming it.
    #[arg(long)]
    pub no_stream: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub output: Format,
    /// Print the plan (region, endpoint, credentials, model, operation) and call nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send to this endpoint instead of the config's.
    #[arg(long, value_name = "URL", global = true)]
    pub endpoint_url: Option<String>,
    /// The region, when the config has none.
    #[arg(long, value_name = "REGION", global = true)]
    pub region: Option<String>,
    /// The current MFA code, when the config has MFASerial (other users can
    /// see a command line: prefer --mfa-code-fd or $BEDROCK_PRIVATE_MFA_CODE).
    #[arg(long, value_name = "CODE", global = true)]
    pub mfa_code: Option<String>,
    /// Read the MFA code from this open file descriptor (its first line).
    #[arg(long, value_name = "N", global = true, conflicts_with = "mfa_code")]
    pub mfa_code_fd: Option<i32>,
    /// Seconds to wait for a connection.
    #[arg(long, value_name = "SECS", default_value_t = 5.0, global = true)]
    pub connect_timeout: f64,
    /// Seconds to wait for data, also between stream events.
    #[arg(long, value_name = "SECS", default_value_t = 60.0, global = true)]
    pub read_timeout: f64,
    /// Attempts per call, retrying throttling and server errors with backoff.
    #[arg(long, value_name = "N", default_value_t = 3, global = true)]
    pub max_attempts: u32,
    /// Always ask STS; do not read or write the credential cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// How the Bedrock call is authenticated: SigV4 with the config's
    /// credentials, or the Bedrock API key in $AWS_BEARER_TOKEN_BEDROCK
    /// (sent only when asked for).
    #[arg(long, value_enum, default_value_t = Auth::Sigv4)]
    pub auth: Auth,
    /// Debug logs on stderr (secrets are never logged).
    #[arg(long, global = true)]
    pub debug: bool,
    /// Write logs to this file instead of stderr.
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// List the model aliases of the config, numbered as the menu shows them.
    Models,
    /// Prove the path hop by hop: config, DNS, TCP, TLS, identities, Bedrock.
    Check(CheckArgs),
}

/// Options of `invoke check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Skip the Bedrock call.
    #[arg(long)]
    pub no_invoke: bool,
    /// Make the same call through the public endpoint too, side by side.
    #[arg(long)]
    pub compare_public: bool,
    /// Fail (exit 250) when any hop would use a public address.
    #[arg(long)]
    pub require_private: bool,
    /// Use ADDRESS for HOST, as curl's --resolve does (repeatable).
    #[arg(long, value_name = "HOST:ADDRESS")]
    pub resolve: Vec<String>,
    /// Load mode: after the checks, send N minimal calls over one client.
    #[arg(long, value_name = "N")]
    pub repeat: Option<usize>,
    /// Load mode: how many calls at a time.
    #[arg(long, value_name = "C", default_value_t = 1, requires = "repeat")]
    pub concurrency: usize,
}

/// Parses the command line (help and version exit 0, mistakes 252).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> std::result::Result<Args, ExitCode> {
    crate::error::parse_args(args)
}

impl Args {
    /// Checks values and builds the typed options.
    pub fn options(&self) -> Result<InvokeOptions> {
        let secs = |flag: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= 3600.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(Error::Usage(format!(
                    "{flag} {v}: expected seconds between 0 and 3600"
                )))
            }
        };
        if !(0.0..=1.0).contains(&self.temperature) {
            return Err(Error::Usage(format!(
                "--temperature {}: expected 0 to 1",
                self.temperature
            )));
        }
        if let Some(p) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            return Err(Error::Usage(format!("--top-p {p}: expected 0 to 1")));
        }
        if self.max_tokens < 1 {
            return Err(Error::Usage(format!(
                "--max-tokens {}: expected at least 1",
                self.max_tokens
            )));
        }
        if self.max_attempts < 1 || self.max_attempts > 10 {
            return Err(Error::Usage(format!(
                "--max-attempts {}: expected 1 to 10",
                self.max_attempts
            )));
        }
        Ok(InvokeOptions {
            config: self.config.clone(),
            key_file: self.key_file.clone(),
            require_sealed: self.require_sealed,
            model: self.model.clone(),
            request: RequestArgs {
                prompt: self.prompt.clone(),
                input: self.input.clone(),
                body: self.body.clone(),
            },
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            stream: !self.no_stream,
            format: self.output,
            dry_run: self.dry_run,
            endpoint_url: self.endpoint_url.clone(),
            region: self.region.clone(),
            mfa_code: crate::aws::credentials::given_mfa_code(
                self.mfa_code.as_deref(),
                self.mfa_code_fd,
            )?,
            connect_timeout: secs("--connect-timeout", self.connect_timeout)?,
            read_timeout: secs("--read-timeout", self.read_timeout)?,
            max_attempts: self.max_attempts,
            debug: self.debug,
            overrides: crate::aws::resolve::Overrides::default(),
            no_cache: self.no_cache,
            auth: self.auth,
        })
    }
}

/// Runs the parsed command line and returns the exit code to use.
pub async fn run(args: Args, logging: &crate::logging::Logging) -> Result<ExitCode> {
    match &args.command {
        Some(Sub::Models) => {
            crate::invoke::list_models(
                args.config.as_deref(),
                &crate::config::keys::KeyOptions::from_env(
                    args.key_file.clone(),
                    args.require_sealed,
                ),
            )?;
            Ok(ExitCode::Ok)
        }
        Some(Sub::Check(check)) => {
            let mut invoke = args.options()?;
            invoke.overrides = crate::aws::resolve::Overrides::parse(&check.resolve)?;
            let opts = crate::check::CheckOptions {
                invoke,
                no_invoke: check.no_invoke,
                compare_public: check.compare_public,
                require_private: check.require_private,
                repeat: check.repeat,
                concurrency: check.concurrency,
            };
            let report = crate::check::check(&opts).await;
            crate::check::print(&report, opts.invoke.format);
            Ok(ExitCode::from_code(report.exit_code))
        }
        None => {
            crate::invoke::run(args.options()?, logging).await?;
            Ok(ExitCode::Ok)
        }
    }
}
