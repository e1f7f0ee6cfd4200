//! `invoke` end to end: the real binary against the emulator, for every
//! credential source, endpoint, prompt mode and family, and every failure
//! the emulator can produce. The emulator's record shows which key, region
//! and host each call used.

mod common;

use bedrock_emulator::identity::{
    DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN, DEMO_SECRET_KEY,
};
use bedrock_emulator::{EmulatorConfig, Faults, RecordEntry};
use common::{Dir, Done};
use serde_json::Value;
use std::time::Duration;

const CROSS: &str = "arn:aws:sts::222222222222:assumed-role/BedrockCrossAccount/";
const MODELS: &str = "\n[models]\nClaude-3-Haiku = anthropic.claude-3-haiku-20240307-v1:0\nClaude-21 = anthropic.claude-v2:1\n\
Llama = meta.llama3-1-8b-instruct-v1:0\nMistral = mistral.mistral-7b-instruct-v0:2\nTitan = amazon.titan-text-express-v1\n\
Cohere = cohere.command-r-v1:0\n";

use common::{emulator, sealed};

/// [`common::access_keys_config`] with this file's models.
fn access_keys_config(url: &str, extra: &[&str]) -> String {
    common::access_keys_config(url, extra, MODELS)
}

fn invoke(d: &Dir) -> common::Run {
    d.run("invoke").args(["--config", "config.properties"])
}

fn bedrock_calls(emu: &common::Emu) -> Vec<RecordEntry> {
    emu.record
        .entries()
        .into_iter()
        .filter(|e| e.service == "bedrock")
        .collect()
}

fn json(done: &Done) -> Value {
    serde_json::from_str(&done.stdout()).unwrap_or_else(|e| panic!("{e}\n{}", done.describe()))
}

#[test]
fn access_keys_assume_a_cross_account_role_through_the_vpc_endpoint() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    let done = invoke(&d)
        .env("USER", "workshopper")
        .args(["--prompt", "what is PrivateLink"])
        .ok();
    assert_eq!(
        done.stdout(),
        "Reply from anthropic.claude-3-haiku-20240307-v1:0: what is PrivateLink\n"
    );
    done.stderr_has(&format!(
        "invoke: endpoint    VPC endpoint {}",
        emu.base_url
    ))
    .stderr_has("2 (access-keys), assuming arn:aws:iam::2222********:role/... (key ASIA")
    .stderr_has("via ConverseStream")
    .stderr_has("stop end_turn · tokens 3 in, 6 out · first token");
    let record = emu.record.entries();
    assert_eq!(record.len(), 2, "{record:?}");
    assert_eq!(
        (record[0].service.as_str(), record[0].operation.as_str()),
        ("sts", "AssumeRole")
    );
    assert_eq!(record[0].access_key_id.as_deref(), Some(DEMO_ACCESS_KEY));
    assert_eq!(record[1].operation, "ConverseStream");
    assert!(
        record[1]
            .access_key_id
            .as_deref()
            .unwrap()
            .starts_with("ASIA")
    );
    assert_eq!(record[1].region.as_deref(), Some("us-west-2"));
    assert_eq!(record[1].host, format!("127.0.0.1:{}", emu.port));
    assert!(
        record[1].caller.as_deref().unwrap().starts_with(CROSS),
        "{record:?}"
    );
    assert_eq!(
        record[1].caller.as_deref(),
        Some(&*format!("{CROSS}bedrock-private-workshopper")),
        "the default session name names the tool and the user"
    );
}

#[test]
fn instance_role_through_imds() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(
        &d,
        &format!(
            "[default]\nGetCredentialsFrom = instance-role\nRegion = us-west-2\nUseVPCe = true\nVPCEndpointURL = {}\nModelID = Titan\n{MODELS}",
            emu.base_url
        ),
    );
    invoke(&d)
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &emu.base_url)
        .args(["--prompt", "hi", "--no-stream"])
        .ok()
        .stderr_has("0 (instance-role) (key ASIA");
    let calls = bedrock_calls(&emu);
    assert_eq!(
        calls[0].caller.as_deref(),
        Some("arn:aws:sts::111111111111:assumed-role/WorkshopInstanceRole/i-0emulator0000000")
    );
    assert!(
        emu.record.entries().iter().all(|e| e.service != "sts"),
        "no STS call"
    );
}

/// Without Region in the config, the region comes from the AWS chain, here
/// from IMDS (as on an EC2 instance with no AWS settings), over the same
/// HTTP client as every other call.
#[test]
fn region_from_instance_metadata() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(
        &d,
        &format!(
            "[default]\nGetCredentialsFrom = instance-role\nUseVPCe = true\nVPCEndpointURL = {}\nModelID = Titan\n{MODELS}",
            emu.base_url
        ),
    );
    invoke(&d)
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &emu.base_url)
        .args(["--prompt", "hi", "--no-stream"])
        .ok();
    assert!(
        emu.record
            .entries()
            .iter()
            .any(|e| e.operation == "GetRegion"),
        "the region came from IMDS"
    );
    assert_eq!(bedrock_calls(&emu)[0].region.as_deref(), Some("us-west-2"));
}

#[test]
fn assume_role_with_the_instance_role_as_ambient_identity() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(
        &d,
        &format!(
            "[default]\nGetCredentialsFrom = 1\nRegion = us-west-2\nAssumeRoleARN = {DEMO_ROLE_ARN}\nExternalId = {DEMO_EXTERNAL_ID}\nUseVPCe = false\nSessionDuration = 1800\nRoleSessionName = workshop-session\n{MODELS}"
        ),
    );
    // STS through AWS_ENDPOINT_URL_STS, Bedrock through the public-endpoint override.
    invoke(&d)
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &emu.base_url)
        .env("AWS_ENDPOINT_URL_STS", &emu.base_url)
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &emu.base_url)
        .args(["--prompt", "hi", "--model", "Llama"])
        .ok()
        .stderr_has("endpoint from AWS_ENDPOINT_URL_BEDROCK_RUNTIME");
    let record = emu.record.entries();
    let assume = record.iter().find(|e| e.operation == "AssumeRole").unwrap();
    assert_eq!(
        assume.caller.as_deref(),
        Some("arn:aws:sts::111111111111:assumed-role/WorkshopInstanceRole/i-0emulator0000000")
    );
    assert_eq!(
        bedrock_calls(&emu)[0].caller.as_deref(),
        Some(&*format!("{CROSS}workshop-session"))
    );
}

