//! What `invoke` does, in order: read and verify the config, make the plan
//! (region, endpoints, credential source, redaction), choose the model and
//! the request, resolve credentials (reporting the hop that fails), call
//! Bedrock, and show the reply as it streams.

pub(crate) mod access;
pub(crate) mod attach;
pub(crate) mod call;
pub(crate) mod chat;
pub mod cli;
pub(crate) mod embed;
pub(crate) mod export;
pub(crate) mod families;
pub(crate) mod image;
pub(crate) mod json_model;
pub(crate) mod model_choice;
pub(crate) mod prices;
pub(crate) mod replies;
pub(crate) mod reply;
pub(crate) mod request;

use crate::aws::credentials::{self, Resolved, RunTime, cache::CredentialCache};
use crate::aws::diagnose::Context;
use crate::aws::plan::{Auth, AwsOptions, BedrockAuth, Plan};
use crate::config::crypto::ConfigKey;
use crate::config::keys::KeyOptions;
use crate::config::{Config, sealed};
use crate::error::{Error, Result};
use crate::logging::Logging;
use crate::output::{self, Format};
use crate::prompt::{Prompter, Terminal};
use call::{Call, Ending, Guardrail, Inference};
use model_choice::ModelChoice;
use reply::{CallReport, CredentialsReport, EndpointReport, Reply};
use request::{Request, RequestArgs};
use std::path::{Path, PathBuf};

/// The file read when `--config` is not given.
pub(crate) const DEFAULT_CONFIG: &str = "config.properties";

/// Which config to read and how to find its key.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConfigOptions {
    /// `--config`.
    pub(crate) path: Option<PathBuf>,
    /// `--key-file`, `--require-sealed` and their environment variables.
    pub(crate) keys: KeyOptions,
}

/// Everything `invoke` was asked to do, typed.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The config and its key.
    pub(crate) config: ConfigOptions,
    /// `--model`.
    pub(crate) model: Option<String>,
    /// Prompt sources.
    pub(crate) request: RequestArgs,
    /// Converse's inference settings.
    pub(crate) inference: Inference,
    /// Stream the reply.
    pub(crate) stream: bool,
    /// Output format.
    pub(crate) format: Format,
    /// Print the plan only.
    pub(crate) dry_run: bool,
    /// `--save FILE`: the reply (or the JSON) written to a file too.
    pub(crate) save: Option<PathBuf>,
    /// `--guardrail`: the guardrail the call is checked by.
    pub(crate) guardrail: Option<Guardrail>,
    /// `--guardrail-ok`: a guardrail's intervention is a success.
    pub(crate) guardrail_ok: bool,
    /// Region, endpoint, timeouts, auth, MFA code, cache.
    pub(crate) aws: AwsOptions,
    /// `--debug`.
    pub(crate) debug: bool,
}

/// A config read, verified and validated, with the key that opened it.
pub(crate) struct Loaded {
    /// The configuration.
    pub(crate) config: Config,
    /// The key, for the credential cache; none for a plaintext file.
    pub(crate) key: Option<ConfigKey>,
    /// How the file was stored, and what that proved.
    pub(crate) integrity: String,
    /// `sealed`, `python` or `plain`.
    pub(crate) format: &'static str,
    /// Its warnings, not yet printed.
    pub(crate) warnings: Vec<String>,
}

/// The config's place in the user's configuration folder:
/// `$XDG_CONFIG_HOME/bedrock-private/config.properties`, else
/// `~/.config/bedrock-private/config.properties`.
pub(crate) fn user_config() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("bedrock-private").join(DEFAULT_CONFIG))
}

/// Finds the config: `--config`, else `./config.properties`, else the
/// user's configuration folder ([`user_config`]), else asks on a terminal.
pub(crate) fn config_path(flag: Option<&Path>, prompter: &mut dyn Prompter) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    let default = PathBuf::from(DEFAULT_CONFIG);
    if default.exists() {
        return Ok(default);
    }
    let user = user_config();
    if let Some(user) = user.as_ref().filter(|p| p.exists()) {
        return Ok(user.clone());
    }
    let nowhere = || {
        let places = match &user {
            Some(u) => format!("./{DEFAULT_CONFIG} and {}", u.display()),
            None => format!("./{DEFAULT_CONFIG}"),
        };
        Error::Read {
            path: default.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "no config found (looked for {places}): name one with --config PATH; encrypt-config makes one from a plaintext file"
                ),
            ),
        }
    };
    if !Terminal::is_interactive() {
        return Err(nowhere());
    }
    let answer = prompter.line(&format!("Configuration file [{DEFAULT_CONFIG}]: "))?;
    Ok(answer.map(|a| PathBuf::from(a.trim())).unwrap_or(default))
}

