//! Calls that must not hang or mislead: stalled streams bounded by
//! `--read-timeout`, and the credentials a Bedrock call really carries.

mod common;

use bedrock_emulator::identity::{
    DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN, DEMO_SECRET_KEY,
};
use bedrock_emulator::{EmulatorConfig, Faults};
use common::Dir;
use std::time::{Duration, Instant};

const NETWORK: i32 = 255;

use common::emulator;

/// A sealed mode 2 config through the emulator as VPC and STS endpoint, and
/// an InvokeModel body beside it.
fn config(d: &Dir, url: &str) {
    config_with(d, url, &[]);
    d.write(
        "body.json",
        include_str!("../prompts/bodies/anthropic-messages.json"),
    );
}

/// Every call shape: Converse and InvokeModel, streaming or not.
const SHAPES: [&[&str]; 4] = [
    &["--prompt", "tell me about PrivateLink"],
    &["--prompt", "tell me about PrivateLink", "--no-stream"],
    &["--body", "body.json"],
    &["--body", "body.json", "--no-stream"],
];

/// Before the fix a stream that stalled after its headers waited for as
/// long as the connection lived: `--read-timeout` did not reach it.
#[test]
fn a_stream_that_stalls_midway_ends_at_the_read_timeout() {
    let emu = emulator(Faults {
        stall_stream_after: Some(3),
        ..Faults::default()
    });
    let d = Dir::new();
    config(&d, &emu.base_url);
    for shape in [SHAPES[0], SHAPES[2]] {
        let started = Instant::now();
        let done = d
            .run("invoke")
            .args(["--config", "config.properties", "--read-timeout", "1"])
            .args(shape)
            .code(NETWORK);
        done.stderr_has("Bedrock: ReadTimeout: no data for 1 s: the stream stalled after")
            .stderr_has("raise --read-timeout");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "ended in {:?}\n{}",
            started.elapsed(),
            done.describe()
        );
        // What had arrived before the stall stays printed, on its own line.
        let out = done.stdout();
        assert!(
            !out.is_empty() && out.ends_with('\n'),
            "{}",
            done.describe()
        );
    }
}

/// Before the fix a stream whose first event never came waited for as long
/// as the connection lived, and a no-stream call whose reply never started
/// (it starts only when the model has finished) was reported as
/// "ConnectTimeout" with a hint about DNS and security groups, and a Rust
/// Debug dump of the SDK error in the message.
#[test]
fn a_reply_that_never_starts_ends_at_the_read_timeout() {
    let emu = emulator(Faults {
        first_byte_delay: Duration::from_secs(60),
        ..Faults::default()
    });
    let d = Dir::new();
    config(&d, &emu.base_url);
    for shape in SHAPES {
        let started = Instant::now();
        let done = d
            .run("invoke")
            .args([
                "--config",
                "config.properties",
                "--read-timeout",
                "1",
                "--max-attempts",
                "1",
            ])
            .args(shape)
            .code(NETWORK);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{shape:?} ended in {:?}\n{}",
            started.elapsed(),
            done.describe()
        );
        done.stderr_has("Bedrock: ReadTimeout: no data for 1 s:");
        if shape.contains(&"--no-stream") {
            done.stderr_has("the reply did not start")
                .stderr_has("without streaming the reply starts only once the model has finished");
        }
        for wrong in ["ConnectTimeout", "DispatchFailure {", "security group"] {
            assert!(
                !done.stderr().contains(wrong),
                "{wrong:?}\n{}",
                done.describe()
            );
        }
    }
}

const CROSS_SESSION: &str = "arn:aws:sts::222222222222:assumed-role/BedrockCrossAccount/";
/// A Bedrock API key's shape; the emulator knows none, so it refuses it.
const API_KEY: &str = "ABSKQmVkcm9ja0FQSUtleS1oYXJkZW5pbmctdGVzdC10b2tlbi0wMDAx";

fn bedrock_calls(emu: &common::Emu) -> Vec<bedrock_emulator::RecordEntry> {
    emu.record
        .entries()
        .into_iter()
        .filter(|e| e.service == "bedrock")
        .collect()
}

