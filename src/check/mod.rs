//! `invoke check`: proves the path to Bedrock hop by hop.
//!
//! Configuration, name resolution (every address, and whether it is
//! private), TCP, TLS (the certificate, verified with `CABundle`), the
//! identities at each step (source and assumed role, and whether the call
//! crosses accounts), the smallest Bedrock call, and optionally the same
//! call through the public endpoint. Each step is timed and reported as
//! pass, warn, fail or skip, with the likely cause and fix on failure. A
//! step that fails stops the steps that depend on it.

pub mod tls_probe;

use crate::aws::credentials::{self, RunTime};
use crate::aws::diagnose::{self, Context};
use crate::aws::endpoint::{self, Endpoint, EndpointKind};
use crate::aws::resolve::{self, AddressKind};
use crate::config::keys::KeyOptions;
use crate::config::sealed::{self, Format as FileFormat};
use crate::config::{Config, Region};
use crate::error::{Error, ExitCode, Hop, Result};
use crate::invoke::InvokeOptions;
use crate::invoke::model_choice::{self, ModelChoice};
use crate::output::Format;
use crate::prompt::Terminal;
use crate::secret::{self, Scrubber, Secret};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Instant;

/// What `invoke check` was asked.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The shared options (config, model, region, endpoint, timeouts, output, overrides).
    pub invoke: InvokeOptions,
    /// Skip the Bedrock call.
    pub no_invoke: bool,
    /// Also call through the public endpoint.
    pub compare_public: bool,
    /// Fail when any hop would use a public address.
    pub require_private: bool,
    /// Load mode: this many calls after the checks.
    pub repeat: Option<usize>,
    /// Load mode: this many at a time.
    pub concurrency: usize,
}

/// A step's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
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
pub struct Step {
    /// `config`, `dns`, `tcp`, `tls`, `identity`, `bedrock`, `public`.
    pub step: &'static str,
    /// `bedrock` or `sts` for the network steps.
    pub target: Option<&'static str>,
    /// Outcome.
    pub status: Status,
    /// Time taken, in milliseconds.
    pub ms: f64,
    /// One line on what happened.
    pub summary: String,
    /// On failure or warning: the likely cause and what to do.
    pub hint: Option<String>,
    /// Addresses, certificate, identities: the details, for JSON.
    pub details: Value,
    /// The exit code this step's failure gets.
    #[serde(skip)]
    pub exit: Option<ExitCode>,
}

impl Step {
    fn new(
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
            ms: (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0,
            summary,
            hint: None,
            details: Value::Null,
            exit: None,
        }
    }

    fn failed(
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

    fn skip(step: &'static str, target: Option<&'static str>, why: &str) -> Step {
        Step::new(step, target, Status::Skip, Instant::now(), why.to_string())
    }
}

/// The whole report and its exit code.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The config checked.
    pub config: PathBuf,
    /// Every step, in order.
    pub steps: Vec<Step>,
    /// The exit code.
    pub exit_code: u8,
}

/// A host a call goes to.
#[derive(Debug, Clone)]
struct Target {
    name: &'static str,
    hop: Hop,
    host: String,
    port: u16,
    https: bool,
    /// How the host may be shown.
    shown: String,
}

impl Target {
    fn from_url(name: &'static str, hop: Hop, url: &str, shown: String) -> Option<Target> {
        let u = url::Url::parse(url).ok()?;
        Some(Target {
            name,
            hop,
            host: u
                .host_str()?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: u.port_or_known_default()?,
            https: u.scheme() == "https",
            shown,
        })
    }
}

