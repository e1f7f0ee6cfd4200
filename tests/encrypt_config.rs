//! `encrypt-config` end to end through the real binary.

mod common;

use bedrock_private::config::keys::KeyOptions;
use bedrock_private::config::sealed;
use common::{Dir, PLAIN, SECRETS};

const INTEGRITY: i32 = 251;
const USAGE: i32 = 252;
const CONFIG: i32 = 253;

use common::encrypted_plain as encrypted;

fn open(d: &Dir, name: &str) -> bedrock_private::config::Config {
    let (_, v) = sealed::open_validated(&d.join(name), &KeyOptions::default())
        .unwrap_or_else(|e| panic!("{name} does not open: {e}"));
    v.config
}

#[test]
fn round_trip_decrypts_every_field_to_its_value() {
    let d = encrypted();
    let c = open(&d, "config.properties");
    assert_eq!(c.sensitive("AccessKey").unwrap().expose(), SECRETS[0]);
    assert_eq!(c.sensitive("SecretKey").unwrap().expose(), SECRETS[1]);
    assert_eq!(c.sensitive("AssumeRoleARN").unwrap().expose(), SECRETS[2]);
    assert_eq!(c.sensitive("VPCEndpointURL").unwrap().expose(), SECRETS[3]);
    assert_eq!(c.sensitive("ExternalId").unwrap().expose(), SECRETS[4]);
    assert_eq!(c.sensitive("MFASerial").unwrap().expose(), SECRETS[5]);
    assert_eq!(c.sensitive("STSEndpointURL").unwrap().expose(), SECRETS[6]);
    let role = c.source.role().expect("mode 2 assumes the role");
    assert_eq!(role.arn.secret().expose(), SECRETS[2]);
    assert_eq!(role.external_id.as_ref().unwrap().expose(), SECRETS[4]);
    assert_eq!(role.mfa_serial.as_ref().unwrap().expose(), SECRETS[5]);
    assert_eq!(role.duration, Some(3600));
    assert_eq!(c.models.len(), 2);
    let text = d.read("config.properties");
    for s in SECRETS {
        assert!(!text.contains(s), "plaintext secret left in the output");
    }
    assert_eq!(text.matches("ENC[fernet:gAAAAA").count(), 7);
}

#[test]
fn every_other_byte_is_kept_in_order() {
    let d = encrypted();
    let out = d.read("config.properties");
    let (body, section) = out.split_at(out.find("\n[encryption]").expect("sealed section"));
    let plain_lines: Vec<&str> = PLAIN.lines().collect();
    let out_lines: Vec<&str> = body.lines().collect();
    assert_eq!(plain_lines.len(), out_lines.len(), "no line added or lost");
    for (p, o) in plain_lines.iter().zip(&out_lines) {
        if SECRETS.iter().any(|s| p.contains(s)) {
            let key = &p[..p.find('=').unwrap() + 1];
            assert!(o.starts_with(key), "key and spacing kept: {p:?} -> {o:?}");
            assert!(o.ends_with(']') && o.contains("ENC[fernet:"), "{o:?}");
        } else {
            assert_eq!(p, o, "unchanged line");
        }
    }
    assert!(
        section.contains("KeyFile = config.properties.key"),
        "{section}"
    );
    assert!(section.contains("MAC = hmac-sha256:"), "{section}");
}

#[test]
fn report_names_fields_key_and_next_step() {
    let d = Dir::new();
    d.write("plain.properties", PLAIN);
    let done = d
        .run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties"])
        .ok();
    done.stderr_has("encrypted AccessKey, SecretKey, AssumeRoleARN, VPCEndpointURL, ExternalId, MFASerial, STSEndpointURL")
        .stderr_has("is in config.properties.key")
        .stderr_has("next: check it: encrypt-config --check config.properties")
        .stderr_has("rm plain.properties");
}

#[cfg(unix)]
#[test]
fn output_and_key_are_private_and_input_is_untouched() {
    let d = encrypted();
    assert_eq!(common::mode(&d.join("config.properties")), 0o600);
    assert_eq!(common::mode(&d.join("config.properties.key")), 0o600);
    assert_eq!(d.read("plain.properties"), PLAIN);
    assert_eq!(
        d.files(),
        [
            // HOME is the test's folder: the state folder with the pins.
            ".local",
            "config.properties",
            "config.properties.key",
            "config.properties.key.generation",
            "plain.properties"
        ]
    );
    assert_eq!(
        common::mode(&d.join("config.properties.key.generation")),
        0o600
    );
    let key = d.read("config.properties.key");
    assert_eq!(key.trim().len(), 44, "one Fernet key");
    assert!(
        !d.read("config.properties").contains(key.trim()),
        "key never in the config"
    );
}

