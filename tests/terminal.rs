//! The tools on a real (pseudo-)terminal, driven by `tests/pty/interrupt.py`:
//! Ctrl-C at a hidden prompt puts the terminal back as it was (echo on) and
//! exits 130. Needs `python3`.

mod common;

use common::{Dir, PLAIN};
use std::process::Command;

fn interrupted_at(prompt: &str, bin: &str, d: &Dir, args: &[&str]) -> String {
    let exe = match bin {
        "encrypt-config" => env!("CARGO_BIN_EXE_encrypt-config"),
        _ => env!("CARGO_BIN_EXE_invoke"),
    };
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/pty/interrupt.py"
        ))
        .args([prompt, exe, d.path().to_str().unwrap()])
        .args(args)
        .output()
        .expect("python3 must be installed for these tests");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Fixed: Ctrl-C while a secret was being typed killed the tool with the
/// terminal's echo still off, so the shell showed nothing typed after it.
#[test]
fn ctrl_c_at_a_hidden_prompt_restores_the_terminal_and_exits_130() {
    let d = Dir::new();
    d.write("plain.properties", PLAIN);
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties"])
        .ok();
    let report = interrupted_at(
        "SecretKey",
        "encrypt-config",
        &d,
        &["--set", "SecretKey", "config.properties"],
    );
    assert_eq!(report, "exit=130 echo=True prompt=True");
}

/// On a terminal, a call shows that it waits for the first token, and
/// erases that line when the answer starts; off a terminal it never shows.
#[test]
fn the_wait_for_the_first_token_is_shown_on_a_terminal_only() {
    let emu = common::start(bedrock_emulator::EmulatorConfig {
        faults: bedrock_emulator::Faults {
            first_byte_delay: std::time::Duration::from_millis(300),
            ..bedrock_emulator::Faults::default()
        },
        ..bedrock_emulator::EmulatorConfig::default()
    });
    let d = Dir::new();
    common::sealed(
        &d,
        &common::access_keys_config(
            &emu.base_url,
            &[],
            "\n[models]\nTitan = amazon.titan-text-express-v1\n",
        ),
    );
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pty/capture.py"))
        .args([d.path().to_str().unwrap(), env!("CARGO_BIN_EXE_invoke")])
        .args([
            "--config",
            "config.properties",
            "--prompt",
            "hello",
            "--model",
            "Titan",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", d.path())
        .output()
        .expect("python3 runs");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    let waiting = shown.find("waiting for the first token").expect(&shown);
    let erased = shown[waiting..].find("\r\x1b[K").expect(&shown) + waiting;
    let answer = shown.find("Reply from").expect(&shown);
    assert!(waiting < erased && erased < answer, "{shown:?}");

    // Piped: never.
    let done = d
        .run("invoke")
        .args([
            "--config",
            "config.properties",
            "--prompt",
            "hello",
            "--model",
            "Titan",
        ])
        .ok();
    assert!(!done.all().contains("waiting for the first token"));
}

/// `invoke chat` on a terminal: each message goes with the conversation so
/// far (the emulator's record counts the messages), the reply streams, and
/// tokens and a cost estimate follow it; Ctrl-C stops a stalled reply and
/// the chat goes on; /model, /system, /clear and /save work; Ctrl-D ends it.
#[test]
fn chat_on_a_terminal() {
    let emu = common::start(bedrock_emulator::EmulatorConfig {
        faults: bedrock_emulator::Faults {
            // The second reply stalls after two events, once.
            stall_stream_after: Some(2),
            stall_stream_times: Some(1),
            ..bedrock_emulator::Faults::default()
        },
        ..bedrock_emulator::EmulatorConfig::default()
    });
    let d = Dir::new();
    common::sealed(
        &d,
        &common::access_keys_config(
            &emu.base_url,
            &[],
            "\n[models]\nHaiku = anthropic.claude-3-haiku-20240307-v1:0\nNova = amazon.nova-lite-v1:0\n",
        ),
    );
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/pty/converse.py"
        ))
        .args([d.path().to_str().unwrap(), env!("CARGO_BIN_EXE_invoke")])
        .args(["--config", "config.properties", "--model", "Haiku", "chat"])
        .args([
            "--",
            "expect:you> ",
            // Stalls after its first events; Ctrl-C stops it.
            "send:the first question",
            "expect:Reply",
            "ctrl-c",
            "expect:stopped",
            "expect:you> ",
            "send:the second question",
            "expect:tokens",
            "expect:you> ",
            "send:/model Nova",
            "expect:you> ",
            "send:/system Answer briefly.",
            "expect:you> ",
            "send:the third question",
            "expect:tokens",
            "expect:you> ",
            "send:/save chat.md",
            "expect:saved",
            "expect:you> ",
            "send:/clear",
            "expect:you> ",
            "send:after clearing",
            "expect:tokens",
            "expect:you> ",
            "eof",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", d.path())
        .output()
        .expect("python3 runs");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("Reply from anthropic.claude-3-haiku-20240307-v1:0: the second question"),
        "{shown}"
    );
    assert!(
        shown.contains("Reply from amazon.nova-lite-v1:0: the third question"),
        "{shown}"
    );
    assert!(shown.contains("list prices"), "a cost estimate: {shown}");
    assert!(shown.contains("; so far "), "running totals: {shown}");
    let calls: Vec<_> = emu
        .record
        .entries()
        .into_iter()
        .filter(|e| e.service == "bedrock")
        .collect();
    let counts: Vec<_> = calls.iter().map(|e| e.messages).collect();
    // 1: stopped (its partial answer kept), 3: with it, 5: after /model,
    // 1: after /clear.
    assert_eq!(counts, [Some(1), Some(3), Some(5), Some(1)], "{shown}");
    assert_eq!(
        calls[2].model.as_deref(),
        Some("amazon.nova-lite-v1:0"),
        "/model switched"
    );
    let saved = d.read("chat.md");
    assert!(saved.contains("## System\n\nAnswer briefly."), "{saved}");
    assert!(saved.contains("the third question"), "{saved}");
    assert_eq!(saved.matches("## You").count(), 3, "{saved}");
}
