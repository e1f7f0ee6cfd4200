//! The `bedrock-emulator` binary: its first line, its files, its signals.

mod common;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use common::{ChildEmulator, Dir};

fn sts(url: &str, key: &str, secret: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(
        &SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-central-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                key, secret, None, None, "t",
            )))
            .endpoint_url(url)
            .build(),
    )
}

#[tokio::test]
async fn serves_an_identities_file_records_to_a_file_and_stops_on_sigterm() {
    let d = Dir::new();
    let identities = d.write(
        "identities.json",
        r#"{
          "users": [{"name": "alice", "account": "333333333333",
                     "access_key_id": "AKIA3333ALICE0000001", "secret_access_key": "alice-secret"}],
          "roles": [],
          "instance_role": null
        }"#,
    );
    let record = d.join("record.jsonl");
    let emu = ChildEmulator::start(&[
        "--region",
        "eu-central-1",
        "--identities",
        identities.to_str().unwrap(),
        "--record",
        record.to_str().unwrap(),
    ]);
    let who = sts(&emu.base_url, "AKIA3333ALICE0000001", "alice-secret")
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some("arn:aws:iam::333333333333:user/alice"));
    // The built-in demo user does not exist in this file.
    let err = sts(&emu.base_url, "AKIA1111DEMOUSER0001", "x")
        .get_caller_identity()
        .send()
        .await;
    assert!(err.is_err());

    let via_admin = emu.record();
    assert_eq!(via_admin.len(), 2);
    assert_eq!(via_admin[0]["region"], "eu-central-1");
    assert_eq!(via_admin[1]["error"], "InvalidClientTokenId");
    let status = emu.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, via_admin, "the file and the admin path agree");
}

#[tokio::test]
async fn https_mode_writes_its_ca() {
    let d = Dir::new();
    let ca = d.join("ca.pem");
    let emu = ChildEmulator::start(&[
        "--tls",
        "--tls-name",
        "bedrock.example.test",
        "--ca-out",
        ca.to_str().unwrap(),
    ]);
    assert!(emu.base_url.starts_with("https://"));
    let pem = std::fs::read_to_string(&ca).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let client = common::trusting(&pem);
    let conf = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIA1111DEMOUSER0001",
            "demo+user+secret/for+the+local+emulator1",
            None,
            None,
            "t",
        )))
        .endpoint_url(&emu.base_url)
        .http_client(client)
        .build();
    let who = aws_sdk_sts::Client::new(&conf)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.account(), Some("111111111111"));
}

#[test]
fn bad_arguments_exit_252() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-emulator"))
        .args(["--region", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(252));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--region nowhere"));
}
