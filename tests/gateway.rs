//! `invoke serve` with real clients: the `openai` Python package
//! (`tests/gateway/openai_client.py`) and curl, against the gateway run as
//! its own process with the emulator as Bedrock. Tokens made with `invoke
//! serve token add`; wrong, revoked and limited tokens; credentials that
//! stop working early (the emulator's session TTL) refreshed without a
//! failed request; a client that goes away mid-stream; SIGTERM.

mod common;

use bedrock_emulator::{EmulatorConfig, Faults};
use common::Dir;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MODELS: &str = "\n[models]\nHaiku = anthropic.claude-3-haiku-20240307-v1:0\n";

/// A running gateway; killed when dropped.
struct Gateway {
    child: Child,
    url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(d: &Dir, extra: &[&str]) -> Gateway {
    let mut child = Command::new(env!("CARGO_BIN_EXE_invoke"))
        .current_dir(d.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", d.path())
        .args([
            "serve",
            "--config",
            "config.properties",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--access-log", "access.log"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("invoke runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.trim().is_empty() {
        let out = child.wait_with_output().unwrap();
        panic!(
            "the gateway did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Gateway {
        child,
        url: line.trim().to_string(),
    }
}

fn add_token(d: &Dir, name: &str, extra: &[&str]) -> String {
    let done = d
        .run("invoke")
        .args([
            "serve",
            "token",
            "add",
            name,
            "--config",
            "config.properties",
        ])
        .args(extra)
        .ok();
    let token = done.stdout().trim().to_string();
    assert!(token.starts_with("bpg_"), "{}", done.describe());
    token
}

/// curl: the status and the body.
fn curl(url: &str, token: &str, body: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-w",
        "\n%{http_code}",
        "-H",
        &format!("Authorization: Bearer {token}"),
    ]);
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json", "-d", b]);
    }
    let out = cmd.arg(url).output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn setup(emu: &common::Emu) -> Dir {
    let d = Dir::new();
    common::sealed(&d, &common::access_keys_config(&emu.base_url, &[], MODELS));
    d
}

/// A Python client of `tests/gateway/`, to be given its arguments.
fn client(script: &str) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(format!(
        "{}/tests/gateway/{script}",
        env!("CARGO_MANIFEST_DIR")
    ));
    cmd
}

/// Runs a client to success and reads the JSON object it prints of what
/// it saw.
fn run_client(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const CHAT: &str = r#"{"model":"Haiku","messages":[{"role":"user","content":"a secret prompt"}]}"#;

#[test]
fn openai_clients_and_curl_through_the_gateway() {
    let emu = common::emulator(Faults::default());
    let d = setup(&emu);
    let all = add_token(&d, "all", &[]);
    let titan = add_token(&d, "titan", &["--models", "amazon.titan-*", "--rpm", "2"]);
    let list = d
        .run("invoke")
        .args(["serve", "token", "list", "--config", "config.properties"])
        .ok();
    assert!(
        list.stdout()
            .contains("titan\tamazon.titan-*\t2 requests a minute"),
        "{}",
        list.describe()
    );
    assert!(!list.all().contains(&all) && !d.read("config.properties").contains(&all));

    let gw = start(&d, &[]);
    let seen = run_client(client("openai_client.py").args([&gw.url, &all]));
    assert!(
        seen["models"].as_array().unwrap().contains(&"Haiku".into()),
        "{seen}"
    );
    assert_eq!(
        seen["chat"]["text"],
        "Reply from anthropic.claude-3-haiku-20240307-v1:0: hello from the openai client"
    );
    assert_eq!(seen["chat"]["finish_reason"], "stop");
    assert!(seen["chat"]["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        seen["stream"]["text"],
        "Reply from anthropic.claude-3-haiku-20240307-v1:0: stream this please"
    );
    assert!(
        seen["stream"]["chunks"].as_u64().unwrap() > 3,
        "streamed: {seen}"
    );
    assert!(
        seen["stream"]["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(seen["embeddings"]["dims"], serde_json::json!([256, 256]));
    assert!(
        seen["image"]
            .as_str()
            .unwrap()
            .ends_with("describe [image png, 16 bytes]"),
        "the image went to Bedrock as a Converse image block: {seen}"
    );
    assert_eq!(seen["bad_request"], 400);
    // Tools: both calls asked for, with their arguments, answered by the
    // client and the answer drawn from the results, whole and streamed.
    // The emulator refuses results that do not match the calls' ids.
    for key in ["tools", "streamed_tools"] {
        let t = &seen[key];
        assert_eq!(t["finish_reason"], "tool_calls", "{key}: {seen}");
        let calls = t["calls"].as_array().unwrap();
        let named: Vec<_> = calls
            .iter()
            .map(|c| (c["name"].as_str().unwrap(), c["arguments"].clone()))
            .collect();
        assert_eq!(
            named,
            [
                ("get_weather", serde_json::json!({"city": "emulator"})),
                ("get_time", serde_json::json!({"zone": "emulator"}))
            ],
            "{key}: {seen}"
        );
        assert_ne!(calls[0]["id"], calls[1]["id"]);
        let answer = t["answer"].as_str().unwrap();
        for c in calls {
            let id = c["id"].as_str().unwrap();
            let name = c["name"].as_str().unwrap();
            assert!(
                answer.contains(&format!("[result of {id}: {name} says 18 degrees at noon]")),
                "{key}: {answer}"
            );
        }
    }
    assert_eq!(seen["tools"]["answer_finish_reason"], "stop");
    assert_eq!(
        seen["forced_tool"],
        serde_json::json!({"calls": ["get_time"], "content": null}),
        "a tool-only reply has no text"
    );
    // The conversation went to Bedrock whole: 3 messages, system apart.
    let counts: Vec<_> = emu
        .record
        .entries()
        .iter()
        .filter(|e| e.operation.starts_with("Converse"))
        .map(|e| e.messages)
        .collect();
    assert!(counts.contains(&Some(3)), "{counts:?}");

    // boto3's bedrock-runtime client, with a gateway token as its Bedrock
    // API key: every operation, Bedrock's answers relayed as they came.
    let limited = add_token(
        &d,
        "anthropic",
        &["--models", "anthropic.*,amazon.titan-text-*"],
    );
    drop(gw);
    let gw = start(&d, &[]);
    let seen = run_client(
        client("boto3_client.py")
            .args([&gw.url, &limited])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", d.path()),
    );
    assert_eq!(
        seen["converse"]["text"],
        "Reply from anthropic.claude-3-haiku-20240307-v1:0: hello from boto3"
    );
    assert_eq!(seen["converse"]["stop"], "end_turn");
    assert_eq!(
        seen["converse_stream"]["text"],
        "Reply from anthropic.claude-3-haiku-20240307-v1:0: stream from boto3"
    );
    assert!(
        seen["converse_stream"]["usage"]["outputTokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(
        seen["invoke"]["results"][0]["outputText"],
        "Reply from amazon.titan-text-express-v1: hello from invoke_model"
    );
    assert!(
        seen["invoke_stream"]["chunks"].as_u64().unwrap() > 3,
        "{seen}"
    );
    assert!(
        seen["invoke_stream"]["text"]
            .as_str()
            .unwrap()
            .ends_with("hello from the stream"),
        "{seen}"
    );
    assert_eq!(seen["not_allowed"], "AccessDeniedException");
    assert_eq!(
        seen["bedrock_refusal"], "ValidationException",
        "Bedrock's own refusal, relayed"
    );
    assert_eq!(seen["wrong_token"], "AccessDeniedException");
    // Bedrock saw SigV4 from the config's role, never the gateway token.
    let calls: Vec<_> = emu
        .record
        .entries()
        .into_iter()
        .filter(|e| e.service == "bedrock")
        .collect();
    assert!(
        calls.iter().all(|e| e.auth.as_deref() == Some("sigv4")),
        "{calls:?}"
    );

    // A model id Bedrock reads by its last part cannot slip past a list.
    let (code, body) = curl(
        &format!("{}/v1/chat/completions", gw.url),
        &limited,
        Some(
            r#"{"model":"anthropic.x/../../amazon.nova-lite-v1:0","messages":[{"role":"user","content":"hi"}]}"#,
        ),
    );
    assert_eq!(code, 403, "{body}");
    let (code, body) = curl(
        &format!(
            "{}/model/anthropic.x%2Famazon.nova-lite-v1%3A0/converse",
            gw.url
        ),
        &limited,
        Some(r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#),
    );
    assert_eq!(code, 403, "{body}");
    // The scheme's case does not matter; a missing model is a bad request;
    // an embeddings request is bounded.
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &format!("Authorization: BEARER {limited}"),
        ])
        .arg(format!("{}/v1/models", gw.url))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    let (code, _) = curl(
        &format!("{}/v1/chat/completions", gw.url),
        &limited,
        Some(r#"{"messages":[{"role":"user","content":"hi"}]}"#),
    );
    assert_eq!(code, 400);
    let many =
        serde_json::json!({"model": "amazon.titan-embed-text-v2:0", "input": vec!["a"; 200]})
            .to_string();
    let (code, body) = curl(&format!("{}/v1/embeddings", gw.url), &all, Some(&many));
    assert_eq!(code, 400, "{body}");

    // Wrong token, a model outside the token's list, its rate.
    let chat_url = format!("{}/v1/chat/completions", gw.url);
    assert_eq!(curl(&chat_url, "bpg_not-a-token", Some(CHAT)).0, 401);
    assert_eq!(curl(&chat_url, &titan, Some(CHAT)).0, 403);
    let models_url = format!("{}/v1/models", gw.url);
    assert_eq!(
        curl(&models_url, &titan, None).0,
        200,
        "the second of its two a minute"
    );
    let (code, body) = curl(&models_url, &titan, None);
    assert_eq!(code, 429, "the third request of the minute: {body}");

    // Health and metrics need no token.
    assert_eq!(curl(&format!("{}/healthz", gw.url), "", None).0, 200);
    let (_, metrics) = curl(&format!("{}/metrics", gw.url), "", None);
    assert!(
        metrics.contains(
            "bedrock_gateway_requests_total{route=\"/model/converse-stream\",status=\"200\"} 1"
        ),
        "{metrics}"
    );

    // The access log: one JSON line per request, never a prompt or token.
    let log = d.read("access.log");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|l| l["token"] == "all"
        && l["status"] == 200
        && l["tokens_out"].as_u64().unwrap_or(0) > 0));
    assert!(
        lines
            .iter()
            .any(|l| l["status"] == 401 && l["token"].is_null())
    );
    for secret in [
        "a secret prompt",
        "hello from the openai client",
        all.as_str(),
        titan.as_str(),
    ] {
        assert!(!log.contains(secret), "{secret:?} in the access log");
    }

    // SIGTERM: a clean stop.
    let mut gw = gw;
    Command::new("kill")
        .args(["-TERM", &gw.child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = gw.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");

    // A revoked token is refused by a gateway started after.
    d.run("invoke")
        .args([
            "serve",
            "token",
            "revoke",
            "all",
            "--config",
            "config.properties",
        ])
        .ok();
    let gw = start(&d, &[]);
    assert_eq!(curl(&format!("{}/v1/models", gw.url), &all, None).0, 401);
}

/// Credentials that stop working early are replaced, and the request that
/// met the refusal is sent again: no failed request across expiries. A
/// client that goes away mid-stream ends its upstream call.
#[test]
fn credentials_refresh_and_clients_that_leave() {
    let emu = common::start(EmulatorConfig {
        faults: Faults {
            session_ttl: Some(Duration::from_secs(2)),
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    });
    let d = setup(&emu);
    let token = add_token(&d, "ci", &[]);
    let gw = start(&d, &[]);
    let url = format!("{}/v1/chat/completions", gw.url);
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(5) {
        let stream = n % 2 == 1;
        let body = if stream {
            r#"{"model":"Haiku","stream":true,"messages":[{"role":"user","content":"again"}]}"#
        } else {
            CHAT
        };
        let (code, text) = curl(&url, &token, Some(body));
        assert_eq!(
            code,
            200,
            "request {n} after {:?}: {text}",
            started.elapsed()
        );
        assert!(text.contains("Reply"), "{text}");
        n += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    let assumed = emu
        .record
        .entries()
        .iter()
        .filter(|e| e.operation == "AssumeRole")
        .count();
    assert!(
        assumed >= 2,
        "the session was renewed: {assumed} AssumeRole over {n} requests"
    );
    let refused = emu
        .record
        .entries()
        .iter()
        .filter(|e| e.service == "bedrock" && e.status != 200)
        .count();
    assert!(
        refused >= 1,
        "the early expiry was met, and hidden from the client"
    );
    drop(gw);

    // A stream that stalls; the client leaves after a second.
    let stalled = common::start(EmulatorConfig {
        faults: Faults {
            stall_stream_after: Some(2),
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    });
    let d = setup(&stalled);
    let token = add_token(&d, "ci", &[]);
    let gw = start(&d, &["--read-timeout", "2"]);
    // The native route gives up on a silent Bedrock at --read-timeout too.
    let started = Instant::now();
    Command::new("curl")
        .args([
            "-s",
            "-N",
            "--max-time",
            "20",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .args([
            "-d",
            r#"{"messages":[{"role":"user","content":[{"text":"x"}]}]}"#,
        ])
        .arg(format!(
            "{}/model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream",
            gw.url
        ))
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !d
        .read("access.log")
        .contains("\"route\":\"/model/converse-stream\",\"status\":504")
    {
        assert!(Instant::now() < deadline, "{}", d.read("access.log"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = Command::new("curl")
        .args([
            "-s",
            "-N",
            "--max-time",
            "1",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .args([
            "-d",
            r#"{"model":"Haiku","stream":true,"messages":[{"role":"user","content":"x"}]}"#,
        ])
        .arg(format!("{}/v1/chat/completions", gw.url))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Reply"));
    // The gateway notices on its next write and lets the stream go.
    let deadline = Instant::now() + Duration::from_secs(70);
    loop {
        let (_, metrics) = curl(&format!("{}/metrics", gw.url), "", None);
        if metrics.contains("bedrock_gateway_streams_open 0")
            && d.read("access.log").contains("\"status\":499")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stream was not let go: {metrics}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A request its client abandons before the answer is logged (499), and
/// its upstream call dropped with it.
#[test]
fn abandoned_requests_are_logged() {
    let slow = common::start(EmulatorConfig {
        faults: Faults {
            first_byte_delay: Duration::from_secs(3),
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    });
    let d = setup(&slow);
    let token = add_token(&d, "ci", &[]);
    let gw = start(&d, &[]);
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "1",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .args(["-d", CHAT])
        .arg(format!("{}/v1/chat/completions", gw.url))
        .output()
        .unwrap();
    assert!(!out.status.success(), "curl gave up");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !d.read("access.log").contains("\"status\":499") {
        assert!(Instant::now() < deadline, "{}", d.read("access.log"));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A client that sends half a request and waits is let go after the
/// header timeout (10 s), and others are served meanwhile.
#[test]
fn slow_clients_are_let_go() {
    use std::io::{Read, Write};
    let emu = common::emulator(Faults::default());
    let d = setup(&emu);
    add_token(&d, "ci", &[]);
    let gw = start(&d, &[]);
    let addr = gw.url.trim_start_matches("http://").to_string();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    assert_eq!(
        curl(&format!("{}/healthz", gw.url), "", None).0,
        200,
        "others are served"
    );
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(15),
        "the half-sent request was held {waited:?}"
    );
}
