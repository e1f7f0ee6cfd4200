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
