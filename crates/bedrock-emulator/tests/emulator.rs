//! The emulator driven by the real AWS SDK clients: every operation, every
//! model family, streaming and not, every rejection, each fault, TLS with
//! and without the generated CA, and the request record.

mod common;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseStreamOutput, Message, ResponseStream,
    SystemContentBlock,
};
use aws_smithy_types::retry::RetryConfig;
use bedrock_emulator::identity::{
    DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN, DEMO_SECRET_KEY,
};
use bedrock_emulator::{Emulator, EmulatorConfig, Faults};
use serde_json::{Value, json};
use std::time::Duration;

const TITAN_ONLY: &str = "arn:aws:iam::222222222222:role/BedrockTitanOnly";
const WITH_MFA: &str = "arn:aws:iam::222222222222:role/BedrockWithMfa";

fn start(faults: Faults) -> Emulator {
    Emulator::start(EmulatorConfig {
        faults,
        ..EmulatorConfig::default()
    })
    .expect("emulator starts")
}

fn demo_keys() -> Credentials {
    Credentials::new(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, None, None, "test")
}

fn sdk(url: &str, creds: Credentials, region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        .build()
}

fn sts(emu: &Emulator, creds: Credentials) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&sdk(&emu.base_url, creds, "us-west-2"))
}

fn bedrock(emu: &Emulator, creds: Credentials) -> aws_sdk_bedrockruntime::Client {
    aws_sdk_bedrockruntime::Client::new(&sdk(&emu.base_url, creds, "us-west-2"))
}

async fn assume(emu: &Emulator, role: &str, external_id: Option<&str>) -> Credentials {
    let out = sts(emu, demo_keys())
        .assume_role()
        .role_arn(role)
        .role_session_name("emulator-test")
        .set_external_id(external_id.map(str::to_string))
        .send()
        .await
        .expect("assume role");
    let c = out.credentials().expect("credentials");
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "assumed",
    )
}

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

/// Converse "hi" with `model`, the call most of these tests make; an error
/// comes back as the service's error.
async fn say_hi(
    client: &aws_sdk_bedrockruntime::Client,
    model: &str,
) -> Result<
    aws_sdk_bedrockruntime::operation::converse::ConverseOutput,
    aws_sdk_bedrockruntime::operation::converse::ConverseError,
> {
    client
        .converse()
        .model_id(model)
        .messages(user("hi"))
        .send()
        .await
        .map_err(|e| e.into_service_error())
}

fn code<E: ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("(none)").to_string()
}

#[tokio::test]
async fn cross_account_assume_role_then_converse() {
    let emu = start(Faults::default());
    let creds = assume(&emu, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await;
    assert!(creds.access_key_id().starts_with("ASIA"));

    let who = sts(&emu, creds.clone())
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.account(), Some("222222222222"));
    assert_eq!(
        who.arn(),
        Some("arn:aws:sts::222222222222:assumed-role/BedrockCrossAccount/emulator-test")
    );
    let me = sts(&emu, demo_keys())
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::111111111111:user/demo-user"));

    let out = bedrock(&emu, creds.clone())
        .converse()
        .model_id("anthropic.claude-3-haiku-20240307-v1:0")
        .messages(user("what is a VPC endpoint"))
        .send()
        .await
        .unwrap();
    let text = out.output().unwrap().as_message().unwrap().content()[0]
        .as_text()
        .unwrap()
        .clone();
    assert_eq!(
        text,
        "Reply from anthropic.claude-3-haiku-20240307-v1:0: what is a VPC endpoint"
    );
    assert_eq!(out.stop_reason().as_str(), "end_turn");
    let usage = out.usage().unwrap();
    assert_eq!((usage.input_tokens(), usage.output_tokens()), (5, 8));

    // The record proves which key, region, host and identity each call used.
    let record = emu.record.entries();
    let last = record.last().unwrap();
    assert_eq!(last.service, "bedrock");
    assert_eq!(last.operation, "Converse");
    assert_eq!(last.access_key_id.as_deref(), Some(creds.access_key_id()));
    assert_eq!(last.region.as_deref(), Some("us-west-2"));
    assert_eq!(last.host, format!("127.0.0.1:{}", emu.port));
    assert_eq!(
        last.caller.as_deref(),
        Some("arn:aws:sts::222222222222:assumed-role/BedrockCrossAccount/emulator-test")
    );
    assert_eq!(record[0].operation, "AssumeRole");
    assert_eq!(record[0].access_key_id.as_deref(), Some(DEMO_ACCESS_KEY));
}

