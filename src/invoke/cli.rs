//! Arguments of `invoke`, in two stages: clap turns the command line into
//! plain `Args` (no I/O), then `Args::command` reads them, and the
//! environment variables the tool honours, into a typed `Command` before
//! anything runs. Nothing downstream reads a flag string or the tool's own
//! environment variables.

use crate::aws::credentials::MFA_CODE_ENV;
use crate::aws::plan::{Auth, AwsOptions, BEARER_ENV};
use crate::aws::resolve::Overrides;
use crate::check::CheckOptions;
use crate::config::keys::KeyOptions;
use crate::config::{EndpointUrl, Region};
use crate::error::{Error, ExitCode, Result};
use crate::invoke::call::{Guardrail, Inference};
use crate::invoke::export::Export;
use crate::invoke::request::RequestArgs;
use crate::invoke::{ConfigOptions, Options};
use crate::output::Format;
use crate::secret::Secret;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = "\
The prompt, first found: --body FILE (sent as-is to InvokeModel); --prompt TEXT
(or - for standard input); text piped on standard input (it fills the workshop
template's {{log_entry}}, or is the prompt without one); PromptFilePath holding
JSON (InvokeModel); the workshop flow (SystemPromptFile, and PromptFilePath with
{{log_entry}} replaced by --input FILE or UserQueryFile).

Exit codes:
  0 ok, 130 interrupted, 248 a guardrail intervened (unless --guardrail-ok),
  249 the reply held no answer that could be read (its raw end is shown),
  250 check: works but not private, 251 integrity failure (tampered config, wrong key,
  downgrade, rollback, or refused by --require-sealed),
  252 bad arguments, 253 invalid configuration or credentials,
  254 the service returned an error, 255 other errors (network, I/O).";

/// Command-line arguments of `invoke`.
/// No `Debug`: `--mfa-code` and `--endpoint-url` are secrets as typed.
#[derive(Parser)]
#[command(
    name = "invoke",
    version,
    long_version = env!("BEDROCK_PRIVATE_LONG_VERSION"),
    about = "Call Amazon Bedrock with the credentials and network path a properties file describes",
    after_help = AFTER_HELP
)]
pub(crate) struct Args {
    /// What to do besides calling a model.
    #[command(subcommand)]
    pub(crate) command: Option<Sub>,
    /// The properties file (default ./config.properties).
    #[arg(short, long, global = true, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// The config's key file, if not where the config says.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) key_file: Option<PathBuf>,
    /// Refuse plaintext and Python-format configs, embedded keys and key files
    /// others can read (also $BEDROCK_PRIVATE_REQUIRE_SEALED=1).
    #[arg(long, global = true)]
    pub(crate) require_sealed: bool,
    /// An alias from [models], its number, or a model or inference-profile id.
    #[arg(short, long, value_name = "MODEL", global = true)]
    pub(crate) model: Option<String>,
    /// One user message (- reads standard input).
    #[arg(short, long, value_name = "TEXT", conflicts_with = "body")]
    pub(crate) prompt: Option<String>,
    /// The user query for the workshop template, instead of UserQueryFile.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["body", "prompt"])]
    pub(crate) input: Option<PathBuf>,
    /// A JSON body sent as-is to InvokeModel.
    #[arg(long, value_name = "FILE")]
    pub(crate) body: Option<PathBuf>,
    /// Converse: the most tokens to generate.
    #[arg(long, value_name = "N", default_value_t = 2000, global = true)]
    pub(crate) max_tokens: i32,
    /// Converse: sampling temperature, 0 to 1.
    #[arg(long, value_name = "T", default_value_t = 0.0, global = true)]
    pub(crate) temperature: f32,
    /// Converse: nucleus sampling, 0 to 1.
    #[arg(long, value_name = "P", global = true)]
    pub(crate) top_p: Option<f32>,
    /// Converse: stop when the model writes SEQ (repeatable).
    #[arg(long = "stop", value_name = "SEQ", conflicts_with = "body")]
    pub(crate) stop: Vec<String>,
    /// Also write the reply (with --output json, the JSON) to FILE, whole,
    /// replacing it atomically.
    #[arg(long, value_name = "FILE")]
    pub(crate) save: Option<PathBuf>,
    /// Send this image with the prompt (png, jpeg, gif, webp; repeatable;
    /// Converse only).
    #[arg(long, value_name = "FILE", conflicts_with = "body")]
    pub(crate) image: Vec<PathBuf>,
    /// Send this document with the prompt (pdf, csv, doc, docx, xls, xlsx,
    /// html, txt, md; repeatable; Converse only).
    #[arg(long, value_name = "FILE", conflicts_with = "body")]
    pub(crate) document: Vec<PathBuf>,
    /// Check the call with this Bedrock guardrail (VERSION: DRAFT, the
    /// default, or a number).
    #[arg(long, value_name = "ID[:VERSION]", global = true)]
    pub(crate) guardrail: Option<String>,
    /// Exit 0 when a guardrail intervenes (its message is the reply);
    /// otherwise that is exit code 248.
    #[arg(long, global = true)]
    pub(crate) guardrail_ok: bool,
    /// Wait for the whole reply instead of streaming it.
    #[arg(long, global = true)]
    pub(crate) no_stream: bool,
    /// Leave out the `invoke:` lines on stderr about what is being done
    /// (warnings and errors still show).
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub(crate) output: Format,
    /// Print the plan (region, endpoint, credentials, model, operation) and call nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Send to this endpoint instead of the config's.
    #[arg(long, value_name = "URL", global = true)]
    pub(crate) endpoint_url: Option<String>,
    /// The region, when the config has none.
    #[arg(long, value_name = "REGION", global = true)]
    pub(crate) region: Option<String>,
    /// The current MFA code, when the config has MFASerial (other users can
    /// see a command line: prefer --mfa-code-fd or $BEDROCK_PRIVATE_MFA_CODE).
    #[arg(long, value_name = "CODE", global = true)]
    pub(crate) mfa_code: Option<String>,
    /// Read the MFA code from this open file descriptor (its first line).
    #[arg(long, value_name = "N", global = true, conflicts_with = "mfa_code")]
    pub(crate) mfa_code_fd: Option<i32>,
    /// Seconds to wait for a connection.
    #[arg(long, value_name = "SECS", default_value_t = 5.0, global = true)]
    pub(crate) connect_timeout: f64,
    /// Seconds to wait for data, also between stream events.
    #[arg(long, value_name = "SECS", default_value_t = 60.0, global = true)]
    pub(crate) read_timeout: f64,
    /// Attempts per call, retrying throttling and server errors with
    /// backoff (default $AWS_MAX_ATTEMPTS, else 3; $AWS_RETRY_MODE=adaptive
    /// also paces calls).
    #[arg(long, value_name = "N", global = true)]
    pub(crate) max_attempts: Option<u32>,
    /// The AWS profile for the standard chain and the AWS settings; wins
    /// over the config's Profile, as the AWS CLI's --profile does.
    #[arg(long, value_name = "NAME", global = true)]
    pub(crate) profile: Option<String>,
    /// Always ask STS; do not read or write the credential cache.
    #[arg(long, global = true)]
    pub(crate) no_cache: bool,
    /// How the Bedrock call is authenticated: SigV4 with the config's
    /// credentials, or the Bedrock API key in $AWS_BEARER_TOKEN_BEDROCK
    /// (sent only when asked for).
    #[arg(long, value_enum, default_value_t = AuthFlag::Sigv4)]
    pub(crate) auth: AuthFlag,
    /// Debug logs on stderr (secrets are never logged).
    #[arg(long, global = true)]
    pub(crate) debug: bool,
    /// Write logs to this file instead of stderr.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) log_file: Option<PathBuf>,
}

