//! `invoke check` against the emulator in HTTPS mode, with a certificate for
//! a `vpce-...bedrock-runtime.us-west-2.vpce.amazonaws.com` name reached
//! through `--resolve` on loopback. Asserts on every step's status, on the
//! JSON, and on the emulator's record of which host and key each call used.

mod common;

use bedrock_emulator::identity::{
    DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN, DEMO_SECRET_KEY,
};
use bedrock_emulator::{EmulatorConfig, Faults};
use common::Dir;
use serde_json::Value;

const VPCE: &str = "vpce-0abc123def456-wxyz.bedrock-runtime.us-west-2.vpce.amazonaws.com";
const PUBLIC: &str = "bedrock-runtime.us-west-2.amazonaws.com";

fn emulator(names: &[&str], faults: Faults) -> common::Emu {
    common::start(EmulatorConfig {
        tls_names: Some(names.iter().map(|n| n.to_string()).collect()),
        faults,
        ..EmulatorConfig::default()
    })
}

/// A sealed config for mode 2 through the emulator's vpce name, with `extra`
/// lines replacing keys of the same name.
fn setup(emu: &common::Emu, extra: &[&str]) -> Dir {
    let d = Dir::new();
    d.write("ca.pem", emu.ca_pem.as_deref().unwrap());
    let sts = format!("STSEndpointURL = https://127.0.0.1:{}", emu.port);
    let mut lines = vec![
        sts.as_str(),
        "CABundle = ca.pem",
        "ModelID = anthropic.claude-3-haiku-20240307-v1:0",
    ];
    lines.extend_from_slice(extra);
    let vpce = format!("https://{VPCE}:{}", emu.port);
    common::sealed(&d, &common::access_keys_config(&vpce, &lines, ""));
    d
}

fn check(d: &Dir, args: &[&str], code: i32) -> Value {
    let resolve = format!("{VPCE}:127.0.0.1");
    let mut all = vec![
        "check",
        "--config",
        "config.properties",
        "--output",
        "json",
        "--max-attempts",
        "1",
        "--resolve",
        &resolve,
    ];
    all.extend_from_slice(args);
    let done = d.run("invoke").args(&all).code(code);
    let report: Value =
        serde_json::from_str(&done.stdout()).unwrap_or_else(|e| panic!("{e}\n{}", done.describe()));
    assert_eq!(report["exit_code"], code, "{report:#}");
    for s in [DEMO_SECRET_KEY, DEMO_ROLE_ARN, DEMO_EXTERNAL_ID, VPCE] {
        assert!(
            !done.all().contains(s),
            "secret {s:?} in output\n{}",
            done.describe()
        );
    }
    report
}

/// The statuses of the steps, as `step` or `step target`.
fn statuses(report: &Value) -> Vec<(String, String)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let name = match s["target"].as_str() {
                Some(t) => format!("{} {t}", s["step"].as_str().unwrap()),
                None => s["step"].as_str().unwrap().to_string(),
            };
            (name, s["status"].as_str().unwrap().to_string())
        })
        .collect()
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| match s["target"].as_str() {
            Some(t) => format!("{} {t}", s["step"].as_str().unwrap()) == name,
            None => s["step"] == name,
        })
        .unwrap_or_else(|| panic!("no step {name} in {report:#}"))
}

fn expect(report: &Value, expected: &[(&str, &str)]) {
    let got = statuses(report);
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want, "{report:#}");
}