/// Opens, verifies and validates the config.
pub(crate) fn load(opts: &ConfigOptions, prompter: &mut dyn Prompter) -> Result<Loaded> {
    let path = config_path(opts.path.as_deref(), prompter)?;
    let (opened, validated) = sealed::open_validated(&path, &opts.keys)?;
    let fields = opened.encrypted.len();
    let (format, integrity) = match opened.format {
        sealed::Format::Sealed => (
            "sealed",
            format!("MAC verified, {fields} field(s) decrypted"),
        ),
        sealed::Format::Python => (
            "python",
            format!("Python workshop format, {fields} field(s) decrypted, no MAC"),
        ),
        sealed::Format::Plain => ("plain", "plaintext".to_string()),
    };
    Ok(Loaded {
        config: validated.config,
        key: opened.key.map(|(k, _)| k),
        integrity,
        format,
        warnings: validated.warnings,
    })
}

pub(crate) fn warn_all(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// Runs `invoke`.
pub(crate) async fn run(opts: Options, logging: &Logging) -> Result<()> {
    let mut terminal = Terminal;
    let loaded = load(&opts.config, &mut terminal)?;
    warn_all(&loaded.warnings);
    if loaded.config.debug && !opts.debug {
        logging.enable_debug();
    }
    tracing::debug!(config = ?loaded.config, "configuration loaded");
    let plan = Plan::new(loaded.config, opts.aws.clone()).await?;
    let interactive = Terminal::is_interactive();
    let model = model_choice::choose(
        opts.model.as_deref(),
        &plan.config,
        interactive,
        &mut terminal,
    )?;
    let mut warnings = Vec::new();
    let request = request::build(
        &opts.request,
        &plan.config,
        &model.id,
        request::stdin_piped(),
        read_stdin,
        &mut warnings,
    )?;
    warn_all(&warnings);
    let op = call::operation(&request, opts.stream);
    warn_all(&plan.warnings);
    if let Some(path) = &opts.save {
        crate::fsutil::check_folder(path)?;
    }
    if opts.dry_run {
        print_plan(&plan, &model, &request, op, &opts);
        return Ok(());
    }
    let runtime = RunTime {
        interactive,
        cache: cache_for(loaded.key, plan.options.cache_dir.clone()),
    };
    let (ending, reply, resolved) =
        call_with_credentials(&plan, &opts, &model, &request, &runtime).await?;
    let stop = ending.0.clone();
    let saved = report(
        &plan,
        &model,
        op,
        ending,
        &reply,
        resolved.as_ref(),
        opts.format,
    );
    if let Some(path) = &opts.save {
        crate::fsutil::write_private_with(
            path,
            saved.as_bytes(),
            crate::fsutil::Existing::Replace,
            crate::fsutil::Links::Follow,
        )?;
        output::note("saved", &path.display().to_string());
    }
    verdict(&plan, &reply, stop, opts.guardrail_ok)
}

/// A reply is a success only with an answer in it, and not when a
/// guardrail wrote it (unless `--guardrail-ok`).
fn verdict(plan: &Plan, reply: &Reply, stop: Option<String>, guardrail_ok: bool) -> Result<()> {
    if !reply.answered() {
        let raw = plan.scrubber.scrub(reply.raw_tail().trim());
        return Err(Error::NoAnswer {
            stop: stop.unwrap_or_else(|| "(none)".into()),
            raw: if raw.is_empty() {
                "(nothing)".into()
            } else {
                raw
            },
        });
    }
    if reply.guardrail && !guardrail_ok {
        return Err(Error::Guardrail);
    }
    Ok(())
}

/// The credential cache in `dir` for a config encrypted with `key`; a
/// plaintext config has no key to protect a cache with, so it gets none.
pub(crate) fn cache_for(key: Option<ConfigKey>, dir: Option<PathBuf>) -> Option<CredentialCache> {
    Some(CredentialCache::new(dir?, key?))
}

fn note_credentials(resolved: &Resolved) {
    output::note(
        "credentials",
        &format!(
            "{} (key {}{})",
            resolved.description,
            resolved.key_id,
            if resolved.cached {
                ", from the credential cache"
            } else {
                ""
            }
        ),
    )
}

/// Resolves the credentials (none with a bearer token: no STS call) and
/// makes the call. A cached session AWS refuses (expired or revoked early)
/// is evicted and the call made once more, with fresh credentials from STS.
async fn call_with_credentials(
    plan: &Plan,
    opts: &Options,
    model: &ModelChoice,
    request: &Request,
    runtime: &RunTime,
) -> Result<(Ending, Reply, Option<Resolved>)> {
    let mut ctx = plan.context(Some(&model.id));
    output::note("endpoint", &plan.bedrock.to_string());
    let mut resolved = match &plan.options.auth {
        Auth::Bearer(_) => None,
        Auth::SigV4 { .. } => Some(credentials::resolve(plan, runtime, &mut ctx).await?),
    };
    match &resolved {
        Some(r) => note_credentials(r),
        None => ctx.source = "the Bedrock API key".into(),
    }
    if matches!(
        plan.options.auth,
        Auth::Bearer(_)
            | Auth::SigV4 {
                bearer_in_env: true
            }
    ) {
        output::note("auth", &plan.options.auth.describe());
    }
    output::note(
        "model",
        &format!("{model} via {}", call::operation(request, opts.stream)),
    );
    let mut refreshed = false;
    let mut stream_tries = 1;
    loop {
        let mut reply = Reply::new(opts.format == Format::Text);
        if opts.format == Format::Text {
            output::waiting("waiting for the first token");
        }
        let sent = send(
            plan,
            opts,
            model,
            request,
            resolved.as_ref(),
            &ctx,
            &mut reply,
        );
        let outcome = tokio::select! {
            r = sent => r,
            _ = tokio::signal::ctrl_c() => {
                output::waiting_done();
                reply.finish();
                return Err(Error::Interrupted);
            }
        };
        output::waiting_done();
        reply.finish();
        if let Err(e) = &outcome
            && retry_stream(e, &reply, stream_tries, plan.options.max_attempts).await
        {
            stream_tries += 1;
            continue;
        }
        let refused = match (&outcome, &resolved) {
            (Err(e), Some(r)) if !refreshed && reply.text.is_empty() => r.refused_from_cache(e),
            _ => None,
        };
        let (Some(code), Some(r)) = (refused, &resolved) else {
            return outcome.map(|ending| (ending, reply, resolved));
        };
        refreshed = true;
        output::note(
            "credentials",
            &format!("the cached credentials were refused ({code}): evicted; asking STS"),
        );
        r.evict(runtime);
        ctx.host = Some(plan.sts.url.shown_host().to_string());
        let fresh = credentials::resolve(plan, runtime, &mut ctx).await?;
        note_credentials(&fresh);
        resolved = Some(fresh);
    }
}

/// The in-stream failures worth another try: throttling and the service's
/// own transient ones. The SDK retries a refused request, not a stream that
/// fails once it has begun.
const RETRIED_IN_STREAM: [&str; 3] = [
    "ThrottlingException",
    "ServiceUnavailableException",
    "InternalServerException",
];

/// Whether a stream that failed with `err` is tried again: only before any
/// text was printed, and within `--max-attempts`; waits first, longer each
/// time, with jitter.
async fn retry_stream(err: &Error, reply: &Reply, tries: u32, max_attempts: u32) -> bool {
    let Error::Remote { code, .. } = err else {
        return false;
    };
    if !reply.streaming || !reply.text.is_empty() || tries >= max_attempts {
        return false;
    }
    if !RETRIED_IN_STREAM.contains(&code.as_str()) {
        return false;
    }
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_millis()) % 100);
    let wait = std::time::Duration::from_millis(200 * (1 << (tries - 1).min(4)) + jitter);
    output::note(
        "retry",
        &format!(
            "{code} in the stream before any text: trying again in {} ms (attempt {} of {max_attempts})",
            wait.as_millis(),
            tries + 1
        ),
    );
    tokio::time::sleep(wait).await;
    true
}