/// Subcommands.
#[derive(Subcommand)]
pub(crate) enum Sub {
    /// List the model aliases of the config, numbered as the menu shows them.
    Models {
        /// Ask the Bedrock control plane which models this account may
        /// call in the region, which need an inference profile, and which
        /// profiles exist (through ControlPlaneEndpointURL when set).
        #[arg(long)]
        available: bool,
    },
    /// Prove the path hop by hop: config, DNS, TCP, TLS, identities, Bedrock.
    Check(CheckArgs),
    /// Print the credentials as credential_process JSON, for an AWS profile
    /// (`credential_process = invoke credentials --config PATH`).
    Credentials,
    /// Print `export` lines (credentials, region, the config's endpoints and
    /// CA bundle), for `eval "$(invoke env)"`.
    Env,
    /// Print a shell completion script: `invoke completions bash >
    /// ~/.local/share/bash-completion/completions/invoke`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Embeddings of texts (arguments, --file, or standard input, one a
    /// line): Titan Text Embeddings v1/V2 (the default, V2) or Cohere Embed.
    Embed(EmbedArgs),
    /// Pictures from a prompt, written as PNG files: Nova Canvas (the
    /// default), Titan Image Generator, Stable Diffusion XL or a Stable
    /// Image model.
    Image(ImageArgs),
    /// A private gateway to Bedrock for other tools: an OpenAI-compatible
    /// API on loopback (or --listen with TLS), authenticated by the
    /// gateway's own tokens (`invoke serve token add NAME`).
    Serve(ServeArgs),
    /// A conversation on a terminal: each message is sent with the
    /// conversation so far and the reply streams; /help lists the commands.
    /// Without a terminal, each line of standard input is one message.
    Chat {
        /// The system prompt to start with (/system changes it).
        #[arg(long, value_name = "TEXT")]
        system: Option<String>,
    },
    /// Print the manual page (roff): `invoke man >
    /// ~/.local/share/man/man1/invoke.1`.
    Man,
    /// The credential cache: list its entries, or clear it.
    Cache {
        /// `list` or `clear`.
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Run COMMAND with the credentials, region, endpoints and CA bundle in
    /// its environment; its exit code is invoke's.
    Exec {
        /// The command and its arguments.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<OsString>,
    },
}

/// Options of `invoke embed`.
#[derive(clap::Args)]
pub(crate) struct EmbedArgs {
    /// The texts to embed.
    pub(crate) texts: Vec<String>,
    /// Read the texts from FILE, one a line.
    #[arg(long, value_name = "FILE", conflicts_with = "texts")]
    pub(crate) file: Option<PathBuf>,
    /// Titan Text Embeddings V2: the vector size, 256, 512 or 1024.
    #[arg(long, value_name = "N")]
    pub(crate) dimensions: Option<u32>,
    /// Titan Text Embeddings V2: vectors as they come, not of length 1.
    #[arg(long)]
    pub(crate) no_normalize: bool,
    /// Print each input's cosine similarity to the first instead of its vector.
    #[arg(long)]
    pub(crate) similarity: bool,
    /// Cohere Embed: search_document (the default), search_query,
    /// classification or clustering.
    #[arg(long, value_name = "TYPE")]
    pub(crate) input_type: Option<String>,
}

/// Options of `invoke serve`.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Manage the gateway's tokens instead of serving.
    #[command(subcommand)]
    pub(crate) token: Option<ServeSub>,
    /// Where to listen (a non-loopback address needs --tls-cert/--tls-key
    /// or --insecure-http).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,
    /// The server certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The server's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (TLS ends in front of it).
    #[arg(long, conflicts_with = "tls_cert")]
    pub(crate) insecure_http: bool,
    /// The largest request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 4 * 1024 * 1024)]
    pub(crate) max_body: usize,
    /// Upstream calls open at once; more are refused with 429.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub(crate) max_streams: usize,
    /// Append the access log (JSON lines) here instead of standard error.
    #[arg(long, value_name = "FILE")]
    pub(crate) access_log: Option<PathBuf>,
    /// Seconds open requests may take to finish after SIGTERM.
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    pub(crate) shutdown_grace: u64,
}