#[test]
fn all_steps_pass() {
    let emu = emulator(&[VPCE], Faults::default());
    let control = format!("ControlPlaneEndpointURL = https://127.0.0.1:{}", emu.port);
    let d = setup(&emu, &[&control]);
    let r = check(&d, &[], 0);
    expect(
        &r,
        &[
            ("config", "pass"),
            ("dns bedrock", "pass"),
            ("tcp bedrock", "pass"),
            ("tls bedrock", "pass"),
            ("dns sts", "pass"),
            ("tcp sts", "pass"),
            ("tls sts", "pass"),
            ("identity", "pass"),
            ("access", "pass"),
            ("bedrock", "pass"),
        ],
    );
    let dns = step(&r, "dns bedrock");
    assert_eq!(dns["details"]["addresses"][0]["address"], "127.0.0.1");
    assert_eq!(dns["details"]["addresses"][0]["kind"], "loopback");
    let tls = step(&r, "tls bedrock");
    assert_eq!(tls["details"]["verified"], true);
    assert!(
        tls["details"]["certificate"]["issuer"]
            .as_str()
            .unwrap()
            .contains("local emulator CA")
    );
    let id = &step(&r, "identity")["details"];
    assert_eq!(
        id["source"]["arn"],
        "arn:aws:iam::111111111111:user/demo-user"
    );
    // The role's account is redacted as the role ARN is (tests/hardening_calls.rs).
    assert_eq!(id["assumed"]["account"], "2222********");
    assert_eq!(id["cross_account"], true);
    assert!(
        step(&r, "identity")["summary"]
            .as_str()
            .unwrap()
            .contains("cross-account: 111111111111 -> 2222********")
    );

    // The record: STS calls with the user's key, Bedrock with the session's, at the vpce name.
    let record = emu.record.entries();
    let bedrock: Vec<_> = record.iter().filter(|e| e.service == "bedrock").collect();
    assert_eq!(bedrock.len(), 1);
    assert_eq!(bedrock[0].host, format!("{VPCE}:{}", emu.port));
    assert!(
        bedrock[0]
            .access_key_id
            .as_deref()
            .unwrap()
            .starts_with("ASIA")
    );
    assert!(record.iter().any(
        |e| e.operation == "AssumeRole" && e.access_key_id.as_deref() == Some(DEMO_ACCESS_KEY)
    ));
    assert_eq!(
        record
            .iter()
            .filter(|e| e.operation == "GetCallerIdentity")
            .count(),
        2
    );

    // The text report says the same.
    let text = d
        .run("invoke")
        .args([
            "check",
            "--config",
            "config.properties",
            "--resolve",
            &format!("{VPCE}:127.0.0.1"),
        ])
        .env("NO_COLOR", "1")
        .ok();
    text.stdout_has("PASS  tls bedrock")
        .stdout_has("result: all steps passed");
    assert!(!text.stdout().contains('\x1b'), "no colour off a terminal");
}

#[test]
fn vpc_endpoint_of_another_region_fails_at_config() {
    let emu = emulator(&[VPCE], Faults::default());
    // Nothing may reach it: the check stops before any request.
    emu.expect_no_calls();
    let other = VPCE.replace("us-west-2", "eu-west-1");
    // encrypt-config refuses to seal it (the same rule), so it is plaintext.
    let d = Dir::new();
    d.write(
        "config.properties",
        &common::access_keys_config(&format!("https://{other}:{}", emu.port), &[], ""),
    );
    let r = check(&d, &[], 253);
    assert_eq!(statuses(&r)[0], ("config".into(), "fail".into()));
    assert!(
        step(&r, "config")["summary"]
            .as_str()
            .unwrap()
            .contains("region eu-west-1 but requests would be signed for us-west-2")
    );
    assert!(emu.record.entries().is_empty(), "nothing sent");
}

#[test]
fn a_public_address_fails_fast_with_require_private() {
    let emu = emulator(&[VPCE], Faults::default());
    // Nothing may reach it: the check stops before any request.
    emu.expect_no_calls();
    let d = setup(&emu, &[]);
    // 52.94.0.1 is in a public range; it is never contacted.
    let done = d
        .run("invoke")
        .args([
            "check",
            "--config",
            "config.properties",
            "--output",
            "json",
            "--require-private",
            "--resolve",
            &format!("{VPCE}:52.94.0.1"),
        ])
        .code(250);
    let r: Value = serde_json::from_str(&done.stdout()).unwrap();
    let dns = step(&r, "dns bedrock");
    assert_eq!(dns["status"], "fail");
    assert_eq!(dns["details"]["addresses"][0]["kind"], "public");
    assert!(
        dns["hint"]
            .as_str()
            .unwrap()
            .contains("the traffic would leave the VPC")
    );
    // Fixed: this asserted `all(skip)` over a slice that could be empty, so
    // it held when no step followed at all.
    let names: Vec<(String, String)> = statuses(&r);
    let expected: Vec<(String, String)> = [
        ("config", "pass"),
        ("dns bedrock", "fail"),
        ("tcp", "skip"),
        ("tls", "skip"),
        ("identity", "skip"),
        ("bedrock", "skip"),
    ]
    .iter()
    .map(|(n, s)| (n.to_string(), s.to_string()))
    .collect();
    assert_eq!(names, expected, "{r:#}");
}

