//! The network steps of `invoke check`, for each host a call goes to: name
//! resolution (every address and whether it is private), a TCP connection,
//! and a TLS handshake verified as the call will verify it.

use super::CheckOptions;
use super::report::{Status, Step};
use super::setup::Setup;
use super::tls_probe::{self, TlsFailure};
use crate::aws::resolve::{self, AddressKind};
use crate::config::EndpointUrl;
use crate::error::{ExitCode, Hop};
use crate::secret::Scrubber;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// A host a call goes to.
pub(crate) struct Target {
    name: &'static str,
    hop: Hop,
    host: String,
    port: u16,
    https: bool,
    /// How the host may be shown.
    shown: String,
}

impl Target {
    /// The host of `url`, for the steps named `name`.
    pub(crate) fn new(name: &'static str, hop: Hop, url: &EndpointUrl) -> Target {
        Target {
            name,
            hop,
            host: url.host().expose().to_string(),
            port: url.port(),
            https: url.is_https(),
            shown: url.shown_host().to_string(),
        }
    }

    /// The shown host without its port: what `NO_PROXY` takes.
    fn shown_name(&self) -> &str {
        match self.shown.rsplit_once(':') {
            Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => &self.shown,
        }
    }
}

/// How the network steps ended.
pub(crate) enum Outcome {
    /// Every host answered.
    Reachable,
    /// A step failed; the later steps cannot run.
    Unreachable,
    /// A host resolved to a public address and `--require-private` stops here.
    NotPrivate,
}

/// Resolves, connects to and shakes hands with every target in turn.
pub(crate) async fn run(setup: &Setup, opts: &CheckOptions, steps: &mut Vec<Step>) -> Outcome {
    let mut outcome = Outcome::Reachable;
    let proxies = hyper_util::client::proxy::matcher::Matcher::from_env();
    for target in &setup.targets {
        if let Some(proxy) = proxy_for(&proxies, target) {
            if !through_proxy(target, &proxy, opts, steps).await {
                outcome = Outcome::Unreachable;
            }
            continue;
        }
        let started = Instant::now();
        let overrides = &opts.invoke.aws.overrides;
        let addresses = match overrides
            .lookup(&target.host, opts.invoke.aws.connect_timeout)
            .await
        {
            Ok(a) if !a.is_empty() => a,
            result => {
                let why = result
                    .err()
                    .map_or("no addresses".into(), |e| e.to_string());
                steps.push(unresolved(target, &why, &setup.plan.scrubber, started));
                outcome = Outcome::Unreachable;
                continue;
            }
        };
        let via_flag = overrides.get(&target.host).is_some();
        let dns = judge_dns(
            target,
            &addresses,
            via_flag,
            setup.private_path(),
            opts.require_private,
            started,
        );
        if dns.status == Status::Fail {
            steps.push(dns);
            return Outcome::NotPrivate;
        }
        steps.push(dns);
        let addr = SocketAddr::new(addresses[0], target.port);
        if !connect(target, addr, opts, steps).await {
            outcome = Outcome::Unreachable;
            continue;
        }
        if !target.https {
            steps.push(Step::skip(
                "tls",
                Some(target.name),
                "plain HTTP (allowed for loopback only)",
            ));
            continue;
        }
        let tls = handshake(target, addr, setup, opts).await;
        if tls.status == Status::Fail {
            outcome = Outcome::Unreachable;
        }
        steps.push(tls);
    }
    outcome
}

/// The HTTPS proxy the environment sends `target` through (`HTTPS_PROXY`,
/// unless `NO_PROXY` names the host), as `host:port`: what the SDK's client
/// does, by the same rules.
fn proxy_for(
    proxies: &hyper_util::client::proxy::matcher::Matcher,
    target: &Target,
) -> Option<(String, u16)> {
    let scheme = if target.https { "https" } else { "http" };
    let uri: http::Uri = format!("{scheme}://{}:{}/", target.host, target.port)
        .parse()
        .ok()?;
    let proxy = proxies.intercept(&uri)?;
    let host = proxy.uri().host()?.to_string();
    let port = proxy
        .uri()
        .port_u16()
        .unwrap_or(if proxy.uri().scheme_str() == Some("https") {
            443
        } else {
            80
        });
    Some((host, port))
}