/// Assume-role where the ambient identity is a web identity (an EKS pod's
/// service account, a CI job's OIDC token): the standard chain trades the
/// token for the web-identity role's session through
/// AssumeRoleWithWebIdentity, and that session assumes the cross-account
/// role.
#[test]
fn assume_role_with_a_web_identity_as_ambient_identity() {
    use bedrock_emulator::identity::DEMO_WEB_IDENTITY_ROLE_ARN;
    use bedrock_emulator::oidc;
    let emu = emulator(Faults::default());
    let d = Dir::new();
    let token = oidc::token(
        "system:serviceaccount:workshop:app",
        oidc::DEMO_AUDIENCE,
        Duration::from_secs(600),
    );
    let token_file = d.write("token", &token);
    sealed(
        &d,
        &format!(
            "[default]\nGetCredentialsFrom = assume-role\nRegion = us-west-2\nAssumeRoleARN = {DEMO_ROLE_ARN}\nExternalId = {DEMO_EXTERNAL_ID}\nUseVPCe = true\nVPCEndpointURL = {url}\nSTSEndpointURL = {url}\nRoleSessionName = from-pod\nModelID = Titan\n{MODELS}",
            url = emu.base_url
        ),
    );
    let done = invoke(&d)
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap())
        .env("AWS_ROLE_ARN", DEMO_WEB_IDENTITY_ROLE_ARN)
        .env("AWS_ROLE_SESSION_NAME", "pod")
        .env("AWS_ENDPOINT_URL_STS", &emu.base_url)
        .args(["--prompt", "hi", "--no-stream"])
        .ok();
    assert!(!done.all().contains(&token), "the token is never shown");
    let record = emu.record.entries();
    let ops: Vec<&str> = record
        .iter()
        .filter(|e| e.service == "sts")
        .map(|e| e.operation.as_str())
        .collect();
    assert_eq!(ops, ["AssumeRoleWithWebIdentity", "AssumeRole"]);
    let assume = record.iter().find(|e| e.operation == "AssumeRole").unwrap();
    assert_eq!(
        assume.caller.as_deref(),
        Some("arn:aws:sts::111111111111:assumed-role/WorkshopWebIdentityRole/pod")
    );
    assert_eq!(
        bedrock_calls(&emu)[0].caller.as_deref(),
        Some(&*format!("{CROSS}from-pod"))
    );

    // An expired token is reported at its hop, with STS's words.
    let expired = oidc::token(
        "system:serviceaccount:workshop:app",
        oidc::DEMO_AUDIENCE,
        Duration::ZERO,
    );
    d.write("token", &expired);
    let done = invoke(&d)
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap())
        .env("AWS_ROLE_ARN", DEMO_WEB_IDENTITY_ROLE_ARN)
        .env("AWS_ROLE_SESSION_NAME", "pod")
        .env("AWS_ENDPOINT_URL_STS", &emu.base_url)
        .args(["--prompt", "hi", "--no-cache"])
        .output();
    assert_eq!(done.output.status.code(), Some(253), "{}", done.describe());
    assert!(!done.all().contains(&expired), "the token is never shown");
    done.stderr_has("STS (web identity): ExpiredTokenException: Token expired")
        .stderr_has(
            "likely cause: the web identity token in AWS_WEB_IDENTITY_TOKEN_FILE has expired",
        );

    // STS out of reach for the chain's own call: the hint names the
    // setting that call follows.
    d.write("token", &token);
    let done = invoke(&d)
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap())
        .env("AWS_ROLE_ARN", DEMO_WEB_IDENTITY_ROLE_ARN)
        .env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1")
        .args(["--prompt", "hi", "--no-cache", "--max-attempts", "1"])
        .code(255);
    done.stderr_has("STS (web identity): ConnectionFailed")
        .stderr_has("set AWS_ENDPOINT_URL_STS to the same STS VPC endpoint");
}

/// Default-chain (mode 3) with a web identity: the chain's own
/// AssumeRoleWithWebIdentity gives the credentials Bedrock is called with.
#[test]
fn default_chain_with_a_web_identity() {
    use bedrock_emulator::identity::DEMO_WEB_IDENTITY_ROLE_ARN;
    use bedrock_emulator::oidc;
    let emu = emulator(Faults::default());
    let d = Dir::new();
    let token = oidc::token("ci-job", oidc::DEMO_AUDIENCE, Duration::from_secs(600));
    let token_file = d.write("token", &token);
    sealed(
        &d,
        &format!(
            "[default]\nGetCredentialsFrom = default-chain\nRegion = us-west-2\nUseVPCe = true\nVPCEndpointURL = {}\nModelID = Titan\n{MODELS}",
            emu.base_url
        ),
    );
    let done = invoke(&d)
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap())
        .env("AWS_ROLE_ARN", DEMO_WEB_IDENTITY_ROLE_ARN)
        .env("AWS_ROLE_SESSION_NAME", "ci")
        .env("AWS_ENDPOINT_URL_STS", &emu.base_url)
        .args(["--prompt", "hi", "--no-stream"])
        .ok();
    assert!(!done.all().contains(&token), "the token is never shown");
    let record = emu.record.entries();
    assert_eq!(record[0].operation, "AssumeRoleWithWebIdentity");
    assert_eq!(
        bedrock_calls(&emu)[0].caller.as_deref(),
        Some("arn:aws:sts::111111111111:assumed-role/WorkshopWebIdentityRole/ci")
    );
}