#[tokio::test]
async fn trust_policy_external_id_and_mfa_are_enforced() {
    let emu = start(Faults::default());
    let client = sts(&emu, demo_keys());
    for external_id in [None, Some("wrong")] {
        let err = client
            .assume_role()
            .role_arn(DEMO_ROLE_ARN)
            .role_session_name("s1")
            .set_external_id(external_id.map(str::to_string))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(code(&err), "AccessDenied");
        assert!(err.message().unwrap().contains("arn:aws:iam::111111111111:user/demo-user is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/BedrockCrossAccount"));
    }
    let err = client
        .assume_role()
        .role_arn(WITH_MFA)
        .role_session_name("s1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err.into_service_error()), "AccessDenied");
    let ok = client
        .assume_role()
        .role_arn(WITH_MFA)
        .role_session_name("s1")
        .serial_number("arn:aws:iam::111111111111:mfa/demo-user")
        .token_code("123456")
        .send()
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    let err = client
        .assume_role()
        .role_arn(DEMO_ROLE_ARN)
        .external_id(DEMO_EXTERNAL_ID)
        .role_session_name("s1")
        .duration_seconds(43201)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "ValidationError");
}

#[tokio::test]
async fn model_permissions_are_enforced() {
    let emu = start(Faults::default());
    // The user itself may invoke nothing: it must assume a role.
    let err = say_hi(&bedrock(&emu, demo_keys()), "anthropic.claude-v2")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(err.message().unwrap().contains("is not authorized to perform: bedrock:InvokeModel on resource: arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-v2"));

    let titan = assume(&emu, TITAN_ONLY, None).await;
    let client = bedrock(&emu, titan);
    assert!(
        say_hi(&client, "amazon.titan-text-express-v1")
            .await
            .is_ok()
    );
    let err = client
        .converse_stream()
        .model_id("us.anthropic.claude-3-haiku-20240307-v1:0")
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(
        err.message()
            .unwrap()
            .contains("bedrock:InvokeModelWithResponseStream")
    );

    let err = say_hi(&client, "stability.sd3-large-v1:0")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
}

fn family_bodies() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{"role": "user", "content": [{"type": "text", "text": "name three colours"}]}]}),
            "/content/0/text",
        ),
        (
            "anthropic.claude-v2:1",
            json!({"prompt": "\n\nHuman: name three colours\n\nAssistant:", "max_tokens_to_sample": 100}),
            "/completion",
        ),
        (
            "amazon.titan-text-express-v1",
            json!({"inputText": "name three colours", "textGenerationConfig": {"maxTokenCount": 100}}),
            "/results/0/outputText",
        ),
        (
            "meta.llama3-1-8b-instruct-v1:0",
            json!({"prompt": "<|begin_of_text|>name three colours", "max_gen_len": 100}),
            "/generation",
        ),
        (
            "mistral.mistral-7b-instruct-v0:2",
            json!({"prompt": "<s>[INST] name three colours [/INST]", "max_tokens": 100}),
            "/outputs/0/text",
        ),
        (
            "cohere.command-r-v1:0",
            json!({"message": "name three colours"}),
            "/text",
        ),
        (
            "cohere.command-text-v14",
            json!({"prompt": "name three colours"}),
            "/generations/0/text",
        ),
    ]
}