/// One call through the plan's Bedrock endpoint.
async fn send(
    plan: &Plan,
    opts: &Options,
    model: &ModelChoice,
    request: &Request,
    resolved: Option<&Resolved>,
    ctx: &Context,
    reply: &mut Reply,
) -> Result<Ending> {
    let auth = match (&plan.options.auth, resolved) {
        (Auth::Bearer(token), _) => BedrockAuth::Bearer(token.clone()),
        (Auth::SigV4 { .. }, Some(r)) => BedrockAuth::SigV4(r.provider.clone()),
        (Auth::SigV4 { .. }, None) => {
            return Err(Error::Usage(
                "no credentials were resolved for SigV4".into(),
            ));
        }
    };
    let client = plan.bedrock_client(&plan.bedrock, auth);
    let mut ctx = ctx.clone();
    ctx.host = Some(plan.bedrock.url.shown_host().to_string());
    let call = Call {
        client: &client,
        model: &model.id,
        inference: opts.inference.clone(),
        guardrail: opts.guardrail.as_ref(),
        stream: opts.stream,
        read_timeout: plan.options.read_timeout,
        ctx: &ctx,
    };
    call.send(request, reply).await
}

/// The line or JSON object that ends a call.
fn report(
    plan: &Plan,
    model: &ModelChoice,
    op: &str,
    (stop_reason, usage): Ending,
    reply: &Reply,
    resolved: Option<&Resolved>,
    format: Format,
) -> String {
    let timings = reply.timings();
    if format == Format::Text {
        let count = |n: Option<u64>| n.map_or("?".into(), |n| n.to_string());
        let mut parts = vec![
            format!("stop {}", stop_reason.as_deref().unwrap_or("(none)")),
            format!(
                "tokens {} in, {} out",
                count(usage.input_tokens),
                count(usage.output_tokens)
            ),
        ];
        if let Some(t) = timings.first_token {
            parts.push(format!("first token {t:.0} ms"));
        }
        parts.push(format!("total {:.0} ms", timings.total));
        for tool in &reply.tool_uses {
            output::note("tool use", &format!("{} {}", tool.name, tool.input));
        }
        if !reply.citations.is_empty() {
            output::note("cites", &reply.citations.join("; "));
        }
        output::note("done", &parts.join(" · "));
        let mut text = reply.text.clone();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        return text;
    }
    let report = CallReport {
        schema: output::SCHEMA,
        text: reply.text.clone(),
        model: model.id.clone(),
        alias: model.alias.clone(),
        operation: op.to_string(),
        endpoint: EndpointReport {
            kind: plan.bedrock.origin.word().into(),
            url: plan.bedrock.url.shown().to_string(),
        },
        credentials: match resolved {
            Some(r) => CredentialsReport {
                auth: plan.options.auth.word(),
                source: r.description.clone(),
                access_key_id: Some(r.key_id.clone()),
            },
            None => CredentialsReport {
                auth: plan.options.auth.word(),
                source: format!("the Bedrock API key in {}", crate::aws::plan::BEARER_ENV),
                access_key_id: None,
            },
        },
        stop_reason,
        reasoning: (!reply.reasoning.is_empty()).then(|| reply.reasoning.clone()),
        tool_use: reply.tool_uses.clone(),
        citations: reply.citations.clone(),
        guardrail_intervened: reply.guardrail,
        usage,
        timings_ms: timings,
    };
    output::print_json(&report);
    serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
}