#[test]
fn certificate_for_another_name() {
    let emu = emulator(&["some-other-name.example.test"], Faults::default());
    // Nothing may reach it: the check stops before any request.
    emu.expect_no_calls();
    let d = setup(&emu, &[]);
    let r = check(&d, &[], 255);
    let tls = step(&r, "tls bedrock");
    assert_eq!(tls["status"], "fail");
    assert_eq!(tls["details"]["failure"], "name-mismatch");
    // The names come from the certificate, escaped, not from rustls's
    // words, which quote them as they are.
    let error = tls["details"]["error"].as_str().unwrap();
    assert!(error.contains("it does not name"), "{error}");
    assert!(!error.contains("some-other-name"), "{error}");
    assert!(
        tls["details"]["certificate"]["names"]
            .to_string()
            .contains("some-other-name.example.test")
    );
    assert!(
        tls["hint"]
            .as_str()
            .unwrap()
            .contains("use the endpoint's own name")
    );
    assert_eq!(step(&r, "identity")["status"], "skip");
}

#[test]
fn untrusted_ca() {
    let emu = emulator(&[VPCE], Faults::default());
    // Nothing may reach it: the check stops before any request.
    emu.expect_no_calls();
    let d = setup(&emu, &["CABundle ="]);
    let r = check(&d, &[], 255);
    let tls = step(&r, "tls bedrock");
    assert_eq!(tls["details"]["failure"], "untrusted-issuer");
    assert!(tls["hint"].as_str().unwrap().contains("CABundle"));
}

#[test]
fn assume_role_denied_for_a_wrong_external_id() {
    let emu = emulator(&[VPCE], Faults::default());
    let d = setup(&emu, &["ExternalId = not-the-external-id"]);
    let r = check(&d, &[], 254);
    let id = step(&r, "identity");
    assert_eq!(id["status"], "fail");
    assert!(
        id["summary"]
            .as_str()
            .unwrap()
            .starts_with("STS: AccessDenied")
    );
    assert!(
        id["hint"]
            .as_str()
            .unwrap()
            .contains("arn:aws:iam::111111111111:user/demo-user may not assume")
    );
    assert_eq!(step(&r, "bedrock")["status"], "skip");
}

#[test]
fn a_model_the_role_may_not_invoke() {
    let emu = emulator(&[VPCE], Faults::default());
    let d = setup(
        &emu,
        &[
            "AssumeRoleARN = arn:aws:iam::222222222222:role/BedrockTitanOnly",
            "ExternalId =",
        ],
    );
    let r = check(&d, &[], 254);
    assert_eq!(step(&r, "identity")["status"], "pass");
    let b = step(&r, "bedrock");
    assert!(
        b["summary"]
            .as_str()
            .unwrap()
            .starts_with("Bedrock: AccessDeniedException")
    );
    assert!(
        b["hint"]
            .as_str()
            .unwrap()
            .contains("IAM policies do not allow")
    );
    // --no-invoke stops before it.
    let r = check(&d, &["--no-invoke"], 0);
    assert_eq!(step(&r, "bedrock")["status"], "skip");
}

#[test]
fn throttling_is_explained() {
    let emu = emulator(
        &[VPCE],
        Faults {
            throttle_first: 5,
            ..Faults::default()
        },
    );
    let d = setup(&emu, &[]);
    let r = check(&d, &[], 254);
    let b = step(&r, "bedrock");
    assert!(
        b["summary"]
            .as_str()
            .unwrap()
            .contains("ThrottlingException")
    );
    assert!(b["hint"].as_str().unwrap().contains("quota"));
}

#[test]
fn a_tampered_config_fails_at_config() {
    let emu = emulator(&[VPCE], Faults::default());
    // Nothing may reach it: the check stops before any request.
    emu.expect_no_calls();
    let d = setup(&emu, &[]);
    let text = d
        .read("config.properties")
        .replace("Region = us-west-2", "Region = us-east-1");
    d.write("config.properties", &text);
    let r = check(&d, &[], 251);
    assert!(
        step(&r, "config")["summary"]
            .as_str()
            .unwrap()
            .contains("integrity check failed")
    );
    assert!(emu.record.entries().is_empty());
}

