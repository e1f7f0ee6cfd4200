//! Interoperability with Python's `cryptography` Fernet and with the files
//! the Python workshop tool wrote. Needs `python3` with `cryptography`
//! (`.ci/run` installs it).

mod common;

use bedrock_private::Secret;
use bedrock_private::config::crypto::{self, ConfigKey};
use bedrock_private::config::keys::KeyOptions;
use bedrock_private::config::sealed::{self, Format};
use common::{Dir, PLAIN, SECRETS};
use std::process::Command;

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 must be installed for these tests");
    assert!(
        out.status.success(),
        "python3 failed (install the package with `python3 -m pip install cryptography`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tokens_written_here_decrypt_in_python() {
    let key = ConfigKey::generate();
    for plain in SECRETS.iter().copied().chain(["", "ünïcödé ✓", "a=b;c#d"]) {
        let marked = key.encrypt(&Secret::new(plain));
        let token = crypto::marked_token(&marked).unwrap();
        let out = python(
            "import sys; from cryptography.fernet import Fernet; \
             sys.stdout.buffer.write(Fernet(sys.argv[1].encode()).decrypt(sys.argv[2].encode()))",
            &[key.text().expose(), token],
        );
        assert_eq!(out, plain);
    }
}

#[test]
fn tokens_written_by_python_decrypt_here() {
    let out = python(
        "import sys; from cryptography.fernet import Fernet; k = Fernet.generate_key(); \
         print(k.decode()); [print(Fernet(k).encrypt(a.encode()).decode()) for a in sys.argv[1:]]",
        &SECRETS,
    );
    let mut lines = out.lines();
    let key = ConfigKey::parse(Secret::new(lines.next().unwrap()), "python").unwrap();
    // Fixed: a `zip` of the lines with the secrets stopped at the shorter,
    // so a missing token passed unnoticed.
    let tokens: Vec<&str> = lines.collect();
    assert_eq!(tokens.len(), SECRETS.len(), "one token per secret:\n{out}");
    for (token, expected) in tokens.iter().zip(SECRETS) {
        assert_eq!(key.decrypt_token(token).unwrap().expose(), expected);
    }
    // A token stamped far in the future still opens, as in Python without a TTL.
    let future = python(
        "import sys; from cryptography.fernet import Fernet; k = Fernet.generate_key(); \
         print(k.decode()); print(Fernet(k).encrypt_at_time(b'later', 4102444800).decode())",
        &[],
    );
    let mut lines = future.lines();
    let key = ConfigKey::parse(Secret::new(lines.next().unwrap()), "python").unwrap();
    assert_eq!(
        key.decrypt_token(lines.next().unwrap()).unwrap().expose(),
        "later"
    );
}

/// Writes a file as the workshop's encryptConfig.py does: configparser,
/// `SecretKeyFernet` holding the key, each value as base64 of its token, and,
/// with `defect`, the encrypted key itself in `AccessKey`.
const WORKSHOP_ENCRYPT: &str = r#"
import base64, configparser, sys
from cryptography.fernet import Fernet
src, dst, defect = sys.argv[1], sys.argv[2], sys.argv[3] == "defect"
config = configparser.ConfigParser()
config.read(src)
key = Fernet.generate_key()
f = Fernet(key)
enc = lambda text: base64.b64encode(f.encrypt(text.encode())).decode()
d = config["default"]
d["SecretKeyFernet"] = key.decode()
d["AccessKey"] = enc(key.decode()) if defect else enc(d["AccessKey"])
for field in ("SecretKey", "AssumeRoleARN", "VPCEndpointURL"):
    d[field] = enc(d[field])
with open(dst, "w") as out:
    config.write(out)
"#;

/// A workshop-format plaintext: the four fields the Python tool encrypted.
fn workshop_plain(mode: u8) -> String {
    format!(
        "[default]\nUseVPCe = true\nGetCredentialsFrom = {mode}\nRegion = us-west-2\n\
         AccessKey = {}\nSecretKey = {}\nAssumeRoleARN = {}\nVPCEndpointURL = {}\n\
         PromptFilePath = prompt.txt\nDebug = false\n\n[models]\nClaude-3-Haiku = anthropic.claude-3-haiku-20240307-v1:0\n",
        SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[3]
    )
}