#[test]
fn default_chain_with_a_profile() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    std::fs::create_dir(d.join(".aws")).unwrap();
    d.write(".aws/credentials", &format!("[base]\naws_access_key_id = {DEMO_ACCESS_KEY}\naws_secret_access_key = {DEMO_SECRET_KEY}\n"));
    d.write(".aws/config", &format!(
        "[profile workshop]\nrole_arn = {DEMO_ROLE_ARN}\nsource_profile = base\nexternal_id = {DEMO_EXTERNAL_ID}\nrole_session_name = from-profile\nregion = us-west-2\n"
    ));
    sealed(
        &d,
        &format!(
            "[default]\nGetCredentialsFrom = default-chain\nProfile = workshop\nRegion = us-west-2\n{MODELS}"
        ),
    );
    invoke(&d)
        .env("AWS_ENDPOINT_URL_STS", &emu.base_url)
        .args([
            "--prompt",
            "hi",
            "--model",
            "1",
            "--endpoint-url",
            &emu.base_url,
        ])
        .ok()
        .stderr_has("3 (default-chain), profile workshop")
        .stderr_has("endpoint from --endpoint-url");
    assert_eq!(
        bedrock_calls(&emu)[0].caller.as_deref(),
        Some(&*format!("{CROSS}from-profile"))
    );
}

#[test]
fn mfa_code_is_sent_with_assume_role() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(
        &d,
        &access_keys_config(
            &emu.base_url,
            &[
                "AssumeRoleARN = arn:aws:iam::222222222222:role/BedrockWithMfa",
                "ExternalId =",
                "MFASerial = arn:aws:iam::111111111111:mfa/demo-user",
            ],
        ),
    );
    invoke(&d)
        .args(["--prompt", "hi", "--mfa-code", "123456"])
        .ok();
    // The MFA session is cached: the next run needs no code.
    invoke(&d)
        .args(["--prompt", "hi"])
        .ok()
        .stderr_has("from the credential cache");
    invoke(&d)
        .args(["--prompt", "hi", "--mfa-code", "000000", "--no-cache"])
        .code(254)
        .stderr_has("STS: AccessDenied");
    invoke(&d)
        .args(["--prompt", "hi", "--no-cache"])
        .code(252)
        .stderr_has("--mfa-code");
}

#[test]
fn access_keys_without_a_role_are_used_directly() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(
        &d,
        &access_keys_config(&emu.base_url, &["AssumeRoleARN =", "ExternalId ="]),
    );
    // The demo user may invoke nothing itself: the refusal names IAM.
    let done = invoke(&d).args(["--prompt", "hi"]).code(254);
    done.stderr_has("warning: ")
        .stderr_has("keys will be used directly")
        .stderr_has("Bedrock: AccessDeniedException: User: arn:aws:iam::111111111111:user/demo-user is not authorized")
        .stderr_has("likely cause: the identity's IAM policies do not allow this call");
    assert!(emu.record.entries().iter().all(|e| e.service != "sts"));
}

/// A folder with the workshop's three files and a sealed config naming them.
fn workshop(emu: &common::Emu) -> Dir {
    let d = Dir::new();
    d.write("system.txt", "You are terse.\n");
    d.write("template.txt", "Explain: {{log_entry}}\n");
    d.write("query.txt", "disk full\n");
    sealed(
        &d,
        &access_keys_config(
            &emu.base_url,
            &[
                "SystemPromptFile = system.txt",
                "PromptFilePath = template.txt",
                "UserQueryFile = query.txt",
            ],
        ),
    );
    d
}

#[test]
fn workshop_flow_system_prompt_and_template() {
    let emu = emulator(Faults::default());
    let d = workshop(&emu);
    d.write("other.txt", "network down\n");
    invoke(&d).ok();
    assert_eq!(
        invoke(&d).output().stdout(),
        "Reply from anthropic.claude-3-haiku-20240307-v1:0: Explain: disk full\n"
    );
    // --input replaces UserQueryFile.
    let done = invoke(&d)
        .args(["--input", "other.txt", "--output", "json"])
        .ok();
    let j = json(&done);
    assert_eq!(
        j["text"],
        "Reply from anthropic.claude-3-haiku-20240307-v1:0: Explain: network down"
    );
    assert_eq!(
        j["usage"]["input_tokens"], 6,
        "system prompt (3 words) + user (3 words)"
    );
    // Text piped in fills the template, over UserQueryFile (fixed: it was
    // ignored whenever the config named a template, so
    // `echo ... | invoke` sent the workshop's own query).
    let done = invoke(&d).stdin("out of memory\n").ok();
    assert_eq!(
        done.stdout(),
        "Reply from anthropic.claude-3-haiku-20240307-v1:0: Explain: out of memory\n"
    );
    // Titan takes no system prompt: it is folded into the user message.
    let done = invoke(&d).args(["--model", "Titan"]).ok();
    assert_eq!(
        done.stdout(),
        "Reply from amazon.titan-text-express-v1: You are terse. Explain: disk full\n"
    );
    // Mistral too, as the workshop tool did.
    let done = invoke(&d).args(["--model", "Mistral", "--no-stream"]).ok();
    assert!(
        done.stdout().contains("You are terse."),
        "{}",
        done.describe()
    );
}

/// The workshop flow sends the system prompt only to models that take one;
/// the others get it folded into the user message. The emulator's own
/// table (from AWS's Converse feature list) refuses a system prompt where
/// AWS does, so a product rule that is wrong either way fails here.
#[test]
fn the_system_prompt_goes_only_to_models_that_take_one() {
    let emu = emulator(Faults::default());
    let d = workshop(&emu);
    for (model, folded) in [
        ("anthropic.claude-3-haiku-20240307-v1:0", false),
        ("meta.llama3-1-8b-instruct-v1:0", false),
        ("cohere.command-r-v1:0", false),
        ("cohere.command-text-v14", true),
        ("cohere.command-light-text-v14", true),
        ("amazon.titan-text-express-v1", true),
        ("mistral.mistral-7b-instruct-v0:2", true),
        ("mistral.mixtral-8x7b-instruct-v0:1", true),
    ] {
        let done = invoke(&d).args(["--model", model, "--no-stream"]).output();
        assert_eq!(
            done.output.status.code(),
            Some(0),
            "{model}\n{}",
            done.describe()
        );
        assert_eq!(
            done.stdout().contains("You are terse."),
            folded,
            "{model}: folded into the user message: {folded}\n{}",
            done.describe()
        );
    }
}