/// `invoke serve token ...`.
#[derive(Subcommand)]
pub(crate) enum ServeSub {
    /// Manage the gateway's tokens (salted hashes in the config's [gateway]).
    Token {
        #[command(subcommand)]
        action: TokenCmd,
    },
}

/// Token commands.
#[derive(Subcommand)]
pub(crate) enum TokenCmd {
    /// Make a token and print it, once.
    Add {
        /// Its name, for logs and revocation.
        name: String,
        /// Model ids it may call (a prefix ending in *; repeatable or
        /// comma-separated); all when not given.
        #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
        models: Vec<String>,
        /// Requests a minute it may make.
        #[arg(long, value_name = "N")]
        rpm: Option<u32>,
    },
    /// List the tokens (names, models, rates; never the tokens).
    List,
    /// Remove a token.
    Revoke {
        /// Its name.
        name: String,
    },
}

/// Options of `invoke image`.
#[derive(clap::Args)]
pub(crate) struct ImageArgs {
    /// What to draw (- reads standard input).
    pub(crate) prompt: String,
    /// What to keep out of the picture.
    #[arg(long, value_name = "TEXT")]
    pub(crate) negative: Option<String>,
    /// WIDTHxHEIGHT in pixels (default 1024x1024; Titan, Nova Canvas, SDXL).
    #[arg(long, value_name = "WxH")]
    pub(crate) size: Option<crate::invoke::image::Size>,
    /// Stable Image models: 1:1, 16:9, 21:9, 2:3, 3:2, 4:5, 5:4, 9:16 or 9:21.
    #[arg(long, value_name = "W:H")]
    pub(crate) aspect_ratio: Option<String>,
    /// The seed, for a picture that can be made again.
    #[arg(long, value_name = "N")]
    pub(crate) seed: Option<u64>,
    /// How many pictures, 1 to 5.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) count: u32,
    /// Titan and Nova Canvas: standard or premium.
    #[arg(long, value_name = "Q")]
    pub(crate) quality: Option<String>,
    /// How closely to follow the prompt (Titan, Nova Canvas: 1.1 to 10; SDXL: 0 to 35).
    #[arg(long, value_name = "F")]
    pub(crate) cfg_scale: Option<f64>,
    /// The PNG file; with --count above 1, image.png becomes image-1.png,
    /// image-2.png, ...
    #[arg(long, value_name = "FILE", default_value = "image.png")]
    pub(crate) out: PathBuf,
    /// Replace files that exist.
    #[arg(long)]
    pub(crate) force: bool,
}