fn workshop_file(d: &Dir, mode: u8, defect: bool) -> std::path::PathBuf {
    let src = d.write("plain.properties", &workshop_plain(mode));
    let dst = d.join("python.properties");
    python(
        WORKSHOP_ENCRYPT,
        &[
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            if defect { "defect" } else { "fixed" },
        ],
    );
    std::fs::remove_file(src).unwrap();
    let text = std::fs::read_to_string(&dst).unwrap();
    assert!(
        text.contains("accesskey = Z0FBQUFB"),
        "configparser lower-cases keys: {text}"
    );
    dst
}

#[test]
fn python_tool_files_read_back_right() {
    let d = Dir::new();
    let path = workshop_file(&d, 2, false);
    let (opened, v) = sealed::open_validated(&path, &KeyOptions::default()).unwrap();
    assert_eq!(opened.format, Format::Python);
    let c = v.config;
    assert_eq!(c.sensitive("AccessKey").unwrap().expose(), SECRETS[0]);
    assert_eq!(c.sensitive("SecretKey").unwrap().expose(), SECRETS[1]);
    assert_eq!(c.sensitive("AssumeRoleARN").unwrap().expose(), SECRETS[2]);
    assert_eq!(c.sensitive("VPCEndpointURL").unwrap().expose(), SECRETS[3]);
    assert_eq!(c.models[0].alias.to_ascii_lowercase(), "claude-3-haiku");
    let done = d
        .run("encrypt-config")
        .args(["--check", "python.properties"])
        .ok();
    done.stdout_has("Python workshop tool format, 4 field(s) decrypted, no MAC")
        .stderr_has("convert it with `encrypt-config --upgrade");
    for s in SECRETS {
        assert!(!done.all().contains(s), "{}", done.describe());
    }
}

#[test]
fn the_access_key_defect_is_detected_and_never_used() {
    let d = Dir::new();
    workshop_file(&d, 1, true);
    // Mode 1 does not need the access key: the file works, with a warning.
    let (opened, v) =
        sealed::open_validated(&d.join("python.properties"), &KeyOptions::default()).unwrap();
    assert!(opened.access_key_defect);
    assert!(
        v.config.sensitive("AccessKey").is_none(),
        "the Fernet key is never used as an access key"
    );
    d.run("encrypt-config")
        .args(["--check", "python.properties"])
        .ok()
        .stderr_has("AccessKey holds the file's Fernet key, not an access key");

    // Mode 2 needs it: a clear error that says what to do.
    let d = Dir::new();
    workshop_file(&d, 2, true);
    let done = d
        .run("encrypt-config")
        .args(["--check", "python.properties"])
        .code(253);
    done.stderr_has("[default] AccessKey: holds the file's Fernet key, not an access key")
        .stderr_has("must be entered again");
}

#[test]
fn upgrade_converts_and_the_access_key_is_entered_again() {
    let d = Dir::new();
    workshop_file(&d, 2, true);
    let before = d.read("python.properties");
    let done = d
        .run("encrypt-config")
        .args(["--upgrade", "python.properties", "-o", "config.properties"])
        .ok();
    done.stderr_has(
        "next: enter the access key again: encrypt-config --set AccessKey config.properties",
    );
    assert_eq!(d.read("python.properties"), before, "input untouched");
    let text = d.read("config.properties");
    assert!(
        !text.to_ascii_lowercase().contains("secretkeyfernet"),
        "{text}"
    );
    assert!(!text.contains("Z0FBQUFB"), "{text}");
    assert_eq!(text.matches("ENC[fernet:").count(), 3, "{text}");

    d.run("encrypt-config")
        .args(["--set", "AccessKey", "config.properties"])
        .stdin(&format!("{}\n", SECRETS[0]))
        .ok();
    let (opened, v) =
        sealed::open_validated(&d.join("config.properties"), &KeyOptions::default()).unwrap();
    assert_eq!(opened.format, Format::Sealed);
    assert_eq!(
        v.config.sensitive("AccessKey").unwrap().expose(),
        SECRETS[0]
    );
    assert_eq!(
        v.config.sensitive("SecretKey").unwrap().expose(),
        SECRETS[1]
    );
    assert_eq!(
        v.config.sensitive("VPCEndpointURL").unwrap().expose(),
        SECRETS[3]
    );
}

