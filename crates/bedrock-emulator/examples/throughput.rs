//! Measures the local emulator's throughput with the real SDK client, so the
//! benchmarks of the tool can show the emulator is not their bottleneck.
//! Run with `scripts/bench-emulator` (release build). Prints a table.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use bedrock_emulator::identity::{
    DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN, DEMO_SECRET_KEY,
};
use bedrock_emulator::{Emulator, EmulatorConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn conf(url: &str, creds: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .endpoint_url(url)
        .build()
}

#[tokio::main]
async fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let emu = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let sts = aws_sdk_sts::Client::new(&conf(
        &emu.base_url,
        Credentials::new(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, None, None, "bench"),
    ));
    let c = sts
        .assume_role()
        .role_arn(DEMO_ROLE_ARN)
        .external_id(DEMO_EXTERNAL_ID)
        .role_session_name("bench")
        .send()
        .await
        .expect("assume role");
    let c = c.credentials().unwrap();
    let creds = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().into()),
        None,
        "bench",
    );
    let client = Arc::new(aws_sdk_bedrockruntime::Client::new(&conf(
        &emu.base_url,
        creds,
    )));
    let message = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("how fast is the emulator".into()))
        .build()
        .unwrap();

    println!(
        "emulator throughput: {requests} Converse calls each, SDK client and emulator in one process"
    );
    println!(
        "{:>11} {:>10} {:>10} {:>10} {:>10}",
        "concurrency", "req/s", "p50 ms", "p99 ms", "max ms"
    );
    for concurrency in [1usize, 8, 64] {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (client, next, message) = (client.clone(), next.clone(), message.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                    let t = Instant::now();
                    client
                        .converse()
                        .model_id("anthropic.claude-3-haiku-20240307-v1:0")
                        .messages(message.clone())
                        .send()
                        .await
                        .expect("converse");
                    latencies.push(t.elapsed());
                }
                latencies
            }));
        }
        let mut all: Vec<Duration> = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let elapsed = start.elapsed();
        all.sort();
        let pct = |p: f64| {
            all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0
        };
        println!(
            "{:>11} {:>10.0} {:>10.2} {:>10.2} {:>10.2}",
            concurrency,
            all.len() as f64 / elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
            all.last().unwrap().as_secs_f64() * 1000.0
        );
    }
}