#[test]
fn existing_outputs_are_never_overwritten_without_force() {
    let d = encrypted();
    let before = d.read("config.properties");
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties"])
        .code(USAGE)
        .stderr_has("config.properties already exists; choose another path or pass --force");
    assert_eq!(d.read("config.properties"), before);

    // A key file in the way stops the run before the output is written.
    d.write("other.properties.key", "not mine\n");
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "other.properties"])
        .code(USAGE)
        .stderr_has("other.properties.key: already exists and is not a key file");
    assert!(!d.exists("other.properties"));
    assert_eq!(d.read("other.properties.key"), "not mine\n");

    d.run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties", "--force"])
        .ok();
    assert_ne!(d.read("config.properties"), before);
    open(&d, "config.properties");
}

#[test]
fn input_is_never_the_output() {
    let d = Dir::new();
    d.write("plain.properties", PLAIN);
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "./plain.properties", "--force"])
        .code(USAGE)
        .stderr_has("is the input");
    assert_eq!(d.read("plain.properties"), PLAIN);
}

#[test]
fn nothing_is_encrypted_twice() {
    let d = encrypted();
    d.run("encrypt-config")
        .args(["config.properties", "-o", "twice.properties"])
        .code(USAGE)
        .stderr_has("already encrypted; nothing is encrypted twice");
    assert!(!d.exists("twice.properties"));

    // A secret in clear text beside encrypted ones: partly encrypted.
    let partial = d.read("config.properties");
    let mut lines: Vec<String> = partial.lines().map(str::to_string).collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("ExternalId"))
        .unwrap();
    lines[i] = "ExternalId = in-clear-text".into();
    d.write("partial.properties", &lines.join("\n"));
    d.run("encrypt-config")
        .args(["partial.properties", "-o", "p2.properties"])
        .code(USAGE)
        .stderr_has("partly encrypted:")
        .stderr_has("ExternalId in clear text");
}

/// Edits the encrypted file as an attacker or a careless hand would.
fn tampered(edit: impl Fn(String) -> String) -> (Dir, bedrock_private::ExitCode) {
    let d = encrypted();
    let original = d.read("config.properties");
    let text = edit(original.clone());
    // Fixed: an edit whose pattern no longer matched left the file as it
    // was, and "no integrity failure" then passed for the wrong reason.
    assert_ne!(text, original, "the edit changed nothing");
    d.write("config.properties", &text);
    let code = sealed::open(&d.join("config.properties"), &KeyOptions::default())
        .map(|_| bedrock_private::ExitCode::Ok)
        .unwrap_or_else(|e| e.exit_code());
    (d, code)
}

#[test]
fn clear_text_edits_are_detected() {
    for (what, edit) in [
        (
            "UseVPCe flipped",
            Box::new(|t: String| t.replace("UseVPCe = true", "UseVPCe = false"))
                as Box<dyn Fn(String) -> String>,
        ),
        (
            "Region changed",
            Box::new(|t: String| t.replace("Region = us-west-2", "Region = us-east-1")),
        ),
        (
            "model changed",
            Box::new(|t: String| t.replace("Titan-Text = amazon", "Titan-Text = meta")),
        ),
        (
            "line moved",
            Box::new(|t: String| {
                t.replace("Region = us-west-2\n", "")
                    .replace("Debug = false\n", "Debug = false\nRegion = us-west-2\n")
            }),
        ),
        (
            "entry added",
            Box::new(|t: String| t.replace("Debug = false\n", "Debug = false\nProfile = x\n")),
        ),
    ] {
        let (d, code) = tampered(edit);
        assert_eq!(code, bedrock_private::ExitCode::Integrity, "{what}");
        d.run("encrypt-config")
            .args(["--check", "config.properties"])
            .code(INTEGRITY)
            .stderr_has("integrity check failed: the MAC does not match");
    }
    // Comments are not values: editing one changes nothing.
    let (_, code) = tampered(|t| t.replace("# the role in the other account", "# edited comment"));
    assert_eq!(code, bedrock_private::ExitCode::Ok);
}

