//! Every current model family through the real binary and the emulator,
//! whose catalogue and rules come from AWS's documentation, not from this
//! tool: Converse and InvokeModel, streaming or not; reasoning shown apart;
//! stop sequences; no reply taken for an answer when it holds none; and a
//! stream that fails before its first word tried again.

mod common;

use bedrock_emulator::{EmulatorConfig, Faults, StreamException};
use common::{Dir, Done, emulator, sealed};
use serde_json::Value;

const MODELS: &str = "\n[models]\nClaude-3-Haiku = anthropic.claude-3-haiku-20240307-v1:0\n";

fn setup(emu: &common::Emu) -> Dir {
    let d = Dir::new();
    sealed(&d, &common::access_keys_config(&emu.base_url, &[], MODELS));
    d
}

fn invoke(d: &Dir, args: &[&str]) -> common::Run {
    d.run("invoke")
        .args(["--config", "config.properties"])
        .args(args)
}

fn json(done: &Done) -> Value {
    serde_json::from_str(&done.stdout()).unwrap_or_else(|e| panic!("{e}\n{}", done.describe()))
}

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

#[test]
fn converse_answers_for_every_family() {
    let emu = emulator(Faults::default());
    let d = setup(&emu);
    for model in FAMILIES {
        let base = model.strip_prefix("us.").unwrap_or(model);
        for stream in [true, false] {
            let mut args = vec![
                "--prompt",
                "name three primes",
                "--model",
                model,
                "--output",
                "json",
            ];
            if !stream {
                args.push("--no-stream");
            }
            let j = json(&invoke(&d, &args).ok());
            assert_eq!(
                j["text"],
                format!("Reply from {base}: name three primes"),
                "{model}: {j}"
            );
            assert_eq!(j["stop_reason"], "end_turn", "{model}: {j}");
            assert!(
                j["usage"]["output_tokens"].as_u64().unwrap() > 0,
                "{model}: {j}"
            );
        }
    }
}

#[test]
fn a_model_served_only_through_a_profile_names_the_profile() {
    let emu = emulator(Faults::default());
    let d = setup(&emu);
    invoke(&d, &["--prompt", "hi", "--model", "anthropic.claude-3-7-sonnet-20250219-v1:0"])
        .code(254)
        .stderr_has("ValidationException: Invocation of model ID anthropic.claude-3-7-sonnet-20250219-v1:0 with on-demand throughput")
        .stderr_has("use --model us.anthropic.claude-3-7-sonnet-20250219-v1:0");
    invoke(
        &d,
        &["--prompt", "hi", "--model", "anthropic.claude-made-up-v9:0"],
    )
    .code(254)
    .stderr_has("The provided model identifier is invalid.");
}

/// Fixed: a reply whose text the tool could not find was printed as
/// nothing, with `stop (none)` and exit 0.
#[test]
fn a_reply_without_an_answer_is_a_failure_that_shows_what_came() {
    let emu = emulator(Faults::default());
    let d = setup(&emu);
    // A stop sequence the reply starts with leaves it empty.
    for stream in [true, false] {
        let mut args = vec!["--prompt", "hi", "--stop", "Reply"];
        if !stream {
            args.push("--no-stream");
        }
        let done = invoke(&d, &args).code(249);
        done.stderr_has(
            "Bedrock: NoAnswer: no answer could be read from the reply (stop reason stop_sequence)",
        );
        assert_eq!(done.stdout(), "", "{}", done.describe());
    }
    // InvokeModel: the raw reply's end is shown.
    d.write(
        "empty.json",
        r#"{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "stop_sequences": ["Reply"],
            "messages": [{"role": "user", "content": "hi"}]}"#,
    );
    let done = invoke(&d, &["--body", "empty.json", "--no-stream"]).code(249);
    done.stderr_has("what arrived ended with: {\"content\":[{\"text\":\"\",\"type\":\"text\"}]");
}

