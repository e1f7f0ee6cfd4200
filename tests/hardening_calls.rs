//! Calls that must not hang or mislead: stalled streams bounded by
//! `--read-timeout`, and the credentials a Bedrock call really carries.

mod common;

use bedrock_private::emulator::identity::{
    DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN, DEMO_SECRET_KEY,
};
use bedrock_private::emulator::{Emulator, EmulatorConfig, Faults};
use common::Dir;
use std::time::{Duration, Instant};

const NETWORK: i32 = 255;

fn emulator(faults: Faults) -> Emulator {
    Emulator::start(EmulatorConfig {
        faults,
        ..EmulatorConfig::default()
    })
    .unwrap()
}

/// A sealed mode 2 config through the emulator as VPC and STS endpoint.
fn config(d: &Dir, url: &str) {
    d.write(
        "plain.properties",
        &format!(
            "[default]\nUseVPCe = true\nGetCredentialsFrom = 2\nRegion = us-west-2\n\
             AccessKey = {DEMO_ACCESS_KEY}\nSecretKey = {DEMO_SECRET_KEY}\nAssumeRoleARN = {DEMO_ROLE_ARN}\n\
             ExternalId = {DEMO_EXTERNAL_ID}\nVPCEndpointURL = {url}\nSTSEndpointURL = {url}\n\
             ModelID = anthropic.claude-3-haiku-20240307-v1:0\n"
        ),
    );
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties"])
        .ok();
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
        done.stderr_has("Bedrock:");
    }
}

const CROSS_SESSION: &str = "arn:aws:sts::222222222222:assumed-role/BedrockCrossAccount/";
/// A Bedrock API key's shape; the emulator knows none, so it refuses it.
const API_KEY: &str = "ABSKQmVkcm9ja0FQSUtleS1oYXJkZW5pbmctdGVzdC10b2tlbi0wMDAx";

fn bedrock_calls(emu: &Emulator) -> Vec<bedrock_private::emulator::RecordEntry> {
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