/// Before the fix the SDK took `AWS_BEARER_TOKEN_BEDROCK` from the
/// environment and sent it in place of the SigV4 signature, while the tool
/// reported the config's credentials as the ones used.
#[test]
fn a_bearer_token_in_the_environment_is_sent_only_with_auth_bearer() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    config(&d, &emu.base_url);
    let invoke = |extra: &[&str]| {
        d.run("invoke")
            .env("AWS_BEARER_TOKEN_BEDROCK", API_KEY)
            .args(["--config", "config.properties", "--prompt", "hi"])
            .args(extra)
    };
    let mut outputs = Vec::new();

    // The default: SigV4 with the config's credentials, the token unsent.
    let done = invoke(&[]).ok();
    done.stderr_has("AWS_BEARER_TOKEN_BEDROCK is set and not sent (--auth bearer sends it)")
        .stderr_has("(key ASIA");
    let calls = bedrock_calls(&emu);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].auth.as_deref(), Some("sigv4"), "{calls:?}");
    assert!(
        calls[0]
            .caller
            .as_deref()
            .unwrap()
            .starts_with(CROSS_SESSION),
        "signed by the assumed role: {calls:?}"
    );
    outputs.push(done.all());
    let done = invoke(&["--output", "json"]).ok();
    let report: serde_json::Value = serde_json::from_str(&done.stdout()).unwrap();
    assert_eq!(report["credentials"]["auth"], "sigv4", "{report:#}");
    assert!(
        report["credentials"]["access_key_id"]
            .as_str()
            .unwrap()
            .starts_with("ASIA")
    );
    outputs.push(done.all());
    let done = invoke(&["--dry-run"]).ok();
    done.stdout_has("auth         SigV4 with the config's credentials; AWS_BEARER_TOKEN_BEDROCK is set and not sent");
    outputs.push(done.all());

    // Asked for: the token and nothing else, and no STS call for credentials
    // that would not be used.
    let done = invoke(&["--auth", "bearer", "--dry-run"]).ok();
    done.stdout_has("auth         bearer: the Bedrock API key in AWS_BEARER_TOKEN_BEDROCK")
        .stdout_has("credentials  not used (--auth bearer)");
    outputs.push(done.all());
    emu.record.clear();
    let done = invoke(&["--auth", "bearer"]).code(253);
    done.stderr_has("Bedrock: AccessDeniedException: Authentication failed")
        .stderr_has("the Bedrock API key in AWS_BEARER_TOKEN_BEDROCK was refused");
    let record = emu.record.entries();
    assert_eq!(record.len(), 1, "only the Bedrock call: {record:?}");
    assert_eq!(record[0].service, "bedrock");
    assert_eq!(record[0].auth.as_deref(), Some("bearer"));
    assert_eq!(record[0].access_key_id, None);
    outputs.push(done.all());

    // Asked for without a token: refused before anything is sent.
    emu.record.clear();
    d.run("invoke")
        .args([
            "--config",
            "config.properties",
            "--prompt",
            "hi",
            "--auth",
            "bearer",
        ])
        .code(252)
        .stderr_has("--auth bearer: AWS_BEARER_TOKEN_BEDROCK is not set");
    assert!(emu.record.entries().is_empty());

    // The token is never shown, nor recorded.
    for out in outputs {
        assert!(!out.contains(API_KEY), "the token in output:\n{out}");
    }
    let record = serde_json::to_string(&emu.record.entries()).unwrap();
    assert!(!record.contains(API_KEY));
}

const VPCE_HOST: &str = "vpce-0abc123def456-wxyz.bedrock-runtime.us-west-2.vpce.amazonaws.com";
const VPCE_STS_HOST: &str = "vpce-0fedcba987654321-zyxwvuts.sts.us-west-2.vpce.amazonaws.com";
const VPCE_FLAG_HOST: &str =
    "vpce-0123456789abcdef-abcd.bedrock-runtime.us-west-2.vpce.amazonaws.com";
/// What must never appear: the endpoint ids and the role's account.
const RAW: [&str; 4] = [
    "0abc123def456",
    "0fedcba987654321",
    "0123456789abcdef",
    "222222222222",
];

/// A sealed mode 2 config with `extra` lines replacing the keys of the same name.
fn config_with(d: &Dir, url: &str, extra: &[&str]) {
    let mut extra = extra.to_vec();
    extra.insert(0, "ModelID = anthropic.claude-3-haiku-20240307-v1:0");
    common::sealed(d, &common::access_keys_config(url, &extra, ""));
}

fn assert_nothing_raw(done: &common::Done) {
    for raw in RAW {
        assert!(
            !done.all().contains(raw),
            "{raw:?} shown raw\n{}",
            done.describe()
        );
    }
}

