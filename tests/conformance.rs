//! The conformance suite: what `invoke` sends and what the emulator answers,
//! checked against AWS's published API definitions by code that is neither.
//!
//! Every call goes through a relay on loopback ([`Tap`]) that records the
//! bytes each way and parses nothing. `tests/conformance/validate.py` then
//! reads those bytes as HTTP/1.1 and checks each request, response, event
//! and error against the service definitions of the Python `botocore`
//! package (not the copies the emulator carries): unknown members,
//! required ones, types, enums, lengths, ranges, patterns, unions, blobs,
//! event types, error types and their statuses. The emulator and `invoke`
//! share no code, and neither shares any with the checker, so a pass here
//! means both follow AWS's definitions, not each other.
//!
//! Beside them, recorded replies in AWS's own shapes
//! (`tests/fixtures/aws-shapes`, each naming the AWS document it comes
//! from) are checked the same way and replayed to `invoke` by
//! `tests/conformance/replay.py`, a plain Python HTTP server that encodes
//! its own event streams: the tool must read what AWS documents, not only
//! what the emulator writes.
//!
//! A checker that accepted everything would pass all of that, so the last
//! test feeds it violations, made up and taken from real captures, and
//! requires it to find each one.

mod common;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use aws_smithy_types::retry::RetryConfig;
use base64::Engine;
use bedrock_emulator::identity::{
    DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN, DEMO_SECRET_KEY,
};
use bedrock_emulator::{Faults, StreamException};
use common::{Dir, sealed};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const MODELS: &str = "\n[models]\nClaude-3-Haiku = anthropic.claude-3-haiku-20240307-v1:0\nTitan = amazon.titan-text-express-v1\n";

/// One model of each current family, by the id a user calls it with (an
/// inference profile where AWS serves the model only through one).
const FAMILIES: [&str; 14] = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "amazon.nova-lite-v1:0",
    "us.amazon.nova-premier-v1:0",
    "amazon.titan-text-express-v1",
    "meta.llama3-1-8b-instruct-v1:0",
    "us.meta.llama3-3-70b-instruct-v1:0",
    "mistral.mistral-7b-instruct-v0:2",
    "mistral.mixtral-8x7b-instruct-v0:1",
    "mistral.mistral-large-2407-v1:0",
    "cohere.command-r-plus-v1:0",
    "ai21.jamba-1-5-large-v1:0",
    "us.deepseek.r1-v1:0",
    "us.writer.palmyra-x5-v1:0",
];

/// Each InvokeModel body of `prompts/bodies` and a model of its family.
const BODIES: [(&str, &str); 13] = [
    (
        "anthropic-messages.json",
        "anthropic.claude-3-haiku-20240307-v1:0",
    ),
    (
        "anthropic-tools.json",
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
];

/// The error types of the Bedrock runtime definition, with the operations
/// (of the four `invoke` makes) that the definition lets return each:
/// ServiceQuotaExceededException is not among Converse's errors, and
/// ModelStreamErrorException is an HTTP error of
/// InvokeModelWithResponseStream only. (The emulator would answer any
/// operation with any of them; AWS would not.) An operation listed here
/// that the definition does not allow would fail the check, which reads
/// botocore's lists, not this one.
const ERRORS: [(&str, &[&str]); 11] = [
    ("AccessDeniedException", &ALL_FOUR),
    ("ResourceNotFoundException", &ALL_FOUR),
    ("ThrottlingException", &ALL_FOUR),
    ("ModelTimeoutException", &ALL_FOUR),
    ("InternalServerException", &ALL_FOUR),
    ("ServiceUnavailableException", &ALL_FOUR),
    (
        "ModelStreamErrorException",
        &["InvokeModelWithResponseStream"],
    ),
    ("ValidationException", &ALL_FOUR),
    (
        "ServiceQuotaExceededException",
        &["InvokeModel", "InvokeModelWithResponseStream"],
    ),
    ("ModelNotReadyException", &ALL_FOUR),
    ("ModelErrorException", &ALL_FOUR),
];

const ALL_FOUR: [&str; 4] = [
    "InvokeModel",
    "InvokeModelWithResponseStream",
    "Converse",
    "ConverseStream",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---- the relay -------------------------------------------------------------

/// A TCP relay on loopback that records every byte each way and forwards it
/// unchanged: what crosses it is what the checker reads. It parses nothing,
/// so it can neither fix nor hide anything either side sends.
struct Tap {
    url: String,
    port: u16,
    conns: Arc<Mutex<Vec<Arc<Conn>>>>,
    stop: Arc<AtomicBool>,
}

/// One relayed connection: the bytes the client sent, the bytes the server
/// sent, and how many of its two directions are still open.
struct Conn {
    client: Mutex<Vec<u8>>,
    server: Mutex<Vec<u8>>,
    open: AtomicUsize,
}

impl Tap {
    /// A relay to `127.0.0.1:upstream`, on a free port.
    fn to(upstream: u16) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the relay binds");
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<Arc<Conn>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (all, stopped) = (conns.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let conn = Arc::new(Conn {
                    client: Mutex::default(),
                    server: Mutex::default(),
                    open: AtomicUsize::new(2),
                });
                all.lock().unwrap().push(conn.clone());
                let (client2, server2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = conn.clone();
                std::thread::spawn(move || pump(client, server, &up.client, &up.open));
                std::thread::spawn(move || pump(server2, client2, &conn.server, &conn.open));
            }
        });
        Tap {
            url: format!("http://127.0.0.1:{port}"),
            port,
            conns,
            stop,
        }
    }

    /// Waits for every connection to close (the client gone), then hands
    /// over what crossed them as `wire` items labelled `label`, and forgets
    /// them. After 10 s it hands over what it has: an unfinished exchange
    /// is then the checker's finding.
    fn take(&self, label: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && self
                .conns
                .lock()
                .unwrap()
                .iter()
                .any(|c| c.open.load(Ordering::SeqCst) > 0)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let conns = std::mem::take(&mut *self.conns.lock().unwrap());
        let b64 = |bytes: &Mutex<Vec<u8>>| {
            base64::engine::general_purpose::STANDARD.encode(&*bytes.lock().unwrap())
        };
        conns
            .iter()
            .filter(|c| !c.client.lock().unwrap().is_empty())
            .map(|c| {
                json!({"kind": "wire", "label": label, "client": b64(&c.client), "server": b64(&c.server)})
            })
            .collect()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `from` to `to`, recording into `log`, until `from` ends; then
/// passes the end on.
fn pump(mut from: TcpStream, mut to: TcpStream, log: &Mutex<Vec<u8>>, open: &AtomicUsize) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        log.lock().unwrap().extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    open.fetch_sub(1, Ordering::SeqCst);
}

// ---- the checker -----------------------------------------------------------

/// Python with botocore, or a failure that says how to get it: the suite
/// must not pass by skipping itself.
fn require_botocore() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let ok = Command::new("python3")
            .args(["-c", "import botocore.session, botocore.eventstream, botocore.parsers"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "the conformance suite checks against the AWS API definitions in Python's botocore package, \
             and `python3 -c 'import botocore'` fails here: install it with \
             `python3 -m pip install botocore` (add --break-system-packages where pip refuses), as .ci/run does"
        );
    });
}