/// What to do with the credential cache.
#[derive(Subcommand, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheAction {
    /// The folder and its entries: when each was written and, for the
    /// config's own, when the session expires (and its key id, redacted).
    List,
    /// Remove every entry: the next call asks STS again.
    Clear,
}

/// Options of `invoke check`.
#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// Skip the Bedrock call.
    #[arg(long)]
    pub(crate) no_invoke: bool,
    /// Make the same call through the public endpoint too, side by side.
    #[arg(long)]
    pub(crate) compare_public: bool,
    /// Fail (exit 250) when any hop would use a public address.
    #[arg(long)]
    pub(crate) require_private: bool,
    /// Use ADDRESS for HOST, as curl's --resolve does (repeatable).
    #[arg(long, value_name = "HOST:ADDRESS")]
    pub(crate) resolve: Vec<String>,
    /// Load mode: after the checks, send N minimal calls over one client.
    #[arg(long, value_name = "N")]
    pub(crate) repeat: Option<usize>,
    /// Load mode: how many calls at a time.
    #[arg(long, value_name = "C", default_value_t = 1, requires = "repeat")]
    pub(crate) concurrency: usize,
}

/// `--auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum AuthFlag {
    /// SigV4, with the credentials the config describes.
    #[default]
    Sigv4,
    /// The Bedrock API key in `AWS_BEARER_TOKEN_BEDROCK`, as a bearer token.
    Bearer,
}