/// Before the fix the hints of a failed call named the VPC endpoint's host
/// in full ("cannot reach vpce-0abc123def456-wxyz...") while the rest of the
/// output masked it, and AWS's messages named the assumed role's session
/// with its account.
#[test]
fn invoke_failures_show_hosts_and_identities_by_the_one_rule() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    let run = |extra: &[&str]| {
        d.run("invoke")
            .args([
                "--config",
                "config.properties",
                "--prompt",
                "hi",
                "--max-attempts",
                "1",
                "--connect-timeout",
                "2",
            ])
            .args(extra)
    };

    // A Bedrock VPC endpoint that does not resolve here.
    config_with(
        &d,
        &emu.base_url,
        &[&format!("VPCEndpointURL = https://{VPCE_HOST}")],
    );
    let done = run(&[]).code(NETWORK);
    done.stderr_has("Bedrock: DnsFailed: vpce-0ab*").stderr_has(
        "likely cause: check the name; a VPC endpoint's own DNS names resolve only inside its VPC",
    );
    assert_nothing_raw(&done);

    // An STS VPC endpoint that does not resolve here.
    config_with(
        &d,
        &emu.base_url,
        &[&format!("STSEndpointURL = https://{VPCE_STS_HOST}")],
    );
    let done = run(&[]).code(NETWORK);
    done.stderr_has("STS: DnsFailed: vpce-0fe*");
    assert_nothing_raw(&done);

    // A VPC endpoint given on the command line.
    config_with(&d, &emu.base_url, &[]);
    let done = run(&["--endpoint-url", &format!("https://{VPCE_FLAG_HOST}")]).code(NETWORK);
    done.stderr_has("vpce-012*");
    assert_nothing_raw(&done);

    // AWS names the assumed role's session, and its account, when it refuses a call.
    config_with(
        &d,
        &emu.base_url,
        &[
            "AssumeRoleARN = arn:aws:iam::222222222222:role/BedrockTitanOnly",
            "ExternalId =",
        ],
    );
    let done = run(&[]).code(254);
    done.stderr_has(
        "Bedrock: AccessDeniedException: User: arn:aws:sts::2222********:assumed-role/.../bedrock-private-",
    );
    assert_nothing_raw(&done);
}

/// Before the fix `invoke check` showed the assumed role's ARN and account
/// in full, while every other line redacted the role ARN.
#[test]
fn check_shows_the_assumed_role_by_the_one_rule_and_signs_with_sigv4() {
    let emu = common::start(EmulatorConfig {
        tls_names: Some(vec![VPCE_HOST.to_string()]),
        ..EmulatorConfig::default()
    });
    let d = Dir::new();
    d.write("ca.pem", emu.ca_pem.as_deref().unwrap());
    let loopback = format!("https://127.0.0.1:{}", emu.port);
    let check = |extra: &[&str], code: i32| {
        d.run("invoke")
            .env("AWS_BEARER_TOKEN_BEDROCK", API_KEY)
            .args([
                "check",
                "--config",
                "config.properties",
                "--max-attempts",
                "1",
                "--resolve",
                &format!("{VPCE_HOST}:127.0.0.1"),
            ])
            .args(extra)
            .code(code)
    };
    let vpce = format!("VPCEndpointURL = https://{VPCE_HOST}:{}", emu.port);
    config_with(&d, &loopback, &[&vpce, "CABundle = ca.pem"]);
    for extra in [&[][..], &["--output", "json"][..]] {
        let done = check(extra, 0);
        assert_nothing_raw(&done);
        assert!(!done.all().contains(API_KEY));
    }
    let done = check(&[], 0);
    done.stdout_has("assumed arn:aws:sts::2222********:assumed-role/.../bedrock-private-")
        .stdout_has("cross-account: 111111111111 -> 2222********");
    // The Bedrock step was signed by the role it reports, the token unsent.
    let calls = bedrock_calls(&emu);
    assert!(!calls.is_empty());
    for c in &calls {
        assert_eq!(c.auth.as_deref(), Some("sigv4"), "{calls:?}");
        assert!(c.caller.as_deref().unwrap().starts_with(CROSS_SESSION));
    }

    // A failing Bedrock step, whose message names the session.
    config_with(
        &d,
        &loopback,
        &[
            &vpce,
            "CABundle = ca.pem",
            "AssumeRoleARN = arn:aws:iam::222222222222:role/BedrockTitanOnly",
            "ExternalId =",
        ],
    );
    let done = check(&[], 254);
    done.stdout_has("AccessDeniedException");
    assert_nothing_raw(&done);
}