#[test]
fn swapped_encrypted_values_are_detected() {
    let (d, code) = tampered(|t| {
        let value = |key: &str| {
            t.lines()
                .find(|l| l.starts_with(key))
                .map(|l| l[l.find("ENC[").unwrap()..].to_string())
                .unwrap()
        };
        let (a, s) = (value("AccessKey"), value("SecretKey"));
        t.replace(&a, "@A@").replace(&s, &a).replace("@A@", &s)
    });
    assert_eq!(code, bedrock_private::ExitCode::Integrity);
    d.run("encrypt-config")
        .args(["--check", "config.properties"])
        .code(INTEGRITY);
}

#[test]
fn removing_the_encryption_section_is_detected() {
    let (d, code) = tampered(|t| t[..t.find("\n[encryption]").unwrap()].to_string());
    assert_eq!(code, bedrock_private::ExitCode::Integrity);
    d.run("encrypt-config")
        .args(["--check", "config.properties"])
        .code(INTEGRITY)
        .stderr_has("has no [encryption] section");
}

#[test]
fn wrong_key_is_told_apart_from_tampering() {
    let d = encrypted();
    let other = Dir::new();
    other.write("plain.properties", PLAIN);
    other
        .run("encrypt-config")
        .args(["plain.properties", "-o", "c.properties"])
        .ok();
    let wrong = other.join("c.properties.key");
    d.run("encrypt-config")
        .args(["--check", "config.properties", "--key-file"])
        .arg_path(&wrong)
        .code(INTEGRITY)
        .stderr_has("wrong key: the key from");
    let wrong_text = other.read("c.properties.key");
    d.run("encrypt-config")
        .args(["--check", "config.properties"])
        .env("BEDROCK_PRIVATE_CONFIG_KEY", wrong_text.trim())
        .code(INTEGRITY)
        .stderr_has("wrong key: the key from $BEDROCK_PRIVATE_CONFIG_KEY");
}

#[test]
fn missing_key_is_a_configuration_error() {
    let d = encrypted();
    std::fs::remove_file(d.join("config.properties.key")).unwrap();
    d.run("encrypt-config")
        .args(["--check", "config.properties"])
        .code(CONFIG)
        .stderr_has("its key file")
        .stderr_has("--key-file PATH or in $BEDROCK_PRIVATE_CONFIG_KEY");
}

#[test]
fn key_from_environment() {
    let d = Dir::new();
    d.write("plain.properties", PLAIN);
    let key = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    d.run("encrypt-config")
        .args([
            "plain.properties",
            "-o",
            "config.properties",
            "--key-from-env",
        ])
        .env("BEDROCK_PRIVATE_CONFIG_KEY", key)
        .ok()
        .stderr_has("is in $BEDROCK_PRIVATE_CONFIG_KEY");
    assert!(!d.exists("config.properties.key"));
    assert!(
        d.read("config.properties")
            .contains("KeyEnv = BEDROCK_PRIVATE_CONFIG_KEY")
    );
    d.run("encrypt-config")
        .args(["--check", "config.properties"])
        .env("BEDROCK_PRIVATE_CONFIG_KEY", key)
        .ok()
        .stdout_has("MAC verified");
    d.run("encrypt-config")
        .args(["--check", "config.properties"])
        .code(CONFIG)
        .stderr_has("was given in $BEDROCK_PRIVATE_CONFIG_KEY when it was encrypted");
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "x.properties", "--key-from-env"])
        .code(USAGE)
        .stderr_has("--key-from-env: $BEDROCK_PRIVATE_CONFIG_KEY is not set");
}

#[test]
fn embedded_key_keeps_one_file_and_says_what_it_means() {
    let (d, done) = common::encrypted_plain_with(&["--embed-key"]);
    done.stderr_has("anyone who can read this file can decrypt it");
    assert!(!d.exists("config.properties.key"));
    assert!(d.read("config.properties").contains("SecretKeyFernet = "));
    assert_eq!(
        open(&d, "config.properties")
            .sensitive("AccessKey")
            .unwrap()
            .expose(),
        SECRETS[0]
    );
}

#[test]
fn key_file_can_be_chosen() {
    let d = Dir::new();
    d.write("plain.properties", PLAIN);
    std::fs::create_dir(d.join("keys")).unwrap();
    d.run("encrypt-config")
        .args([
            "plain.properties",
            "-o",
            "config.properties",
            "--key-file",
            "keys/k",
        ])
        .ok();
    assert!(d.exists("keys/k"));
    // The config records where its key is, so no flag is needed to read it.
    open(&d, "config.properties");
    d.run("encrypt-config")
        .args(["--check", "config.properties"])
        .ok();
}