/// What to run, typed.
#[derive(Debug)]
pub(crate) enum Command {
    /// `invoke`: call a model.
    Invoke(Box<Options>),
    /// `invoke models`: list the aliases.
    Models(ConfigOptions, Format),
    /// `invoke check`: prove the path.
    Check(Box<CheckOptions>),
    /// `invoke embed`.
    Embed(Box<Options>, crate::invoke::embed::EmbedOptions),
    /// `invoke image`.
    Image(Box<Options>, crate::invoke::image::ImageOptions),
    /// `invoke chat`.
    Chat(Box<Options>, crate::invoke::chat::ChatOptions),
    /// `invoke models --available`.
    ModelAccess(Box<Options>),
    /// `invoke serve`.
    Serve(Box<Options>, crate::serve::ServeOptions),
    /// `invoke serve token ...`.
    ServeToken(Box<Options>, crate::serve::TokenAction),
    /// `invoke completions SHELL`.
    Completions(clap_complete::Shell),
    /// `invoke man`.
    Man,
    /// `invoke cache list|clear`.
    Cache(Box<Options>, CacheAction),
    /// `invoke credentials`, `env`, `exec`: hand the credentials over.
    Export(Box<Options>, Export),
}

/// Parses the command line (help and version exit 0, mistakes 252).
pub(crate) fn parse(
    args: impl IntoIterator<Item = OsString>,
) -> std::result::Result<Args, ExitCode> {
    crate::error::parse_args(args)
}

/// Seconds from a flag, between 0 and an hour.
fn seconds(flag: &str, v: f64) -> Result<Duration> {
    if v.is_finite() && v > 0.0 && v <= 3600.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(Error::Usage(format!(
            "{flag} {v}: expected more than 0 seconds and at most 3600"
        )))
    }
}

/// A value from 0 to 1.
fn unit(flag: &str, v: f32) -> Result<f32> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(Error::Usage(format!("{flag} {v}: expected 0 to 1")))
    }
}