#[tokio::test]
async fn invoke_model_speaks_every_family() {
    let emu = start(Faults::default());
    let client = bedrock(
        &emu,
        assume(&emu, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await,
    );
    for (model, body, pointer) in family_bodies() {
        let out = client
            .invoke_model()
            .model_id(model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body.to_string()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{model}: {:?}", e.into_service_error()));
        let reply: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
        let text = reply
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{model}: {reply}"));
        assert_eq!(
            text.trim(),
            format!("Reply from {model}: name three colours"),
            "{model}"
        );
        assert_eq!(out.content_type(), "application/json");
    }
    // A body of the wrong shape is a ValidationException naming the key.
    let err = client
        .invoke_model()
        .model_id("amazon.titan-text-express-v1")
        .body(Blob::new(json!({"prompt": "x"}).to_string()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "ValidationException");
    assert!(err.message().unwrap().contains("required key [inputText]"));
}

#[tokio::test]
async fn invoke_model_with_response_stream_speaks_every_family() {
    let emu = start(Faults::default());
    let client = bedrock(
        &emu,
        assume(&emu, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await,
    );
    for (model, body, _) in family_bodies() {
        let mut out = client
            .invoke_model_with_response_stream()
            .model_id(model)
            .body(Blob::new(body.to_string()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{model}: {:?}", e.into_service_error()));
        let mut chunks: Vec<Value> = Vec::new();
        while let Some(event) = out.body.recv().await.unwrap() {
            if let ResponseStream::Chunk(part) = event {
                chunks.push(serde_json::from_slice(part.bytes().unwrap().as_ref()).unwrap());
            }
        }
        assert!(chunks.len() > 3, "{model}: several chunks");
        let metrics = chunks
            .last()
            .unwrap()
            .get("amazon-bedrock-invocationMetrics")
            .unwrap_or_else(|| panic!("{model}: metrics on the last chunk"));
        assert_eq!(metrics["inputTokenCount"], 3, "{model}");
        let text: String = chunks
            .iter()
            .filter_map(|c| {
                [
                    "/delta/text",
                    "/completion",
                    "/outputText",
                    "/generation",
                    "/outputs/0/text",
                    "/text",
                ]
                .iter()
                .find_map(|p| c.pointer(p).and_then(Value::as_str))
            })
            .collect();
        assert_eq!(
            text.trim(),
            format!("Reply from {model}: name three colours"),
            "{model}"
        );
    }
}

#[tokio::test]
async fn converse_stream_events_look_like_aws() {
    let emu = start(Faults::default());
    let client = bedrock(
        &emu,
        assume(&emu, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await,
    );
    for model in [
        "anthropic.claude-3-haiku-20240307-v1:0",
        "meta.llama3-1-8b-instruct-v1:0",
        "cohere.command-r-v1:0",
    ] {
        let mut out = client
            .converse_stream()
            .model_id(model)
            .system(SystemContentBlock::Text("be brief".into()))
            .messages(user("one two three"))
            .send()
            .await
            .unwrap();
        let (mut text, mut kinds, mut stop, mut usage) = (String::new(), Vec::new(), None, None);
        while let Some(event) = out.stream.recv().await.unwrap() {
            match event {
                ConverseStreamOutput::MessageStart(_) => kinds.push("start"),
                ConverseStreamOutput::ContentBlockDelta(d) => {
                    text.push_str(d.delta().unwrap().as_text().unwrap());
                    kinds.push("delta");
                }
                ConverseStreamOutput::ContentBlockStop(_) => kinds.push("stop-block"),
                ConverseStreamOutput::MessageStop(m) => {
                    stop = Some(m.stop_reason().as_str().to_string());
                    kinds.push("stop");
                }
                ConverseStreamOutput::Metadata(m) => {
                    usage = m.usage().map(|u| (u.input_tokens(), u.output_tokens()));
                    kinds.push("metadata");
                }
                _ => kinds.push("other"),
            }
        }
        assert_eq!(text, format!("Reply from {model}: one two three"));
        assert_eq!(kinds.first(), Some(&"start"));
        assert_eq!(
            &kinds[kinds.len() - 3..],
            ["stop-block", "stop", "metadata"]
        );
        assert_eq!(stop.as_deref(), Some("end_turn"));
        assert_eq!(usage, Some((5, 6)));
    }
    // Titan takes no system prompt in Converse, on AWS too.
    let err = client
        .converse()
        .model_id("amazon.titan-text-express-v1")
        .system(SystemContentBlock::Text("be brief".into()))
        .messages(user("hi"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "ValidationException");
    assert!(
        err.message()
            .unwrap()
            .contains("doesn't support system messages")
    );
    // The output limit cuts the reply, with the matching stop reason.
    let out = client
        .converse()
        .model_id("anthropic.claude-v2")
        .messages(user("a b c d e f"))
        .inference_config(
            aws_sdk_bedrockruntime::types::InferenceConfiguration::builder()
                .max_tokens(3)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason().as_str(), "max_tokens");
}

#[tokio::test]
async fn bad_credentials_are_rejected_as_on_aws() {
    let emu = start(Faults::default());
    let converse = |creds: Credentials, region: &'static str| {
        let client = aws_sdk_bedrockruntime::Client::new(&sdk(&emu.base_url, creds, region));
        async move { say_hi(&client, "anthropic.claude-v2").await.unwrap_err() }
    };
    let unknown = converse(
        Credentials::new("AKIAUNKNOWNKEY000000", DEMO_SECRET_KEY, None, None, "t"),
        "us-west-2",
    )
    .await;
    assert_eq!(code(&unknown), "UnrecognizedClientException");
    let bad_secret = converse(
        Credentials::new(DEMO_ACCESS_KEY, "wrong", None, None, "t"),
        "us-west-2",
    )
    .await;
    assert_eq!(code(&bad_secret), "InvalidSignatureException");
    let wrong_region = converse(demo_keys(), "us-east-1").await;
    assert_eq!(code(&wrong_region), "InvalidSignatureException");
    assert!(
        wrong_region
            .message()
            .unwrap()
            .contains("scoped to a valid region")
    );

    let session = assume(&emu, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await;
    let no_token = Credentials::new(
        session.access_key_id(),
        session.secret_access_key(),
        None,
        None,
        "t",
    );
    assert_eq!(
        code(&converse(no_token, "us-west-2").await),
        "UnrecognizedClientException"
    );

    let sts_err = sts(
        &emu,
        Credentials::new(DEMO_ACCESS_KEY, "wrong", None, None, "t"),
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap_err()
    .into_service_error();
    assert_eq!(code(&sts_err), "SignatureDoesNotMatch");
    let sts_err = sts(
        &emu,
        Credentials::new("AKIAUNKNOWNKEY000000", "x", None, None, "t"),
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap_err()
    .into_service_error();
    assert_eq!(code(&sts_err), "InvalidClientTokenId");
}

#[tokio::test]
async fn clock_skew_is_rejected() {
    let emu = start(Faults::default());
    let past = std::time::SystemTime::now() - Duration::from_secs(600);
    let conf = aws_sdk_bedrockruntime::config::Builder::from(&sdk(
        &emu.base_url,
        demo_keys(),
        "us-west-2",
    ))
    .time_source(aws_smithy_async::time::StaticTimeSource::new(past))
    .build();
    let err = say_hi(
        &aws_sdk_bedrockruntime::Client::from_conf(conf),
        "anthropic.claude-v2",
    )
    .await
    .unwrap_err();
    assert_eq!(code(&err), "InvalidSignatureException");
    assert!(
        err.message().unwrap().starts_with("Signature expired:"),
        "{:?}",
        err.message()
    );
}

#[tokio::test]
async fn issued_credentials_expire() {
    let emu = start(Faults {
        session_ttl: Some(Duration::from_secs(1)),
        ..Faults::default()
    });
    let creds = assume(&emu, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await;
    let client = bedrock(&emu, creds);
    assert!(say_hi(&client, "anthropic.claude-v2").await.is_ok());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = say_hi(&client, "anthropic.claude-v2").await.unwrap_err();
    assert_eq!(code(&err), "ExpiredTokenException");
}

#[tokio::test]
async fn instance_role_through_imds_v2() {
    let emu = start(Faults::default());
    let imds = aws_config::imds::Client::builder()
        .endpoint(&emu.base_url)
        .unwrap()
        .build();
    let provider = aws_config::imds::credentials::ImdsCredentialsProvider::builder()
        .imds_client(imds)
        .build();
    let conf = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .endpoint_url(&emu.base_url)
        .build();
    let who = aws_sdk_sts::Client::new(&conf)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        who.arn(),
        Some("arn:aws:sts::111111111111:assumed-role/WorkshopInstanceRole/i-0emulator0000000")
    );
    let ops: Vec<String> = emu
        .record
        .entries()
        .iter()
        .filter(|e| e.service == "imds")
        .map(|e| e.operation.clone())
        .collect();
    assert_eq!(ops[..3], ["GetToken", "ListRoles", "GetCredentials"]);
    // IMDSv1 (no token) is refused.
    let raw = raw_request(
        emu.port,
        "GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.starts_with("HTTP/1.1 401"), "{raw}");
}

#[tokio::test]
async fn throttling_and_5xx_are_retryable_like_aws() {
    let emu = start(Faults {
        throttle_first: 1,
        fail_first: 1,
        ..Faults::default()
    });
    let creds = assume(&emu, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await;
    let client = bedrock(&emu, creds.clone());
    let first = say_hi(&client, "anthropic.claude-v2").await.unwrap_err();
    assert_eq!(code(&first), "ThrottlingException");
    let second = say_hi(&client, "anthropic.claude-v2").await.unwrap_err();
    assert_eq!(code(&second), "ServiceUnavailableException");
    assert!(say_hi(&client, "anthropic.claude-v2").await.is_ok());

    // The SDK's standard retries treat both as transient, as on AWS.
    let emu = start(Faults {
        throttle_first: 1,
        fail_first: 1,
        ..Faults::default()
    });
    let creds = assume(&emu, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await;
    let conf =
        aws_sdk_bedrockruntime::config::Builder::from(&sdk(&emu.base_url, creds, "us-west-2"))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .build();
    let ok = say_hi(
        &aws_sdk_bedrockruntime::Client::from_conf(conf),
        "anthropic.claude-v2",
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");
    let statuses: Vec<u16> = emu
        .record
        .entries()
        .iter()
        .filter(|e| e.service == "bedrock")
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, [429, 503, 200]);
}

/// `--fail-with` answers only operations whose definition lists the
/// error: ModelStreamErrorException is InvokeModelWithResponseStream's, so
/// a Converse call is served (and not counted) while the stream fails.
#[tokio::test]
async fn fail_with_keeps_to_the_operations_that_define_the_error() {
    let emu = start(Faults {
        fail_first: 1,
        fail_with: Some("ModelStreamErrorException".into()),
        ..Faults::default()
    });
    let creds = assume(&emu, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await;
    let client = bedrock(&emu, creds);
    assert!(say_hi(&client, "anthropic.claude-v2").await.is_ok());
    let body = json!({"prompt": "\n\nHuman: hi\n\nAssistant:", "max_tokens_to_sample": 10});
    let err = client
        .invoke_model_with_response_stream()
        .model_id("anthropic.claude-v2")
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "ModelStreamErrorException");
    let statuses: Vec<u16> = emu
        .record
        .entries()
        .iter()
        .filter(|e| e.service == "bedrock")
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, [200, 424]);
}

#[tokio::test]
async fn stream_faults() {
    // An exception event mid-stream.
    let (events, end) = drain_stream(Faults {
        stream_error_after: Some(2),
        ..Faults::default()
    })
    .await;
    assert_eq!(events, 2);
    let err = end.expect_err("the injected error").into_service_error();
    assert!(
        matches!(err, aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError::ModelStreamErrorException(_)),
        "{err:?}"
    );

    // A connection cut mid-stream: an error, not an end.
    let (events, end) = drain_stream(Faults {
        cut_stream_after: Some(3),
        ..Faults::default()
    })
    .await;
    assert!(end.is_err(), "a cut stream is an error, not an end");
    assert_eq!(events, 3);

    // A delayed first byte: the first event leaves no earlier than the delay.
    let emu = start(Faults {
        first_byte_delay: Duration::from_millis(150),
        ..Faults::default()
    });
    let client = bedrock(
        &emu,
        assume(&emu, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await,
    );
    let mut out = client
        .converse_stream()
        .model_id("anthropic.claude-v2")
        .messages(user("x"))
        .send()
        .await
        .unwrap();
    while out.stream.recv().await.unwrap().is_some() {}
    let entry = emu
        .record
        .entries()
        .into_iter()
        .find(|e| e.service == "bedrock")
        .unwrap();
    assert!(
        entry.first_event_us.unwrap() - entry.at_us >= 150_000,
        "{entry:?}"
    );
}

/// Runs one ConverseStream against an emulator with `faults` and reads it
/// to its end: how many events arrived, and how it ended.
async fn drain_stream(
    faults: Faults,
) -> (
    usize,
    Result<
        (),
        aws_sdk_bedrockruntime::error::SdkError<
            aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError,
            aws_smithy_types::event_stream::RawMessage,
        >,
    >,
) {
    let emu = start(faults);
    let client = bedrock(
        &emu,
        assume(&emu, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await,
    );
    let mut out = client
        .converse_stream()
        .model_id("anthropic.claude-v2")
        .messages(user("one two three"))
        .send()
        .await
        .unwrap();
    let mut events = 0;
    loop {
        match out.stream.recv().await {
            Ok(Some(_)) => events += 1,
            Ok(None) => return (events, Ok(())),
            Err(e) => return (events, Err(e)),
        }
    }
}

#[tokio::test]
async fn https_with_and_without_the_generated_ca() {
    let emu = Emulator::start(EmulatorConfig {
        tls_names: Some(vec![
            "vpce-0abc-emulator.bedrock-runtime.us-west-2.vpce.amazonaws.com".into(),
        ]),
        ..EmulatorConfig::default()
    })
    .unwrap();
    assert!(emu.base_url.starts_with("https://127.0.0.1:"));
    let pem = emu.ca_pem.clone().unwrap();
    let trusted = common::trusting(&pem);
    let conf = aws_sdk_sts::config::Builder::from(&sdk(&emu.base_url, demo_keys(), "us-west-2"))
        .http_client(trusted)
        .build();
    let who = aws_sdk_sts::Client::from_conf(conf)
        .get_caller_identity()
        .send()
        .await;
    assert!(who.is_ok(), "{who:?}");

    // Without the CA the handshake fails before any request is made.
    let err = sts(&emu, demo_keys())
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, aws_sdk_sts::error::SdkError::DispatchFailure(_)),
        "{err:?}"
    );
    assert_eq!(
        emu.record.entries().len(),
        1,
        "only the trusted call reached the emulator"
    );
}

#[test]
fn admin_path_serves_the_record() {
    let emu = start(Faults::default());
    let _ = raw_request(
        emu.port,
        "POST /model/anthropic.claude-v2/converse HTTP/1.1\r\nHost: bedrock-runtime.us-west-2.amazonaws.com\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    let raw = raw_request(
        emu.port,
        "GET /__emulator/requests HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let body = &raw[raw.find("\r\n\r\n").unwrap() + 4..];
    let entries: Vec<bedrock_emulator::RecordEntry> = serde_json::from_str(body).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].error.as_deref(),
        Some("MissingAuthenticationTokenException")
    );
    assert_eq!(entries[0].host, "bedrock-runtime.us-west-2.amazonaws.com");
    assert_eq!(entries[0].status, 403);
}

#[test]
fn wrong_service_in_the_signature_is_rejected() {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let emu = start(Faults::default());
    let host = format!("127.0.0.1:{}", emu.port);
    let body = "{\"messages\":[]}";
    let identity = demo_keys().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-west-2")
        .name("s3")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(
        "POST",
        format!("http://{host}/model/anthropic.claude-v2/converse"),
        [
            ("host", host.as_str()),
            ("content-type", "application/json"),
        ]
        .into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let mut head = format!(
        "POST /model/anthropic.claude-v2/converse HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in instructions.headers() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let raw = raw_request(emu.port, &format!("{head}\r\n{body}"));
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    assert!(
        raw.contains("Credential should be scoped to correct service: 'bedrock'."),
        "{raw}"
    );
}

/// Sends raw HTTP/1.1 and returns the whole response.
fn raw_request(port: u16, request: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Converse with tools: a prompt that names a tool gets a toolUse block
/// (whole and streamed) with an input of its schema's required members,
/// and stopReason tool_use; the SDK reads both.
#[tokio::test]
async fn converse_tool_use_and_guardrails() {
    use aws_sdk_bedrockruntime::types::{
        GuardrailConfiguration, StopReason, Tool, ToolConfiguration, ToolInputSchema,
        ToolSpecification,
    };
    use bedrock_emulator::guardrails::{BLOCKED_INPUT_MESSAGE, DEMO_GUARDRAIL_ID};
    let emu = start(Faults::default());
    let creds = assume(&emu, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await;
    let client = bedrock(&emu, creds);
    let schema = aws_smithy_types::Document::Object(
        [
            ("type".to_string(), "object".into()),
            (
                "required".to_string(),
                aws_smithy_types::Document::Array(vec!["city".into()]),
            ),
        ]
        .into_iter()
        .collect(),
    );
    let tools = ToolConfiguration::builder()
        .tools(Tool::ToolSpec(
            ToolSpecification::builder()
                .name("get_weather")
                .input_schema(ToolInputSchema::Json(schema))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let model = "anthropic.claude-3-haiku-20240307-v1:0";
    let out = client
        .converse()
        .model_id(model)
        .messages(user("weather in Paris? use get_weather"))
        .tool_config(tools.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(*out.stop_reason(), StopReason::ToolUse);
    let message = out.output().unwrap().as_message().unwrap();
    let tool = message
        .content()
        .iter()
        .find_map(|b| b.as_tool_use().ok())
        .expect("a toolUse block");
    assert_eq!(tool.name(), "get_weather");
    let mut stream = client
        .converse_stream()
        .model_id(model)
        .messages(user("weather in Paris? use get_weather"))
        .tool_config(tools)
        .send()
        .await
        .unwrap()
        .stream;
    let (mut started, mut input, mut stop) = (None, String::new(), None);
    while let Some(event) = stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::ContentBlockStart(s) => {
                started = s
                    .start()
                    .and_then(|s| s.as_tool_use().ok())
                    .map(|t| t.name().to_string());
            }
            ConverseStreamOutput::ContentBlockDelta(d) => {
                if let Some(Ok(t)) = d.delta().map(|d| d.as_tool_use()) {
                    input.push_str(t.input());
                }
            }
            ConverseStreamOutput::MessageStop(m) => stop = Some(m.stop_reason().clone()),
            _ => {}
        }
    }
    assert_eq!(started.as_deref(), Some("get_weather"));
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"city": "emulator"})
    );
    assert_eq!(stop, Some(StopReason::ToolUse));

    // A guardrail that blocks the prompt answers in the model's place.
    let guardrail = |id: &str| {
        GuardrailConfiguration::builder()
            .guardrail_identifier(id)
            .guardrail_version("DRAFT")
            .build()
    };
    let out = client
        .converse()
        .model_id(model)
        .messages(user("something forbidden"))
        .guardrail_config(guardrail(DEMO_GUARDRAIL_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(*out.stop_reason(), StopReason::GuardrailIntervened);
    let text = out.output().unwrap().as_message().unwrap().content()[0]
        .as_text()
        .unwrap()
        .clone();
    assert_eq!(text, BLOCKED_INPUT_MESSAGE);
    let err = client
        .converse()
        .model_id(model)
        .messages(user("hello"))
        .guardrail_config(guardrail("nosuchguardrail"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "ValidationException");
}
