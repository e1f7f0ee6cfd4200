//! The plan of a run: one rule for each endpoint, honouring the same AWS
//! settings everywhere (`AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`,
//! the profile's `endpoint_url` and `services` section,
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`), and `--dry-run`, `invoke` and
//! `invoke check` agreeing on it.

mod common;

use bedrock_emulator::Faults;
use bedrock_emulator::identity::{
    DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN, DEMO_SECRET_KEY,
};
use common::{Dir, Emu, emulator, sealed};
use serde_json::Value;

/// Nothing listens here: a call that goes there fails.
const DEAD: &str = "http://127.0.0.1:9";

/// Mode 2 with no endpoint in the file: the AWS settings decide.
fn config_without_endpoints(extra: &str) -> String {
    format!(
        "[default]\nUseVPCe = false\nGetCredentialsFrom = 2\nRegion = us-west-2\nAccessKey = {DEMO_ACCESS_KEY}\n\
         SecretKey = {DEMO_SECRET_KEY}\nAssumeRoleARN = {DEMO_ROLE_ARN}\nExternalId = {DEMO_EXTERNAL_ID}\n\
         ModelID = anthropic.claude-3-haiku-20240307-v1:0\n{extra}"
    )
}

fn plan(d: &Dir, env: &[(&str, &str)]) -> Value {
    let mut run = d.run("invoke").args([
        "--config",
        "config.properties",
        "--prompt",
        "hi",
        "--dry-run",
        "--output",
        "json",
    ]);
    for (k, v) in env {
        run = run.env(k, v);
    }
    serde_json::from_str(&run.ok().stdout()).unwrap()
}

fn call(d: &Dir, env: &[(&str, &str)]) -> common::Done {
    let mut run = d.run("invoke").args([
        "--config",
        "config.properties",
        "--prompt",
        "hi",
        "--max-attempts",
        "1",
    ]);
    for (k, v) in env {
        run = run.env(k, v);
    }
    run.ok()
}

fn services(emu: &Emu) -> Vec<String> {
    emu.record
        .entries()
        .iter()
        .map(|e| e.operation.clone())
        .collect()
}

#[test]
fn aws_endpoint_url_serves_both_services() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &config_without_endpoints(""));
    let env = [("AWS_ENDPOINT_URL", emu.base_url.as_str())];
    let p = plan(&d, &env);
    assert_eq!(
        p["endpoint"],
        format!("endpoint from AWS_ENDPOINT_URL {}", emu.base_url),
        "{p:#}"
    );
    assert_eq!(
        p["sts"],
        format!("endpoint from AWS_ENDPOINT_URL {}", emu.base_url),
        "{p:#}"
    );
    call(&d, &env).stdout_has("Reply from anthropic.claude-3-haiku");
    assert_eq!(services(&emu), ["AssumeRole", "ConverseStream"]);
}

#[test]
fn a_service_s_own_setting_wins_over_the_generic_one() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &config_without_endpoints(""));
    let env = [
        ("AWS_ENDPOINT_URL", DEAD),
        ("AWS_ENDPOINT_URL_STS", emu.base_url.as_str()),
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", emu.base_url.as_str()),
    ];
    let p = plan(&d, &env);
    assert_eq!(
        p["sts"],
        format!("endpoint from AWS_ENDPOINT_URL_STS {}", emu.base_url)
    );
    assert_eq!(
        p["endpoint"],
        format!(
            "endpoint from AWS_ENDPOINT_URL_BEDROCK_RUNTIME {}",
            emu.base_url
        )
    );
    call(&d, &env);
    assert_eq!(services(&emu), ["AssumeRole", "ConverseStream"]);
}

/// Fixed: with STSEndpointURL in the config and AWS_ENDPOINT_URL_STS set,
/// the plan named the config's endpoint but AssumeRole went to the
/// environment's: the SDK's STS client preferred the variable to the
/// endpoint it was given.
#[test]
fn the_config_wins_over_the_environment_and_the_vpc_endpoint_is_never_sts() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(
        &d,
        &config_without_endpoints(&format!(
            "UseVPCe = true\nVPCEndpointURL = {0}\nSTSEndpointURL = {0}\n",
            emu.base_url
        ))
        .replace("UseVPCe = false\n", ""),
    );
    let env = [
        ("AWS_ENDPOINT_URL_STS", DEAD),
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", DEAD),
    ];
    let p = plan(&d, &env);
    assert_eq!(
        p["sts"],
        format!("endpoint from STSEndpointURL {}", emu.base_url)
    );
    assert_eq!(p["endpoint"], format!("VPC endpoint {}", emu.base_url));
    call(&d, &env);
    assert_eq!(services(&emu), ["AssumeRole", "ConverseStream"]);

    // Without STSEndpointURL, STS is the regional public endpoint: the
    // Bedrock VPC endpoint is never used for it.
    let plain = config_without_endpoints(&format!(
        "UseVPCe = true\nVPCEndpointURL = {}\n",
        emu.base_url
    ))
    .replace("UseVPCe = false\n", "");
    sealed(&d, &plain);
    let p = plan(&d, &[]);
    assert_eq!(
        p["sts"],
        "public endpoint https://sts.us-west-2.amazonaws.com"
    );
}

#[test]
fn configured_endpoints_can_be_ignored() {
    let emu = emulator(Faults::default());
    emu.expect_no_calls();
    let d = Dir::new();
    sealed(&d, &config_without_endpoints(""));
    let p = plan(
        &d,
        &[
            ("AWS_ENDPOINT_URL", emu.base_url.as_str()),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ],
    );
    assert_eq!(
        p["endpoint"],
        "public endpoint https://bedrock-runtime.us-west-2.amazonaws.com"
    );
    assert_eq!(
        p["sts"],
        "public endpoint https://sts.us-west-2.amazonaws.com"
    );
}

#[test]
fn the_profile_s_endpoint_settings_are_honoured() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &config_without_endpoints("Profile = team\n"));
    d.write(
        "aws-config",
        &format!(
            "[profile team]\nendpoint_url = {DEAD}\nservices = local\n\n\
             [services local]\nsts =\n  endpoint_url = {0}\nbedrock-runtime =\n  endpoint_url = {0}\n",
            emu.base_url
        ),
    );
    let config = d.join("aws-config");
    let env = [("AWS_CONFIG_FILE", config.to_str().unwrap())];
    let p = plan(&d, &env);
    assert_eq!(
        p["sts"],
        format!("endpoint from the AWS config file {}", emu.base_url),
        "{p:#}"
    );
    assert_eq!(
        p["endpoint"],
        format!("endpoint from the AWS config file {}", emu.base_url)
    );
    call(&d, &env);
    assert_eq!(services(&emu), ["AssumeRole", "ConverseStream"]);
}

#[test]
fn check_uses_the_same_plan() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &config_without_endpoints(""));
    let done = d
        .run("invoke")
        .env("AWS_ENDPOINT_URL", &emu.base_url)
        .args(["check", "--config", "config.properties", "--output", "json"])
        .ok();
    let r: Value = serde_json::from_str(&done.stdout()).unwrap();
    let config = &r["steps"][0]["details"];
    assert_eq!(config["endpoint"]["kind"], "environment", "{r:#}");
    assert_eq!(config["sts"]["kind"], "environment", "{r:#}");
    assert_eq!(config["sts"]["url"], emu.base_url);
    assert!(services(&emu).contains(&"GetCallerIdentity".to_string()));
}

/// Fixed: an invalid endpoint variable stopped every run, even one that
/// goes through the VPC endpoint and never uses it; a blank one was taken
/// for a URL.
#[test]
fn an_unused_bad_setting_is_no_error_and_a_blank_one_is_unset() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(
        &d,
        &config_without_endpoints(&format!(
            "UseVPCe = true\nVPCEndpointURL = {0}\nSTSEndpointURL = {0}\n",
            emu.base_url
        ))
        .replace("UseVPCe = false\n", ""),
    );
    let env = [
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://localstack:4566"),
        ("AWS_ENDPOINT_URL", ""),
    ];
    call(&d, &env).stdout_has("Reply from anthropic.claude-3-haiku");
    // Where it would be used, it is an error naming the variable.
    sealed(
        &d,
        &config_without_endpoints(&format!("STSEndpointURL = {}\n", emu.base_url)),
    );
    d.run("invoke")
        .args(["--config", "config.properties", "--prompt", "hi"])
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://localstack:4566")
        .code(252)
        .stderr_has("the endpoint from AWS_ENDPOINT_URL_BEDROCK_RUNTIME: expected https");
    let p = plan(&d, &[("AWS_ENDPOINT_URL_STS", " ")]);
    assert_eq!(
        p["sts"],
        format!("endpoint from STSEndpointURL {}", emu.base_url)
    );
    let p = plan(&d, &[("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "")]);
    assert_eq!(
        p["endpoint"],
        "public endpoint https://bedrock-runtime.us-west-2.amazonaws.com"
    );
}

/// AWS's own endpoints come from the SDK's endpoint rules: FIPS when the
/// AWS settings ask for it, and each partition's domain.
#[test]
fn aws_endpoints_follow_the_sdk_s_rules() {
    let emu = emulator(Faults::default());
    emu.expect_no_calls();
    let d = Dir::new();
    sealed(&d, &config_without_endpoints(""));
    let p = plan(&d, &[("AWS_USE_FIPS_ENDPOINT", "true")]);
    assert_eq!(
        p["sts"],
        "public endpoint https://sts-fips.us-west-2.amazonaws.com"
    );
    assert_eq!(
        p["endpoint"],
        "public endpoint https://bedrock-runtime-fips.us-west-2.amazonaws.com"
    );
    sealed(
        &d,
        &config_without_endpoints("").replace("Region = us-west-2", "Region = cn-north-1"),
    );
    let p = plan(&d, &[]);
    assert_eq!(
        p["sts"],
        "public endpoint https://sts.cn-north-1.amazonaws.com.cn"
    );
}