impl Args {
    /// Reads the arguments and the environment into the command to run.
    pub(crate) fn command(&self) -> Result<Command> {
        let config = ConfigOptions {
            path: self.config.clone(),
            keys: KeyOptions::from_env(self.key_file.clone(), self.require_sealed),
        };
        match &self.command {
            Some(Sub::Models { available: true }) => Ok(Command::ModelAccess(Box::new(
                self.options(config, self.auth)?,
            ))),
            Some(Sub::Models { available: false }) => Ok(Command::Models(config, self.output)),
            Some(Sub::Check(check)) => {
                // The check always signs with SigV4: it proves the config's
                // credentials, whatever --auth says.
                let mut invoke = self.options(config, AuthFlag::Sigv4)?;
                invoke.aws.overrides = Overrides::parse(&check.resolve)?;
                Ok(Command::Check(Box::new(CheckOptions {
                    invoke,
                    no_invoke: check.no_invoke,
                    compare_public: check.compare_public,
                    require_private: check.require_private,
                    repeat: check.repeat,
                    concurrency: check.concurrency.max(1),
                })))
            }
            Some(Sub::Completions { shell }) => Ok(Command::Completions(*shell)),
            Some(Sub::Man) => Ok(Command::Man),
            Some(Sub::Serve(s)) => {
                let opts = Box::new(self.options(config, self.auth)?);
                if let Some(ServeSub::Token { action }) = &s.token {
                    let action = match action {
                        TokenCmd::Add { name, models, rpm } => crate::serve::TokenAction::Add {
                            name: name.clone(),
                            models: models.clone(),
                            rpm: *rpm,
                        },
                        TokenCmd::List => crate::serve::TokenAction::List,
                        TokenCmd::Revoke { name } => {
                            crate::serve::TokenAction::Revoke { name: name.clone() }
                        }
                    };
                    return Ok(Command::ServeToken(opts, action));
                }
                Ok(Command::Serve(
                    opts,
                    crate::serve::ServeOptions {
                        listen: s.listen,
                        tls: s.tls_cert.clone().zip(s.tls_key.clone()),
                        insecure_http: s.insecure_http,
                        max_body: s.max_body,
                        max_streams: s.max_streams,
                        access_log: s.access_log.clone(),
                        shutdown_grace: Duration::from_secs(s.shutdown_grace),
                    },
                ))
            }
            Some(Sub::Chat { system }) => Ok(Command::Chat(
                Box::new(self.options(config, self.auth)?),
                crate::invoke::chat::ChatOptions {
                    system: system.clone(),
                },
            )),
            Some(Sub::Image(i)) => Ok(Command::Image(
                Box::new(self.options(config, AuthFlag::Sigv4)?),
                crate::invoke::image::ImageOptions {
                    prompt: i.prompt.clone(),
                    negative: i.negative.clone(),
                    size: i.size,
                    aspect_ratio: i.aspect_ratio.clone(),
                    seed: i.seed,
                    count: i.count,
                    quality: i.quality.clone(),
                    cfg_scale: i.cfg_scale,
                    out: i.out.clone(),
                    force: i.force,
                },
            )),
            Some(Sub::Embed(e)) => Ok(Command::Embed(
                Box::new(self.options(config, AuthFlag::Sigv4)?),
                crate::invoke::embed::EmbedOptions {
                    texts: e.texts.clone(),
                    file: e.file.clone(),
                    dimensions: e.dimensions,
                    no_normalize: e.no_normalize,
                    similarity: e.similarity,
                    input_type: e.input_type.clone(),
                },
            )),
            Some(Sub::Cache { action }) => Ok(Command::Cache(
                Box::new(self.options(config, AuthFlag::Sigv4)?),
                *action,
            )),
            Some(Sub::Credentials) => Ok(Command::Export(
                Box::new(self.options(config, AuthFlag::Sigv4)?),
                Export::Process,
            )),
            Some(Sub::Env) => Ok(Command::Export(
                Box::new(self.options(config, AuthFlag::Sigv4)?),
                Export::Env,
            )),
            Some(Sub::Exec { command }) => Ok(Command::Export(
                Box::new(self.options(config, AuthFlag::Sigv4)?),
                Export::Exec(command.clone()),
            )),
            None => Ok(Command::Invoke(Box::new(self.options(config, self.auth)?))),
        }
    }

    fn options(&self, config: ConfigOptions, auth: AuthFlag) -> Result<Options> {
        if self.max_tokens < 1 {
            return Err(Error::Usage(format!(
                "--max-tokens {}: expected at least 1",
                self.max_tokens
            )));
        }
        Ok(Options {
            config,
            model: self.model.clone(),
            request: RequestArgs {
                prompt: self.prompt.clone(),
                input: self.input.clone(),
                body: self.body.clone(),
                images: self.image.clone(),
                documents: self.document.clone(),
            },
            inference: Inference {
                max_tokens: self.max_tokens,
                temperature: unit("--temperature", self.temperature)?,
                top_p: self.top_p.map(|p| unit("--top-p", p)).transpose()?,
                stop: self.stop_sequences()?,
            },
            guardrail: self
                .guardrail
                .as_deref()
                .map(|g| {
                    Guardrail::parse(g).map_err(|why| Error::Usage(format!("--guardrail {why}")))
                })
                .transpose()?,
            guardrail_ok: self.guardrail_ok,
            save: self.save.clone(),
            stream: !self.no_stream,
            format: self.output,
            dry_run: self.dry_run,
            aws: self.aws_options(auth)?,
            debug: self.debug,
        })
    }