/// What the checker said.
struct Verdict {
    status: Option<i32>,
    violations: Vec<String>,
    summary: Value,
    stderr: String,
}

impl Verdict {
    /// Asserts a clean pass.
    fn assert_clean(&self) {
        assert!(
            self.status == Some(0) && self.violations.is_empty(),
            "the checker found {} violation(s) (exit {:?}):\n{}\n{}",
            self.violations.len(),
            self.status,
            self.violations.join("\n"),
            self.stderr
        );
    }

    /// Asserts that the only violations are `deliberate` ones, each
    /// (label, text) found once: requests made to break the definition on
    /// purpose, to see the emulator refuse them as AWS does.
    fn assert_clean_except(&self, deliberate: &[(&str, &str)]) {
        let unexpected: Vec<&String> = self
            .violations
            .iter()
            .filter(|v| {
                !deliberate
                    .iter()
                    .any(|(label, text)| v.starts_with(&format!("{label}: ")) && v.contains(text))
            })
            .collect();
        assert!(
            unexpected.is_empty(),
            "the checker found {} violation(s):\n{}\n{}",
            unexpected.len(),
            unexpected
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            self.stderr
        );
        for (label, text) in deliberate {
            let n = self
                .violations
                .iter()
                .filter(|v| v.starts_with(&format!("{label}: ")) && v.contains(text))
                .count();
            assert_eq!(n, 1, "{label}: the deliberate violation {text:?}");
        }
    }

    /// What was checked under `label`.
    fn label(&self, label: &str) -> &Value {
        &self.summary["labels"][label]
    }

    /// The operations of the exchanges checked under `label`, sorted.
    fn exchanges(&self, label: &str) -> Vec<String> {
        let mut ops: Vec<String> = self.label(label)["exchanges"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        ops.sort();
        ops
    }

    fn events(&self, label: &str) -> u64 {
        self.label(label)["events"].as_u64().unwrap_or(0)
    }

    /// Asserts that events were checked under each of `labels`: the
    /// streams that answered, whose events must not go unread.
    fn assert_events<'a>(&self, labels: impl IntoIterator<Item = &'a String>) {
        for label in labels {
            assert!(self.events(label) > 0, "{label}: no stream event checked");
        }
    }

    /// Asserts that each label's exchanges were exactly the operations
    /// expected (so an empty or partial capture cannot pass); returns
    /// (exchanges, events) in all.
    fn assert_exchanges(&self, expected: &BTreeMap<String, Vec<&str>>) -> (usize, u64) {
        let (mut exchanges, mut events) = (0, 0);
        for (label, ops) in expected {
            let mut want: Vec<String> = ops.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(
                self.exchanges(label),
                want,
                "{label}: the exchanges checked\n{:#}",
                self.label(label)
            );
            exchanges += ops.len();
            events += self.events(label);
        }
        (exchanges, events)
    }
}

