//! STS as AWS runs it, driven by the AWS SDK's STS client: the API
//! definition's bounds and messages, session policies, tags and source
//! identity with the permissions they need, GetSessionToken with MFA, web
//! identity federation, and the status of an expired token.

mod common;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use aws_sdk_sts::types::Tag;
use aws_smithy_types::retry::RetryConfig;
use bedrock_emulator::identity::{
    DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN, DEMO_SECRET_KEY, DEMO_WEB_IDENTITY_ROLE_ARN,
};
use bedrock_emulator::oidc::{self, DEMO_AUDIENCE, DEMO_ISSUER};
use bedrock_emulator::{Emulator, EmulatorConfig, Faults};
use std::time::Duration;

const TITAN_ONLY: &str = "arn:aws:iam::222222222222:role/BedrockTitanOnly";
const WITH_MFA: &str = "arn:aws:iam::222222222222:role/BedrockWithMfa";
const MFA_SERIAL: &str = "arn:aws:iam::111111111111:mfa/demo-user";

fn start(faults: Faults) -> Emulator {
    Emulator::start(EmulatorConfig {
        faults,
        ..EmulatorConfig::default()
    })
    .expect("emulator starts")
}

const FIRST: &str = "arn:aws:iam::333333333333:role/First";
const SECOND: &str = "arn:aws:iam::333333333333:role/Second";

/// An emulator whose roles chain: the demo user may assume `First`, which
/// may set a source identity and assume `Second`. Read from the identities
/// file format, new members included.
fn chain() -> Emulator {
    let directory = serde_json::from_value(serde_json::json!({
        "users": [{"name": "demo-user", "account": "111111111111",
                   "access_key_id": DEMO_ACCESS_KEY, "secret_access_key": DEMO_SECRET_KEY}],
        "roles": [
            {"name": "First", "account": "333333333333",
             "trusts": ["arn:aws:iam::111111111111:user/demo-user"],
             "set_source_identity": true, "tag_session": true, "models": ["*"]},
            {"name": "Second", "account": "333333333333", "trusts": [FIRST],
             "set_source_identity": true, "models": ["*"]}
        ],
        "instance_role": null
    }))
    .expect("identities parse");
    Emulator::start(EmulatorConfig {
        directory,
        ..EmulatorConfig::default()
    })
    .expect("emulator starts")
}

fn sdk(emu: &Emulator, creds: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .endpoint_url(&emu.base_url)
        .retry_config(RetryConfig::disabled())
        .build()
}

fn sts(emu: &Emulator, creds: Credentials) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&sdk(emu, creds))
}

fn demo_keys() -> Credentials {
    Credentials::new(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, None, None, "test")
}

fn creds(c: &aws_sdk_sts::types::Credentials) -> Credentials {
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "issued",
    )
}

/// The error's code and message, as a person would read them.
fn refusal<E: ProvideErrorMetadata>(e: &E) -> (String, String) {
    (
        e.code().unwrap_or("(none)").to_string(),
        e.message().unwrap_or("(none)").to_string(),
    )
}

async fn converse(emu: &Emulator, creds: Credentials, model: &str) -> Result<(), (String, String)> {
    aws_sdk_bedrockruntime::Client::new(&sdk(emu, creds))
        .converse()
        .model_id(model)
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text("hi".into()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| refusal(&e.into_service_error()))
}

fn assume_demo(
    client: &aws_sdk_sts::Client,
) -> aws_sdk_sts::operation::assume_role::builders::AssumeRoleFluentBuilder {
    client
        .assume_role()
        .role_arn(DEMO_ROLE_ARN)
        .external_id(DEMO_EXTERNAL_ID)
        .role_session_name("sts-test")
}

#[tokio::test]
async fn durations_lengths_and_patterns_are_checked_with_aws_messages() {
    let emu = start(Faults::default());
    let client = sts(&emu, demo_keys());
    let cases = [
        (
            assume_demo(&client).duration_seconds(899),
            "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
        ),
        (
            assume_demo(&client).duration_seconds(43201),
            "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200",
        ),
        (
            assume_demo(&client).role_session_name("a b"),
            "1 validation error detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        ),
        (
            assume_demo(&client).role_arn("arn:aws:iam::2"),
            "1 validation error detected: Value 'arn:aws:iam::2' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20",
        ),
        (
            assume_demo(&client).token_code("12345"),
            "1 validation error detected: Value '12345' at 'tokenCode' failed to satisfy constraint: Member must have length greater than or equal to 6",
        ),
    ];
    for (call, expected) in cases {
        let err = call.send().await.unwrap_err().into_service_error();
        assert_eq!(refusal(&err), ("ValidationError".into(), expected.into()));
    }
    // The role's own maximum, and role chaining's hour.
    let err = client
        .assume_role()
        .role_arn(TITAN_ONLY)
        .role_session_name("s1")
        .duration_seconds(7200)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        refusal(&err).1,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    );
    let emu = chain();
    let first = sts(&emu, demo_keys())
        .assume_role()
        .role_arn(FIRST)
        .role_session_name("first")
        .send()
        .await
        .unwrap();
    let chained = sts(&emu, creds(first.credentials().unwrap()));
    let err = chained
        .assume_role()
        .role_arn(SECOND)
        .role_session_name("s1")
        .duration_seconds(3601)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        refusal(&err)
            .1
            .contains("1 hour session limit for roles assumed by role chaining")
    );
}