    /// `--stop`: non-empty sequences, as Converse requires.
    fn stop_sequences(&self) -> Result<Vec<String>> {
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::Usage("--stop: expected a non-empty sequence".into()));
        }
        Ok(self.stop.clone())
    }

    fn aws_options(&self, auth_flag: AuthFlag) -> Result<AwsOptions> {
        let max_attempts = match (self.max_attempts, std::env::var("AWS_MAX_ATTEMPTS")) {
            (Some(n), _) => n,
            (None, Ok(v)) if !v.trim().is_empty() => v.trim().parse().map_err(|_| {
                Error::Usage(format!(
                    "AWS_MAX_ATTEMPTS={v}: expected a number from 1 to 10"
                ))
            })?,
            (None, _) => 3,
        };
        if !(1..=10).contains(&max_attempts) {
            return Err(Error::Usage(format!(
                "{} {max_attempts}: expected 1 to 10",
                if self.max_attempts.is_some() {
                    "--max-attempts"
                } else {
                    "AWS_MAX_ATTEMPTS"
                }
            )));
        }
        let adaptive = match std::env::var("AWS_RETRY_MODE")
            .ok()
            .as_deref()
            .map(str::trim)
        {
            None | Some("" | "standard" | "legacy") => false,
            Some("adaptive") => true,
            Some(other) => {
                return Err(Error::Usage(format!(
                    "AWS_RETRY_MODE={other}: expected standard or adaptive"
                )));
            }
        };
        if let Some(p) = self.profile.as_deref().filter(|p| p.trim().is_empty()) {
            return Err(Error::Usage(format!(
                "--profile {p:?}: expected a profile name"
            )));
        }
        let region = match &self.region {
            Some(r) => Some(Region::parse(r).ok_or_else(|| {
                Error::Usage(format!("--region {r}: expected a region such as us-west-2"))
            })?),
            None => None,
        };
        let endpoint_url = match &self.endpoint_url {
            Some(u) => Some(
                EndpointUrl::parse(Secret::new(u.as_str()))
                    .map_err(|why| Error::Usage(format!("--endpoint-url: {why}")))?,
            ),
            None => None,
        };
        Ok(AwsOptions {
            region,
            endpoint_url,
            connect_timeout: seconds("--connect-timeout", self.connect_timeout)?,
            read_timeout: seconds("--read-timeout", self.read_timeout)?,
            max_attempts,
            adaptive_retries: adaptive,
            profile: self.profile.clone(),
            overrides: Overrides::default(),
            auth: auth(auth_flag)?,
            mfa_code: mfa_code(self.mfa_code.as_deref(), self.mfa_code_fd)?,
            ca_bundle_env: std::env::var_os("AWS_CA_BUNDLE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            cache_dir: if self.no_cache {
                None
            } else {
                crate::aws::credentials::cache::default_dir()
            },
        })
    }
}