/// Runs the checker on `items` (JSON lines).
fn validate(items: &[Value]) -> Verdict {
    require_botocore();
    let mut child = Command::new("python3")
        .arg(root().join("tests/conformance/validate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().unwrap();
    let input: String = items.iter().map(|i| format!("{i}\n")).collect();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let violations = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("violation: "))
        .map(str::to_string)
        .collect();
    let summary = stdout
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| panic!("the checker wrote no summary\n{stdout}\n{stderr}"));
    Verdict {
        status: out.status.code(),
        violations,
        summary,
        stderr,
    }
}

// ---- running invoke --------------------------------------------------------

/// One run of `invoke` through its own relay: its label, its arguments,
/// and the operations it must make.
struct Case {
    label: String,
    args: Vec<String>,
    expect: Vec<&'static str>,
}

impl Case {
    fn new(label: impl Into<String>, args: &[&str], expect: &[&'static str]) -> Case {
        Case {
            label: label.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            expect: expect.to_vec(),
        }
    }
}

/// A sealed config for the emulator's demo keys and cross-account role
/// that names no endpoint: each run gives its relay as `--endpoint-url`
/// and `AWS_ENDPOINT_URL_STS`, the seams a user has too.
fn config_without_endpoints() -> Dir {
    let d = Dir::new();
    sealed(
        &d,
        &common::access_keys_config(
            "http://unused.invalid",
            &["UseVPCe = false", "VPCEndpointURL =", "STSEndpointURL ="],
            MODELS,
        ),
    );
    d
}

/// Runs `invoke` in `d` through a new relay to `upstream`, with `args`
/// after the config and endpoint options (a subcommand, `check`, first):
/// the finished run and what crossed the relay.
fn run_through(d: &Dir, upstream: u16, label: &str, args: &[String]) -> (common::Done, Vec<Value>) {
    let (subcommand, args) = match args.split_first() {
        Some((first, rest)) if first == "check" || first == "models" => (&args[..1], rest),
        _ => (&args[..0], args),
    };
    let tap = Tap::to(upstream);
    let done = d
        .run("invoke")
        .args(subcommand)
        .args(["--config", "config.properties", "--no-cache"])
        .args(["--max-attempts", "1", "--endpoint-url", &tap.url])
        .env("AWS_ENDPOINT_URL_STS", &tap.url)
        .env("AWS_ENDPOINT_URL_BEDROCK", &tap.url)
        .args(args)
        .output();
    let items = tap.take(label);
    (done, items)
}

/// Runs `work` over `cases` on a few threads, in any order; returns the
/// results in the order of `cases`.
fn in_parallel<C: Sync, R: Send>(cases: &[C], work: impl Fn(&C) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..cases.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(i) else { break };
                    let r = work(case);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every case ran"))
        .collect()
}

#[test]
fn every_request_invoke_sends_and_every_emulator_reply_follow_the_definitions() {
    require_botocore();
    let emu = common::emulator(Faults::default());
    let d = config_without_endpoints();
    let bodies = root().join("prompts/bodies");
    let mut cases = Vec::new();
    for model in FAMILIES {
        cases.push(Case::new(
            format!("ConverseStream {model}"),
            &["--prompt", "name three primes", "--model", model],
            &["AssumeRole", "ConverseStream"],
        ));
        cases.push(Case::new(
            format!("Converse {model}"),
            &[
                "--prompt",
                "name three primes",
                "--model",
                model,
                "--no-stream",
            ],
            &["AssumeRole", "Converse"],
        ));
    }
    cases.push(Case::new(
        "Converse with inference settings and a stop sequence",
        &[
            "--prompt",
            "one two three four",
            "--model",
            "Claude-3-Haiku",
            "--no-stream",
            "--max-tokens",
            "100",
            "--temperature",
            "0.5",
            "--top-p",
            "0.9",
            "--stop",
            "four",
        ],
        &["AssumeRole", "Converse"],
    ));
    for (file, model) in BODIES {
        let body = bodies.join(file).display().to_string();
        cases.push(Case::new(
            format!("InvokeModelWithResponseStream {file}"),
            &["--body", &body, "--model", model],
            &["AssumeRole", "InvokeModelWithResponseStream"],
        ));
        cases.push(Case::new(
            format!("InvokeModel {file}"),
            &["--body", &body, "--model", model, "--no-stream"],
            &["AssumeRole", "InvokeModel"],
        ));
    }
    // A guardrail on every operation: blocking the prompt on Converse
    // (accepted with --guardrail-ok), letting an InvokeModel body through.
    let anthropic = bodies.join("anthropic-messages.json").display().to_string();
    for (op, args) in [
        ("ConverseStream", vec!["--prompt", "something forbidden"]),
        (
            "Converse",
            vec!["--prompt", "something forbidden", "--no-stream"],
        ),
        (
            "InvokeModelWithResponseStream",
            vec!["--body", anthropic.as_str()],
        ),
        (
            "InvokeModel",
            vec!["--body", anthropic.as_str(), "--no-stream"],
        ),
    ] {
        let mut args = args;
        args.extend([
            "--model",
            "Claude-3-Haiku",
            "--guardrail",
            "workshopguard:1",
            "--guardrail-ok",
        ]);
        cases.push(Case::new(
            format!("{op} with a guardrail"),
            &args,
            &["AssumeRole", op],
        ));
    }
    cases.push(Case::new(
        "invoke check",
        &["check"],
        &[
            "AssumeRole",
            "GetCallerIdentity",
            "GetCallerIdentity",
            "GetFoundationModelAvailability",
            "Converse",
        ],
    ));
    // Model access: the control plane's list and availability operations.
    let mut access = vec![
        "AssumeRole",
        "ListFoundationModels",
        "ListInferenceProfiles",
    ];
    access.extend(std::iter::repeat_n(
        "GetFoundationModelAvailability",
        bedrock_emulator::catalogue::models().len(),
    ));
    cases.push(Case::new(
        "models --available",
        &["models", "--available"],
        &access,
    ));
    let port = emu.port;
    let runs = in_parallel(&cases, |case| {
        let (done, items) = run_through(&d, port, &case.label, &case.args);
        assert_eq!(
            done.output.status.code(),
            Some(0),
            "{}\n{}",
            case.label,
            done.describe()
        );
        items
    });
    let mut items: Vec<Value> = runs.into_iter().flatten().collect();
    let mut expected: BTreeMap<String, Vec<&str>> = cases
        .iter()
        .map(|c| (c.label.clone(), c.expect.clone()))
        .collect();

    // The workshop flow: system prompt, template and query from the
    // config, through the VPC endpoint and STS endpoint the config names.
    let tap = Tap::to(emu.port);
    let w = Dir::new();
    w.write("system.txt", "You are terse.\n");
    w.write("template.txt", "Explain: {{log_entry}}\n");
    w.write("query.txt", "disk full\n");
    sealed(
        &w,
        &common::access_keys_config(
            &tap.url,
            &[
                "SystemPromptFile = system.txt",
                "PromptFilePath = template.txt",
                "UserQueryFile = query.txt",
                "SessionDuration = 900",
            ],
            MODELS,
        ),
    );
    for (label, extra) in [
        ("workshop flow", &[][..]),
        (
            "workshop flow, Titan",
            &["--model", "Titan", "--no-stream"][..],
        ),
    ] {
        w.run("invoke")
            .args(["--config", "config.properties", "--no-cache"])
            .args(extra)
            .ok()
            .stdout_has("Explain: disk full");
        items.extend(tap.take(label));
    }
    expected.insert("workshop flow".into(), vec!["AssumeRole", "ConverseStream"]);
    expected.insert(
        "workshop flow, Titan".into(),
        vec!["AssumeRole", "Converse"],
    );

    // AssumeRole with an MFA device and code.
    let tap = Tap::to(emu.port);
    let m = Dir::new();
    sealed(
        &m,
        &common::access_keys_config(
            &tap.url,
            &[
                "AssumeRoleARN = arn:aws:iam::222222222222:role/BedrockWithMfa",
                "ExternalId =",
                "MFASerial = arn:aws:iam::111111111111:mfa/demo-user",
            ],
            MODELS,
        ),
    );
    m.run("invoke")
        .args([
            "--config",
            "config.properties",
            "--no-cache",
            "--prompt",
            "hi",
            "--mfa-code",
            "123456",
        ])
        .ok();
    items.extend(tap.take("AssumeRole with MFA"));
    expected.insert(
        "AssumeRole with MFA".into(),
        vec!["AssumeRole", "ConverseStream"],
    );

    let verdict = validate(&items);
    verdict.assert_clean();
    let (exchanges, events) = verdict.assert_exchanges(&expected);
    verdict.assert_events(
        expected
            .iter()
            .filter(|(_, ops)| ops.iter().any(|op| op.ends_with("Stream")))
            .map(|(label, _)| label),
    );
    assert!(
        exchanges >= 2 * (2 * FAMILIES.len() + 2 * BODIES.len()),
        "{exchanges}"
    );
    eprintln!(
        "conformance: {exchanges} exchanges of {} runs of invoke and {events} stream events follow botocore {}",
        expected.len(),
        verdict.summary["botocore"]
    );
}

// ---- the emulator's errors, through the SDK --------------------------------

/// An SDK configuration for the relay at `url`: plain HTTP on loopback, so
/// the client is the SDK's own without TLS, whatever TLS features the
/// tool builds with.
fn sdk(url: &str, creds: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .region(Region::new("us-west-2"))
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        .build()
}

/// Session credentials for `role` from the demo keys, through `url`.
async fn assume(url: &str, role: &str, external_id: Option<&str>) -> Credentials {
    let demo = Credentials::new(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, None, None, "demo");
    let out = aws_sdk_sts::Client::new(&sdk(url, demo))
        .assume_role()
        .role_arn(role)
        .role_session_name("conformance")
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

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const HAIKU_BODY: &str = r#"{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "one two three"}]}"#;

/// Makes `op` with a small valid request; the error code if it fails,
/// before or during the stream.
async fn call(client: &aws_sdk_bedrockruntime::Client, op: &str) -> Result<(), String> {
    fn code<E: ProvideErrorMetadata>(e: &E) -> String {
        e.code().unwrap_or("(none)").to_string()
    }
    match op {
        "InvokeModel" => client
            .invoke_model()
            .model_id(HAIKU)
            .content_type("application/json")
            .body(Blob::new(HAIKU_BODY))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e.into_service_error())),
        "InvokeModelWithResponseStream" => {
            let mut out = client
                .invoke_model_with_response_stream()
                .model_id(HAIKU)
                .content_type("application/json")
                .body(Blob::new(HAIKU_BODY))
                .send()
                .await
                .map_err(|e| code(&e.into_service_error()))?;
            loop {
                match out.body.recv().await {
                    Ok(Some(_)) => {}
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(code(&e.into_service_error())),
                }
            }
        }
        "Converse" => client
            .converse()
            .model_id(HAIKU)
            .messages(user("one two three"))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e.into_service_error())),
        "ConverseStream" => {
            let mut out = client
                .converse_stream()
                .model_id(HAIKU)
                .messages(user("one two three"))
                .send()
                .await
                .map_err(|e| code(&e.into_service_error()))?;
            loop {
                match out.stream.recv().await {
                    Ok(Some(_)) => {}
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(code(&e.into_service_error())),
                }
            }
        }
        other => panic!("no such operation {other}"),
    }
}