/// The DNS step for `target`: every address and its kind, whether a public
/// service name answers privately (private DNS of a VPC endpoint), and a
/// warning (or, with `require_private`, a failure) for a public address when
/// the path should be private.
fn judge_dns(
    target: &Target,
    addresses: &[IpAddr],
    via_flag: bool,
    vpc: bool,
    require_private: bool,
    started: Instant,
) -> Step {
    let kinds: Vec<(IpAddr, AddressKind)> = addresses
        .iter()
        .map(|a| (*a, resolve::classify(*a)))
        .collect();
    let listed: Vec<String> = kinds.iter().map(|(a, k)| format!("{a} ({k})")).collect();
    let public = kinds.iter().any(|(_, k)| *k == AddressKind::Public);
    let private_dns = resolve::is_public_service_name(&target.host)
        && kinds.iter().all(|(_, k)| *k == AddressKind::Private);
    let source = if via_flag { " via --resolve" } else { "" };
    let mut summary = format!("{} -> {}{source}", target.shown, listed.join(", "));
    if private_dns {
        summary.push_str(
            "; the public name answers with private addresses: private DNS of a VPC endpoint",
        );
    }
    let mut s = Step::new("dns", Some(target.name), Status::Pass, started, summary);
    s.details = json!({
        "host": target.shown,
        "addresses": kinds.iter().map(|(a, k)| json!({"address": a.to_string(), "kind": k})).collect::<Vec<_>>(),
        "private_dns": private_dns,
    });
    if public && (vpc || require_private) {
        s.status = if require_private {
            Status::Fail
        } else {
            Status::Warn
        };
        s.hint = Some(format!(
            "{} resolves to a public address: the traffic would leave the VPC. Enable private DNS on the {} VPC endpoint, \
             or point the config at the endpoint's vpce-... name",
            target.shown,
            if target.hop == Hop::Sts {
                "STS"
            } else {
                "Bedrock"
            }
        ));
        s.exit = Some(ExitCode::NotPrivate);
    }
    s
}