#[test]
fn compare_public_shows_both_paths() {
    let emu = emulator(&[VPCE, PUBLIC], Faults::default());
    let d = setup(&emu, &[]);
    let args = |extra: &[&str]| {
        let mut a = vec![
            "check".to_string(),
            "--config".into(),
            "config.properties".into(),
            "--output".into(),
            "json".into(),
            "--compare-public".into(),
            "--max-attempts".into(),
            "1".into(),
            "--resolve".into(),
            format!("{VPCE}:127.0.0.1"),
            "--resolve".into(),
            format!("{PUBLIC}:127.0.0.1"),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // The public name pointed at the emulator too: both paths work, which
    // means nothing restricts these credentials to the VPC endpoint.
    let done = d
        .run("invoke")
        .env(
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            &format!("https://{PUBLIC}:{}", emu.port),
        )
        .args(args(&[]))
        .ok();
    let r: Value = serde_json::from_str(&done.stdout()).unwrap();
    let public = step(&r, "public");
    assert_eq!(public["status"], "warn", "{r:#}");
    assert!(
        public["summary"]
            .as_str()
            .unwrap()
            .starts_with("VPC endpoint: ok in"),
        "{r:#}"
    );
    assert!(
        public["summary"]
            .as_str()
            .unwrap()
            .contains("; endpoint from AWS_ENDPOINT_URL_BEDROCK_RUNTIME: ok in"),
        "{r:#}"
    );
    assert!(
        public["hint"]
            .as_str()
            .unwrap()
            .contains("no aws:SourceVpce condition")
    );
    let hosts: Vec<String> = emu
        .record
        .entries()
        .into_iter()
        .filter(|e| e.service == "bedrock")
        .map(|e| e.host)
        .collect();
    assert_eq!(
        hosts,
        [
            format!("{VPCE}:{}", emu.port),
            format!("{PUBLIC}:{}", emu.port)
        ]
    );

    // The real public endpoint (port 443) does not answer here: only the VPC path works.
    let done = d.run("invoke").args(args(&[])).ok();
    let r: Value = serde_json::from_str(&done.stdout()).unwrap();
    let public = step(&r, "public");
    assert_eq!(public["status"], "pass", "{r:#}");
    // Refused, unresolved or timed out: how it fails depends on the
    // machine's network, not on the tool.
    let summary = public["summary"].as_str().unwrap();
    assert!(
        [
            "ConnectionFailed",
            "ConnectionRefused",
            "DnsFailed",
            "ConnectTimeout",
            "ProxyFailed"
        ]
        .iter()
        .any(|code| summary.contains(&format!("public endpoint: {code}"))),
        "{r:#}"
    );
    assert!(
        public["hint"]
            .as_str()
            .unwrap()
            .contains("only the VPC endpoint works")
    );
}

#[test]
fn load_mode_reports_distribution_errors_and_cost() {
    let emu = emulator(
        &[VPCE],
        Faults {
            throttle_first: 2,
            ..Faults::default()
        },
    );
    let d = setup(&emu, &[]);
    // --no-invoke: the load's first two calls meet the throttling, unretried.
    let r = check(
        &d,
        &["--no-invoke", "--repeat", "40", "--concurrency", "8"],
        0,
    );
    let load = step(&r, "load");
    assert_eq!(load["details"]["requests"], 40);
    assert_eq!(load["details"]["concurrency"], 8);
    assert_eq!(load["details"]["ok"], 38);
    assert_eq!(load["details"]["errors"]["ThrottlingException"], 2);
    assert_eq!(load["status"], "warn");
    assert!(
        load["hint"]
            .as_str()
            .unwrap()
            .contains("ThrottlingException 2")
    );
    for p in ["p50", "p90", "p99", "max"] {
        assert!(
            load["details"]["latency_ms"][p].as_f64().unwrap() > 0.0,
            "{p}: {load:#}"
        );
    }
    assert!(load["details"]["requests_per_second"].as_f64().unwrap() > 0.0);
    assert!(
        load["details"]["client_cpu_us_per_request"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // One set of credentials for all calls.
    let bedrock: Vec<_> = emu
        .record
        .entries()
        .into_iter()
        .filter(|e| e.service == "bedrock")
        .collect();
    assert_eq!(bedrock.len(), 40);
    assert!(
        bedrock
            .windows(2)
            .all(|w| w[0].access_key_id == w[1].access_key_id)
    );
}

/// A mode 0 config that works needs no STS, and neither does its check
/// (fixed: check failed when STS could not be reached, while invoke
/// worked): IMDS is a step of its own, and the identity is the instance
/// role's credentials.
#[test]
fn the_instance_role_is_checked_through_imds_without_sts() {
    let emu = emulator(&[VPCE], Faults::default());
    let d = Dir::new();
    d.write("ca.pem", emu.ca_pem.as_deref().unwrap());
    common::sealed(
        &d,
        &format!(
            "[default]\nGetCredentialsFrom = 0\nRegion = us-west-2\nUseVPCe = true\nVPCEndpointURL = https://{VPCE}:{}\nCABundle = ca.pem\nModelID = anthropic.claude-3-haiku-20240307-v1:0\n",
            emu.port
        ),
    );
    let resolve = format!("{VPCE}:127.0.0.1");
    let done = d
        .run("invoke")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &emu.base_url)
        .args([
            "check",
            "--config",
            "config.properties",
            "--output",
            "json",
            "--resolve",
            &resolve,
        ])
        .ok();
    let r: Value = serde_json::from_str(&done.stdout()).unwrap();
    let imds = step(&r, "imds");
    assert_eq!(imds["status"], "pass", "{r:#}");
    assert!(
        imds["summary"]
            .as_str()
            .unwrap()
            .contains("WorkshopInstanceRole"),
        "{r:#}"
    );
    let identity = step(&r, "identity");
    assert_eq!(identity["status"], "pass", "{r:#}");
    assert!(
        identity["summary"]
            .as_str()
            .unwrap()
            .contains("no STS call"),
        "{r:#}"
    );
    assert_eq!(step(&r, "bedrock")["status"], "pass", "{r:#}");
    assert!(
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["target"] != "sts"),
        "no STS hop probed: {r:#}"
    );
    assert!(emu.record.entries().iter().all(|e| e.service != "sts"));

    // IMDS that does not answer fails its own step, with its hint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let done = d
        .run("invoke")
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            &format!("http://127.0.0.1:{closed}"),
        )
        .args([
            "check",
            "--config",
            "config.properties",
            "--output",
            "json",
            "--resolve",
            &resolve,
        ])
        .output();
    assert_ne!(done.output.status.code(), Some(0));
    let r: Value = serde_json::from_str(&done.stdout()).unwrap();
    let imds = step(&r, "imds");
    assert_eq!(imds["status"], "fail", "{r:#}");
    assert!(
        imds["hint"]
            .as_str()
            .unwrap()
            .contains("instance metadata service"),
        "{r:#}"
    );
    assert_eq!(step(&r, "identity")["status"], "skip", "{r:#}");
}

/// A CONNECT proxy on loopback that sends every tunnel to `upstream`, and
/// counts them.
fn connect_proxy(upstream: u16) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut client = client;
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let mut server = server;
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut s2);
                });
                let _ = std::io::copy(&mut server, &mut client);
            });
        }
    });
    (port, count)
}