#[test]
fn check_prints_a_redacted_summary() {
    let d = encrypted();
    let done = d
        .run("encrypt-config")
        .args(["--check", "config.properties"])
        .ok();
    done.stdout_has("config.properties: MAC verified, 7 field(s) decrypted")
        .stdout_has("AKIA************MPLE  (encrypted)")
        .stdout_has("arn:aws:iam::2222********:role/...")
        .stdout_has("(40 characters)")
        .stdout_has("GetCredentialsFrom  2 (access-keys)")
        .stdout_has(".bedrock-runtime.us-west-2.vpce.amazonaws.com");
    for s in SECRETS {
        assert!(
            !done.all().contains(s),
            "secret in --check output\n{}",
            done.describe()
        );
    }
}

#[test]
fn set_changes_one_field_and_reseals() {
    let d = encrypted();
    d.run("encrypt-config")
        .args(["--set", "accesskey", "config.properties"])
        .stdin("AKIANEWKEYEXAMPLE123\n")
        .ok()
        .stderr_has("set accesskey in config.properties");
    let c = open(&d, "config.properties");
    assert_eq!(
        c.sensitive("AccessKey").unwrap().expose(),
        "AKIANEWKEYEXAMPLE123"
    );
    assert_eq!(c.sensitive("SecretKey").unwrap().expose(), SECRETS[1]);
    assert!(!d.read("config.properties").contains("AKIANEWKEYEXAMPLE123"));

    // A Region the VPC endpoint is not in is refused, and nothing changes.
    let before = d.read("config.properties");
    d.run("encrypt-config")
        .args(["--set", "Region", "config.properties"])
        .stdin("eu-central-1\n")
        .code(253)
        .stderr_has(
            "the endpoint is in region us-west-2 but requests would be signed for eu-central-1",
        );
    assert_eq!(d.read("config.properties"), before);
    d.run("encrypt-config")
        .args(["--set", "ModelID", "config.properties"])
        .stdin("Titan\n")
        .ok();
    assert!(d.read("config.properties").contains("ModelID = Titan"));
    assert_eq!(
        open(&d, "config.properties").model_id.as_deref(),
        Some("Titan")
    );

    // A new model alias, in [models].
    d.run("encrypt-config")
        .args(["--set", "models.Llama", "config.properties"])
        .stdin("meta.llama3-1-8b-instruct-v1:0\n")
        .ok();
    assert_eq!(open(&d, "config.properties").models.len(), 3);

    // An invalid value is refused and the file stays as it was.
    let before = d.read("config.properties");
    d.run("encrypt-config")
        .args(["--set", "Region", "config.properties"])
        .stdin("nowhere\n")
        .code(CONFIG)
        .stderr_has("[default] Region: expected a region");
    assert_eq!(d.read("config.properties"), before);
    d.run("encrypt-config")
        .args(["--set", "Nonsense", "config.properties"])
        .code(USAGE)
        .stderr_has("not a key of [default]");
}

#[test]
fn rotate_gives_a_new_key_and_keeps_values() {
    let d = encrypted();
    let old_key = d.read("config.properties.key");
    d.run("encrypt-config")
        .args(["--rotate", "config.properties"])
        .ok()
        .stderr_has("re-encrypted with a new key:");
    assert_ne!(d.read("config.properties.key"), old_key);
    assert_eq!(
        open(&d, "config.properties")
            .sensitive("SecretKey")
            .unwrap()
            .expose(),
        SECRETS[1]
    );
    d.run("encrypt-config")
        .args(["--check", "config.properties"])
        .env("BEDROCK_PRIVATE_CONFIG_KEY", old_key.trim())
        .code(INTEGRITY);
}