#[test]
fn upgrade_without_defect_keeps_every_value() {
    let d = Dir::new();
    workshop_file(&d, 2, false);
    d.run("encrypt-config")
        .args(["--upgrade", "python.properties", "-o", "config.properties"])
        .ok();
    let (_, v) =
        sealed::open_validated(&d.join("config.properties"), &KeyOptions::default()).unwrap();
    assert_eq!(
        v.config.sensitive("AccessKey").unwrap().expose(),
        SECRETS[0]
    );
    assert_eq!(
        v.config.sensitive("AssumeRoleARN").unwrap().expose(),
        SECRETS[2]
    );
}

#[test]
fn files_encrypted_here_are_refused_by_upgrade_and_python_files_by_encrypt() {
    let d = Dir::new();
    workshop_file(&d, 2, false);
    d.run("encrypt-config")
        .args(["python.properties", "-o", "x.properties"])
        .code(252)
        .stderr_has("convert it with `encrypt-config --upgrade")
        .stderr_has("written by the Python workshop tool");
    d.write("plain2.properties", PLAIN);
    d.run("encrypt-config")
        .args(["--upgrade", "plain2.properties", "-o", "y.properties"])
        .code(252)
        .stderr_has("not in the Python workshop tool's format");
}

#[test]
fn invoke_reads_a_python_tool_file() {
    use bedrock_emulator::EmulatorConfig;
    use bedrock_emulator::identity::{
        DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN, DEMO_SECRET_KEY,
    };
    let emu = common::start(EmulatorConfig::default());
    let d = Dir::new();
    let src = d.write(
        "plain.properties",
        &format!(
            "[default]\nUseVPCe = true\nGetCredentialsFrom = 2\nRegion = us-west-2\nAccessKey = {DEMO_ACCESS_KEY}\n\
             SecretKey = {DEMO_SECRET_KEY}\nAssumeRoleARN = {DEMO_ROLE_ARN}\nVPCEndpointURL = {}\nExternalId = {DEMO_EXTERNAL_ID}\n\
             Debug = false\n\n[models]\nClaude-3-Haiku = anthropic.claude-3-haiku-20240307-v1:0\n",
            emu.base_url
        ),
    );
    python(
        WORKSHOP_ENCRYPT,
        &[
            src.to_str().unwrap(),
            d.join("config.properties").to_str().unwrap(),
            "fixed",
        ],
    );
    std::fs::remove_file(src).unwrap();
    let done = d
        .run("invoke")
        .env("AWS_ENDPOINT_URL_STS", &emu.base_url)
        .args(["--prompt", "hello from python", "--model", "1"])
        .ok();
    assert_eq!(
        done.stdout(),
        "Reply from anthropic.claude-3-haiku-20240307-v1:0: hello from python\n"
    );
    done.stderr_has("written by the Python workshop tool");
    let calls: Vec<_> = emu.record.entries();
    assert_eq!(calls[0].access_key_id.as_deref(), Some(DEMO_ACCESS_KEY));

    // With the tool's AccessKey defect, mode 2 is refused before any call.
    let d = Dir::new();
    workshop_file(&d, 2, true);
    std::fs::rename(d.join("python.properties"), d.join("config.properties")).unwrap();
    let before = emu.record.entries().len();
    d.run("invoke")
        .args(["--prompt", "x"])
        .code(253)
        .stderr_has("holds the file's Fernet key");
    assert_eq!(emu.record.entries().len(), before);
}