/// Runs every step and returns the report.
pub async fn check(opts: &CheckOptions) -> Report {
    let mut steps = Vec::new();
    let config_path = opts
        .invoke
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::invoke::DEFAULT_CONFIG));
    let finish = |steps: Vec<Step>, config: PathBuf| {
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
            config,
            steps,
            exit_code: exit.code(),
        }
    };

    // 1. Configuration.
    let started = Instant::now();
    let plan = match plan(opts, &config_path).await {
        Ok(p) => p,
        Err(e) => {
            steps.push(Step::failed("config", None, started, &e));
            for (step, target) in [
                ("dns", None),
                ("tcp", None),
                ("tls", None),
                ("identity", None),
                ("bedrock", None),
            ] {
                steps.push(Step::skip(step, target, "the configuration failed"));
            }
            return finish(steps, config_path);
        }
    };
    let mut step = Step::new("config", None, Status::Pass, started, plan.summary.clone());
    step.details = json!({
        "format": plan.format,
        "credentials": credentials::describe(&plan.config),
        "region": plan.region.to_string(),
        "endpoint": {"kind": plan.endpoint.kind.to_string(), "url": plan.endpoint.shown()},
        "model": plan.model.as_ref().map(|m| m.id.clone()),
    });
    if !plan.warnings.is_empty() {
        step.status = Status::Warn;
        step.hint = Some(plan.warnings.join("; "));
    }
    steps.push(step);

    // 2-4. For each host: resolve, connect, shake hands.
    let vpc = plan.endpoint.kind == EndpointKind::Vpc || plan.config.use_vpce;
    let mut network_ok = true;
    let mut stop_not_private = false;
    for target in &plan.targets {
        let started = Instant::now();
        let addresses = match opts
            .invoke
            .overrides
            .lookup(&target.host, opts.invoke.connect_timeout)
            .await
        {
            Ok(a) if !a.is_empty() => a,
            result => {
                let why = result
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "no addresses".into());
                let mut s = Step::new(
                    "dns",
                    Some(target.name),
                    Status::Fail,
                    started,
                    format!("{}: {}", target.shown, plan.scrubber.scrub(&why)),
                );
                s.hint = Some(format!(
                    "{} does not resolve here: with a VPC endpoint, enable its private DNS or use the endpoint's own vpce-... name; \
                     check the VPC's DNS settings (enableDnsSupport, enableDnsHostnames); --resolve HOST:ADDRESS tests an address before DNS is set up",
                    target.shown
                ));
                s.exit = Some(ExitCode::Other);
                steps.push(s);
                network_ok = false;
                continue;
            }
        };
        let via_flag = opts.invoke.overrides.get(&target.host).is_some();
        let s = judge_dns(
            target,
            &addresses,
            via_flag,
            vpc,
            opts.require_private,
            started,
        );
        if s.status == Status::Fail {
            stop_not_private = true;
        }
        steps.push(s);
        if stop_not_private {
            break;
        }

        // TCP to the first address.
        let addr = SocketAddr::new(addresses[0], target.port);
        let started = Instant::now();
        let connected = tokio::time::timeout(
            opts.invoke.connect_timeout,
            tokio::net::TcpStream::connect(addr),
        )
        .await;
        match connected {
            Ok(Ok(_)) => steps.push(Step::new(
                "tcp",
                Some(target.name),
                Status::Pass,
                started,
                format!("connected to {addr}"),
            )),
            other => {
                let why = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {:?}", opts.invoke.connect_timeout),
                };
                let mut s = Step::new(
                    "tcp",
                    Some(target.name),
                    Status::Fail,
                    started,
                    format!("{addr}: {why}"),
                );
                s.hint = Some(match target.hop {
                    Hop::Sts => format!(
                        "STS at {} is not reachable: the endpoint's security group must allow TCP {} from here; in a private subnet without NAT STS needs its own VPC endpoint",
                        target.shown, target.port
                    ),
                    _ => format!(
                        "{} is not reachable: the VPC endpoint's security group must allow TCP {} from this instance's address; for the public endpoint, a NAT or internet gateway is needed",
                        target.shown, target.port
                    ),
                });
                s.exit = Some(ExitCode::Other);
                steps.push(s);
                steps.push(Step::skip("tls", Some(target.name), "no connection"));
                network_ok = false;
                continue;
            }
        }

        // TLS.
        if !target.https {
            steps.push(Step::skip(
                "tls",
                Some(target.name),
                "plain HTTP (allowed for loopback only)",
            ));
            continue;
        }
        let started = Instant::now();
        let report = crate::check::tls_probe::probe(
            &target.host,
            addr,
            plan.bundle.as_deref(),
            opts.invoke.connect_timeout,
        )
        .await;
        let cert = report.certificate.as_ref().map(|c| {
            format!(
                "subject {}, names [{}], issuer {}, expires {}",
                c.subject,
                c.names.join(", "),
                c.issuer,
                c.not_after
            )
        });
        let mut s = Step::new(
            "tls",
            Some(target.name),
            if report.verified {
                Status::Pass
            } else {
                Status::Fail
            },
            started,
            plan.scrubber.scrub(&match (&report.error, &cert) {
                (None, Some(c)) => format!(
                    "verified {}: {c}",
                    report.protocol.clone().unwrap_or_default()
                ),
                (None, None) => "verified".into(),
                (Some(e), Some(c)) => format!("{e}; {c}"),
                (Some(e), None) => e.clone(),
            }),
        );
        s.details = plan_scrub(
            &plan.scrubber,
            serde_json::to_value(&report).unwrap_or_default(),
        );
        if !report.verified {
            s.exit = Some(ExitCode::Other);
            s.hint = Some(match report.failure {
                Some(crate::check::tls_probe::TlsFailure::NameMismatch) => format!(
                    "the certificate does not name {}: a custom DNS name in front of the endpoint cannot match its certificate; \
                     use the endpoint's own name (vpce-... or the private DNS name), never turn verification off",
                    target.shown
                ),
                Some(crate::check::tls_probe::TlsFailure::UntrustedIssuer) => "no trusted CA issued this certificate: a TLS-inspecting proxy or a private CA is in the path; give its CA certificate in CABundle (or AWS_CA_BUNDLE)".into(),
                Some(crate::check::tls_probe::TlsFailure::Expired) => "the certificate has expired or is not yet valid: check this machine's clock, then the certificate".into(),
                _ => "the TLS handshake failed: check that the port speaks HTTPS".into(),
            });
            network_ok = false;
        }
        steps.push(s);
    }
    if stop_not_private {
        for step in ["tcp", "tls", "identity", "bedrock"] {
            steps.push(Step::skip(
                step,
                None,
                "a hop would use a public address (--require-private)",
            ));
        }
        return finish(steps, config_path);
    }
    if !network_ok {
        steps.push(Step::skip("identity", None, "a network step failed"));
        steps.push(Step::skip("bedrock", None, "a network step failed"));
        return finish(steps, config_path);
    }

    // 5. Identity.
    let started = Instant::now();
    let mut ctx = plan.context.clone();
    let resolved = match credentials::resolve(
        &plan.config,
        &plan.sts_config,
        &RunTime {
            interactive: Terminal::is_interactive(),
            // The check proves the STS hop: never from the cache.
            cache: None,
            mfa_code: plan.mfa_code.clone(),
        },
        &mut ctx,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            steps.push(Step::failed("identity", None, started, &e));
            steps.push(Step::skip("bedrock", None, "no credentials"));
            return finish(steps, config_path);
        }
    };
    let assumes = plan.config.assume_role_arn.is_some()
        && matches!(
            plan.config.source,
            crate::config::CredentialSource::AssumeRole
                | crate::config::CredentialSource::AccessKeys
        );
    let source = caller(&plan.sts_config, resolved.source.clone(), &ctx).await;
    let assumed = if assumes {
        Some(caller(&plan.sts_config, resolved.provider.clone(), &ctx).await)
    } else {
        None
    };
    match (source, assumed) {
        (Err(e), _) | (_, Some(Err(e))) => {
            steps.push(Step::failed("identity", None, started, &e));
            steps.push(Step::skip("bedrock", None, "the identity check failed"));
            return finish(steps, config_path);
        }
        (Ok(src), assumed) => {
            let assumed = assumed.and_then(|a| a.ok());
            let mut summary = format!(
                "{} (account {}, key {})",
                src.0,
                src.1,
                ctx_key(&resolved.source).await
            );
            if let Some(a) = &assumed {
                summary.push_str(&format!(" assumed {} (account {}", a.0, a.1));
                if let Some(exp) = resolved.expiry {
                    summary.push_str(&format!(", expires {}", crate::output::iso_time(exp)));
                }
                summary.push(')');
                if a.1 != src.1 {
                    summary.push_str(&format!("; cross-account: {} -> {}", src.1, a.1));
                } else {
                    summary.push_str("; same account");
                }
            }
            // The assumed role's ARN and account follow the rule of the
            // rest of the output: redacted as the role ARN is.
            let mut s = Step::new(
                "identity",
                None,
                Status::Pass,
                started,
                plan.scrubber.scrub(&summary),
            );
            s.details = plan_scrub(
                &plan.scrubber,
                json!({
                    "source": {"arn": src.0, "account": src.1},
                    "assumed": assumed.as_ref().map(|a| json!({"arn": a.0, "account": a.1,
                        "expires": resolved.expiry.map(crate::output::iso_time)})),
                    "cross_account": assumed.as_ref().map(|a| a.1 != src.1),
                    "access_key_id": resolved.key_id,
                }),
            );
            steps.push(s);
        }
    }

    // 6. Bedrock.
    let Some(model) = &plan.model else {
        steps.push(Step::skip("bedrock", None, "no model chosen (--model)"));
        return finish(steps, config_path);
    };
    if opts.no_invoke {
        steps.push(Step::skip("bedrock", None, "--no-invoke"));
        if let Some(n) = opts.repeat {
            let load = load(
                &plan,
                &plan.endpoint,
                model,
                resolved.provider.clone(),
                n,
                opts.concurrency.max(1),
            );
            steps.push(load.await);
        }
        return finish(steps, config_path);
    }
    let vpc_result = ping(
        &plan,
        &plan.endpoint,
        model,
        resolved.provider.clone(),
        &ctx,
    )
    .await;
    steps.push(bedrock_step("bedrock", &plan.endpoint, &vpc_result));

    if let Some(n) = opts.repeat {
        steps.push(
            load(
                &plan,
                &plan.endpoint,
                model,
                resolved.provider.clone(),
                n,
                opts.concurrency.max(1),
            )
            .await,
        );
    }

    // 7. The same call through the public endpoint.
    if opts.compare_public {
        // The public endpoint, or where AWS_ENDPOINT_URL_BEDROCK_RUNTIME points it.
        let public = Endpoint {
            kind: EndpointKind::Public,
            url: Secret::new(
                std::env::var(endpoint::ENDPOINT_ENV)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .unwrap_or_else(|| {
                        format!("https://bedrock-runtime.{}.amazonaws.com", plan.region)
                    }),
            ),
        };
        let public_result = ping(&plan, &public, model, resolved.provider.clone(), &ctx).await;
        let mut s = bedrock_step("public", &public, &public_result);
        let side = |r: &std::result::Result<f64, (f64, Error)>| match r {
            Ok(ms) => format!("ok in {ms:.0} ms"),
            Err((ms, Error::Remote { code, .. })) => format!("{code} in {ms:.0} ms"),
            Err((ms, e)) => format!("{e} in {ms:.0} ms"),
        };
        s.summary = format!(
            "{}: {}; public endpoint: {}",
            plan.endpoint.kind,
            side(&vpc_result),
            side(&public_result)
        );
        if vpc_result.is_ok() && public_result.is_ok() && vpc {
            s.status = Status::Warn;
            s.hint = Some("the public endpoint works too: no aws:SourceVpce condition or endpoint policy restricts these credentials to the VPC endpoint".into());
        } else if vpc_result.is_ok() && public_result.is_err() {
            s.status = Status::Pass;
            s.hint = Some("only the VPC endpoint works: a policy restricts these credentials to it, or the public endpoint is not reachable from here".into());
            s.exit = None;
        }
        steps.push(s);
    }
    finish(steps, config_path)
}