#[test]
fn stop_sequences_end_the_reply_with_its_stop_reason() {
    let emu = emulator(Faults::default());
    let d = setup(&emu);
    for model in [
        "anthropic.claude-3-haiku-20240307-v1:0",
        "amazon.titan-text-express-v1",
    ] {
        let j = json(
            &invoke(
                &d,
                &[
                    "--prompt",
                    "one two three",
                    "--model",
                    model,
                    "--stop",
                    "three",
                    "--output",
                    "json",
                ],
            )
            .ok(),
        );
        assert!(j["text"].as_str().unwrap().ends_with(": one two"), "{j}");
        assert_eq!(j["stop_reason"], "stop_sequence", "{j}");
    }
    invoke(&d, &["--prompt", "x", "--stop", ""])
        .code(252)
        .stderr_has("--stop: expected a non-empty sequence");
    let calls = emu.record.entries();
    assert!(calls.iter().all(|e| e.status == 200), "{calls:?}");
}

#[test]
fn reasoning_is_shown_apart_from_the_answer() {
    let emu = emulator(Faults::default());
    let d = setup(&emu);
    for stream in [true, false] {
        let mut args = vec![
            "--prompt",
            "why is the sky blue",
            "--model",
            "us.deepseek.r1-v1:0",
        ];
        if !stream {
            args.push("--no-stream");
        }
        let done = invoke(&d, &args).ok();
        assert_eq!(
            done.stdout(),
            "Reply from deepseek.r1-v1:0: why is the sky blue\n",
            "{}",
            done.describe()
        );
        done.stderr_has("invoke: reasoning")
            .stderr_has("The user asks about: why is the sky blue");
        args.extend(["--output", "json"]);
        let j = json(&invoke(&d, &args).ok());
        assert_eq!(
            j["reasoning"], "The user asks about: why is the sky blue",
            "{j}"
        );
    }
}

