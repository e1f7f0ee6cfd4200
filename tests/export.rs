//! Credentials for other tools: the AWS CLI and boto3 use `invoke
//! credentials` as their `credential_process`, `eval "$(invoke env)"` and
//! `invoke exec` give a program the cross-account session, the endpoints
//! and the region; all through the encrypted credential cache. Needs
//! `python3` with `awscli` and `boto3` (`.ci/run` installs them).

mod common;

use bedrock_emulator::Faults;
use common::{Dir, emulator, sealed};
use std::process::Command;

const MODELS: &str = "\n[models]\nTitan = amazon.titan-text-express-v1\n";
const CROSS: &str = "arn:aws:sts::222222222222:assumed-role/BedrockCrossAccount/";

/// A Python program run in `d` with only `PATH` and `HOME` (and `extra`)
/// set: nothing of the test's own AWS environment leaks into it.
fn python(d: &Dir, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new("python3");
    cmd.current_dir(d.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", d.path())
        .args(args);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().expect("python3 runs")
}

fn require_python_aws() {
    let out = Command::new("python3")
        .args(["-c", "import awscli, boto3"])
        .output()
        .expect("python3 must be installed for these tests");
    assert!(
        out.status.success(),
        "these tests need the AWS CLI and boto3: python3 -m pip install awscli boto3\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(out: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assume_roles(emu: &common::Emu) -> usize {
    emu.record
        .entries()
        .iter()
        .filter(|e| e.operation == "AssumeRole")
        .count()
}

#[test]
fn the_aws_cli_and_boto3_use_invoke_as_their_credential_process() {
    require_python_aws();
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &common::access_keys_config(&emu.base_url, &[], MODELS));
    std::fs::create_dir(d.join(".aws")).unwrap();
    d.write(
        ".aws/config",
        &format!(
            "[profile bedrock]\ncredential_process = {} credentials --config {}\nregion = us-west-2\n",
            env!("CARGO_BIN_EXE_invoke"),
            d.join("config.properties").display()
        ),
    );
    let url = emu.base_url.as_str();
    let out = python(
        &d,
        &[
            "-m",
            "awscli",
            "sts",
            "get-caller-identity",
            "--profile",
            "bedrock",
            "--endpoint-url",
            url,
            "--output",
            "json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let id: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(id["Arn"].as_str().unwrap().starts_with(CROSS), "{id}");

    let messages = r#"[{"role": "user", "content": [{"text": "hello from the AWS CLI"}]}]"#;
    let out = python(
        &d,
        &[
            "-m",
            "awscli",
            "bedrock-runtime",
            "converse",
            "--profile",
            "bedrock",
            "--endpoint-url",
            url,
            "--model-id",
            "amazon.titan-text-express-v1",
            "--messages",
            messages,
            "--output",
            "json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello from the AWS CLI"),
        "{}",
        text(&out)
    );

    let script = format!(
        "import boto3\ns = boto3.Session(profile_name='bedrock')\nprint(s.client('sts', endpoint_url='{url}').get_caller_identity()['Arn'])"
    );
    let out = python(&d, &["-c", &script], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(CROSS),
        "{}",
        text(&out)
    );

    // Three processes asked for credentials; STS was asked once: the
    // others came from the encrypted cache.
    assert_eq!(assume_roles(&emu), 1);
}

#[test]
fn env_and_exec_give_a_program_the_session_and_the_path() {
    require_python_aws();
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &common::access_keys_config(&emu.base_url, &[], MODELS));
    // boto3 with no endpoint and no credentials of its own: everything
    // comes from the environment invoke gives it, and goes through the
    // config's endpoints.
    let script = "import boto3\n\
        print(boto3.client('sts').get_caller_identity()['Arn'])\n\
        r = boto3.client('bedrock-runtime').converse(modelId='amazon.titan-text-express-v1', \
        messages=[{'role': 'user', 'content': [{'text': 'hello from boto3'}]}])\n\
        print(r['output']['message']['content'][0]['text'])";
    d.write("probe.py", script);

    let shell = format!(
        "eval \"$({} env --config config.properties)\" && python3 probe.py",
        env!("CARGO_BIN_EXE_invoke")
    );
    let out = Command::new("sh")
        .current_dir(d.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", d.path())
        .env("AWS_PROFILE", "left-over")
        .args(["-c", &shell])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.starts_with(CROSS), "{}", text(&out));
    assert!(
        printed.contains("Reply from amazon.titan-text-express-v1: hello from boto3"),
        "{}",
        text(&out)
    );

    let done = d
        .run("invoke")
        .args([
            "exec",
            "--config",
            "config.properties",
            "--",
            "python3",
            "probe.py",
        ])
        .ok();
    assert!(
        done.stdout().contains("hello from boto3"),
        "{}",
        done.describe()
    );
    // The command's exit code is invoke's.
    d.run("invoke")
        .args([
            "exec",
            "--config",
            "config.properties",
            "--",
            "sh",
            "-c",
            "exit 7",
        ])
        .code(7);
    // No secret is ever on a command line, and a command that is not
    // there is an error that shows none.
    let done = d
        .run("invoke")
        .args([
            "exec",
            "--config",
            "config.properties",
            "--",
            "no-such-command-here",
        ])
        .code(252);
    done.stderr_has("invoke exec: cannot run no-such-command-here");
    assert!(
        !done
            .all()
            .contains(bedrock_emulator::identity::DEMO_SECRET_KEY)
    );
    // env, exec and the first run above: one AssumeRole, the rest cached.
    assert_eq!(assume_roles(&emu), 1);
}