fn plan_scrub(scrubber: &Scrubber, value: Value) -> Value {
    serde_json::from_str(&scrubber.scrub(&value.to_string())).unwrap_or(value)
}

async fn ctx_key(provider: &SharedCredentialsProvider) -> String {
    use aws_credential_types::provider::ProvideCredentials;
    provider
        .provide_credentials()
        .await
        .map(|c| secret::redact_access_key(&Secret::new(c.access_key_id())))
        .unwrap_or_default()
}

fn bedrock_step(
    step: &'static str,
    endpoint: &Endpoint,
    result: &std::result::Result<f64, (f64, Error)>,
) -> Step {
    let started = Instant::now();
    match result {
        Ok(ms) => Step {
            ms: *ms,
            details: json!({"endpoint": endpoint.shown(), "latency_ms": ms}),
            ..Step::new(
                step,
                None,
                Status::Pass,
                started,
                format!(
                    "Converse through the {} {} answered",
                    endpoint.kind,
                    endpoint.shown()
                ),
            )
        },
        Err((ms, e)) => Step {
            ms: *ms,
            details: json!({"endpoint": endpoint.shown()}),
            ..Step::failed(step, None, started, e)
        },
    }
}

/// CPU time this process has used (user and system), in microseconds.
fn cpu_us() -> u64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