/// Before the fix a relative `CABundle` missing beside the config was looked
/// for in the working folder, so whatever bundle lay there decided which
/// servers were trusted.
#[test]
fn a_relative_ca_bundle_is_relative_to_the_config_only() {
    let emu = common::start(EmulatorConfig {
        tls_names: Some(vec![]),
        ..EmulatorConfig::default()
    });
    let other = common::start(EmulatorConfig {
        tls_names: Some(vec![]),
        ..EmulatorConfig::default()
    });
    // Its CA lies in the working folder, where no bundle is looked for.
    other.expect_no_calls();
    let d = Dir::new();
    std::fs::create_dir(d.join("conf")).unwrap();
    // The working folder holds a bundle that would work, under the same name.
    d.write("ca.pem", emu.ca_pem.as_deref().unwrap());
    d.write(
        "conf/plain.properties",
        &format!(
            "[default]\nUseVPCe = true\nGetCredentialsFrom = 2\nRegion = us-west-2\n\
             AccessKey = {DEMO_ACCESS_KEY}\nSecretKey = {DEMO_SECRET_KEY}\nAssumeRoleARN = {DEMO_ROLE_ARN}\n\
             ExternalId = {DEMO_EXTERNAL_ID}\nVPCEndpointURL = {0}\nSTSEndpointURL = {0}\n\
             CABundle = ca.pem\nModelID = anthropic.claude-3-haiku-20240307-v1:0\n",
            emu.base_url
        ),
    );
    d.run("encrypt-config")
        .args(["conf/plain.properties", "-o", "conf/config.properties"])
        .ok();
    let invoke = |args: &[&str]| {
        d.run("invoke").args(args).args([
            "--config",
            "conf/config.properties",
            "--max-attempts",
            "1",
        ])
    };

    // Not beside the config: an error naming the path it resolved to.
    for args in [&["--prompt", "hi"][..], &["check", "--output", "json"][..]] {
        let done = invoke(args).code(253);
        assert!(
            done.all()
                .contains("[default] CABundle: no file conf/ca.pem (a relative path is relative to the config's folder)"),
            "{}",
            done.describe()
        );
        assert!(emu.record.entries().is_empty(), "nothing sent");
    }

    // Beside the config: that one, whatever the working folder holds.
    d.write("conf/ca.pem", emu.ca_pem.as_deref().unwrap());
    d.write("ca.pem", other.ca_pem.as_deref().unwrap());
    invoke(&["--prompt", "hi"]).ok();
    invoke(&["check"]).ok();
    assert!(!bedrock_calls(&emu).is_empty());
}

/// Each failure a new user meets first reads as one line of what happened
/// and one of what to do, with no Rust `Debug` text: a dead proxy is named
/// (without its password), nothing listening is "connection refused", and
/// mode 1 with nothing to start from names the chain and what it tried.
#[test]
fn first_hour_failures_read_as_plain_lines() {
    let emu = emulator(Faults::default());
    let debug_marks = [
        "DispatchFailure {",
        "ConnectorError {",
        "ProviderChainError",
        "Some(",
        "source: ",
    ];
    let plain = |done: &common::Done| {
        for mark in debug_marks {
            assert!(!done.all().contains(mark), "{mark:?}\n{}", done.describe());
        }
        let error_lines = done
            .stderr()
            .lines()
            .filter(|l| l.starts_with("invoke: error:") || l.starts_with("  likely cause:"))
            .count();
        assert_eq!(error_lines, 2, "{}", done.describe());
    };

    // A proxy that is not there, on the way to the public endpoint.
    let d = Dir::new();
    common::sealed(
        &d,
        &common::access_keys_config(
            &emu.base_url,
            &[],
            "\n[models]\nTitan = amazon.titan-text-express-v1\n",
        ),
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let done = d
        .run("invoke")
        .env(
            "HTTPS_PROXY",
            &format!("http://proxyuser:proxy-password@127.0.0.1:{closed}"),
        )
        .args([
            "--config",
            "config.properties",
            "--prompt",
            "hi",
            "--model",
            "Titan",
            "--max-attempts",
            "1",
            "--endpoint-url",
            "https://bedrock-runtime.us-west-2.amazonaws.com",
        ])
        .code(NETWORK);
    done.stderr_has(&format!(
        "Bedrock: ProxyFailed: the HTTPS proxy 127.0.0.1:{closed} (from HTTPS_PROXY) refused the connection"
    ))
    .stderr_has("exclude")
    .stderr_has("NO_PROXY");
    assert!(
        !done.all().contains("proxy-password"),
        "{}",
        done.describe()
    );
    plain(&done);

    // Mode 1 with no ambient credentials at all.
    let d = Dir::new();
    common::sealed(
        &d,
        &format!(
            "[default]\nGetCredentialsFrom = assume-role\nAssumeRoleARN = {DEMO_ROLE_ARN}\nRegion = us-west-2\nUseVPCe = true\nVPCEndpointURL = {url}\nSTSEndpointURL = {url}\nModelID = amazon.titan-text-express-v1\n",
            url = emu.base_url
        ),
    );
    let done = d
        .run("invoke")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "--config",
            "config.properties",
            "--prompt",
            "hi",
            "--no-cache",
        ])
        .code(253);
    done.stderr_has(
        "AWS credential chain: CredentialsNotLoaded: no credentials found; tried Environment",
    )
    .stderr_has("Ec2InstanceMetadata (IMDS disabled")
    .stderr_has("likely cause: no source of credentials is set up here");
    assert!(!done.stderr().contains("IMDS: "), "{}", done.describe());
    plain(&done);
}