/// With HTTPS_PROXY set, check says which hops go through the proxy and
/// tests the proxy (its name, a connection, a CONNECT tunnel) for those,
/// as the calls will use it; a proxy that is not there fails that step
/// with its own hint, and NO_PROXY takes a host off the proxy.
#[test]
fn check_follows_the_https_proxy() {
    let emu = emulator(&[VPCE], Faults::default());
    let d = setup(&emu, &[]);
    let (proxy, tunnels) = connect_proxy(emu.port);
    let run = |proxy_url: &str, no_proxy: &str, code: i32| {
        let resolve = format!("{VPCE}:127.0.0.1");
        let done = d
            .run("invoke")
            .env("HTTPS_PROXY", proxy_url)
            .env("NO_PROXY", no_proxy)
            .args([
                "check",
                "--config",
                "config.properties",
                "--output",
                "json",
                "--max-attempts",
                "1",
                "--resolve",
                &resolve,
            ])
            .code(code);
        serde_json::from_str::<Value>(&done.stdout()).unwrap()
    };
    let r = run(&format!("http://127.0.0.1:{proxy}"), "", 0);
    let dns = step(&r, "dns bedrock");
    assert!(
        dns["summary"]
            .as_str()
            .unwrap()
            .contains("goes through the HTTPS proxy 127.0.0.1:"),
        "{r:#}"
    );
    assert!(
        step(&r, "tcp bedrock")["summary"]
            .as_str()
            .unwrap()
            .contains("opened a tunnel"),
        "{r:#}"
    );
    assert_eq!(step(&r, "bedrock")["status"], "pass", "{r:#}");
    assert!(
        tunnels.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "the check and the call used the proxy"
    );

    // A proxy that is not there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = run(&format!("http://127.0.0.1:{closed}"), "", 255);
    let tcp = step(&r, "tcp bedrock");
    assert_eq!(tcp["status"], "fail", "{r:#}");
    assert!(tcp["hint"].as_str().unwrap().contains("NO_PROXY"), "{r:#}");

    // NO_PROXY takes the endpoints off the proxy (the Bedrock one by name,
    // STS by address): the direct path, as before.
    let r = run(
        &format!("http://127.0.0.1:{closed}"),
        &format!("{VPCE},127.0.0.1"),
        0,
    );
    assert!(
        !step(&r, "dns bedrock")["summary"]
            .as_str()
            .unwrap()
            .contains("proxy"),
        "{r:#}"
    );
}

