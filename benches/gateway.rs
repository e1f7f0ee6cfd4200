//! The gateway under load: ConverseStream calls at concurrency 64, each
//! read to its end, once straight to the emulator (HTTPS, SigV4) and once
//! through `invoke serve` (the client on loopback with a gateway token as
//! its Bedrock API key; the gateway on to the emulator over HTTPS). The
//! difference is the latency the gateway adds; its CPU per request is read
//! from the kernel's account of its process. Run with `scripts/bench-gateway`
//! (release build); prints a table.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use bedrock_emulator::identity::{
    DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN, DEMO_SECRET_KEY,
};
use bedrock_emulator::{Emulator, EmulatorConfig};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const CONCURRENCY: usize = 64;

fn https_client(ca_pem: &str) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(ca_pem.as_bytes().to_vec());
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(context)
        .build_https()
}

/// The CPU seconds (user and system) process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    (ticks(11) + ticks(12)) / 100.0
}

/// `requests` streams at CONCURRENCY through `client`, each read to its
/// end: the latencies, sorted, and the wall time.
async fn drive(
    client: &aws_sdk_bedrockruntime::Client,
    requests: usize,
) -> (Vec<Duration>, Duration) {
    let message = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("how much does the gateway add".into()))
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, next, message) = (client.clone(), next.clone(), message.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let t = Instant::now();
                let mut out = client
                    .converse_stream()
                    .model_id(MODEL)
                    .messages(message.clone())
                    .send()
                    .await
                    .expect("converse stream");
                while out.stream.recv().await.expect("an event").is_some() {}
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let wall = started.elapsed();
    all.sort();
    (all, wall)
}

fn pct(all: &[Duration], p: f64) -> f64 {
    all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let requests: usize = std::env::var("GATEWAY_BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let emu = Emulator::start(EmulatorConfig {
        tls_names: Some(vec![]),
        ..EmulatorConfig::default()
    })
    .expect("emulator");
    let ca = emu.ca_pem.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), &ca).unwrap();
    std::fs::write(
        d.join("plain.properties"),
        format!(
            "[default]\nUseVPCe = true\nGetCredentialsFrom = 2\nRegion = us-west-2\nAccessKey = {DEMO_ACCESS_KEY}\n\
             SecretKey = {DEMO_SECRET_KEY}\nAssumeRoleARN = {DEMO_ROLE_ARN}\nExternalId = {DEMO_EXTERNAL_ID}\n\
             VPCEndpointURL = {url}\nSTSEndpointURL = {url}\nCABundle = ca.pem\n",
            url = emu.base_url
        ),
    )
    .unwrap();
    let run = |bin: &str, args: &[&str]| {
        let out = Command::new(bin)
            .current_dir(d)
            .env("HOME", d)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    run(
        env!("CARGO_BIN_EXE_encrypt-config"),
        &["plain.properties", "-o", "config.properties"],
    );
    let token = run(
        env!("CARGO_BIN_EXE_invoke"),
        &[
            "serve",
            "token",
            "add",
            "bench",
            "--config",
            "config.properties",
        ],
    );
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_invoke"))
        .current_dir(d)
        .env("HOME", d)
        .args([
            "serve",
            "--config",
            "config.properties",
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--max-streams",
            "256",
            "--access-log",
            "/dev/null",
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(gateway.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_string();

    // Straight to the emulator: the role's session, SigV4, HTTPS.
    let http = https_client(&ca);
    let base = || {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .http_client(http.clone())
    };
    let sts = aws_sdk_sts::Client::new(
        &base()
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                DEMO_ACCESS_KEY,
                DEMO_SECRET_KEY,
                None,
                None,
                "bench",
            )))
            .endpoint_url(&emu.base_url)
            .build(),
    );
    let c = sts
        .assume_role()
        .role_arn(DEMO_ROLE_ARN)
        .external_id(DEMO_EXTERNAL_ID)
        .role_session_name("bench")
        .send()
        .await
        .expect("assume role");
    let c = c.credentials().unwrap();
    let session = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().into()),
        None,
        "bench",
    );
    let direct = aws_sdk_bedrockruntime::Client::new(
        &base()
            .credentials_provider(SharedCredentialsProvider::new(session))
            .endpoint_url(&emu.base_url)
            .build(),
    );
    // Through the gateway: its token as the Bedrock API key.
    let through = aws_sdk_bedrockruntime::Client::from_conf(
        aws_sdk_bedrockruntime::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .endpoint_url(&url)
            .http_client(http.clone())
            .bearer_token(aws_sdk_bedrockruntime::config::Token::new(token, None))
            .build(),
    );

    // Warm both paths (connections, the gateway's first calls).
    drive(&direct, 500).await;
    drive(&through, 500).await;
    let (d_lat, d_wall) = drive(&direct, requests).await;
    let cpu_before = cpu_seconds(gateway.id());
    let (g_lat, g_wall) = drive(&through, requests).await;
    let cpu = cpu_seconds(gateway.id()) - cpu_before;
    let _ = gateway.kill();
    let _ = gateway.wait();

    println!(
        "gateway: {requests} ConverseStream calls each at concurrency {CONCURRENCY}, read to the end; emulator over HTTPS"
    );
    println!(
        "{:<22} {:>8} {:>8} {:>8} {:>8}",
        "path", "req/s", "p50 ms", "p99 ms", "max ms"
    );
    for (name, lat, wall) in [
        ("straight to Bedrock", &d_lat, d_wall),
        ("through the gateway", &g_lat, g_wall),
    ] {
        println!(
            "{:<22} {:>8.0} {:>8.2} {:>8.2} {:>8.2}",
            name,
            lat.len() as f64 / wall.as_secs_f64(),
            pct(lat, 0.50),
            pct(lat, 0.99),
            lat.last().unwrap().as_secs_f64() * 1000.0
        );
    }
    println!(
        "added by the gateway: p50 {:.2} ms, p99 {:.2} ms (target: p99 under 2 ms); gateway CPU {:.0} µs a request",
        pct(&g_lat, 0.50) - pct(&d_lat, 0.50),
        pct(&g_lat, 0.99) - pct(&d_lat, 0.99),
        cpu * 1e6 / requests as f64
    );
}