#[test]
fn prompt_from_stdin_when_no_prompt_file() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    let done = invoke(&d).stdin("piped question\n").ok();
    assert_eq!(
        done.stdout(),
        "Reply from anthropic.claude-3-haiku-20240307-v1:0: piped question\n"
    );
    let done = invoke(&d)
        .args(["--prompt", "-"])
        .stdin("dash question")
        .ok();
    assert!(done.stdout().contains("dash question"));
    invoke(&d).code(252).stderr_has("nothing to send");
}

#[test]
fn every_family_streaming_and_not() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    for alias in [
        "Claude-3-Haiku",
        "Claude-21",
        "Llama",
        "Mistral",
        "Titan",
        "Cohere",
    ] {
        for stream in [true, false] {
            let mut args = vec![
                "--prompt",
                "name a colour",
                "--model",
                alias,
                "--output",
                "json",
            ];
            if !stream {
                args.push("--no-stream");
            }
            let j = json(&invoke(&d).args(&args).ok());
            assert!(
                j["text"].as_str().unwrap().ends_with(": name a colour"),
                "{alias}: {j}"
            );
            assert_eq!(
                j["operation"],
                if stream { "ConverseStream" } else { "Converse" }
            );
            assert_eq!(j["stop_reason"], "end_turn");
            assert_eq!(j["endpoint"]["kind"], "vpc");
            assert!(
                j["credentials"]["access_key_id"]
                    .as_str()
                    .unwrap()
                    .starts_with("ASIA****")
            );
        }
    }
}

#[test]
fn invoke_model_bodies_for_every_family() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    let root = env!("CARGO_MANIFEST_DIR");
    for (file, model) in [
        (
            "anthropic-messages.json",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ),
        ("anthropic-completion.json", "anthropic.claude-v2:1"),
        ("titan-text.json", "amazon.titan-text-express-v1"),
        ("llama.json", "meta.llama3-1-8b-instruct-v1:0"),
        ("mistral.json", "mistral.mistral-7b-instruct-v0:2"),
        ("cohere-command-r.json", "cohere.command-r-v1:0"),
        ("cohere-command.json", "cohere.command-text-v14"),
        ("nova.json", "amazon.nova-lite-v1:0"),
        ("mistral-chat.json", "mistral.mistral-large-2407-v1:0"),
        ("jamba.json", "ai21.jamba-1-5-mini-v1:0"),
        ("deepseek.json", "us.deepseek.r1-v1:0"),
        ("palmyra.json", "us.writer.palmyra-x4-v1:0"),
    ] {
        // The reply names the model behind an inference profile.
        let base = model.strip_prefix("us.").unwrap_or(model);
        let body = format!("{root}/prompts/bodies/{file}");
        for stream in [true, false] {
            let mut args = vec![
                "--body",
                body.as_str(),
                "--model",
                model,
                "--output",
                "json",
            ];
            if !stream {
                args.push("--no-stream");
            }
            let j = json(&invoke(&d).args(&args).ok());
            let text = j["text"].as_str().unwrap();
            assert!(
                text.trim().starts_with(&format!("Reply from {base}: ")),
                "{file}: {j}"
            );
            assert!(text.contains("square root of 16"), "{file}: {j}");
            assert!(j["stop_reason"].is_string(), "{file} stream={stream}: {j}");
            assert_eq!(
                j["operation"],
                if stream {
                    "InvokeModelWithResponseStream"
                } else {
                    "InvokeModel"
                }
            );
        }
    }
    // A PromptFilePath that holds JSON is sent to InvokeModel, as the older workshop did.
    std::fs::copy(
        format!("{root}/prompts/bodies/anthropic-completion.json"),
        d.join("prompt.txt"),
    )
    .unwrap();
    let d2 = Dir::new();
    std::fs::copy(d.join("prompt.txt"), d2.join("prompt.txt")).unwrap();
    sealed(
        &d2,
        &access_keys_config(
            &emu.base_url,
            &["PromptFilePath = prompt.txt", "ModelID = Claude-21"],
        ),
    );
    let j = json(&invoke(&d2).args(["--output", "json"]).ok());
    assert_eq!(j["operation"], "InvokeModelWithResponseStream");
    // A body that is not JSON is refused before any call.
    d.write("bad.json", "{not json");
    invoke(&d)
        .args(["--body", "bad.json"])
        .code(252)
        .stderr_has("--body bad.json: not valid JSON (line 1");
}

#[test]
fn service_failures_name_the_hop_code_and_cause() {
    // Throttling is retried with backoff; with one attempt it is reported.
    let emu = emulator(Faults {
        throttle_first: 1,
        ..Faults::default()
    });
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    invoke(&d).args(["--prompt", "hi"]).ok();
    assert_eq!(
        bedrock_calls(&emu)
            .iter()
            .map(|e| e.status)
            .collect::<Vec<_>>(),
        [429, 200]
    );
    let emu = emulator(Faults {
        throttle_first: 5,
        ..Faults::default()
    });
    sealed_again(&d, &emu);
    invoke(&d)
        .args(["--prompt", "hi", "--max-attempts", "1"])
        .code(254)
        .stderr_has("Bedrock: ThrottlingException: Too many requests")
        .stderr_has("likely cause: a quota was reached");

    let emu = emulator(Faults {
        fail_first: 5,
        ..Faults::default()
    });
    sealed_again(&d, &emu);
    invoke(&d)
        .args(["--prompt", "hi", "--max-attempts", "2"])
        .code(254)
        .stderr_has("ServiceUnavailableException");

    // An error event mid-stream: the text so far stays, the error says where it stopped.
    let emu = emulator(Faults {
        stream_error_after: Some(4),
        ..Faults::default()
    });
    sealed_again(&d, &emu);
    let done = invoke(&d)
        .args(["--prompt", "one two three four five"])
        .code(254);
    done.stderr_has("Bedrock: ModelStreamErrorException")
        .stderr_has("the stream stopped after");
    assert!(
        done.stdout().starts_with("Reply from"),
        "{}",
        done.describe()
    );

    // A connection cut mid-stream.
    let emu = emulator(Faults {
        cut_stream_after: Some(3),
        ..Faults::default()
    });
    sealed_again(&d, &emu);
    invoke(&d)
        .args(["--prompt", "one two three four"])
        .code(255)
        .stderr_has("StreamInterrupted");

    // Credentials that stop working early.
    let emu = emulator(Faults {
        session_ttl: Some(Duration::ZERO),
        ..Faults::default()
    });
    sealed_again(&d, &emu);
    invoke(&d)
        .args(["--prompt", "hi"])
        .code(253)
        .stderr_has("Bedrock: ExpiredTokenException")
        .stderr_has("run again for fresh ones");
}

