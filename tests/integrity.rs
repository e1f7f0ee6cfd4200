//! The integrity model end to end: every way a review found to get a
//! config past its MAC, tried through the real binaries. Each test names the
//! attack; all of them passed (the attack worked) before the MAC covered
//! `[encryption]`, the key kept for a config took precedence over what the
//! config says, and generations were recorded.

mod common;

use bedrock_emulator::identity::{DEMO_ACCESS_KEY, DEMO_ROLE_ARN, DEMO_SECRET_KEY};
use bedrock_private::config::crypto::{ConfigKey, MacVersion};
use bedrock_private::config::document::Document;
use bedrock_private::config::sealed;
use bedrock_private::secret::Secret;
use common::{Dir, PLAIN};

const OK: i32 = 0;
const INTEGRITY: i32 = 251;
const USAGE: i32 = 252;
const CONFIG: i32 = 253;

/// The victim: PLAIN encrypted into config.properties, key in config.properties.key.
fn victim() -> Dir {
    common::encrypted_plain()
}

/// PLAIN with the VPC endpoint moved to `url`: what an attacker wants.
fn hostile_plain(url: &str) -> String {
    PLAIN
        .lines()
        .map(|l| {
            if l.starts_with("VPCEndpointURL") {
                format!("VPCEndpointURL = {url}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An attacker's own sealed file, made with the real tool in its own
/// folder with `key_args`; returns its text.
fn forged(plain: &str, key_args: &[&str]) -> (Dir, String) {
    let a = Dir::new();
    a.write("evil.properties", plain);
    a.run("encrypt-config")
        .args(["evil.properties", "-o", "forged.properties"])
        .args(key_args)
        .ok();
    let text = a.read("forged.properties");
    (a, text)
}

/// Forgets what this machine has seen of configs: the pins in the state
/// folder (HOME is the test's folder) and the record beside the key.
fn forget(d: &Dir) {
    for f in [
        ".local/state/bedrock-private/configs",
        "config.properties.key.generation",
    ] {
        let _ = std::fs::remove_file(d.join(f));
    }
}

fn check(d: &Dir) -> common::Run {
    d.run("encrypt-config")
        .args(["--check", "config.properties"])
}

/// Replaces the value of `key` in `[encryption]`.
fn set_header(text: &str, key: &str, value: &str) -> String {
    let mut doc = Document::parse(std::path::Path::new("c"), text).unwrap();
    let e = doc.get("encryption", key).unwrap();
    doc.set_value(e.index, value);
    doc.render()
}

#[test]
fn an_embedded_key_cannot_outrank_the_key_kept_for_the_config() {
    let d = victim();
    let (_a, text) = forged(&hostile_plain("https://attacker.example"), &["--embed-key"]);
    d.write("config.properties", &text);
    check(&d)
        .code(INTEGRITY)
        .stderr_has("wrong key")
        .stderr_has("names a key of its own");
    d.run("invoke")
        .args(["--config", "config.properties", "models"])
        .code(INTEGRITY);
}

#[test]
fn a_redirected_key_file_cannot_outrank_the_key_kept_for_the_config() {
    let d = victim();
    let (a, text) = forged(&hostile_plain("https://attacker.example"), &[]);
    // The forged file names its key by absolute path: the attacker's.
    let evil_key = a.join("forged.properties.key");
    let text = set_header(&text, "KeyFile", &evil_key.display().to_string());
    // Reseal so that the MAC is right for the attacker's key.
    let key =
        ConfigKey::parse(Secret::new(a.read("forged.properties.key").trim()), "evil").unwrap();
    let mut doc = Document::parse(&d.join("config.properties"), &text).unwrap();
    let record = sealed::KeyRecord::File(evil_key.clone());
    sealed::seal(&mut doc, &key, &record, &sealed::Lineage::new());
    d.write("config.properties", &doc.render());
    check(&d)
        .code(INTEGRITY)
        .stderr_has("names a key of its own");
}

/// The attack the review found, end to end: a config rewritten by someone
/// who cannot write the key file sends nothing anywhere.
#[test]
fn a_forged_config_sends_no_request() {
    let emu = common::emulator(bedrock_emulator::Faults::default());
    emu.expect_no_calls();
    let d = Dir::new();
    let plain = format!(
        "[default]\nUseVPCe = true\nGetCredentialsFrom = 2\nRegion = us-west-2\nAccessKey = {DEMO_ACCESS_KEY}\n\
         SecretKey = {DEMO_SECRET_KEY}\nAssumeRoleARN = {DEMO_ROLE_ARN}\nVPCEndpointURL = https://vpce-0a1b2c3d4e5f67890-abcdefgh.bedrock-runtime.us-west-2.vpce.amazonaws.com\n\
         ModelID = anthropic.claude-3-haiku-20240307-v1:0\n"
    );
    d.write("plain.properties", &plain);
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties"])
        .ok();
    // The attacker points both endpoints at a server of theirs (here the
    // emulator, whose record shows what would have reached them).
    let hostile = plain.replace(
        "VPCEndpointURL = https://vpce-0a1b2c3d4e5f67890-abcdefgh.bedrock-runtime.us-west-2.vpce.amazonaws.com",
        &format!("VPCEndpointURL = {0}\nSTSEndpointURL = {0}", emu.base_url),
    );
    for key_args in [&["--embed-key"][..], &["--key-from-env"][..]] {
        let (_a, text) = if key_args[0] == "--key-from-env" {
            let a = Dir::new();
            a.write("evil.properties", &hostile);
            let key = ConfigKey::generate();
            a.run("encrypt-config")
                .args([
                    "evil.properties",
                    "-o",
                    "forged.properties",
                    "--key-from-env",
                ])
                .env("BEDROCK_PRIVATE_CONFIG_KEY", key.text().expose())
                .ok();
            let t = a.read("forged.properties");
            (a, t)
        } else {
            forged(&hostile, key_args)
        };
        d.write("config.properties", &text);
        d.run("invoke")
            .args(["--config", "config.properties", "--prompt", "hello"])
            .code(INTEGRITY);
    }
    assert!(
        emu.record.entries().is_empty(),
        "nothing reached the attacker: {:?}",
        emu.record.entries()
    );
}

#[test]
fn the_mac_covers_the_encryption_section() {
    for (key, value) in [
        ("KeyFile", "/tmp/elsewhere.key"),
        ("Generation", "99"),
        ("FileId", "0000000000000000"),
    ] {
        let d = victim();
        let text = set_header(&d.read("config.properties"), key, value);
        d.write("config.properties", &text);
        check(&d)
            .code(INTEGRITY)
            .stderr_has("the MAC does not match");
    }
    // Declaring the file format 1 drops the generation from under the MAC:
    // refused, since format 1 has no such fields.
    let d = victim();
    let text = set_header(&d.read("config.properties"), "Format", "1");
    d.write("config.properties", &text);
    check(&d).code(INTEGRITY).stderr_has("not part of format 1");
}

#[test]
fn keys_added_after_the_mac_or_into_encryption_are_refused() {
    let d = victim();
    let sealed_text = d.read("config.properties");
    d.write(
        "config.properties",
        &format!("{sealed_text}\n[default2]\nVPCEndpointURL = https://attacker.example\n"),
    );
    check(&d)
        .code(INTEGRITY)
        .stderr_has("[default2] VPCEndpointURL comes after the MAC");

    let with_extra = sealed_text.replace("\nMAC = ", "\nProxy = http://attacker.example\nMAC = ");
    d.write("config.properties", &with_extra);
    check(&d)
        .code(INTEGRITY)
        .stderr_has("[encryption] Proxy is not something encrypt-config writes");
}

#[test]
fn a_downgrade_to_an_unsealed_file_is_refused_when_a_key_exists() {
    let python = "[default]\nUseVPCe = false\nGetCredentialsFrom = 0\nRegion = us-west-2\n\
                  SecretKeyFernet = cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=\n";
    for replacement in [PLAIN, python] {
        let d = victim();
        d.write("config.properties", replacement);
        check(&d)
            .code(INTEGRITY)
            .stderr_has("but a key for it exists (config.properties.key)")
            .stderr_has("downgrade");
        d.run("invoke")
            .args(["--config", "config.properties", "models"])
            .code(INTEGRITY);
        // A key given in the environment or by flag counts as well.
        std::fs::rename(d.join("config.properties.key"), d.join("kept.key")).unwrap();
        check(&d)
            .args(["--key-file", "kept.key"])
            .code(INTEGRITY)
            .stderr_has("downgrade");
        check(&d)
            .env("BEDROCK_PRIVATE_CONFIG_KEY", d.read("kept.key").trim())
            .code(INTEGRITY)
            .stderr_has("unset BEDROCK_PRIVATE_CONFIG_KEY if it holds another file's key");
        // The path was pinned to the sealed config when it was written.
        check(&d)
            .code(INTEGRITY)
            .stderr_has("a sealed file has been replaced by an unsealed one");
        // With no key anywhere and nothing seen here, it opens, with a
        // warning that nothing is verified.
        forget(&d);
        check(&d).code(OK).stderr_has("nothing in it is verified");
    }
}

#[test]
fn require_sealed_refuses_unsealed_files_and_embedded_keys() {
    let d = Dir::new();
    d.write("config.properties", PLAIN);
    check(&d).code(OK);
    check(&d)
        .args(["--require-sealed"])
        .code(INTEGRITY)
        .stderr_has("--require-sealed");
    check(&d)
        .env("BEDROCK_PRIVATE_REQUIRE_SEALED", "1")
        .code(INTEGRITY);
    d.run("invoke")
        .args([
            "--config",
            "config.properties",
            "models",
            "--require-sealed",
        ])
        .code(INTEGRITY);

    let (e, _) = common::encrypted_plain_with(&["--embed-key"]);
    check(&e)
        .args(["--require-sealed"])
        .code(INTEGRITY)
        .stderr_has("embedded");
}

#[test]
fn an_embedded_key_warns_on_every_read() {
    let (d, _) = common::encrypted_plain_with(&["--embed-key"]);
    for _ in 0..2 {
        check(&d)
            .ok()
            .stderr_has("the key is embedded in the file (--embed-key)");
    }
    d.run("invoke")
        .args(["--config", "config.properties", "models"])
        .ok()
        .stderr_has("the key is embedded in the file");
}

#[test]
fn an_older_copy_put_back_is_refused_as_a_rollback() {
    let d = victim();
    let old = d.read("config.properties");
    d.run("encrypt-config")
        .args(["--set", "ModelID", "config.properties"])
        .stdin("Titan\n")
        .ok();
    check(&d).ok().stdout_has("generation          2");
    d.write("config.properties", &old);
    // The pin of the path answers first...
    check(&d)
        .code(INTEGRITY)
        .stderr_has("rollback: this is generation 1 of the file, but generation 2 was opened at this path before");
    // ...and the record beside the key catches it without the pin too.
    std::fs::remove_file(d.join(".local/state/bedrock-private/configs")).unwrap();
    check(&d)
        .code(INTEGRITY)
        .stderr_has(
            "rollback: this is generation 1 of the file, but generation 2 was opened before",
        )
        .stderr_has("config.properties.key.generation");
    d.run("invoke")
        .args(["--config", "config.properties", "models"])
        .code(INTEGRITY)
        .stderr_has("rollback");
    // Rotation keeps the lineage: the pre-rotation copy cannot come back
    // either (its key is gone), and the rotated file counts on.
    d.write("config.properties", &old);
    forget(&d);
    check(&d).ok();
    d.run("encrypt-config")
        .args(["--rotate", "config.properties"])
        .ok();
    check(&d).ok().stdout_has("generation          2");
}

#[test]
fn a_reader_records_the_generation_it_saw() {
    // A copy written elsewhere and brought here is recorded by its first
    // reader, so the copy before it cannot come back afterwards.
    let d = victim();
    let first = d.read("config.properties");
    d.run("encrypt-config")
        .args(["--set", "ModelID", "config.properties"])
        .stdin("Titan\n")
        .ok();
    forget(&d);
    d.run("invoke")
        .args(["--config", "config.properties", "models"])
        .ok();
    assert!(d.read("config.properties.key.generation").contains(" 2\n"));
    d.write("config.properties", &first);
    check(&d).code(INTEGRITY).stderr_has("rollback");
}

#[test]
fn format_1_files_still_open_with_a_warning() {
    let d = victim();
    // A file this release has never seen at this path.
    forget(&d);
    as_format_1(&d);
    check(&d)
        .ok()
        .stderr_has("sealed in format 1")
        .stdout_has("none (format 1)");
    // Rotation reseals it in the current format.
    d.run("encrypt-config")
        .args(["--rotate", "config.properties"])
        .ok();
    assert!(d.read("config.properties").contains("Format = 2"));
    check(&d).ok().stdout_has("generation          1");
}

#[test]
fn an_orphan_key_from_an_unfinished_run_does_not_block_a_rerun() {
    let d = Dir::new();
    d.write("plain.properties", PLAIN);
    // What a run stopped between writing the key and the config leaves.
    let orphan = ConfigKey::generate();
    d.write(
        "config.properties.key",
        &format!("{}\n", orphan.text().expose()),
    );
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties"])
        .ok()
        .stderr_has("already held 1 key(s)");
    let keys = d.read("config.properties.key");
    assert_eq!(keys.lines().count(), 2, "the orphan key is kept, second");
    assert_eq!(keys.lines().nth(1).unwrap(), orphan.text().expose());
    check(&d).ok();
}

#[cfg(unix)]
#[test]
fn key_files_must_be_plain_private_and_small() {
    use std::os::unix::fs::PermissionsExt;
    let d = victim();
    let key = d.join("config.properties.key");

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    check(&d)
        .ok()
        .stderr_has("has mode 0644: group or others can read it");
    check(&d)
        .args(["--require-sealed"])
        .code(INTEGRITY)
        .stderr_has("mode 0644");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A FIFO in the key's place is refused at once, not waited on.
    let text = d.read("config.properties.key");
    std::fs::remove_file(&key).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    check(&d).code(CONFIG).stderr_has("not a regular file");
    std::fs::remove_file(&key).unwrap();

    // Something far too big to be a key file is not read.
    d.write(
        "config.properties.key",
        &format!("{text}{}", "#".repeat(70 * 1024)),
    );
    check(&d)
        .code(CONFIG)
        .stderr_has("too large for a key file");
    d.write("config.properties.key", &text);
    check(&d).ok();

    // A key file someone else owns could be swapped for their key.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&key, Some(4242), None).unwrap();
        check(&d).code(CONFIG).stderr_has("owned by user id 4242");
    }
}

#[test]
fn a_file_in_the_keys_place_that_is_not_a_key_file_blocks_encryption() {
    let d = Dir::new();
    d.write("plain.properties", PLAIN);
    d.write("config.properties.key", "my notes\n");
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties"])
        .code(USAGE)
        .stderr_has("already exists and is not a key file");
    assert_eq!(d.read("config.properties.key"), "my notes\n");
    assert!(!d.exists("config.properties"));
}

/// Every refusal and warning added for the integrity model, at debug
/// level, scanned for every secret of the config and for the key.
#[cfg(unix)]
#[test]
fn no_integrity_message_shows_a_secret_or_the_key() {
    use std::os::unix::fs::PermissionsExt;
    let d = victim();
    let key = d.read("config.properties.key");
    let sealed_text = d.read("config.properties");
    let mut outputs = Vec::new();
    let mut run = |d: &Dir, args: &[&str], env: Option<(&str, &str)>, code: i32| {
        let mut r = d.run("encrypt-config").args(args).args(["--debug"]);
        if let Some((k, v)) = env {
            r = r.env(k, v);
        }
        outputs.push(r.code(code));
    };
    // Downgrade, with the key in a file and in the environment.
    d.write("config.properties", PLAIN);
    run(&d, &["--check", "config.properties"], None, INTEGRITY);
    run(
        &d,
        &[
            "--check",
            "config.properties",
            "--key-file",
            "config.properties.key",
        ],
        None,
        INTEGRITY,
    );
    // Rollback.
    d.write("config.properties", &sealed_text);
    d.run("encrypt-config")
        .args(["--set", "ExternalId", "config.properties"])
        .stdin("another-external-id\n")
        .ok();
    d.write("config.properties", &sealed_text);
    run(&d, &["--check", "config.properties"], None, INTEGRITY);
    // An entry after the MAC, and a loose key file.
    forget(&d);
    d.write(
        "config.properties",
        &format!(
            "{sealed_text}[x]\nSecretKey = {}\n",
            common::SECRETS[1].chars().rev().collect::<String>()
        ),
    );
    run(&d, &["--check", "config.properties"], None, INTEGRITY);
    d.write("config.properties", &sealed_text);
    forget(&d);
    std::fs::set_permissions(
        d.join("config.properties.key"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    run(&d, &["--check", "config.properties"], None, OK);
    run(
        &d,
        &["--check", "config.properties", "--require-sealed"],
        None,
        INTEGRITY,
    );
    // A forged file with its own embedded key.
    let (_a, forged_text) = forged(&hostile_plain("https://attacker.example"), &["--embed-key"]);
    let forged_key = forged_text
        .lines()
        .find(|l| l.starts_with("SecretKeyFernet"))
        .and_then(|l| l.split_once('='))
        .map(|(_, v)| v.trim().to_string())
        .unwrap();
    d.write("config.properties", &forged_text);
    run(&d, &["--check", "config.properties"], None, INTEGRITY);
    std::fs::rename(d.join("config.properties.key"), d.join("away.key")).unwrap();
    run(&d, &["--check", "config.properties"], None, INTEGRITY);
    forget(&d);
    run(&d, &["--check", "config.properties"], None, OK);
    run(
        &d,
        &["--check", "config.properties"],
        Some(("BEDROCK_PRIVATE_REQUIRE_SEALED", "1")),
        INTEGRITY,
    );
    assert!(outputs.iter().any(|o| o.stderr().contains("DEBUG")));
    for o in &outputs {
        for s in common::SECRETS
            .iter()
            .copied()
            .chain([key.trim(), forged_key.as_str()])
        {
            assert!(
                !o.all().contains(s),
                "a secret in the output\n{}",
                o.describe()
            );
        }
    }
}

/// A format 1 file as the first release wrote it, from a sealed one.
fn as_format_1(d: &Dir) {
    let key = ConfigKey::parse(Secret::new(d.read("config.properties.key").trim()), "k").unwrap();
    let mut doc = Document::read(&d.join("config.properties")).unwrap();
    for name in ["Generation", "FileId"] {
        let e = doc.get("encryption", name).unwrap();
        doc.remove(e.index);
    }
    let e = doc.get("encryption", "Format").unwrap();
    doc.set_value(e.index, "1");
    let mac = sealed::mac_of(&doc, &key, MacVersion::V1);
    let e = doc.get("encryption", "MAC").unwrap();
    doc.set_value(e.index, &mac);
    d.write("config.properties", &doc.render());
}

/// Format 1 left `[encryption]` out of its MAC; `--set` used to carry an
/// embedded key someone added there into the file it resealed, which wrote
/// the real key into the config.
#[test]
fn set_refuses_a_format_1_file_and_never_writes_the_key_into_it() {
    let d = victim();
    forget(&d);
    as_format_1(&d);
    let text = d
        .read("config.properties")
        .replace("\nMAC = ", "\nSecretKeyFernet = x\nMAC = ");
    d.write("config.properties", &text);
    d.run("encrypt-config")
        .args(["--set", "Region", "config.properties"])
        .stdin("us-east-1\n")
        .code(USAGE)
        .stderr_has("sealed in format 1; reseal it with a new key first: encrypt-config --rotate");
    assert_eq!(d.read("config.properties"), text);
    let key = d.read("config.properties.key");
    assert!(!d.read("config.properties").contains(key.trim()));
    check(&d)
        .args(["--require-sealed"])
        .code(INTEGRITY)
        .stderr_has("format 1");
}

#[test]
fn a_format_1_copy_cannot_come_back_after_a_rotation() {
    let d = victim();
    forget(&d);
    as_format_1(&d);
    let v1 = d.read("config.properties");
    d.run("encrypt-config")
        .args(["--rotate", "config.properties"])
        .ok();
    d.write("config.properties", &v1);
    check(&d).code(INTEGRITY);
}

/// One key may seal several configs (one key in the environment for dev
/// and prod); the pin of each path tells them apart.
#[test]
fn another_config_sealed_with_the_same_key_is_refused_in_its_place() {
    let d = Dir::new();
    let key = ConfigKey::generate();
    d.write("plain.properties", PLAIN);
    d.write("dev.properties", &hostile_plain("https://dev.example.com"));
    for (input, output) in [
        ("plain.properties", "config.properties"),
        ("dev.properties", "dev-sealed.properties"),
    ] {
        d.run("encrypt-config")
            .args([input, "-o", output, "--key-from-env"])
            .env("BEDROCK_PRIVATE_CONFIG_KEY", key.text().expose())
            .ok();
    }
    let prod = d.read("config.properties");
    d.write("config.properties", &d.read("dev-sealed.properties"));
    check(&d)
        .env("BEDROCK_PRIVATE_CONFIG_KEY", key.text().expose())
        .code(INTEGRITY)
        .stderr_has("another config sealed with the same key has been put in its place");
    // Encrypting anew at the same path moves the pin: the old lineage is out.
    d.write("config.properties", &prod);
    d.run("encrypt-config")
        .args([
            "plain.properties",
            "-o",
            "config.properties",
            "--key-from-env",
            "--force",
        ])
        .env("BEDROCK_PRIVATE_CONFIG_KEY", key.text().expose())
        .ok();
    d.write("config.properties", &prod);
    check(&d)
        .env("BEDROCK_PRIVATE_CONFIG_KEY", key.text().expose())
        .code(INTEGRITY)
        .stderr_has("another config");
}

/// A config whose key file is named only inside it: an attacker who
/// rewrites it with a key of their own, or unsealed, is refused once the
/// path has been seen.
#[test]
fn a_config_naming_its_key_elsewhere_cannot_be_resealed_with_another_key() {
    let d = Dir::new();
    std::fs::create_dir(d.join("keys")).unwrap();
    d.write("plain.properties", PLAIN);
    d.run("encrypt-config")
        .args([
            "plain.properties",
            "-o",
            "config.properties",
            "--key-file",
            "keys/app.key",
        ])
        .ok();
    check(&d).ok();
    let (_a, text) = forged(&hostile_plain("https://evil.example.com"), &["--embed-key"]);
    d.write("config.properties", &text);
    check(&d)
        .code(INTEGRITY)
        .stderr_has("the file has been resealed with another key");
    d.write("config.properties", PLAIN);
    check(&d).code(INTEGRITY).stderr_has("downgrade");
}

#[test]
fn a_reader_that_can_record_nothing_says_rollback_protection_is_off() {
    let d = Dir::new();
    let key = ConfigKey::generate();
    d.write("plain.properties", PLAIN);
    let env = (
        "BEDROCK_PRIVATE_CONFIG_KEY",
        key.text().expose().to_string(),
    );
    d.run("encrypt-config")
        .args([
            "plain.properties",
            "-o",
            "config.properties",
            "--key-from-env",
        ])
        .env(env.0, &env.1)
        .env("HOME", "")
        .ok()
        .stderr_has("could not be recorded");
    for _ in 0..2 {
        check(&d)
            .env(env.0, &env.1)
            .env("HOME", "")
            .ok()
            .stderr_has("rollback protection is off");
    }
    check(&d)
        .env(env.0, &env.1)
        .env("HOME", "")
        .args(["--require-sealed"])
        .code(INTEGRITY)
        .stderr_has("rollback protection is off");
}

#[cfg(unix)]
#[test]
fn a_key_file_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let d = victim();
    std::fs::set_permissions(
        d.join("config.properties.key"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    check(&d)
        .code(CONFIG)
        .stderr_has("mode 0666: group or others can write it");
}

#[test]
fn an_unknown_format_is_an_integrity_failure() {
    let d = victim();
    let text = set_header(&d.read("config.properties"), "Format", "3");
    d.write("config.properties", &text);
    check(&d)
        .code(INTEGRITY)
        .stderr_has("the section was edited, or the file was written by a newer release");
}

/// A line that is only a pasted key reads as a key name; the refusal names
/// its line and never shows it (it used to print the whole key).
#[test]
fn a_key_pasted_into_the_file_is_never_echoed() {
    let d = victim();
    let key = d.read("config.properties.key");
    let sealed_text = d.read("config.properties");
    for text in [
        format!("{sealed_text}{}", key),
        sealed_text.replace("\nMAC = ", &format!("\n{}MAC = ", key)),
        format!("{sealed_text}[{}]\nx = 1\n", key.trim()),
    ] {
        d.write("config.properties", &text);
        let done = check(&d).code(INTEGRITY);
        done.stderr_has("not shown");
        let shown = key.trim().trim_end_matches('=');
        assert!(!done.all().contains(&shown[..20]), "{}", done.describe());
    }
}