fn failing_streams(kind: StreamException, times: Option<u32>, after: usize) -> common::Emu {
    common::start(EmulatorConfig {
        faults: Faults {
            stream_error_after: Some(after),
            stream_error_kind: kind,
            stream_error_times: times,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
}

/// Fixed: throttling inside a stream was not retried, and the hint said
/// the retries were exhausted.
#[test]
fn a_stream_that_fails_before_any_text_is_tried_again() {
    let emu = failing_streams(StreamException::Throttling, Some(1), 0);
    let d = setup(&emu);
    let done = invoke(&d, &["--prompt", "hi"]).ok();
    done.stderr_has(
        "invoke: retry       ThrottlingException in the stream before any text: trying again",
    )
    .stdout_has("Reply from anthropic.claude-3-haiku-20240307-v1:0: hi");
    // Every attempt failing: the error after the last one.
    let emu = failing_streams(StreamException::ServiceUnavailable, None, 0);
    let d = setup(&emu);
    let done = invoke(&d, &["--prompt", "hi", "--max-attempts", "2"]).code(254);
    done.stderr_has("Bedrock: ServiceUnavailableException");
    assert_eq!(
        done.stderr().matches("invoke: retry").count(),
        1,
        "{}",
        done.describe()
    );
}

#[test]
fn a_stream_that_fails_after_text_is_not_tried_again_and_says_so() {
    let emu = failing_streams(StreamException::Throttling, None, 3);
    let d = setup(&emu);
    let done = invoke(&d, &["--prompt", "one two three four"]).code(254);
    done.stderr_has("Bedrock: ThrottlingException")
        .stderr_has("the stream failed after text arrived, so it was not retried and the text above is incomplete");
    assert!(
        !done.stderr().contains("invoke: retry"),
        "{}",
        done.describe()
    );
    // Fixed: a broken stream added a blank line to stdout.
    assert!(!done.stdout().ends_with("\n\n"), "{:?}", done.stdout());
}

#[test]
fn every_in_stream_exception_is_reported_by_its_type() {
    use StreamException::*;
    for (kind, code) in [
        (InternalServer, "InternalServerException"),
        (ModelStreamError, "ModelStreamErrorException"),
        (Validation, "ValidationException"),
        (Throttling, "ThrottlingException"),
        (ModelTimeout, "ModelTimeoutException"),
        (ServiceUnavailable, "ServiceUnavailableException"),
    ] {
        let emu = failing_streams(kind, None, 2);
        let d = setup(&emu);
        d.write(
            "body.json",
            r#"{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "a b c d"}]}"#,
        );
        let done = invoke(&d, &["--body", "body.json"]).output();
        assert_eq!(
            done.output.status.code(),
            Some(254),
            "{kind:?}\n{}",
            done.describe()
        );
        done.stderr_has(&format!("Bedrock: {code}: "));
    }
}

/// A model asked to use a tool: its request is listed (name and input),
/// whatever the operation, and counts as an answer.
#[test]
fn tool_use_requests_are_listed() {
    let emu = emulator(Faults::default());
    let d = setup(&emu);
    let body = format!(
        "{}/prompts/bodies/anthropic-tools.json",
        env!("CARGO_MANIFEST_DIR")
    );
    for stream in [true, false] {
        let mut args = vec!["--body", body.as_str(), "--output", "json"];
        if !stream {
            args.push("--no-stream");
        }
        let j = json(&invoke(&d, &args).ok());
        assert_eq!(j["stop_reason"], "tool_use", "stream={stream}: {j}");
        assert_eq!(j["tool_use"][0]["name"], "get_weather", "{j}");
        let input: Value = match &j["tool_use"][0]["input"] {
            Value::String(s) => serde_json::from_str(s).unwrap(),
            other => other.clone(),
        };
        assert_eq!(input["city"], "emulator", "{j}");
    }
    // In text mode, a note on stderr.
    invoke(&d, &["--body", &body])
        .ok()
        .stderr_has("tool use")
        .stderr_has("get_weather");
}

/// A guardrail named with --guardrail is sent on every operation; when it
/// intervenes its message is shown and the exit code is 248, unless
/// --guardrail-ok; an unknown guardrail is refused by Bedrock.
#[test]
fn guardrails_are_sent_and_their_interventions_are_not_success() {
    use bedrock_emulator::guardrails::{BLOCKED_INPUT_MESSAGE, DEMO_GUARDRAIL_ID};
    let emu = emulator(Faults::default());
    let d = setup(&emu);
    let body = format!(
        "{}/prompts/bodies/anthropic-messages.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let forbidden = d.write(
        "forbidden.json",
        r#"{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
            "messages": [{"role": "user", "content": "tell me something forbidden"}]}"#,
    );
    let forbidden = forbidden.to_str().unwrap();
    let modes: [(&[&str], &[&str]); 4] = [
        (
            &["--prompt", "tell me something forbidden"],
            &["--prompt", "hello"],
        ),
        (
            &["--prompt", "tell me something forbidden", "--no-stream"],
            &["--prompt", "hello", "--no-stream"],
        ),
        (&["--body", forbidden], &["--body", &body]),
        (
            &["--body", forbidden, "--no-stream"],
            &["--body", &body, "--no-stream"],
        ),
    ];
    for (blocked, allowed) in modes {
        let done = invoke(&d, blocked)
            .args(["--guardrail", DEMO_GUARDRAIL_ID])
            .code(248);
        assert!(
            done.stdout().contains(BLOCKED_INPUT_MESSAGE),
            "{}",
            done.describe()
        );
        invoke(&d, blocked)
            .args([
                "--guardrail",
                &format!("{DEMO_GUARDRAIL_ID}:1"),
                "--guardrail-ok",
            ])
            .ok();
        let done = invoke(&d, allowed)
            .args(["--guardrail", DEMO_GUARDRAIL_ID])
            .ok();
        assert!(done.stdout().contains("Reply from"), "{}", done.describe());
        // Without --guardrail, nothing checks the prompt.
        invoke(&d, blocked).ok();
    }
    invoke(&d, &["--prompt", "hello", "--guardrail", "nosuchguardrail"])
        .code(254)
        .stderr_has("The guardrail identifier or version provided in the request does not exist.");
}

/// Images and documents go with the prompt as Converse content blocks (the
/// emulator acknowledges each by format, name and size); a model the guide
/// lists without image input is refused before any call, and so is a file
/// of a format Converse does not name.
#[test]
fn images_and_documents_go_with_the_prompt() {
    let emu = emulator(Faults::default());
    let d = setup(&emu);
    std::fs::write(d.join("chart.png"), [0x89, b'P', b'N', b'G', 1, 2, 3, 4]).unwrap();
    d.write("Q3 notes.md", "# Notes\nrevenue up\n");
    for stream in [true, false] {
        let mut args = vec![
            "--prompt",
            "describe",
            "--image",
            "chart.png",
            "--document",
            "Q3 notes.md",
            "--model",
            "Claude-3-Haiku",
        ];
        if !stream {
            args.push("--no-stream");
        }
        let done = invoke(&d, &args).ok();
        assert_eq!(
            done.stdout().trim(),
            "Reply from anthropic.claude-3-haiku-20240307-v1:0: describe [image png, 8 bytes] [document md \"Q3 notes\", 19 bytes]",
            "{}",
            done.describe()
        );
    }
    let before = emu.record.entries().len();
    invoke(
        &d,
        &[
            "--prompt",
            "describe",
            "--image",
            "chart.png",
            "--model",
            "amazon.titan-text-express-v1",
        ],
    )
    .code(252)
    .stderr_has("amazon.titan-text-express-v1 takes no images");
    invoke(&d, &["--prompt", "describe", "--image", "Q3 notes.md"])
        .code(252)
        .stderr_has("expected a .png, .jpg, .jpeg, .gif or .webp file");
    invoke(&d, &["--body", "x.json", "--image", "chart.png"]).code(252);
    assert_eq!(emu.record.entries().len(), before, "nothing was sent");
}

/// `invoke embed`: one JSON line per input with its vector, of the size the
/// model gives (Titan V2's --dimensions honoured); --similarity compares
/// each input with the first; Cohere's texts go in one request; options a
/// model does not take are refused before any call.
#[test]
fn embeddings_of_texts_and_their_similarity() {
    let emu = emulator(Faults::default());
    let d = setup(&emu);
    let done = invoke(
        &d,
        &["embed", "the cat sat on the mat", "--dimensions", "256"],
    )
    .ok();
    let line: Value = serde_json::from_str(done.stdout().trim()).unwrap();
    assert_eq!(line["dimensions"], 256, "{line}");
    assert_eq!(line["embedding"].as_array().unwrap().len(), 256);
    assert_eq!(line["model"], "amazon.titan-embed-text-v2:0");
    let norm: f64 = line["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap().powi(2))
        .sum();
    assert!((norm - 1.0).abs() < 1e-6, "normalised by default: {norm}");

    // Similarity, from standard input, one text a line.
    let done = invoke(&d, &["embed", "--similarity"])
        .stdin("the cat sat on the mat\nthe cat sat on the rug\nquantum chromodynamics lectures\n")
        .ok();
    let scores: Vec<f64> = done
        .stdout()
        .lines()
        .map(|l| l.split('\t').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(scores.len(), 3, "{}", done.describe());
    assert!((scores[0] - 1.0).abs() < 1e-4);
    assert!(scores[1] > 0.6 && scores[2] < 0.4, "{scores:?}");

    // Cohere: both texts in one request.
    d.write("texts.txt", "alpha beta\n\ngamma delta\n");
    let before = emu.record.entries().len();
    let done = invoke(
        &d,
        &[
            "embed",
            "--file",
            "texts.txt",
            "--model",
            "cohere.embed-english-v3",
        ],
    )
    .ok();
    assert_eq!(done.stdout().lines().count(), 2);
    let calls: Vec<_> = emu.record.entries()[before..]
        .iter()
        .filter(|e| e.service == "bedrock")
        .cloned()
        .collect();
    assert_eq!(calls.len(), 1, "one request for the batch");

    // Nova Multimodal Embeddings: its own body, 384 values asked for.
    let done = invoke(
        &d,
        &[
            "embed",
            "the cat sat on the mat",
            "--model",
            "amazon.nova-2-multimodal-embeddings-v1:0",
            "--dimensions",
            "384",
        ],
    )
    .ok();
    let line: Value = serde_json::from_str(done.stdout().trim()).unwrap();
    assert_eq!(line["dimensions"], 384, "{line}");

    // Refused before any call.
    let before = emu.record.entries().len();
    invoke(&d, &["embed", "x", "--dimensions", "300"])
        .code(252)
        .stderr_has("256, 512 or 1024");
    invoke(
        &d,
        &[
            "embed",
            "x",
            "--model",
            "cohere.embed-english-v3",
            "--dimensions",
            "256",
        ],
    )
    .code(252)
    .stderr_has("fixed size");
    invoke(&d, &["embed", "x", "--model", "Claude-3-Haiku"])
        .code(252)
        .stderr_has("not an embedding model");
    invoke(&d, &["embed", "x", "--input-type", "search_query"])
        .code(252)
        .stderr_has("only Cohere Embed takes it");
    invoke(
        &d,
        &[
            "embed",
            "x",
            "--model",
            "amazon.nova-2-multimodal-embeddings-v1:0",
            "--dimensions",
            "512",
        ],
    )
    .code(252)
    .stderr_has("256, 384, 1024 or 3072");
    assert_eq!(
        emu.record.entries()[before..]
            .iter()
            .filter(|e| e.service == "bedrock")
            .count(),
        0
    );
}

/// Width, height and pixels of a PNG file, decoded by the `png` crate.
fn decode_png(path: &std::path::Path) -> (u32, u32, Vec<u8>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{}: not a PNG: {e}", path.display()));
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    (info.width, info.height, pixels)
}

fn bedrock_calls(emu: &common::Emu, since: usize) -> usize {
    emu.record.entries()[since..]
        .iter()
        .filter(|e| e.service == "bedrock")
        .count()
}

/// `invoke image`: PNG files of the size asked for, decoded here; several
/// in one Nova Canvas request, one request each for Stability models with
/// seeds counted up; files never overwritten without --force; sizes,
/// aspect ratios and options a model does not take refused before a call.
#[test]
fn pictures_from_a_prompt() {
    let emu = emulator(Faults::default());
    let d = setup(&emu);
    let args = [
        "image",
        "a lighthouse at dusk",
        "--size",
        "640x384",
        "--count",
        "2",
        "--seed",
        "7",
        "--out",
        "light.png",
    ];
    let before = emu.record.entries().len();
    let done = invoke(&d, &args).ok();
    assert_eq!(
        done.stdout().lines().collect::<Vec<_>>(),
        ["light-1.png", "light-2.png"]
    );
    assert_eq!(bedrock_calls(&emu, before), 1, "one Nova Canvas request");
    let (w, h, first) = decode_png(&d.join("light-1.png"));
    assert_eq!((w, h), (640, 384));
    let (w, h, second) = decode_png(&d.join("light-2.png"));
    assert_eq!((w, h), (640, 384));
    assert_ne!(first, second, "two pictures, not one twice");

    // Never overwritten without --force, and nothing is asked of Bedrock.
    let before = emu.record.entries().len();
    invoke(&d, &args).code(252).stderr_has("already exists");
    assert_eq!(bedrock_calls(&emu, before), 0);
    let mut forced = args.to_vec();
    forced[7] = "8";
    forced.push("--force");
    invoke(&d, &forced).ok();
    assert_ne!(decode_png(&d.join("light-1.png")).2, first, "replaced");

    // SDXL: one request per picture.
    let before = emu.record.entries().len();
    invoke(
        &d,
        &[
            "image",
            "a red boat",
            "--model",
            "stability.stable-diffusion-xl-v1",
            "--size",
            "1344x768",
            "--count",
            "2",
            "--seed",
            "1",
            "--negative",
            "fog",
            "--out",
            "boat.png",
        ],
    )
    .ok();
    assert_eq!(bedrock_calls(&emu, before), 2);
    assert_eq!(decode_png(&d.join("boat-2.png")).0, 1344);

    // A Stable Image model, by aspect ratio, with the JSON report.
    let done = invoke(
        &d,
        &[
            "image",
            "a map",
            "--model",
            "stability.stable-image-core-v1:1",
            "--aspect-ratio",
            "16:9",
            "--out",
            "map.png",
            "--output",
            "json",
        ],
    )
    .ok();
    let report = json(&done);
    let (w, h, _) = decode_png(&d.join("map.png"));
    assert!(w > h, "16:9 is wide: {w}x{h}");
    assert_eq!(report["images"][0]["width"], w);
    assert_eq!(report["images"][0]["path"], "map.png");

    // Refused before any call.
    let before = emu.record.entries().len();
    for (extra, says) in [
        (&["--size", "1000x1000"][..], "multiple of 16"),
        (
            &[
                "--size",
                "512x512",
                "--model",
                "stability.stable-diffusion-xl-v1",
            ],
            "1024x1024",
        ),
        (
            &["--size", "512x512", "--model", "stability.sd3-5-large-v1:0"],
            "--aspect-ratio",
        ),
        (&["--seed", "900000000"], "0 to 858993459"),
        (&["--count", "6"], "1 to 5"),
        (
            &["--model", "Claude-3-Haiku"],
            "not an image generation model",
        ),
    ] {
        let mut a = vec!["image", "x", "--out", "refused.png"];
        a.extend(extra);
        invoke(&d, &a).code(252).stderr_has(says);
    }
    assert_eq!(bedrock_calls(&emu, before), 0);
    assert!(!d.exists("refused.png"));
}

/// `invoke chat` without a terminal: one message a line, each sent with the
/// conversation so far, one JSON line per turn with its usage; a failed
/// turn ends the run with its exit code.
#[test]
fn chat_from_standard_input() {
    let emu = emulator(Faults::default());
    let d = setup(&emu);
    let done = invoke(
        &d,
        &["--model", "Claude-3-Haiku", "chat", "--output", "json"],
    )
    .stdin("hello there\n\n/system Be brief.\nand again\n")
    .ok();
    let turns: Vec<Value> = done
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(turns.len(), 2, "{}", done.describe());
    assert_eq!(turns[1]["turn"], 2);
    assert!(
        turns[1]["reply"].as_str().unwrap().ends_with("and again"),
        "{}",
        turns[1]
    );
    assert!(turns[1]["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let tokens = |t: &Value, k: &str| t["usage"][k].as_u64().unwrap();
    assert!(
        tokens(&turns[1], "input_tokens")
            > tokens(&turns[0], "input_tokens") + tokens(&turns[0], "output_tokens"),
        "the conversation so far is input too: {turns:?}"
    );
    assert!(turns[1]["cost_usd"].as_f64().unwrap() > 0.0);
    let counts: Vec<_> = emu
        .record
        .entries()
        .iter()
        .filter(|e| e.service == "bedrock")
        .map(|e| e.messages)
        .collect();
    assert_eq!(counts, [Some(1), Some(3)]);

    // A model that takes no system prompt gets it folded into the first
    // message (the emulator refuses a system prompt for Titan Text).
    let done = invoke(
        &d,
        &[
            "--model",
            "amazon.titan-text-express-v1",
            "chat",
            "--system",
            "Be brief.",
        ],
    )
    .stdin("hi\n")
    .ok();
    assert!(done.stdout().contains("Be brief."), "{}", done.describe());

    // A command that fails ends the run too, without a terminal.
    invoke(&d, &["--model", "Claude-3-Haiku", "chat"])
        .stdin("hi\n/save no/such/folder/chat.md\nnever sent\n")
        .code(252)
        .stderr_has("the folder no/such/folder does not exist");

    // A failed turn ends the run with its exit code.
    invoke(
        &d,
        &[
            "--model",
            "amazon.titan-text-express-v1",
            "chat",
            "--max-tokens",
            "9000",
        ],
    )
    .stdin("hi\n")
    .code(254)
    .stderr_has("ValidationException");
}

/// `invoke models --available`: the control plane (through
/// ControlPlaneEndpointURL) says which models the account may call, which
/// only through an inference profile, and which profiles exist; a model
/// the account was not granted is refused by the runtime too, and a role
/// whose policy allows only Titan is not authorized for Claude.
#[test]
fn model_access_through_the_control_plane() {
    let emu = common::start(EmulatorConfig {
        directory: bedrock_emulator::identity::Directory {
            no_model_access: vec!["cohere.*".into()],
            ..Default::default()
        },
        ..EmulatorConfig::default()
    });
    let d = Dir::new();
    let control = format!("ControlPlaneEndpointURL = {}", emu.base_url);
    sealed(
        &d,
        &common::access_keys_config(
            &emu.base_url,
            &[&control],
            "\n[models]\nClaude-3-Haiku = anthropic.claude-3-haiku-20240307-v1:0\n\
             Sonnet-4 = anthropic.claude-sonnet-4-20250514-v1:0\nCommand-R = cohere.command-r-v1:0\n",
        ),
    );
    let done = invoke(&d, &["models", "--available", "--output", "json"]).ok();
    let report = json(&done);
    let model = |id: &str| {
        report["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {report}"))
    };
    let haiku = model("anthropic.claude-3-haiku-20240307-v1:0");
    assert_eq!(haiku["access"], true);
    assert_eq!(haiku["on_demand"], true);
    assert_eq!(haiku["aliases"][0], "Claude-3-Haiku");
    let sonnet = model("anthropic.claude-sonnet-4-20250514-v1:0");
    assert_eq!(sonnet["on_demand"], false);
    assert!(
        sonnet["profiles"]
            .as_array()
            .unwrap()
            .contains(&"us.anthropic.claude-sonnet-4-20250514-v1:0".into()),
        "{sonnet}"
    );
    let cohere = model("cohere.command-r-v1:0");
    assert_eq!(cohere["access"], false);
    assert!(cohere["reason"].as_str().unwrap().contains("model access"));
    assert!(!report["profiles"].as_array().unwrap().is_empty());
    let ops: Vec<String> = emu
        .record
        .entries()
        .iter()
        .filter(|e| e.service == "bedrock-control")
        .map(|e| e.operation.clone())
        .collect();
    assert!(ops.contains(&"ListFoundationModels".to_string()), "{ops:?}");
    assert!(ops.contains(&"ListInferenceProfiles".to_string()));
    assert!(ops.contains(&"GetFoundationModelAvailability".to_string()));

    // Text: a table, and warnings for the aliases that would fail.
    let done = invoke(&d, &["models", "--available"]).ok();
    assert!(done.stdout().contains("ACCESS"), "{}", done.describe());
    done.stderr_has("Command-R = cohere.command-r-v1:0: no access")
        .stderr_has("Sonnet-4 = anthropic.claude-sonnet-4-20250514-v1:0: served only through an inference profile");

    // The runtime refuses the model the account has no access to.
    invoke(&d, &["--model", "Command-R", "--prompt", "hi"])
        .code(254)
        .stderr_has("You don't have access to the model");

    // A role allowed only Titan: not authorized for Claude.
    sealed(
        &d,
        &common::access_keys_config(
            &emu.base_url,
            &[
                &control,
                "AssumeRoleARN = arn:aws:iam::222222222222:role/BedrockTitanOnly",
                "ExternalId =",
            ],
            "",
        ),
    );
    let report = json(
        &invoke(
            &d,
            &["models", "--available", "--output", "json", "--no-cache"],
        )
        .ok(),
    );
    let find = |id: &str| {
        report["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(find("amazon.titan-text-express-v1")["access"], true);
    let claude = find("anthropic.claude-3-haiku-20240307-v1:0");
    assert_eq!(claude["access"], false);
    assert!(
        claude["reason"].as_str().unwrap().contains("policies"),
        "{claude}"
    );
}