/// The network steps for a target reached through an HTTPS proxy: the
/// proxy's name and a connection to it, then a tunnel (`CONNECT`) to the
/// target through it. The name of the target is the proxy's to resolve,
/// and TLS runs end to end inside the tunnel, which the Bedrock step
/// proves. False when a step failed.
async fn through_proxy(
    target: &Target,
    (proxy_host, proxy_port): &(String, u16),
    opts: &CheckOptions,
    steps: &mut Vec<Step>,
) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let proxy = format!("{proxy_host}:{proxy_port}");
    let wait = opts.invoke.aws.connect_timeout;
    let addresses = match opts.invoke.aws.overrides.lookup(proxy_host, wait).await {
        Ok(a) if !a.is_empty() => a,
        result => {
            let why = result
                .err()
                .map_or("no addresses".into(), |e| e.to_string());
            steps.push(
                Step::new("dns", Some(target.name), Status::Fail, started, format!("the HTTPS proxy {proxy}: {why}"))
                    .fail_with(
                        format!("{} goes through the HTTPS proxy {proxy} (HTTPS_PROXY), whose name does not resolve: check HTTPS_PROXY, or exclude {} with NO_PROXY", target.shown, target.shown_name()),
                        ExitCode::Other,
                    ),
            );
            steps.push(Step::skip(
                "tcp",
                Some(target.name),
                "the proxy does not resolve",
            ));
            steps.push(Step::skip(
                "tls",
                Some(target.name),
                "the proxy does not resolve",
            ));
            return false;
        }
    };
    steps.push(Step::new(
        "dns",
        Some(target.name),
        Status::Pass,
        started,
        format!(
            "{} goes through the HTTPS proxy {proxy} (HTTPS_PROXY), which resolves it; {proxy_host} -> {}",
            target.shown,
            addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ),
    ));
    let started = Instant::now();
    let addr = SocketAddr::new(addresses[0], *proxy_port);
    let tunnel = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let request = format!(
            "CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n",
            host = target.host,
            port = target.port
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = vec![0u8; 1024];
        let n = stream.read(&mut answer).await.map_err(|e| e.to_string())?;
        let status = String::from_utf8_lossy(&answer[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        Ok::<String, String>(status)
    };
    let (status, line) = match tokio::time::timeout(wait, tunnel).await {
        Ok(Ok(line)) if line.split_whitespace().nth(1) == Some("200") => (Status::Pass, line),
        Ok(Ok(line)) => (
            Status::Fail,
            format!("the proxy answered CONNECT with: {line}"),
        ),
        Ok(Err(e)) => (Status::Fail, e),
        Err(_) => (Status::Fail, format!("no answer within {wait:?}")),
    };
    if status == Status::Fail {
        steps.push(
            Step::new("tcp", Some(target.name), Status::Fail, started, format!("through the HTTPS proxy {proxy}: {line}"))
                .fail_with(
                    format!("the HTTPS proxy {proxy} gives no tunnel to {}: check that it runs and allows CONNECT to port {}, or exclude {} with NO_PROXY (a VPC endpoint needs no proxy)", target.shown, target.port, target.shown_name()),
                    ExitCode::Other,
                ),
        );
        steps.push(Step::skip(
            "tls",
            Some(target.name),
            "no tunnel through the proxy",
        ));
        return false;
    }
    steps.push(Step::new(
        "tcp",
        Some(target.name),
        Status::Pass,
        started,
        format!(
            "the HTTPS proxy {proxy} opened a tunnel to {}",
            target.shown
        ),
    ));
    steps.push(Step::skip(
        "tls",
        Some(target.name),
        "inside the proxy's tunnel: the Bedrock step proves TLS end to end",
    ));
    true
}

fn unresolved(target: &Target, why: &str, scrubber: &Scrubber, started: Instant) -> Step {
    Step::new(
        "dns",
        Some(target.name),
        Status::Fail,
        started,
        format!("{}: {}", target.shown, scrubber.scrub(why)),
    )
    .fail_with(
        format!(
            "{} does not resolve here: with a VPC endpoint, enable its private DNS or use the endpoint's own vpce-... name; \
             check the VPC's DNS settings (enableDnsSupport, enableDnsHostnames); --resolve HOST:ADDRESS tests an address before DNS is set up",
            target.shown
        ),
        ExitCode::Other,
    )
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

/// The TCP step: a connection to the first address. False when it failed.
async fn connect(
    target: &Target,
    addr: SocketAddr,
    opts: &CheckOptions,
    steps: &mut Vec<Step>,
) -> bool {
    let started = Instant::now();
    let wait = opts.invoke.aws.connect_timeout;
    let why = match tokio::time::timeout(wait, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => {
            steps.push(Step::new(
                "tcp",
                Some(target.name),
                Status::Pass,
                started,
                format!("connected to {addr}"),
            ));
            return true;
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            // Refused is an answer: the address is reachable and nothing
            // listens on the port; a security group drops, it does not refuse.
            steps.push(
                Step::new(
                    "tcp",
                    Some(target.name),
                    Status::Fail,
                    started,
                    format!("{addr}: connection refused"),
                )
                .fail_with(
                    format!(
                        "nothing is listening at {addr}: is the endpoint running, and is the port right (AWS endpoints listen on 443)?"
                    ),
                    ExitCode::Other,
                ),
            );
            steps.push(Step::skip("tls", Some(target.name), "no connection"));
            return false;
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", wait.as_secs_f64()),
    };
    let hint = match target.hop {
        Hop::Sts => format!(
            "STS at {} is not reachable: the endpoint's security group must allow TCP {} from here; in a private subnet without NAT STS needs its own VPC endpoint",
            target.shown, target.port
        ),
        _ => format!(
            "{} is not reachable: the VPC endpoint's security group must allow TCP {} from this instance's address; for the public endpoint, a NAT or internet gateway is needed",
            target.shown, target.port
        ),
    };
    steps.push(
        Step::new(
            "tcp",
            Some(target.name),
            Status::Fail,
            started,
            format!("{addr}: {why}"),
        )
        .fail_with(hint, ExitCode::Other),
    );
    steps.push(Step::skip("tls", Some(target.name), "no connection"));
    false
}

/// The TLS step: a handshake verified with the system roots and the CA
/// bundle, and the certificate shown whether or not it verified.
async fn handshake(target: &Target, addr: SocketAddr, setup: &Setup, opts: &CheckOptions) -> Step {
    let started = Instant::now();
    let scrubber = &setup.plan.scrubber;
    let report = tls_probe::probe(
        &target.host,
        addr,
        setup.bundle.as_deref(),
        opts.invoke.aws.connect_timeout,
    )
    .await;
    let cert = report.certificate.as_ref().map(|c| match &c.unreadable {
        Some(why) => format!("certificate not readable as X.509 ({why})"),
        None => format!(
            "subject {}, names [{}], issuer {}, expires {}",
            c.subject,
            c.names.join(", "),
            c.issuer,
            c.not_after
        ),
    });
    let summary = match (&report.error, &cert) {
        (None, Some(c)) => format!(
            "verified {}: {c}",
            report.protocol.clone().unwrap_or_default()
        ),
        (None, None) => "verified".into(),
        (Some(e), Some(c)) => format!("{e}; {c}"),
        (Some(e), None) => e.clone(),
    };
    let mut s = Step::new(
        "tls",
        Some(target.name),
        Status::Pass,
        started,
        scrubber.scrub(&summary),
    );
    s.details = scrubbed(scrubber, serde_json::to_value(&report).unwrap_or_default());
    if report.verified {
        return s;
    }
    let hint = match report.failure {
        Some(TlsFailure::NameMismatch) => format!(
            "the certificate does not name {}: a custom DNS name in front of the endpoint cannot match its certificate; \
             use the endpoint's own name (vpce-... or the private DNS name), never turn verification off",
            target.shown
        ),
        Some(TlsFailure::UntrustedIssuer) => "no trusted CA issued this certificate: a TLS-inspecting proxy or a private CA is in the path; give its CA certificate in CABundle (or AWS_CA_BUNDLE)".into(),
        Some(TlsFailure::Expired) => "the certificate has expired or is not yet valid: check this machine's clock, then the certificate".into(),
        _ => "the TLS handshake failed: check that the port speaks HTTPS".into(),
    };
    s.fail_with(hint, ExitCode::Other)
}

/// A JSON value with every secret the scrubber knows replaced.
pub(crate) fn scrubbed(scrubber: &Scrubber, value: Value) -> Value {
    serde_json::from_str(&scrubber.scrub(&value.to_string())).unwrap_or(value)
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