#[test]
fn prompt_secrets_keeps_plaintext_off_disk() {
    let d = Dir::new();
    let template = "[default]\nUseVPCe = true\nGetCredentialsFrom = access-keys\nRegion = us-west-2\n\
                    AccessKey = <access-key>\nSecretKey = <secret-key>\n\
                    AssumeRoleARN = <iam-role-arn>\nVPCEndpointURL = <bedrock-vpc-endpoint-url>\n";
    d.write("template.properties", template);
    // Answers in the order asked: AccessKey, SecretKey, AssumeRoleARN,
    // ExternalId, MFASerial, VPCEndpointURL, STSEndpointURL,
    // ControlPlaneEndpointURL. The first access key is a slip (a space in
    // it): it is refused at once and asked again, and nothing typed before
    // is lost.
    let answers = format!(
        "AKIA SLIP\n{}\n{}\n{}\n{}\n\n{}\n\n\n",
        SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[4], SECRETS[3]
    );
    // Fewer answers than questions: the end of input is no answer (130),
    // and nothing is written.
    d.run("encrypt-config")
        .args([
            "template.properties",
            "-o",
            "config.properties",
            "--prompt-secrets",
        ])
        .stdin(&format!("{}\n", SECRETS[0]))
        .code(130)
        .stderr_has("the end of input before a question was answered");
    assert!(!d.exists("config.properties"));
    let done = d
        .run("encrypt-config")
        .args([
            "template.properties",
            "-o",
            "config.properties",
            "--prompt-secrets",
        ])
        .stdin(&answers)
        .ok();
    done.stderr_has("AccessKey (Enter to leave unset): ")
        .stderr_has("AccessKey: expected an access key id")
        .stderr_has("try again");
    assert!(!done.all().contains("AKIA SLIP"), "the slip is not echoed");
    // The template never held a secret: no advice to delete it.
    assert!(
        !done.all().contains("delete the plaintext input"),
        "{}",
        done.describe()
    );
    assert_eq!(d.read("template.properties"), template);
    let c = open(&d, "config.properties");
    assert_eq!(c.sensitive("AccessKey").unwrap().expose(), SECRETS[0]);
    assert_eq!(c.sensitive("ExternalId").unwrap().expose(), SECRETS[4]);
    assert_eq!(c.sensitive("VPCEndpointURL").unwrap().expose(), SECRETS[3]);
    assert!(c.sensitive("MFASerial").is_none());
    for s in SECRETS {
        assert!(
            !done.all().contains(s),
            "an answer was echoed\n{}",
            done.describe()
        );
    }
}

#[test]
fn validation_errors_name_file_line_and_key() {
    let cases = [
        (
            "GetCredentialsFrom = 2",
            "GetCredentialsFrom = 9",
            "plain.properties:6: [default] GetCredentialsFrom: expected 0",
        ),
        (
            "UseVPCe = true",
            "UseVPCe = <true/false>",
            "plain.properties:5: [default] UseVPCe: template placeholder left in",
        ),
        (
            "Region = us-west-2",
            "Region = oregon",
            "plain.properties:7: [default] Region: expected a region",
        ),
        (
            "SessionDuration = 3600",
            "SessionDuration = 60",
            "[default] SessionDuration: expected a number of seconds from 900 to 43200",
        ),
        (
            "Debug = false",
            "Debug = false\nregion = us-east-1",
            "plain.properties:19: [default] region: key appears twice in this section (first on line 7)",
        ),
        (
            "AccessKey = AKIAIOSFODNN7EXAMPLE\n",
            "",
            "[default] AccessKey: missing; GetCredentialsFrom = 2 (access-keys) needs AccessKey",
        ),
    ];
    for (from, to, expected) in cases {
        let d = Dir::new();
        d.write("plain.properties", &PLAIN.replacen(from, to, 1));
        let done = d
            .run("encrypt-config")
            .args(["plain.properties", "-o", "config.properties"])
            .code(CONFIG);
        done.stderr_has(expected);
        assert_eq!(d.files(), ["plain.properties"], "nothing written on error");
        for s in SECRETS {
            assert!(
                !done.all().contains(s),
                "secret in an error\n{}",
                done.describe()
            );
        }
    }
    // A bad role ARN is named but never shown.
    let d = Dir::new();
    d.write(
        "plain.properties",
        &PLAIN.replacen(":role/team/", ":user/team/", 1),
    );
    let done = d
        .run("encrypt-config")
        .args(["plain.properties", "-o", "c"])
        .code(CONFIG);
    done.stderr_has("plain.properties:11: [default] AssumeRoleARN: expected a role ARN");
    assert!(!done.stderr().contains("user/team"), "{}", done.describe());
    // http is allowed only on loopback.
    let d = Dir::new();
    d.write(
        "plain.properties",
        &PLAIN.replacen("https://vpce-0a1b", "http://vpce-0a1b", 1),
    );
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "c"])
        .code(CONFIG)
        .stderr_has("[default] VPCEndpointURL: expected https; plain http is allowed only for loopback hosts");
}