/// Every error type the API definition gives the operations `invoke`
/// calls is reported with its hop, its type, AWS's message and a cause
/// of its own: a new error type in the definition without a hint fails
/// here.
#[test]
fn every_bedrock_error_type_has_a_hint() {
    let api = bedrock_emulator::shapes::Api::bedrock_runtime();
    let converse = api.errors("ConverseStream");
    let mut kinds: Vec<String> = Vec::new();
    for op in [
        "Converse",
        "ConverseStream",
        "InvokeModel",
        "InvokeModelWithResponseStream",
    ] {
        for kind in api.errors(op) {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    assert!(kinds.len() >= 11, "{kinds:?}");
    let body = format!(
        "{}/prompts/bodies/anthropic-messages.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let d = Dir::new();
    let mut causes = std::collections::BTreeMap::new();
    for kind in &kinds {
        let emu = emulator(Faults {
            fail_first: 10,
            fail_with: Some(kind.clone()),
            ..Faults::default()
        });
        sealed_again(&d, &emu);
        // Each type on an operation defined to return it.
        let args: Vec<&str> = if converse.contains(kind) {
            vec!["--prompt", "hi", "--max-attempts", "1"]
        } else {
            vec!["--body", &body, "--max-attempts", "1"]
        };
        let done = invoke(&d).args(&args).output();
        assert_ne!(
            done.output.status.code(),
            Some(0),
            "{kind}: {}",
            done.describe()
        );
        done.stderr_has(&format!("Bedrock: {kind}: "));
        let cause = done
            .stderr()
            .lines()
            .find_map(|l| l.trim().strip_prefix("likely cause: ").map(str::to_string));
        let cause = cause.unwrap_or_else(|| panic!("{kind}: no cause: {}", done.describe()));
        assert!(
            !cause.contains("Debug") && !cause.contains("{"),
            "{kind}: {cause}"
        );
        causes.insert(kind.clone(), cause);
    }
    // Causes say different things: one catch-all would not pass.
    let distinct: std::collections::BTreeSet<_> = causes.values().collect();
    assert!(distinct.len() + 1 >= causes.len(), "{causes:#?}");
}

/// Re-encrypts the config of `d` for another emulator.
fn sealed_again(d: &Dir, emu: &common::Emu) {
    for f in ["config.properties", "config.properties.key"] {
        let _ = std::fs::remove_file(d.join(f));
    }
    sealed(d, &access_keys_config(&emu.base_url, &[]));
}

#[test]
fn identity_failures_name_the_hop_code_and_cause() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(
        &d,
        &access_keys_config(&emu.base_url, &["ExternalId = wrong-external-id"]),
    );
    let done = invoke(&d).args(["--prompt", "hi"]).code(254);
    done.stderr_has("STS: AccessDenied: User: arn:aws:iam::111111111111:user/demo-user is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::2222********:role/...")
        .stderr_has("likely cause: arn:aws:iam::111111111111:user/demo-user may not assume arn:aws:iam::2222********:role/...")
        .stderr_has("the ExternalId sent must be the one the trust policy requires");
    assert!(
        !done.all().contains(DEMO_ROLE_ARN),
        "the role ARN is a secret\n{}",
        done.describe()
    );
    assert!(bedrock_calls(&emu).is_empty());

    let d = Dir::new();
    sealed(
        &d,
        &access_keys_config(&emu.base_url, &["SecretKey = not-the-right-secret"]),
    );
    invoke(&d)
        .args(["--prompt", "hi"])
        .code(253)
        .stderr_has("STS: SignatureDoesNotMatch")
        .stderr_has(
            "the secret key does not belong to the access key (long-term key AKIA************0001)",
        );

    let d = Dir::new();
    sealed(
        &d,
        &access_keys_config(&emu.base_url, &["AccessKey = AKIA0000NOTAKEY00000"]),
    );
    invoke(&d)
        .args(["--prompt", "hi"])
        .code(253)
        .stderr_has("STS: InvalidClientTokenId")
        .stderr_has("not known to AWS");

    // A role that may not invoke the model.
    let d = Dir::new();
    sealed(
        &d,
        &access_keys_config(
            &emu.base_url,
            &[
                "AssumeRoleARN = arn:aws:iam::222222222222:role/BedrockTitanOnly",
                "ExternalId =",
            ],
        ),
    );
    invoke(&d).args(["--prompt", "hi", "--model", "Titan"]).ok();
    invoke(&d)
        .args(["--prompt", "hi"])
        .code(254)
        .stderr_has("Bedrock: AccessDeniedException")
        .stderr_has("bedrock:InvokeModelWithResponseStream");
    invoke(&d)
        .args(["--prompt", "hi", "--model", "stability.sd3-large-v1:0"])
        .code(254)
        .stderr_has("ValidationException");
}

#[test]
fn unreachable_endpoint_is_a_network_failure_with_a_hint() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{closed}");
    sealed(
        &d,
        &access_keys_config(&emu.base_url, &[&format!("VPCEndpointURL = {dead}")]),
    );
    invoke(&d)
        .args(["--prompt", "hi", "--max-attempts", "1"])
        .code(255)
        .stderr_has(&format!(
            "Bedrock: ConnectionRefused: connection refused at 127.0.0.1:{closed}"
        ))
        .stderr_has("likely cause: nothing is listening at 127.0.0.1");
    let d = Dir::new();
    sealed(
        &d,
        &access_keys_config(&emu.base_url, &[&format!("STSEndpointURL = {dead}")]),
    );
    invoke(&d)
        .args(["--prompt", "hi", "--max-attempts", "1"])
        .code(255)
        .stderr_has(&format!(
            "STS: ConnectionRefused: connection refused at 127.0.0.1:{closed}"
        ));
}

#[test]
fn refused_before_any_network_call() {
    let emu = emulator(Faults::default());
    emu.expect_no_calls();
    // A tampered config.
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    let text = d
        .read("config.properties")
        .replace("UseVPCe = true", "UseVPCe = false");
    d.write("config.properties", &text);
    invoke(&d)
        .args(["--prompt", "hi"])
        .code(251)
        .stderr_has("integrity check failed");
    // A VPC endpoint of another region (a plaintext file: encrypt-config
    // refuses to seal it, by the same rule).
    let d = Dir::new();
    d.write(
        "config.properties",
        &access_keys_config(
            &emu.base_url,
            &[
                "VPCEndpointURL = https://vpce-0a1b2c3d-abcdefgh.bedrock-runtime.eu-west-1.vpce.amazonaws.com",
            ],
        ),
    );
    invoke(&d)
        .args(["--prompt", "hi"])
        .code(253)
        .stderr_has("[default] VPCEndpointURL: the endpoint is in region eu-west-1 but requests would be signed for us-west-2");
    // --region against the file's Region.
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    invoke(&d)
        .args(["--prompt", "hi", "--region", "eu-west-1"])
        .code(252)
        .stderr_has("disagrees with Region = us-west-2");
    // No model and no terminal to ask on.
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &["ModelID ="]));
    invoke(&d)
        .args(["--prompt", "hi"])
        .code(252)
        .stderr_has("no model chosen: give --model ALIAS or set ModelID in the config; aliases: Claude-3-Haiku, Claude-21");
    invoke(&d)
        .args(["--prompt", "hi", "--model", "Nope"])
        .code(252)
        .stderr_has("--model Nope: not an alias");
    // --dry-run shows the plan and calls nothing.
    let done = invoke(&d)
        .args(["--prompt", "hi", "--model", "Titan", "--dry-run"])
        .ok();
    done.stdout_has("credentials  2 (access-keys), assuming arn:aws:iam::2222********:role/...")
        .stdout_has("operation    ConverseStream")
        .stdout_has("model        amazon.titan-text-express-v1 (Titan)");
    assert!(
        emu.record.entries().is_empty(),
        "{:?}",
        emu.record.entries()
    );
}

