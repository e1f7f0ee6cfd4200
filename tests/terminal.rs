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