/// `--auth` with the key it needs: a bearer token only when asked for.
fn auth(flag: AuthFlag) -> Result<Auth> {
    let token = std::env::var(BEARER_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    match (flag, token) {
        (AuthFlag::Sigv4, token) => Ok(Auth::SigV4 {
            bearer_in_env: token.is_some(),
        }),
        (AuthFlag::Bearer, Some(token)) => Ok(Auth::Bearer(Secret::new(token.trim()))),
        (AuthFlag::Bearer, None) => Err(Error::Usage(format!(
            "--auth bearer: {BEARER_ENV} is not set; set it to a Bedrock API key, \
             or leave --auth out to sign with the config's credentials"
        ))),
    }
}

/// The MFA code given to the run, first found: `--mfa-code`, the first line
/// read from descriptor `--mfa-code-fd`, or [`MFA_CODE_ENV`]. `None` leaves
/// asking on the terminal possible.
fn mfa_code(flag: Option<&str>, fd: Option<i32>) -> Result<Option<Secret>> {
    // Checked here, never sent to STS (whose refusal would quote it back).
    let checked = |code: Secret, from: &str| {
        if crate::aws::credentials::mfa::well_formed(&code) {
            Ok(Some(code))
        } else {
            Err(Error::Usage(format!(
                "{from}: expected the 6 digits the MFA device shows"
            )))
        }
    };
    if let Some(code) = flag {
        let code = Secret::new(code.trim());
        if code.is_empty() {
            return Ok(None);
        }
        return checked(code, "--mfa-code");
    }
    if let Some(fd) = fd {
        return match crate::prompt::line_from_fd(fd) {
            Ok(Some(code)) => checked(code, &format!("--mfa-code-fd {fd}")),
            Ok(None) => Err(Error::Usage(format!(
                "--mfa-code-fd {fd}: no code: the first line read from descriptor {fd} is empty"
            ))),
            Err(e) => Err(Error::Usage(format!(
                "--mfa-code-fd {fd}: cannot read descriptor {fd} ({e}): open it for the command, as in `--mfa-code-fd 3 3<file`"
            ))),
        };
    }
    match std::env::var(MFA_CODE_ENV)
        .ok()
        .map(|c| Secret::new(c.trim()))
        .filter(|c| !c.is_empty())
    {
        Some(code) => checked(code, &format!("${MFA_CODE_ENV}")),
        None => Ok(None),
    }
}

/// The whole of `invoke`: parses `args`, runs the command, prints an error
/// once, and returns the exit code from the one table.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = match parse(args) {
        Ok(args) => args,
        Err(code) => return code,
    };
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("invoke: error: {e}");
            if args.output == Format::Json && !crate::output::json_printed() {
                // A script reading stdout learns of the failure there too.
                crate::output::print_json(&e.to_json());
            }
            e.exit_code()
        }
    }
}

/// Starts logging and the runtime, and runs the command the arguments say.
fn run(args: &Args) -> Result<ExitCode> {
    crate::output::set_quiet(args.quiet);
    let logging = crate::logging::init(args.debug, args.log_file.as_deref())
        .map_err(|e| Error::Usage(format!("cannot open the log file: {e}")))?;
    let command = args.command()?;
    // A call is one task; the gateway serves many at once, on every core.
    let runtime = match command {
        Command::Serve(..) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .map_err(Error::Runtime)?;
    runtime.block_on(execute(command, &logging))
}

/// Runs the command and returns the exit code to use.
async fn execute(command: Command, logging: &crate::logging::Logging) -> Result<ExitCode> {
    match command {
        Command::Models(config, format) => {
            crate::invoke::list_models(&config, format)?;
            Ok(ExitCode::Ok)
        }
        Command::Check(opts) => {
            let report = crate::check::check(&opts).await;
            crate::check::print(&report, opts.invoke.format);
            Ok(report.exit_code)
        }
        Command::Invoke(opts) => {
            crate::invoke::run(*opts, logging).await?;
            Ok(ExitCode::Ok)
        }
        Command::Export(opts, export) => crate::invoke::export::run(&opts, export).await,
        Command::Cache(opts, action) => crate::invoke::export::cache(&opts, action),
        Command::Embed(opts, e) => crate::invoke::embed::run(&opts, &e).await,
        Command::Image(opts, i) => crate::invoke::image::run(&opts, &i).await,
        Command::Chat(opts, c) => crate::invoke::chat::run(&opts, &c).await,
        Command::ModelAccess(opts) => crate::invoke::access::run(&opts).await,
        Command::Serve(opts, s) => crate::serve::run(&opts, &s).await,
        Command::ServeToken(opts, action) => crate::serve::token(&opts, &action),
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(<Args as CommandFactory>::command())
                .render(&mut std::io::stdout())
                .or_else(|e| match e.kind() {
                    // `invoke man | head`: the reader had enough.
                    std::io::ErrorKind::BrokenPipe => Ok(()),
                    _ => Err(Error::Write {
                        path: "standard output".into(),
                        source: e,
                    }),
                })?;
            Ok(ExitCode::Ok)
        }
        Command::Completions(shell) => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut <Args as CommandFactory>::command(),
                "invoke",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::Ok)
        }
    }
}