/// A profile that does not exist is an error naming the profiles there,
/// not a silent fall-through to whatever else the chain finds; --profile
/// wins over the config's Profile, as the AWS CLI orders them.
#[test]
fn profiles_must_exist_and_the_flag_wins() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    std::fs::create_dir(d.join(".aws")).unwrap();
    d.write(
        ".aws/credentials",
        &format!("[workshop]\naws_access_key_id = {DEMO_ACCESS_KEY}\naws_secret_access_key = {DEMO_SECRET_KEY}\n"),
    );
    d.write(".aws/config", "[profile other]\nregion = us-west-2\n");
    common::sealed(
        &d,
        &format!(
            "[default]\nGetCredentialsFrom = default-chain\nProfile = nosuch\nRegion = us-west-2\nUseVPCe = true\nVPCEndpointURL = {}\nModelID = amazon.titan-text-express-v1\n",
            emu.base_url
        ),
    );
    let run = |extra: &[&str]| {
        d.run("invoke")
            .args(["--config", "config.properties", "--prompt", "hi"])
            .args(extra)
    };
    let done = run(&[]).code(253);
    done.stderr_has("Profile")
        .stderr_has("no profile nosuch in the AWS config and credentials files")
        .stderr_has("those there:")
        .stderr_has("workshop");
    run(&["--profile", "missing"])
        .code(252)
        .stderr_has("--profile missing: no profile missing");
    // The flag names one that exists: it is used (the user's keys, which
    // may invoke nothing: the emulator's refusal proves they were sent).
    let done = run(&["--profile", "workshop"]).output();
    done.stderr_has("profile workshop");
    assert!(
        emu.record
            .entries()
            .iter()
            .any(|e| e.access_key_id.as_deref() == Some(DEMO_ACCESS_KEY)),
        "{}",
        done.describe()
    );
}

/// AWS_MAX_ATTEMPTS sets the attempts when --max-attempts does not.
#[test]
fn aws_max_attempts_is_honoured() {
    let emu = emulator(Faults {
        throttle_first: 1,
        ..Faults::default()
    });
    let d = Dir::new();
    common::sealed(
        &d,
        &common::access_keys_config(
            &emu.base_url,
            &[],
            "\n[models]\nTitan = amazon.titan-text-express-v1\n",
        ),
    );
    let run = || {
        d.run("invoke").args([
            "--config",
            "config.properties",
            "--prompt",
            "hi",
            "--model",
            "Titan",
        ])
    };
    run()
        .env("AWS_MAX_ATTEMPTS", "1")
        .code(254)
        .stderr_has("ThrottlingException");
    run().env("AWS_MAX_ATTEMPTS", "2").ok();
    run()
        .env("AWS_MAX_ATTEMPTS", "eleven")
        .code(252)
        .stderr_has("AWS_MAX_ATTEMPTS=eleven");
    run()
        .env("AWS_RETRY_MODE", "sometimes")
        .code(252)
        .stderr_has("AWS_RETRY_MODE=sometimes");
}