pub(crate) fn read_stdin() -> Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|source| Error::Read {
            path: "standard input".into(),
            source,
        })?;
    Ok(text)
}

/// `--dry-run`: the plan, as the call would use it.
fn print_plan(plan: &Plan, model: &ModelChoice, request: &Request, op: &str, opts: &Options) {
    let what = match request {
        Request::Converse {
            system,
            user,
            attachments,
        } => format!(
            "one user message ({} characters{}){}",
            user.chars().count(),
            attachments
                .iter()
                .map(|a| format!(", {} ({} bytes)", a.path.display(), a.bytes.len()))
                .collect::<String>(),
            if system.is_some() {
                " and a system prompt"
            } else {
                ""
            }
        ),
        Request::Invoke { body, from } => {
            format!("the JSON body of {} ({} bytes)", from.display(), body.len())
        }
    };
    let mut rows = plan.rows();
    rows.extend([
        ("model", model.to_string()),
        ("operation", op.to_string()),
        ("request", what),
    ]);
    if let Some(g) = &opts.guardrail {
        rows.push(("guardrail", g.to_string()));
    }
    output::print_rows(&rows, opts.format);
}

/// `invoke models`: the aliases of the config, numbered as in the menu.
pub(crate) fn list_models(opts: &ConfigOptions, format: Format) -> Result<()> {
    let loaded = load(opts, &mut Terminal)?;
    warn_all(&loaded.warnings);
    let config = loaded.config;
    if config.models.is_empty() {
        return Err(Error::Usage(format!(
            "{} has no [models] section",
            config.path.display()
        )));
    }
    if format == Format::Json {
        let models: Vec<serde_json::Value> = config
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| serde_json::json!({"number": i + 1, "alias": m.alias, "model_id": m.id}))
            .collect();
        output::print_json(&serde_json::json!({
            "schema": crate::output::SCHEMA,
            "models": models,
            "default": config.model_id,
        }));
        return Ok(());
    }
    for line in model_choice::menu(&config.models) {
        println!("{line}");
    }
    if let Some(default) = &config.model_id {
        eprintln!("default (ModelID): {default}");
    }
    Ok(())
}
