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