/// Starts an emulator with `faults`, gets a cross-account session through
/// a relay, runs `calls` with a client of it on a runtime of its own, and
/// hands over what crossed the relay once the runtime (and with it every
/// connection) is gone.
fn direct<F, Fut>(label: &str, faults: Faults, calls: F) -> Vec<Value>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let emu = common::emulator(faults);
    let tap = Tap::to(emu.port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(calls(tap.url.clone()));
    drop(rt);
    tap.take(label)
}

async fn client_for(url: &str) -> aws_sdk_bedrockruntime::Client {
    let creds = assume(url, DEMO_ROLE_ARN, Some(DEMO_EXTERNAL_ID)).await;
    aws_sdk_bedrockruntime::Client::new(&sdk(url, creds))
}

#[test]
fn the_emulators_errors_and_stream_exceptions_follow_the_definitions() {
    require_botocore();
    let mut items = Vec::new();
    let mut expected: BTreeMap<String, Vec<&str>> = BTreeMap::new();

    // Every error type, as --fail-with answers it, on each operation the
    // definition lets return it.
    for (kind, ops) in ERRORS {
        let label = format!("--fail-with {kind}");
        let faults = Faults {
            fail_first: ops.len() as u32,
            fail_with: Some(kind.to_string()),
            ..Faults::default()
        };
        items.extend(direct(&label, faults, |url| async move {
            let client = client_for(&url).await;
            for op in ops {
                assert_eq!(call(&client, op).await, Err(kind.to_string()), "{op}");
            }
        }));
        let mut ops = ops.to_vec();
        ops.push("AssumeRole");
        expected.insert(label, ops);
    }

    // Requests the definition or the model refuses: ValidationException;
    // a model the role may not call: AccessDeniedException.
    let label = "refused requests";
    items.extend(direct(label, Faults::default(), |url| async move {
        let client = client_for(&url).await;
        let hot = InferenceConfiguration::builder().temperature(5.0).build();
        let r = client.converse().model_id(HAIKU).messages(user("hi")).inference_config(hot).send().await;
        assert_eq!(r.map_err(|e| e.into_service_error().code().map(str::to_string)).err(), Some(Some("ValidationException".into())));
        let none = InferenceConfiguration::builder().max_tokens(0).build();
        let r = client.converse_stream().model_id(HAIKU).messages(user("hi")).inference_config(none).send().await;
        assert_eq!(r.map_err(|e| e.into_service_error().code().map(str::to_string)).err(), Some(Some("ValidationException".into())));
        let assistant_first = Message::builder()
            .role(ConversationRole::Assistant)
            .content(ContentBlock::Text("hello".into()))
            .build()
            .unwrap();
        let r = client.converse().model_id(HAIKU).messages(assistant_first).send().await;
        assert_eq!(r.map_err(|e| e.into_service_error().code().map(str::to_string)).err(), Some(Some("ValidationException".into())));
        let r = client.converse().model_id("anthropic.claude-made-up-v9:0").messages(user("hi")).send().await;
        assert_eq!(r.map_err(|e| e.into_service_error().code().map(str::to_string)).err(), Some(Some("ValidationException".into())));
        let hot_body = r#"{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "temperature": 5, "messages": [{"role": "user", "content": "hi"}]}"#;
        let r = client.invoke_model().model_id(HAIKU).content_type("application/json").body(Blob::new(hot_body)).send().await;
        assert_eq!(r.map_err(|e| e.into_service_error().code().map(str::to_string)).err(), Some(Some("ValidationException".into())));
        let r = client.invoke_model_with_response_stream().model_id(HAIKU).content_type("application/json").body(Blob::new("{not json")).send().await;
        assert_eq!(r.map_err(|e| e.into_service_error().code().map(str::to_string)).err(), Some(Some("ValidationException".into())));
        let titan_only = assume(&url, "arn:aws:iam::222222222222:role/BedrockTitanOnly", None).await;
        let restricted = aws_sdk_bedrockruntime::Client::new(&sdk(&url, titan_only));
        assert_eq!(call(&restricted, "Converse").await, Err("AccessDeniedException".into()));
    }));
    expected.insert(
        label.into(),
        vec![
            "AssumeRole",
            "AssumeRole",
            "Converse",
            "Converse",
            "Converse",
            "Converse",
            "ConverseStream",
            "InvokeModel",
            "InvokeModelWithResponseStream",
        ],
    );

    // Every exception event, in both kinds of stream, after one event.
    use StreamException::*;
    for kind in [
        InternalServer,
        ModelStreamError,
        Validation,
        Throttling,
        ModelTimeout,
        ServiceUnavailable,
    ] {
        let label = format!("--stream-error-kind {kind:?}");
        let faults = Faults {
            stream_error_after: Some(1),
            stream_error_kind: kind,
            ..Faults::default()
        };
        items.extend(direct(&label, faults, |url| async move {
            let client = client_for(&url).await;
            for op in ["ConverseStream", "InvokeModelWithResponseStream"] {
                assert!(
                    call(&client, op).await.is_err(),
                    "{op} {kind:?}: the stream must end in its exception"
                );
            }
        }));
        expected.insert(
            label,
            vec![
                "AssumeRole",
                "ConverseStream",
                "InvokeModelWithResponseStream",
            ],
        );
    }

    let verdict = validate(&items);
    verdict.assert_clean_except(&[
        (
            "refused requests",
            "Converse request body.inferenceConfig.temperature: 5.0 is above the maximum 1",
        ),
        (
            "refused requests",
            "ConverseStream request body.inferenceConfig.maxTokens: 0 is below the minimum 1",
        ),
    ]);
    let (exchanges, events) = verdict.assert_exchanges(&expected);
    verdict.assert_events(
        expected
            .keys()
            .filter(|l| l.starts_with("--stream-error-kind")),
    );
    eprintln!(
        "conformance: {exchanges} exchanges with errors and {events} stream events follow the definitions"
    );
}