/// The load mode: `n` minimal Converse calls, `concurrency` at a time, over
/// one client (reused connections) and one set of credentials.
async fn load(
    plan: &Plan,
    endpoint: &Endpoint,
    model: &ModelChoice,
    provider: SharedCredentialsProvider,
    n: usize,
    concurrency: usize,
) -> Step {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let client = aws_sdk_bedrockruntime::Client::from_conf(
        crate::invoke::bedrock_config(
            &plan.base,
            endpoint.url.expose(),
            crate::invoke::BedrockAuth::SigV4(provider),
        )
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .build(),
    );
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu_us();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.min(n.max(1)) {
        let (client, next, model) = (client.clone(), next.clone(), model.id.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors: Vec<String> = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let t = Instant::now();
                let result = ping_call(&client, &model).send().await;
                match result {
                    Ok(_) => latencies.push(t.elapsed()),
                    Err(e) => errors.push(match &e {
                        aws_sdk_bedrockruntime::error::SdkError::ServiceError(s) => {
                            aws_smithy_types::error::metadata::ProvideErrorMetadata::code(s.err())
                                .unwrap_or("ServiceError")
                                .to_string()
                        }
                        aws_sdk_bedrockruntime::error::SdkError::TimeoutError(_) => {
                            "Timeout".into()
                        }
                        aws_sdk_bedrockruntime::error::SdkError::DispatchFailure(_) => {
                            "ConnectionFailed".into()
                        }
                        _ => "ResponseError".into(),
                    }),
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors: std::collections::BTreeMap<String, usize> = Default::default();
    for t in tasks {
        if let Ok((l, e)) = t.await {
            latencies.extend(l);
            for code in e {
                *errors.entry(code).or_default() += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    let cpu = cpu_us().saturating_sub(cpu_before);
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|d| (d.as_secs_f64() * 1_000_000.0).round() / 1000.0)
    };
    let ok = latencies.len();
    let failed: usize = errors.values().sum();
    let rps = (ok + failed) as f64 / elapsed.as_secs_f64();
    let cpu_per_request = cpu as f64 / (ok + failed).max(1) as f64;
    let summary = format!(
        "{} calls, {concurrency} at a time: {ok} ok, {failed} failed; {rps:.0} req/s; latency p50 {} p90 {} p99 {} max {} ms; client CPU {cpu_per_request:.0} us/request",
        ok + failed,
        pct(0.50).map_or("-".into(), |v| format!("{v:.2}")),
        pct(0.90).map_or("-".into(), |v| format!("{v:.2}")),
        pct(0.99).map_or("-".into(), |v| format!("{v:.2}")),
        latencies
            .last()
            .map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1000.0)),
    );
    let mut step = Step::new(
        "load",
        None,
        if failed == 0 {
            Status::Pass
        } else {
            Status::Warn
        },
        started,
        summary,
    );
    step.details = json!({
        "requests": ok + failed,
        "concurrency": concurrency,
        "ok": ok,
        "errors": errors,
        "requests_per_second": rps,
        "latency_ms": {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
                       "max": latencies.last().map(|d| d.as_secs_f64() * 1000.0)},
        "client_cpu_us_per_request": cpu_per_request,
    });
    if failed > 0 {
        step.hint = Some(format!(
            "errors by type: {}",
            errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    step
}

/// GetCallerIdentity with `provider`: (ARN, account).
async fn caller(
    sts: &aws_config::SdkConfig,
    provider: SharedCredentialsProvider,
    ctx: &Context,
) -> Result<(String, String)> {
    let conf = sts.to_builder().credentials_provider(provider).build();
    let out = aws_sdk_sts::Client::new(&conf)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| diagnose::sdk_error(Hop::Sts, &e, ctx))?;
    Ok((
        out.arn().unwrap_or("?").to_string(),
        out.account().unwrap_or("?").to_string(),
    ))
}

/// The smallest Converse call there is: one word in, one token out.
fn ping_call(
    client: &aws_sdk_bedrockruntime::Client,
    model: &str,
) -> aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder {
    client
        .converse()
        .model_id(model)
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text("ping".into()))
                .build()
                .expect("role and content set"),
        )
        .inference_config(InferenceConfiguration::builder().max_tokens(1).build())
}

/// The smallest Converse call; its latency or its failure.
async fn ping(
    plan: &Plan,
    endpoint: &Endpoint,
    model: &ModelChoice,
    provider: SharedCredentialsProvider,
    ctx: &Context,
) -> std::result::Result<f64, (f64, Error)> {
    let client = aws_sdk_bedrockruntime::Client::from_conf(
        crate::invoke::bedrock_config(
            &plan.base,
            endpoint.url.expose(),
            crate::invoke::BedrockAuth::SigV4(provider),
        )
        .build(),
    );
    let mut ctx = ctx.clone();
    ctx.host = Some(diagnose::shown_host(&endpoint.shown()));
    ctx.endpoint = Some(format!("the {} {}", endpoint.kind, endpoint.shown()));
    let started = Instant::now();
    let result = ping_call(&client, &model.id).send().await;
    let ms = (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
    result
        .map(|_| ms)
        .map_err(|e| (ms, diagnose::sdk_error(Hop::Bedrock, &e, &ctx)))
}

/// What the configuration step learned, for the steps after it.
struct Plan {
    config: Config,
    format: &'static str,
    summary: String,
    warnings: Vec<String>,
    region: Region,
    endpoint: Endpoint,
    model: Option<ModelChoice>,
    targets: Vec<Target>,
    bundle: Option<Vec<u8>>,
    base: aws_config::SdkConfig,
    sts_config: aws_config::SdkConfig,
    scrubber: Scrubber,
    context: Context,
    mfa_code: Option<Secret>,
}

async fn plan(opts: &CheckOptions, path: &std::path::Path) -> Result<Plan> {
    let o = &opts.invoke;
    let (opened, validated) = sealed::open_validated(
        path,
        &KeyOptions::from_env(o.key_file.clone(), o.require_sealed),
    )?;
    let config = validated.config;
    let (format, integrity) = match opened.format {
        FileFormat::Sealed => (
            "sealed",
            format!(
                "MAC verified, {} field(s) decrypted",
                opened.encrypted.len()
            ),
        ),
        FileFormat::Python => (
            "python",
            format!(
                "Python workshop format, {} field(s) decrypted, no MAC",
                opened.encrypted.len()
            ),
        ),
        FileFormat::Plain => ("plain", "plaintext".to_string()),
    };
    let region = crate::invoke::region(&config, path, o.region.as_deref()).await?;
    let endpoint = endpoint::choose(
        &config,
        path,
        &region,
        o.endpoint_url.as_deref(),
        std::env::var(endpoint::ENDPOINT_ENV).ok(),
    )?;
    let model = match model_choice::choose(
        o.model.as_deref(),
        &config,
        Terminal::is_interactive(),
        &mut Terminal,
    ) {
        Ok(m) => Some(m),
        Err(_) if opts.no_invoke => None,
        Err(e) => return Err(e),
    };
    let bundle_path = crate::invoke::ca_bundle_path(&config, path)?;
    let bundle = bundle_path
        .as_deref()
        .map(crate::aws::transport::read_bundle)
        .transpose()?;
    let base = crate::invoke::base_sdk_config(&config, path, &region, o).await?;
    let sts_url = crate::invoke::sts_endpoint(&config)
        .map(|u| u.expose().to_string())
        .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
    let mut sts_builder = base.to_builder();
    sts_builder.set_endpoint_url(Some(sts_url.clone()));
    let sts_config = sts_builder.build();
    let sts_shown = crate::invoke::sts_host_shown(&config, &region);
    let mut targets = Vec::new();
    if let Some(t) = Target::from_url(
        "bedrock",
        Hop::Bedrock,
        endpoint.url.expose(),
        diagnose::shown_host(&endpoint.shown()),
    ) {
        targets.push(t);
    }
    if let Some(t) = Target::from_url("sts", Hop::Sts, &sts_url, sts_shown.clone()) {
        targets.push(t);
    }
    let mfa_code = o.mfa_code.clone();
    let mut scrubber = crate::invoke::scrubber(&config, &mfa_code.iter().collect::<Vec<_>>());
    if endpoint.kind != EndpointKind::Public {
        crate::invoke::scrub_endpoint(&mut scrubber, &endpoint.url);
    }
    let context = Context {
        region: region.to_string(),
        model: model.as_ref().map(|m| m.id.clone()),
        scrubber: scrubber.clone(),
        host: Some(sts_shown.clone()),
        read_timeout: Some(o.read_timeout),
        ..Context::default()
    };
    let summary = format!(
        "{integrity}; {}; region {region}; {} {}{}",
        credentials::describe(&config),
        endpoint.kind,
        endpoint.shown(),
        model
            .as_ref()
            .map(|m| format!("; model {m}"))
            .unwrap_or_default()
    );
    Ok(Plan {
        config,
        format,
        summary,
        warnings: validated.warnings,
        region,
        endpoint,
        model,
        targets,
        bundle,
        base,
        sts_config,
        scrubber,
        context,
        mfa_code,
    })
}

/// Prints the report: a table on stdout, or JSON.
pub fn print(report: &Report, format: Format) {
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).expect("serialisable")
        );
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
        0 => "all steps passed".to_string(),
        250 => "it works, but not privately: a hop uses a public address".to_string(),
        n => format!("failed (exit code {n})"),
    };
    println!("result: {verdict}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str) -> Target {
        Target {
            name: "bedrock",
            hop: Hop::Bedrock,
            host: host.into(),
            port: 443,
            https: true,
            shown: host.into(),
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn private_dns_of_an_endpoint_is_recognised() {
        let s = judge_dns(
            &target("bedrock-runtime.us-west-2.amazonaws.com"),
            &ips(&["10.0.1.5", "10.0.2.7"]),
            false,
            true,
            false,
            Instant::now(),
        );
        assert_eq!(s.status, Status::Pass);
        assert_eq!(s.details["private_dns"], true);
        assert!(s.summary.contains("10.0.1.5 (private), 10.0.2.7 (private)"));
        assert!(s.summary.contains("private DNS of a VPC endpoint"));
    }

    #[test]
    fn a_public_address_warns_on_a_vpc_path_and_fails_when_required() {
        let t = target("bedrock-runtime.us-west-2.amazonaws.com");
        let public = ips(&["52.94.0.1"]);
        let warn = judge_dns(&t, &public, false, true, false, Instant::now());
        assert_eq!(
            (warn.status, warn.exit),
            (Status::Warn, Some(ExitCode::NotPrivate))
        );
        assert!(warn.hint.unwrap().contains("leave the VPC"));
        assert_eq!(
            judge_dns(&t, &public, false, true, true, Instant::now()).status,
            Status::Fail
        );
        // Not a VPC path and not required: public is what is expected.
        assert_eq!(
            judge_dns(&t, &public, false, false, false, Instant::now()).status,
            Status::Pass
        );
        // A vpce name is not "the public name answering privately".
        let vpce = judge_dns(
            &target("vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com"),
            &ips(&["10.0.0.9"]),
            true,
            true,
            false,
            Instant::now(),
        );
        assert_eq!(vpce.details["private_dns"], false);
        assert!(vpce.summary.ends_with("(private) via --resolve"));
    }
}