#[test]
fn usage_errors_exit_252() {
    let d = Dir::new();
    d.run("encrypt-config")
        .code(USAGE)
        .stderr_has("missing INPUT");
    d.run("encrypt-config").args(["--bogus"]).code(USAGE);
    d.write("plain.properties", PLAIN);
    d.run("encrypt-config")
        .args(["plain.properties"])
        .code(USAGE)
        .stderr_has("missing -o OUTPUT");
    d.run("encrypt-config")
        .args(["--check", "a", "--rotate", "b"])
        .code(USAGE);
    d.run("encrypt-config")
        .args(["--help"])
        .ok()
        .stdout_has("Exit codes:");
    d.run("encrypt-config")
        .args(["missing.properties", "-o", "x"])
        .code(CONFIG)
        .stderr_has("cannot read missing.properties");
}

#[test]
fn no_output_at_debug_level_shows_a_secret_or_the_key() {
    let d = Dir::new();
    d.write("plain.properties", PLAIN);
    let mut outputs = Vec::new();
    let runs: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["plain.properties", "-o", "config.properties", "--debug"],
            "",
        ),
        (vec!["--check", "config.properties", "--debug"], ""),
        (
            vec!["--set", "ExternalId", "config.properties", "--debug"],
            "workshop-external-id-7\n",
        ),
        (vec!["--rotate", "config.properties", "--debug"], ""),
        (vec!["--check", "config.properties", "--debug"], ""),
        (
            vec![
                "plain.properties",
                "-o",
                "embedded.properties",
                "--embed-key",
                "--debug",
            ],
            "",
        ),
        (vec!["--check", "embedded.properties", "--debug"], ""),
    ];
    for (args, stdin) in runs {
        let done = d.run("encrypt-config").args(&args).stdin(stdin).ok();
        outputs.push(done);
    }
    // Failures print too: a tampered file and a wrong key.
    let tampered = d
        .read("config.properties")
        .replace("UseVPCe = true", "UseVPCe = false");
    d.write("tampered.properties", &tampered);
    std::fs::copy(
        d.join("config.properties.key"),
        d.join("tampered.properties.key"),
    )
    .unwrap();
    outputs.push(
        d.run("encrypt-config")
            .args(["--check", "tampered.properties", "--debug"])
            .code(INTEGRITY),
    );

    let key = d.read("config.properties.key");
    let embedded = d.read("embedded.properties");
    let embedded_key = embedded
        .lines()
        .find(|l| l.starts_with("SecretKeyFernet"))
        .unwrap();
    let embedded_key = embedded_key.split_once('=').unwrap().1.trim().to_string();
    let logged = outputs.iter().any(|o| o.stderr().contains("DEBUG"));
    assert!(logged, "--debug logs something");
    for o in &outputs {
        for s in SECRETS
            .iter()
            .copied()
            .chain([key.trim(), embedded_key.as_str()])
        {
            assert!(
                !o.all().contains(s),
                "a secret in the output\n{}",
                o.describe()
            );
        }
    }
}

#[test]
fn invoke_without_a_config_names_the_file_it_looked_for() {
    Dir::new()
        .run("invoke")
        .code(CONFIG)
        .stderr_has("cannot read config.properties");
}

trait ArgPath {
    fn arg_path(self, p: &std::path::Path) -> Self;
}

impl ArgPath for common::Run {
    fn arg_path(self, p: &std::path::Path) -> Self {
        self.args([p])
    }
}

/// `encrypt-config --check` and `invoke` judge a config by the same rules:
/// a VPC endpoint of another region than `Region` is refused by both,
/// with the same words (fixed: --check passed it and invoke refused it).
#[test]
fn check_and_invoke_refuse_a_vpc_endpoint_of_another_region() {
    let d = Dir::new();
    d.write(
        "plain.properties",
        "[default]\nGetCredentialsFrom = 0\nRegion = us-west-2\nUseVPCe = true\n\
         VPCEndpointURL = https://vpce-0123456789abcdef0-abcdefgh.bedrock-runtime.us-east-1.vpce.amazonaws.com\n",
    );
    let words = "the endpoint is in region us-east-1 but requests would be signed for us-west-2";
    d.run("encrypt-config")
        .args(["--check", "plain.properties"])
        .code(253)
        .stderr_has("VPCEndpointURL")
        .stderr_has(words);
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties"])
        .code(253)
        .stderr_has(words);
    assert!(!d.exists("config.properties"), "nothing written");
    d.run("invoke")
        .args([
            "--config",
            "plain.properties",
            "--prompt",
            "hi",
            "--dry-run",
        ])
        .code(253)
        .stderr_has(words);
}