#[test]
fn models_lists_the_aliases() {
    let d = Dir::new();
    sealed(&d, &access_keys_config("http://127.0.0.1:9", &[]));
    let done = invoke(&d).args(["models"]).ok();
    assert_eq!(
        done.stdout().lines().next(),
        Some("  1. Claude-3-Haiku  anthropic.claude-3-haiku-20240307-v1:0")
    );
    assert_eq!(done.stdout().lines().count(), 6);
}

#[test]
fn https_endpoint_needs_the_ca_bundle() {
    let emu = common::start(EmulatorConfig {
        tls_names: Some(vec![]),
        ..EmulatorConfig::default()
    });
    let d = Dir::new();
    d.write("ca.pem", emu.ca_pem.as_deref().unwrap());
    sealed(
        &d,
        &access_keys_config(&emu.base_url, &["CABundle = ca.pem"]),
    );
    invoke(&d).args(["--prompt", "hi"]).ok();
    let d2 = Dir::new();
    sealed(&d2, &access_keys_config(&emu.base_url, &[]));
    invoke(&d2)
        .args(["--prompt", "hi", "--max-attempts", "1"])
        .code(255)
        .stderr_has("TLS verification of 127.0.0.1 failed")
        .stderr_has("CABundle");
    // AWS_CA_BUNDLE works too.
    invoke(&d2)
        .env("AWS_CA_BUNDLE", d.join("ca.pem").to_str().unwrap())
        .args(["--prompt", "hi"])
        .ok();
}

#[test]
fn environment_that_changes_what_is_used_is_warned_about() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    invoke(&d)
        .env("AWS_BEARER_TOKEN_BEDROCK", "x")
        .args(["--prompt", "hi", "--dry-run"])
        .ok();
    // Not sent: tests/hardening_calls.rs proves which auth each call used.
    let done = invoke(&d)
        .env("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-x")
        .args(["--prompt", "hi"])
        .ok();
    done.stderr_has("AWS_BEARER_TOKEN_BEDROCK is set and not sent");
}