/// Model access is asked of the control plane the config names, before the
/// call: a model the account was not granted fails there, with the reason;
/// without ControlPlaneEndpointURL nothing is sent to a public endpoint.
#[test]
fn model_access_is_checked_through_the_configured_control_plane() {
    let emu = common::start(EmulatorConfig {
        tls_names: Some(vec![VPCE.to_string()]),
        directory: bedrock_emulator::identity::Directory {
            no_model_access: vec!["anthropic.claude-3-haiku-*".into()],
            ..Default::default()
        },
        ..EmulatorConfig::default()
    });
    let control = format!("ControlPlaneEndpointURL = https://127.0.0.1:{}", emu.port);
    let d = setup(&emu, &[&control]);
    let r = check(&d, &["--no-invoke"], 254);
    let access = step(&r, "access");
    assert_eq!(access["status"], "fail", "{r:#}");
    assert!(
        access["summary"]
            .as_str()
            .unwrap()
            .contains("no model access"),
        "{access:#}"
    );
    assert!(
        access["hint"]
            .as_str()
            .unwrap()
            .contains("models --available")
    );

    let d = setup(&emu, &[]);
    let before = emu.record.entries().len();
    let r = check(&d, &["--no-invoke"], 0);
    assert_eq!(step(&r, "access")["status"], "skip");
    assert!(
        emu.record.entries()[before..]
            .iter()
            .all(|e| e.service != "bedrock-control")
    );
}

/// A port with nothing listening is refused, an answer: the tcp step says
/// nothing listens there, not that a security group drops the traffic.
#[test]
fn a_closed_port_is_named_as_such() {
    let emu = emulator(&[VPCE], Faults::default());
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = setup(&emu, &[]);
    emu.expect_no_calls();
    let vpce = format!("https://{VPCE}:{closed}");
    let done = d
        .run("invoke")
        .args(["check", "--config", "config.properties", "--output", "json"])
        .args(["--resolve", &format!("{VPCE}:127.0.0.1")])
        .args(["--endpoint-url", &vpce])
        .code(255);
    let r: Value = serde_json::from_str(&done.stdout()).unwrap();
    let tcp = step(&r, "tcp bedrock");
    assert_eq!(tcp["status"], "fail", "{r:#}");
    assert!(
        tcp["summary"]
            .as_str()
            .unwrap()
            .ends_with("connection refused")
    );
    assert!(
        tcp["hint"]
            .as_str()
            .unwrap()
            .starts_with("nothing is listening at 127.0.0.1:"),
        "{tcp:#}"
    );
    assert!(!tcp["hint"].as_str().unwrap().contains("security group"));
}