#[tokio::test]
#[allow(deprecated)] // PackedPolicySize: still returned by AssumeRole.
async fn session_policy_tags_and_source_identity() {
    let emu = start(Faults::default());
    let client = sts(&emu, demo_keys());
    let policy = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "bedrock:InvokeModel*", "Resource": "arn:aws:bedrock:*::foundation-model/amazon.titan-*"}]}"#;
    let out = assume_demo(&client)
        .policy(policy)
        .tags(Tag::builder().key("team").value("ml").build().unwrap())
        .source_identity("alice")
        .send()
        .await
        .unwrap();
    let packed = out
        .packed_policy_size()
        .expect("PackedPolicySize with a policy");
    assert!((1..=100).contains(&packed), "{packed}");
    assert_eq!(out.source_identity(), Some("alice"));
    let session = creds(out.credentials().unwrap());
    // The session policy narrows what the role allows.
    assert!(
        converse(&emu, session.clone(), "amazon.titan-text-express-v1")
            .await
            .is_ok()
    );
    let (code, message) = converse(
        &emu,
        session.clone(),
        "anthropic.claude-3-haiku-20240307-v1:0",
    )
    .await
    .unwrap_err();
    assert_eq!(code, "AccessDeniedException");
    assert!(
        message.contains("because no session policy allows the bedrock:InvokeModel action"),
        "{message}"
    );
    // Without options, no PackedPolicySize and no SourceIdentity.
    let plain = assume_demo(&client).send().await.unwrap();
    assert_eq!(plain.packed_policy_size(), None);
    assert_eq!(plain.source_identity(), None);

    // A source identity, once set, stays for the chain.
    let chain = chain();
    let first = sts(&chain, demo_keys())
        .assume_role()
        .role_arn(FIRST)
        .role_session_name("first")
        .source_identity("alice")
        .send()
        .await
        .unwrap();
    let next = sts(&chain, creds(first.credentials().unwrap()));
    let kept = next
        .assume_role()
        .role_arn(SECOND)
        .role_session_name("next")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.source_identity(), Some("alice"));
    let err = next
        .assume_role()
        .role_arn(SECOND)
        .role_session_name("next")
        .source_identity("mallory")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(refusal(&err).1.contains("sts:SetSourceIdentity"), "{err:?}");

    // Tags and a source identity need the trust policy's permission.
    let err = client
        .assume_role()
        .role_arn(TITAN_ONLY)
        .role_session_name("s1")
        .tags(Tag::builder().key("team").value("ml").build().unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        refusal(&err),
        (
            "AccessDenied".into(),
            format!(
                "User: arn:aws:iam::111111111111:user/demo-user is not authorized to perform: sts:TagSession on resource: {TITAN_ONLY}"
            )
        )
    );
    let err = client
        .assume_role()
        .role_arn(TITAN_ONLY)
        .role_session_name("s1")
        .source_identity("alice")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(refusal(&err).1.contains("sts:SetSourceIdentity"));

    // A policy that is not one, and policies and tags over the packed limit.
    for bad in ["not json", r#"{"Statement": [{"Effect": "Perhaps"}]}"#] {
        let err = assume_demo(&client)
            .policy(bad)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(
            refusal(&err),
            (
                "MalformedPolicyDocument".into(),
                "Syntax errors in policy.".into()
            )
        );
    }
    let mut big = assume_demo(&client);
    for n in 0..20 {
        big = big.tags(
            Tag::builder()
                .key(format!("k{n}"))
                .value("v".repeat(200))
                .build()
                .unwrap(),
        );
    }
    let err = big.send().await.unwrap_err().into_service_error();
    let (code, message) = refusal(&err);
    assert_eq!(code, "PackedPolicyTooLarge");
    assert!(message.starts_with("Packed policy consumes "), "{message}");
}