#[cfg(unix)]
#[test]
fn ctrl_c_ends_a_stream_with_130() {
    let emu = emulator(Faults {
        first_byte_delay: Duration::from_secs(5),
        ..Faults::default()
    });
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    let exe = env!("CARGO_BIN_EXE_invoke");
    let child = std::process::Command::new(exe)
        .current_dir(d.path())
        .env_clear()
        .env("HOME", d.path())
        .args(["--config", "config.properties", "--prompt", "hi"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the call is under way (the emulator has recorded it).
    for _ in 0..100 {
        if !bedrock_calls(&emu).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!bedrock_calls(&emu).is_empty(), "the call started");
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn debug_logs_and_all_output_never_show_a_secret() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    let vpce =
        "https://vpce-0a1b2c3d4e5f60789-abcdefgh.bedrock-runtime.us-west-2.vpce.amazonaws.com";
    sealed(&d, &access_keys_config(&emu.base_url, &["Debug = true"]));
    let key = d.read("config.properties.key");
    let mut outputs = vec![
        invoke(&d).args(["--prompt", "hi"]).ok(),
        invoke(&d)
            .args(["--prompt", "hi", "--output", "json", "--debug"])
            .ok(),
        invoke(&d)
            .args(["--prompt", "hi", "--debug", "--mfa-code", "654321"])
            .ok(),
        invoke(&d).args(["models", "--debug"]).ok(),
    ];
    assert!(
        outputs[0].stderr().contains("DEBUG"),
        "Debug = true turns logs on\n{}",
        outputs[0].describe()
    );
    // --log-file takes the logs off stderr.
    let quiet = invoke(&d)
        .args(["--prompt", "hi", "--log-file", "invoke.log"])
        .ok();
    assert!(!quiet.stderr().contains("DEBUG"), "{}", quiet.describe());
    assert!(d.read("invoke.log").contains("DEBUG"));
    let log = d.read("invoke.log");

    // Failures print too: wrong external id, and a real-looking VPC endpoint in a dry run.
    let d2 = Dir::new();
    sealed(
        &d2,
        &access_keys_config(
            &emu.base_url,
            &["ExternalId = another-external-id", "Debug = true"],
        ),
    );
    outputs.push(invoke(&d2).args(["--prompt", "hi"]).code(254));
    let d3 = Dir::new();
    sealed(
        &d3,
        &access_keys_config(
            &emu.base_url,
            &[&format!("VPCEndpointURL = {vpce}"), "Debug = true"],
        ),
    );
    outputs.push(invoke(&d3).args(["--prompt", "hi", "--dry-run"]).ok());
    outputs[outputs.len() - 1].stdout_has("VPC endpoint https://vpce-0a1****");

    let secrets = [
        DEMO_SECRET_KEY,
        DEMO_ACCESS_KEY,
        DEMO_ROLE_ARN,
        DEMO_EXTERNAL_ID,
        "another-external-id",
        vpce,
        "vpce-0a1b2c3d4e5f60789-abcdefgh",
        key.trim(),
        "654321",
    ];
    for o in &outputs {
        for s in secrets {
            assert!(
                !o.all().contains(s),
                "secret {s:?} in output\n{}",
                o.describe()
            );
        }
    }
    for s in secrets {
        assert!(!log.contains(s), "secret {s:?} in the log file");
    }
}

#[test]
fn assumed_role_credentials_are_cached_between_runs() {
    use bedrock_private::aws::credentials::cache::CredentialCache;
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    let cache_dir = d.join("cache");
    let run = |extra: &[&str]| {
        invoke(&d)
            .env("BEDROCK_PRIVATE_CACHE_DIR", cache_dir.to_str().unwrap())
            .args(["--prompt", "hi"])
            .args(extra)
            .ok()
    };
    let assume_roles = || {
        emu.record
            .entries()
            .iter()
            .filter(|e| e.operation == "AssumeRole")
            .count()
    };

    run(&[]);
    assert_eq!(assume_roles(), 1);
    run(&[]).stderr_has("from the credential cache");
    assert_eq!(assume_roles(), 1, "the second run skips STS");
    let calls = bedrock_calls(&emu);
    assert_eq!(
        calls[0].access_key_id, calls[1].access_key_id,
        "the same session was used"
    );

    // One file, 0600 in a 0700 folder, encrypted: no key id or secret in clear.
    let files: Vec<_> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    #[cfg(unix)]
    {
        assert_eq!(common::mode(&cache_dir), 0o700);
        assert_eq!(common::mode(&files[0]), 0o600);
    }
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        text.starts_with("gAAAAA") && !text.contains("ASIA"),
        "{text}"
    );

    // --no-cache asks STS.
    run(&["--no-cache"]);
    assert_eq!(assume_roles(), 2);

    // A corrupt entry is a miss, and is replaced.
    std::fs::write(&files[0], "garbage").unwrap();
    run(&[]);
    assert_eq!(assume_roles(), 3);
    assert!(
        std::fs::read_to_string(&files[0])
            .unwrap()
            .starts_with("gAAAAA")
    );
    run(&[]).stderr_has("from the credential cache");
    assert_eq!(assume_roles(), 3);

    // An entry about to expire is never used. Rewrite it, with the config's
    // key, to expire in one minute (inside the five-minute margin).
    let key = bedrock_private::config::crypto::ConfigKey::parse(
        bedrock_private::Secret::new(d.read("config.properties.key")),
        "test",
    )
    .unwrap();
    let cache = CredentialCache::new(cache_dir.clone(), key);
    let soon = aws_credential_types::Credentials::new(
        "ASIAEXPIRINGSOON0000",
        "s",
        Some("t".into()),
        Some(std::time::SystemTime::now() + Duration::from_secs(60)),
        "test",
    );
    let k = common::demo_cache_key(&emu.base_url);
    cache.store(&k, &soon);
    assert!(cache.load(&k).is_none(), "inside the margin");
    assert_eq!(
        std::fs::read_dir(&cache_dir).unwrap().count(),
        1,
        "the test wrote the same entry invoke uses"
    );
    run(&[]);
    assert_eq!(assume_roles(), 4, "an expiring entry is not used");
    assert!(
        bedrock_calls(&emu)
            .iter()
            .all(|c| c.access_key_id.as_deref() != Some("ASIAEXPIRINGSOON0000"))
    );

    // Another config key cannot read the entries: a miss, not an error.
    let other = Dir::new();
    sealed(&other, &access_keys_config(&emu.base_url, &[]));
    invoke(&other)
        .env("BEDROCK_PRIVATE_CACHE_DIR", cache_dir.to_str().unwrap())
        .args(["--prompt", "hi"])
        .ok();
    assert_eq!(assume_roles(), 5);
}

/// One versioned JSON for every command: a call, --dry-run, models, check,
/// and errors, which go to stdout as JSON too (with their machine fields),
/// besides the line on stderr; --quiet leaves out the progress lines.
#[test]
fn json_everywhere_and_quiet() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    let schema = "bedrock-private/1";
    let call = json(
        &invoke(&d)
            .args(["--prompt", "hi", "--model", "Titan", "--output", "json"])
            .ok(),
    );
    assert_eq!(call["schema"], schema, "{call}");
    let dry = json(
        &invoke(&d)
            .args([
                "--prompt",
                "hi",
                "--model",
                "Titan",
                "--output",
                "json",
                "--dry-run",
            ])
            .ok(),
    );
    assert_eq!(dry["schema"], schema, "{dry}");
    let models = json(&invoke(&d).args(["models", "--output", "json"]).ok());
    assert_eq!(models["schema"], schema);
    assert_eq!(models["models"][4]["alias"], "Titan", "{models}");
    assert_eq!(
        models["models"][4]["model_id"],
        "amazon.titan-text-express-v1"
    );
    assert_eq!(models["models"][4]["number"], 5);
    let check = json(
        &invoke(&d)
            .args(["check", "--no-invoke", "--output", "json"])
            .ok(),
    );
    assert_eq!(check["schema"], schema);

    // A failure: the stderr line, and the same in JSON on stdout.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let broken = Dir::new();
    sealed(
        &broken,
        &access_keys_config(
            &emu.base_url,
            &[&format!("VPCEndpointURL = http://127.0.0.1:{closed}")],
        ),
    );
    let done = invoke(&broken)
        .args([
            "--prompt",
            "hi",
            "--model",
            "Titan",
            "--output",
            "json",
            "--max-attempts",
            "1",
        ])
        .code(255);
    done.stderr_has("invoke: error: Bedrock: ConnectionRefused");
    let e = json(&done);
    assert_eq!(e["schema"], schema);
    assert_eq!(e["error"]["hop"], "Bedrock", "{e}");
    assert_eq!(e["error"]["code"], "ConnectionRefused");
    assert_eq!(e["error"]["exit_code"], 255);
    assert!(
        e["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("nothing is listening")
    );
    // A config error names its file and key as fields.
    let done = invoke(&d)
        .args([
            "--prompt",
            "hi",
            "--model",
            "NoSuchAlias",
            "--output",
            "json",
        ])
        .output();
    let e = json(&done);
    assert!(e["error"]["message"].is_string(), "{e}");
    assert_eq!(e["error"]["exit_code"], done.output.status.code().unwrap());

    // --quiet: the answer, and no progress lines.
    let done = invoke(&d)
        .args(["--prompt", "hi", "--model", "Titan", "--quiet"])
        .ok();
    assert!(
        done.stdout().starts_with("Reply from"),
        "{}",
        done.describe()
    );
    assert!(
        !done.stderr().contains("invoke: endpoint"),
        "{}",
        done.describe()
    );
    assert!(
        !done.stderr().contains("invoke: done"),
        "{}",
        done.describe()
    );
}

/// `--version` names the SDK and TLS stack built in; completions and the
/// manual page come from the same definitions as the parser.
#[test]
fn version_and_completions() {
    let d = Dir::new();
    let done = d.run("invoke").args(["--version"]).ok();
    let v = done.stdout();
    for part in [
        "invoke 0.",
        "aws-sdk-bedrockruntime 1.",
        "aws-config 1.",
        "TLS: rustls 0.",
        "with ring 0.",
    ] {
        assert!(v.contains(part), "{part}: {v}");
    }
    let done = d.run("invoke").args(["completions", "bash"]).ok();
    let script = done.stdout();
    for sub in [
        "check",
        "models",
        "credentials",
        "env",
        "exec",
        "cache",
        "completions",
    ] {
        assert!(
            script.contains(sub),
            "{sub} missing from the bash completions"
        );
    }
    d.run("invoke").args(["completions", "tcsh"]).code(252);
    let page = d.run("invoke").args(["man"]).ok().stdout();
    assert!(page.contains(".TH invoke 1"), "{page}");
    assert!(
        page.contains("credentials") && page.contains("check"),
        "{page}"
    );
}

/// Without --config and without ./config.properties, the config is found
/// in the user's configuration folder (XDG_CONFIG_HOME, else ~/.config).
#[test]
fn the_config_is_found_in_the_user_configuration_folder() {
    let emu = emulator(Faults::default());
    // Only --dry-run: nothing is sent.
    emu.expect_no_calls();
    let home = Dir::new();
    let place = home.join(".config/bedrock-private");
    std::fs::create_dir_all(&place).unwrap();
    let staging = Dir::new();
    sealed(&staging, &access_keys_config(&emu.base_url, &[]));
    for f in ["config.properties", "config.properties.key"] {
        std::fs::copy(staging.join(f), place.join(f)).unwrap();
    }
    let done = home
        .run("invoke")
        .args(["--prompt", "hi", "--model", "Titan", "--dry-run"])
        .ok();
    assert!(done.all().contains("us-west-2"), "{}", done.describe());
    // XDG_CONFIG_HOME moves it.
    let elsewhere = Dir::new();
    std::fs::create_dir_all(elsewhere.join("bedrock-private")).unwrap();
    for f in ["config.properties", "config.properties.key"] {
        std::fs::rename(place.join(f), elsewhere.join("bedrock-private").join(f)).unwrap();
    }
    home.run("invoke")
        .env("XDG_CONFIG_HOME", elsewhere.path().to_str().unwrap())
        .args(["--prompt", "hi", "--model", "Titan", "--dry-run"])
        .ok();
    home.run("invoke")
        .args(["--prompt", "hi", "--model", "Titan", "--dry-run"])
        .code(253);
}

/// A mistyped alias gets a suggestion, as a mistyped key does.
#[test]
fn a_mistyped_alias_gets_a_suggestion() {
    let emu = emulator(Faults::default());
    emu.expect_no_calls();
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    invoke(&d)
        .args(["--prompt", "hi", "--model", "Titn"])
        .code(252)
        .stderr_has("--model Titn: not an alias")
        .stderr_has("did you mean Titan?");
}

/// --save writes the reply (or with --output json, the JSON) to a file,
/// replacing it whole; what is printed is unchanged.
#[test]
fn save_writes_the_reply_to_a_file() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &access_keys_config(&emu.base_url, &[]));
    d.write(
        "out.txt",
        "an older reply that is longer than the new one\n",
    );
    let done = invoke(&d)
        .args([
            "--prompt",
            "write a haiku",
            "--model",
            "Titan",
            "--save",
            "out.txt",
        ])
        .ok();
    assert_eq!(d.read("out.txt"), done.stdout());
    assert!(
        d.read("out.txt")
            .starts_with("Reply from amazon.titan-text-express-v1: write a haiku")
    );
    let done = invoke(&d)
        .args([
            "--prompt", "hi", "--model", "Titan", "--output", "json", "--save", "out.json",
        ])
        .ok();
    let saved: Value = serde_json::from_str(&d.read("out.json")).unwrap();
    assert_eq!(saved, json(&done));
}