// ---- fixtures in AWS's shapes, replayed ------------------------------------

/// `replay.py` serving `fixtures`, stopped when dropped.
struct Replay {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
}

impl Replay {
    fn start(fixtures: &[&Path]) -> Replay {
        let mut child = Command::new("python3")
            .arg(root().join("tests/conformance/replay.py"))
            .args(fixtures)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("replay.py printed {line:?}, not its port"));
        Replay { child, stdin, port }
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        // Its standard input closing ends it; kill it if it lingers.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fixture_dir() -> PathBuf {
    root().join("tests/fixtures/aws-shapes")
}

fn fixture(name: &str) -> Value {
    let path = fixture_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every fixture file, by name, sorted.
fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

#[test]
fn fixtures_in_aws_shapes_follow_the_definitions_and_invoke_reads_them() {
    require_botocore();
    let names = fixture_names();
    assert!(names.len() >= 15, "{names:?}");
    let readme = std::fs::read_to_string(fixture_dir().join("README.md")).unwrap();
    let mut items: Vec<Value> = Vec::new();
    for name in &names {
        let fx = fixture(name);
        assert!(
            fx["source"].as_str().is_some_and(|s| s.len() > 20),
            "{name} says where its shape comes from"
        );
        assert!(readme.contains(name.as_str()), "README.md lists {name}");
        items.push(json!({"kind": "fixture", "label": format!("fixture {name}"), "path": fixture_dir().join(name)}));
    }

    let d = config_without_endpoints();
    // One server answers every fixture of the way to an answer: Bedrock's
    // by operation and model, AssumeRole and GetCallerIdentity with their
    // documented examples. The STS error takes AssumeRole's place, so it
    // has a server of its own.
    let refused = "sts-assume-role-region-disabled.json";
    let served: Vec<PathBuf> = names
        .iter()
        .filter(|n| *n != refused)
        .map(|n| fixture_dir().join(n))
        .collect();
    let replay = Replay::start(&served.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    let replay_refusing = Replay::start(&[&fixture_dir().join(refused)]);
    let (port, refusing_port) = (replay.port, replay_refusing.port);
    let replayed: Vec<&String> = names
        .iter()
        .filter(|n| !fixture(n)["expect"].is_null())
        .collect();
    let runs = in_parallel(&replayed, |name| {
        let fx = fixture(name);
        let op = fx["operation"].as_str().unwrap();
        let op: &'static str = ALL_FOUR
            .iter()
            .chain(["AssumeRole"].iter())
            .find(|o| **o == op)
            .copied()
            .unwrap_or_else(|| panic!("{name}: operation {op}"));
        let sts_only = !fx["model"].is_string();
        let expect = &fx["expect"];
        // The answer is read from the JSON report; a failure's partial text
        // from stdout as it streamed.
        let mut args: Vec<String> = Vec::new();
        if expect["text"].is_string() {
            args.extend(["--output".into(), "json".into()]);
        }
        let model = fx["model"].as_str().unwrap_or(HAIKU);
        args.extend(["--model".into(), model.into()]);
        if op.starts_with("InvokeModel") {
            let body = d.write(&format!("{name}.body"), &fx["request"].to_string());
            args.extend(["--body".into(), body.display().to_string()]);
        } else {
            let prompt = fx
                .pointer("/request/messages/0/content/0/text")
                .and_then(Value::as_str)
                .unwrap_or("hi");
            args.extend(["--prompt".into(), prompt.into()]);
        }
        if op == "Converse" || op == "InvokeModel" {
            args.push("--no-stream".into());
        }
        let label = format!("replay {name}");
        let upstream = if sts_only { refusing_port } else { port };
        let (done, wire) = run_through(&d, upstream, &label, &args);
        assert_eq!(
            done.output.status.code(),
            expect["exit"].as_i64().map(|c| c as i32),
            "{name}: the documented exit code\n{}",
            done.describe()
        );
        if let Some(text) = expect["text"].as_str() {
            let j: Value = serde_json::from_str(&done.stdout())
                .unwrap_or_else(|e| panic!("{name}: {e}\n{}", done.describe()));
            assert_eq!(
                j["text"],
                text,
                "{name}: the documented answer\n{}",
                done.describe()
            );
            assert_eq!(
                j["stop_reason"],
                expect["stop_reason"],
                "{name}\n{}",
                done.describe()
            );
            if !expect["tool_use"].is_null() {
                assert_eq!(
                    j["tool_use"],
                    expect["tool_use"],
                    "{name}\n{}",
                    done.describe()
                );
            }
            assert_eq!(
                j["guardrail_intervened"],
                expect["exit"] == 248,
                "{name}\n{}",
                done.describe()
            );
        }
        if let Some(s) = expect["stdout"].as_str() {
            done.stdout_has(s);
        }
        if let Some(s) = expect["stderr"].as_str() {
            done.stderr_has(s);
        }
        let ops: Vec<&str> = if sts_only {
            vec!["AssumeRole"]
        } else {
            vec!["AssumeRole", op]
        };
        (label, ops, wire)
    });
    let mut expected: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (label, ops, wire) in runs {
        expected.insert(label, ops);
        items.extend(wire);
    }

    // GetCallerIdentity's example, read by `invoke check` (which asks STS
    // who the keys and the role are, asks the control plane whether the
    // model may be called, and skips the Bedrock call here).
    let check: Vec<String> = ["check", "--no-invoke", "--output", "json"]
        .map(String::from)
        .to_vec();
    let (done, wire) = run_through(&d, replay.port, "replay invoke check", &check);
    assert!(
        done.output.status.code() == Some(0) && done.stdout().contains("123456789012"),
        "check passes and shows the account of the documented example\n{}",
        done.describe()
    );
    assert!(
        done.stdout().contains("the account has model access"),
        "check reads the documented availability\n{}",
        done.describe()
    );
    items.extend(wire);
    drop((replay, replay_refusing));
    expected.insert(
        "replay invoke check".into(),
        vec![
            "AssumeRole",
            "GetCallerIdentity",
            "GetCallerIdentity",
            "GetFoundationModelAvailability",
        ],
    );

    let verdict = validate(&items);
    verdict.assert_clean();
    for name in &names {
        let checked = verdict.label(&format!("fixture {name}"))["messages"]
            .as_u64()
            .unwrap_or(0);
        assert!(checked > 0, "{name}: nothing of it was checked");
    }
    let (exchanges, events) = verdict.assert_exchanges(&expected);
    verdict.assert_events(
        expected
            .iter()
            .filter(|(_, ops)| ops.iter().any(|op| op.ends_with("Stream")))
            .map(|(label, _)| label),
    );
    eprintln!(
        "conformance: {} fixtures, and {exchanges} exchanges and {events} events of their replay, follow the definitions",
        names.len()
    );
}

// ---- the checker must be able to fail ---------------------------------------

/// Replaces the first `from` in a `wire` item's server bytes with `to` (of
/// the same length, so that no length changes).
fn tamper(item: &Value, from: &str, to: &str) -> Value {
    assert_eq!(from.len(), to.len());
    let engine = base64::engine::general_purpose::STANDARD;
    let server = engine.decode(item["server"].as_str().unwrap()).unwrap();
    let at = server
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from:?} not in the capture"));
    let mut changed = server.clone();
    changed[at..at + to.len()].copy_from_slice(to.as_bytes());
    let mut item = item.clone();
    item["server"] = Value::String(engine.encode(changed));
    item
}

fn message(label: &str, op: &str, direction: &str, body: Value) -> Value {
    json!({"kind": "message", "label": label, "operation": op, "direction": direction, "body": body})
}

#[test]
fn the_checker_finds_violations() {
    require_botocore();
    let ok = json!({
        "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
        "metrics": {"latencyMs": 1}
    });
    let with = |pointer: &str, value: Value| {
        let mut v = ok.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(parent).unwrap()[key] = value;
        v
    };
    let mut without_usage = ok.clone();
    without_usage.as_object_mut().unwrap().remove("usage");
    let mut items = vec![
        message("control", "Converse", "response", ok.clone()),
        message(
            "unknown member",
            "Converse",
            "response",
            with("/extra", json!(1)),
        ),
        message(
            "enum",
            "Converse",
            "response",
            with("/stopReason", json!("finished")),
        ),
        message("required", "Converse", "response", without_usage),
        message(
            "union",
            "Converse",
            "response",
            with(
                "/output/message/content/0/image",
                json!({"format": "png", "source": {"bytes": "aGk="}}),
            ),
        ),
        message(
            "type",
            "Converse",
            "response",
            with("/usage/inputTokens", json!("1")),
        ),
        message(
            "range",
            "Converse",
            "request",
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"temperature": 5.0}}),
        ),
        message(
            "blob",
            "Converse",
            "request",
            json!({"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "not base64!"}}}]}]}),
        ),
        json!({"kind": "message", "label": "event type", "operation": "ConverseStream", "direction": "event", "event_type": "messageBegin", "body": {"role": "assistant"}}),
        json!({"kind": "message", "label": "error status", "operation": "Converse", "direction": "error", "status": 400, "headers": {"X-Amzn-ErrorType": "ThrottlingException"}, "body": {"message": "x"}}),
        json!({"kind": "message", "label": "error not listed", "operation": "Converse", "direction": "error", "status": 400, "headers": {"X-Amzn-ErrorType": "ServiceQuotaExceededException"}, "body": {"message": "x"}}),
        json!({"kind": "message", "label": "XML element", "service": "sts", "operation": "GetCallerIdentity", "direction": "response", "status": 200,
               "body": "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/Alice</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account><Admin>true</Admin></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"}),
    ];

    // Real captures of the emulator's answers, each changed in one place.
    let emu = common::emulator(Faults::default());
    let d = config_without_endpoints();
    let prompt = |stream: bool| {
        let mut a = vec!["--prompt".to_string(), "hi".to_string()];
        if !stream {
            a.push("--no-stream".into());
        }
        a
    };
    let (done, whole) = run_through(&d, emu.port, "captured Converse", &prompt(false));
    assert_eq!(done.output.status.code(), Some(0), "{}", done.describe());
    let (done, stream) = run_through(&d, emu.port, "captured ConverseStream", &prompt(true));
    assert_eq!(done.output.status.code(), Some(0), "{}", done.describe());
    // The tool's clients share one connection pool: STS and Bedrock may
    // share a connection, so the Bedrock exchange is found inside it.
    let bedrock = |items: &[Value]| {
        items
            .iter()
            .find(|i| {
                let client = base64::engine::general_purpose::STANDARD
                    .decode(i["client"].as_str().unwrap())
                    .unwrap();
                client.windows(12).any(|w| w == b"POST /model/")
            })
            .cloned()
            .expect("a Bedrock exchange was captured")
    };
    let (whole, stream) = (bedrock(&whole), bedrock(&stream));
    items.push(whole.clone());
    items.push(stream.clone());
    let relabel = |mut item: Value, label: &str| {
        item["label"] = json!(label);
        item
    };
    items.push(relabel(tamper(&whole, "end_turn", "finished"), "wire enum"));
    items.push(relabel(
        tamper(&whole, "latencyMs", "latencyMZ"),
        "wire member",
    ));
    items.push(relabel(
        tamper(&stream, "assistant", "assistanT"),
        "wire checksum",
    ));

    let verdict = validate(&items);
    assert_eq!(
        verdict.status,
        Some(1),
        "{:?}\n{}",
        verdict.violations,
        verdict.stderr
    );
    let found = |label: &str, text: &str| {
        assert!(
            verdict
                .violations
                .iter()
                .any(|v| v.starts_with(&format!("{label}: ")) && v.contains(text)),
            "the checker must report {text:?} under {label:?}; it reported:\n{}",
            verdict.violations.join("\n")
        );
    };
    found(
        "unknown member",
        "unknown member: ConverseResponse has no 'extra'",
    );
    found("enum", "'finished' is not a value of StopReason");
    found(
        "required",
        "usage: required member of ConverseResponse missing",
    );
    found(
        "union",
        "union ContentBlock must have exactly one member set, has 2",
    );
    found("type", "expected a whole number");
    found("range", "5.0 is above the maximum 1");
    found("blob", "must be base64 in JSON");
    found(
        "event type",
        ":event-type 'messageBegin' is not an event of ConverseStreamOutput",
    );
    found(
        "error status",
        "ThrottlingException is answered with status 429, not 400",
    );
    found(
        "error not listed",
        "ServiceQuotaExceededException is not an error Converse is defined to return",
    );
    found(
        "XML element",
        "unknown element: GetCallerIdentityResponse has no 'Admin'",
    );
    found("wire enum", "'finished' is not a value of StopReason");
    found(
        "wire member",
        "unknown member: ConverseMetrics has no 'latencyMZ'",
    );
    found(
        "wire member",
        "metrics.latencyMs: required member of ConverseMetrics missing",
    );
    found("wire checksum", "ChecksumMismatch");
    // The untouched ones pass: what fails is the change, not the capture.
    for clean in ["control", "captured Converse", "captured ConverseStream"] {
        assert!(
            !verdict
                .violations
                .iter()
                .any(|v| v.starts_with(&format!("{clean}: "))),
            "{clean} must pass:\n{}",
            verdict.violations.join("\n")
        );
    }
}