/// Mistakes a new user made, each read as one or two plain lines with the
/// right exit code, found before any call where they can be: an IMDS
/// endpoint that is not a URL, IMDS not listening, a TLS client at a
/// plain-HTTP port and the other way round, AWS_PROFILE naming no profile,
/// an MFA code that is not six digits (never echoed), files a flag names,
/// a folder that does not exist for --save, and flag errors with --output
/// json.
#[test]
fn mistakes_a_new_user_makes_are_caught_early_and_named() {
    let emu = emulator(Faults::default());
    let debug_marks = [
        "Request {",
        "SdkBody",
        "DispatchFailure",
        "Some(",
        "source: ",
    ];
    let plain = |done: &common::Done| {
        for mark in debug_marks {
            assert!(!done.all().contains(mark), "{mark:?}\n{}", done.describe());
        }
    };
    let bedrock_calls = || {
        emu.record
            .entries()
            .iter()
            .filter(|e| e.service == "bedrock")
            .count()
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let instance_role = |d: &Dir| {
        common::sealed(
            d,
            &format!(
                "[default]\nGetCredentialsFrom = instance-role\nRegion = us-west-2\nUseVPCe = true\nVPCEndpointURL = {}\nModelID = amazon.titan-text-express-v1\n",
                emu.base_url
            ),
        )
    };
    let d = Dir::new();
    instance_role(&d);
    let run = |d: &Dir| {
        d.run("invoke")
            .args(["--config", "config.properties", "--prompt", "hi"])
    };

    // An IMDS endpoint that is not a URL: a usage error naming it.
    let done = run(&d)
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "garbage")
        .code(252);
    done.stderr_has("AWS_EC2_METADATA_SERVICE_ENDPOINT=garbage: expected a URL");
    plain(&done);

    // IMDS not listening: a network failure (255) naming where it was asked.
    let done = run(&d)
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            &format!("http://127.0.0.1:{closed}"),
        )
        .code(NETWORK);
    done.stderr_has(&format!(
        "IMDS: ImdsUnavailable: the instance metadata service at http://127.0.0.1:{closed} refused the connection"
    ));
    plain(&done);

    // HTTPS to a plain-HTTP port, and plain HTTP to an HTTPS port.
    let tls = common::start(EmulatorConfig {
        tls_names: Some(vec![]),
        ..EmulatorConfig::default()
    });
    // Plain HTTP never gets past its TLS listener: no request is recorded.
    tls.expect_no_calls();
    let d = Dir::new();
    config_with(&d, &emu.base_url, &[]);
    let https_at_http = emu.base_url.replace("http://", "https://");
    let done = d
        .run("invoke")
        .args([
            "--config",
            "config.properties",
            "--prompt",
            "hi",
            "--no-cache",
        ])
        .args(["--max-attempts", "1", "--endpoint-url", &https_at_http])
        .code(NETWORK);
    done.stderr_has("the port speaks HTTP, not HTTPS");
    plain(&done);
    let http_at_https = tls.base_url.replace("https://", "http://");
    let done = d
        .run("invoke")
        .args(["--config", "config.properties", "--prompt", "hi"])
        .args(["--max-attempts", "1", "--endpoint-url", &http_at_https])
        .code(NETWORK);
    done.stderr_has("use https://");
    plain(&done);

    // A CA bundle that does not hold the endpoint's CA says so.
    let other = common::start(EmulatorConfig {
        tls_names: Some(vec![]),
        ..EmulatorConfig::default()
    });
    other.expect_no_calls();
    let d = Dir::new();
    d.write("other-ca.pem", other.ca_pem.as_deref().unwrap());
    config_with(&d, &emu.base_url, &["CABundle = other-ca.pem"]);
    let done = d
        .run("invoke")
        .args(["--config", "config.properties", "--prompt", "hi"])
        .args(["--max-attempts", "1", "--endpoint-url", &tls.base_url])
        .code(NETWORK);
    done.stderr_has("neither a system root nor in the CA bundle")
        .stderr_has("(from CABundle)");
    plain(&done);

    // AWS_PROFILE naming no profile, where the chain gives the credentials.
    let chain = Dir::new();
    common::sealed(
        &chain,
        &format!(
            "[default]\nGetCredentialsFrom = default-chain\nRegion = us-west-2\nUseVPCe = true\nVPCEndpointURL = {}\nModelID = amazon.titan-text-express-v1\n",
            emu.base_url
        ),
    );
    run(&chain)
        .env("AWS_PROFILE", "nosuch")
        .code(252)
        .stderr_has("AWS_PROFILE=nosuch: no profile nosuch");

    // An MFA code that is not six digits: refused before STS, never shown.
    let m = Dir::new();
    config_with(
        &m,
        &emu.base_url,
        &[
            "AssumeRoleARN = arn:aws:iam::222222222222:role/BedrockWithMfa",
            "ExternalId =",
            "MFASerial = arn:aws:iam::111111111111:mfa/demo-user",
        ],
    );
    let sts_before = emu.record.entries().len();
    let done = run(&m).args(["--no-cache", "--mfa-code", "q7z"]).code(252);
    done.stderr_has("--mfa-code: expected the 6 digits the MFA device shows");
    assert!(!done.all().contains("q7z"), "{}", done.describe());
    assert_eq!(emu.record.entries().len(), sts_before, "nothing sent");

    // Files a flag names, and the folder of --save: before any call.
    let d = Dir::new();
    config_with(&d, &emu.base_url, &[]);
    let before = bedrock_calls();
    let invoke = |args: &[&str]| {
        d.run("invoke")
            .args(["--config", "config.properties"])
            .args(args)
    };
    invoke(&["--body", "missing.json"])
        .code(252)
        .stderr_has("--body missing.json: cannot read it");
    invoke(&["--prompt", "hi", "--image", "missing.png"])
        .code(252)
        .stderr_has("--image missing.png: cannot read it");
    let done = invoke(&["--prompt", "hi", "--save", "no/such/folder/out.md"]).code(252);
    done.stderr_has("the folder no/such/folder does not exist");
    assert!(!done.all().contains(".tmp"), "{}", done.describe());
    assert_eq!(bedrock_calls(), before, "no call was made");

    // A proxy variable that is not a URL: refused, its value not shown.
    for bad in ["http://user:pa55word@127.0.0.1:notaport", "::garbage::"] {
        let done = invoke(&["--prompt", "hi"])
            .env("HTTPS_PROXY", bad)
            .code(252);
        done.stderr_has("HTTPS_PROXY: not a proxy URL");
        assert!(!done.all().contains("pa55word"), "{}", done.describe());
    }

    // A proxy reached over TLS would get CONNECT and its credentials in
    // clear text: refused, by whichever variable names it.
    for name in ["HTTPS_PROXY", "HTTP_PROXY"] {
        let done = invoke(&["--prompt", "hi"])
            .env(name, "https://user:pa55word@proxy.example.com:3128")
            .code(252);
        done.stderr_has(&format!(
            "{name}: a proxy reached over TLS (https://) is not supported"
        ));
        assert!(!done.all().contains("pa55word"), "{}", done.describe());
    }

    // No config anywhere: where it was looked for, and what to do.
    let empty = Dir::new();
    empty
        .run("invoke")
        .args(["--prompt", "hi"])
        .code(253)
        .stderr_has("no config found (looked for ./config.properties")
        .stderr_has("--config PATH");

    // STS that takes the connection and never answers: a read timeout,
    // said as one, not as a network that drops the traffic.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let quiet = Dir::new();
    config_with(
        &quiet,
        &emu.base_url,
        &[&format!("STSEndpointURL = {silent_url}")],
    );
    let done = quiet
        .run("invoke")
        .args([
            "--config",
            "config.properties",
            "--prompt",
            "hi",
            "--no-cache",
        ])
        .args([
            "--read-timeout",
            "1",
            "--connect-timeout",
            "1",
            "--max-attempts",
            "1",
        ])
        .code(NETWORK);
    done.stderr_has("STS: ReadTimeout: no data for 1 s")
        .stderr_has("took the request and sent nothing within --read-timeout");
    assert!(
        !done.stderr().contains("security group"),
        "{}",
        done.describe()
    );
    plain(&done);
    drop(silent);

    // A flag error with --output json: the JSON error object on stdout too.
    let done = invoke(&["--output", "json", "--temperature", "abc"]).code(252);
    let error: serde_json::Value =
        serde_json::from_str(&done.stdout()).unwrap_or_else(|e| panic!("{e}\n{}", done.describe()));
    assert_eq!(error["error"]["exit_code"], 252);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--temperature")
    );
}