#[tokio::test]
async fn get_session_token_with_and_without_mfa() {
    let emu = start(Faults::default());
    let client = sts(&emu, demo_keys());
    let out = client.get_session_token().send().await.unwrap();
    let session = creds(out.credentials().unwrap());
    assert!(session.access_key_id().starts_with("ASIA"));
    // The session acts as the user.
    let me = sts(&emu, session.clone())
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::111111111111:user/demo-user"));
    // Not from session credentials.
    let err = sts(&emu, session.clone())
        .get_session_token()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        refusal(&err),
        (
            "AccessDenied".into(),
            "Cannot call GetSessionToken with session credentials".into()
        )
    );
    // Without MFA, the MFA role still needs a code; with an MFA session, not.
    let err = sts(&emu, session)
        .assume_role()
        .role_arn(WITH_MFA)
        .role_session_name("s1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        refusal(&err)
            .1
            .contains("MultiFactorAuthentication required")
    );
    let err = client
        .get_session_token()
        .serial_number(MFA_SERIAL)
        .token_code("000000")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(refusal(&err).0, "AccessDenied");
    let out = client
        .get_session_token()
        .serial_number(MFA_SERIAL)
        .token_code("123456")
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let mfa_session = creds(out.credentials().unwrap());
    let assumed = sts(&emu, mfa_session)
        .assume_role()
        .role_arn(WITH_MFA)
        .role_session_name("s1")
        .send()
        .await;
    assert!(assumed.is_ok(), "{assumed:?}");
    // The bounds of its own duration.
    let err = client
        .get_session_token()
        .duration_seconds(129_601)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        refusal(&err)
            .1
            .contains("Member must have value less than or equal to 129600")
    );
}

#[tokio::test]
async fn web_identity_federation() {
    let emu = start(Faults::default());
    // Unsigned, as the SDK sends it.
    let anonymous = aws_sdk_sts::Client::new(
        &SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .endpoint_url(&emu.base_url)
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let subject = "system:serviceaccount:workshop:app";
    // Scripts get their token over HTTP; tests from the library.
    let served = common::http_get(
        emu.port,
        &format!("/__emulator/web-identity-token?sub={subject}&ttl=300"),
    );
    let claims = oidc::verify(&served, std::time::SystemTime::now()).expect("a valid token");
    assert_eq!(
        (claims.subject.as_str(), claims.audience.as_str()),
        (subject, DEMO_AUDIENCE)
    );
    let token = oidc::token(subject, DEMO_AUDIENCE, Duration::from_secs(300));
    let out = anonymous
        .assume_role_with_web_identity()
        .role_arn(DEMO_WEB_IDENTITY_ROLE_ARN)
        .role_session_name("pod")
        .web_identity_token(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.subject_from_web_identity_token(), Some(subject));
    assert_eq!(out.provider(), Some(DEMO_ISSUER));
    assert_eq!(out.audience(), Some(DEMO_AUDIENCE));
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::111111111111:assumed-role/WorkshopWebIdentityRole/pod"
    );
    // Its session may go on to the cross-account role, and invoke there.
    let session = creds(out.credentials().unwrap());
    let cross = sts(&emu, session.clone())
        .assume_role()
        .role_arn(DEMO_ROLE_ARN)
        .external_id(DEMO_EXTERNAL_ID)
        .role_session_name("cross")
        .send()
        .await
        .unwrap();
    assert!(
        converse(
            &emu,
            creds(cross.credentials().unwrap()),
            "anthropic.claude-3-haiku-20240307-v1:0"
        )
        .await
        .is_ok()
    );
    // And invoke with its own session, as default-chain users do.
    assert!(
        converse(&emu, session, "anthropic.claude-3-haiku-20240307-v1:0")
            .await
            .is_ok()
    );

    let ask = |role: &str, token: &str| {
        anonymous
            .assume_role_with_web_identity()
            .role_arn(role)
            .role_session_name("pod")
            .web_identity_token(token)
            .send()
    };
    let wrong_audience = oidc::token(subject, "someone-else", Duration::from_secs(300));
    let err = ask(DEMO_WEB_IDENTITY_ROLE_ARN, &wrong_audience)
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        refusal(&err),
        (
            "InvalidIdentityToken".into(),
            "Incorrect token audience".into()
        )
    );
    let expired = oidc::token(subject, DEMO_AUDIENCE, Duration::ZERO);
    let err = ask(DEMO_WEB_IDENTITY_ROLE_ARN, &expired)
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(refusal(&err).0, "ExpiredTokenException");
    assert!(err.is_expired_token_exception());
    let err = ask(DEMO_WEB_IDENTITY_ROLE_ARN, "not.a-token.at-all")
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_identity_token_exception(), "{err:?}");
    // A role whose trust policy names no OIDC provider.
    let err = ask(DEMO_ROLE_ARN, &token)
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        refusal(&err),
        (
            "AccessDenied".into(),
            "Not authorized to perform sts:AssumeRoleWithWebIdentity".into()
        )
    );
}

#[tokio::test]
async fn expired_session_tokens_are_403_and_keys_have_accounts() {
    let emu = start(Faults {
        session_ttl: Some(Duration::ZERO),
        ..Faults::default()
    });
    let client = sts(&emu, demo_keys());
    let out = assume_demo(&client).send().await.unwrap();
    let err = sts(&emu, creds(out.credentials().unwrap()))
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(403));
    assert_eq!(refusal(&err.into_service_error()).0, "ExpiredToken");

    let info = client
        .get_access_key_info()
        .access_key_id(DEMO_ACCESS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(info.account(), Some("111111111111"));
}
