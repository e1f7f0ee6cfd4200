//! Hardening of the config reader and of the files the tools write: large
//! files read in linear time, values that do not fit described rather than
//! shown, `--log-file` created private and never through a link, and writes
//! that replace a file keeping a linked config or key working.

mod common;

use common::{Dir, PLAIN, SECRETS};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: i32 = 253;

/// Runs `bin` with `args` in `d` with a clean environment, killed after
/// `limit`; the exit code and stdout and stderr together, or `None` when it
/// did not finish in time (a defect that makes a run hang must fail the
/// test, not hang it).
fn run_within(d: &Dir, bin: &str, args: &[&str], limit: Duration) -> Option<(i32, String)> {
    use std::io::Read;
    let exe = match bin {
        "encrypt-config" => env!("CARGO_BIN_EXE_encrypt-config"),
        "invoke" => env!("CARGO_BIN_EXE_invoke"),
        other => panic!("unknown binary {other}"),
    };
    let mut child = Command::new(exe)
        .args(args)
        .current_dir(d.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", d.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn encrypt-config");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = r.read_to_string(&mut text);
            text
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    status.map(|s| (s.code().unwrap_or(-1), format!("{stdout}{stderr}")))
}

const HEAD: &str = "[default]\nGetCredentialsFrom = 0\nRegion = us-west-2\n";

/// Fixed bug: reading was quadratic (every look-up rebuilt the list of
/// entries, and each key and section was compared with all before it), so
/// 100,000 keys took about ten minutes. Linear, they take about a second in
/// a debug build; the bound leaves room for a slow, busy machine.
#[test]
fn large_files_are_read_in_linear_time() {
    const N: usize = 100_000;
    const LIMIT: Duration = Duration::from_secs(20);
    let d = Dir::new();
    let mut keys = format!("{HEAD}\n[models]\n");
    let mut sections = HEAD.to_string();
    for i in 0..N {
        keys.push_str(&format!("Alias{i} = model.{i}\n"));
        sections.push_str(&format!("\n[s{i}]\nk = v\n"));
    }
    d.write("keys.properties", &keys);
    d.write("sections.properties", &sections);
    for (file, expected) in [
        (
            "keys.properties",
            format!("models              {N} (Alias0, Alias1,"),
        ),
        (
            "sections.properties",
            "GetCredentialsFrom  0 (instance-role)".to_string(),
        ),
    ] {
        let start = Instant::now();
        let (code, out) = run_within(&d, "encrypt-config", &["--check", file], LIMIT)
            .unwrap_or_else(|| panic!("--check {file} did not finish in {LIMIT:?}"));
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains(&expected),
            "expected {expected:?} in\n{out:.2000}"
        );
        eprintln!("--check {file}: {:?}", start.elapsed());
    }
}

/// A config whose `key` line has `secret` run into it, as when two lines
/// merge: `Region = us-west-2SecretKey = wJalr...`.
fn merged(key: &str, start: &str, secret: &str) -> String {
    let mut lines: Vec<String> = vec!["[default]".into()];
    let mode = match key {
        "AccessKey" => "2",
        "AssumeRoleARN" | "ExternalId" | "MFASerial" | "RoleSessionName" | "SessionDuration" => "1",
        _ => "0",
    };
    if key != "GetCredentialsFrom" {
        lines.push(format!("GetCredentialsFrom = {mode}"));
    }
    if mode == "1" && key != "AssumeRoleARN" {
        lines.push("AssumeRoleARN = arn:aws:iam::222222222222:role/Bedrock".into());
    }
    if mode == "2" {
        lines.push("SecretKey = s".into());
    }
    lines.push(format!("{key} = {start}SecretKey = {secret}"));
    lines.join("\n") + "\n"
}

/// Fixed bug: messages quoted a value that did not fit (`found '...'`), and
/// such a value is often two lines run together, a secret included. Every
/// validated key gets a merged line; no output may hold any of the secret.
#[test]
fn values_that_do_not_fit_are_described_never_shown() {
    let secret = SECRETS[1];
    let cases = [
        ("UseVPCe", "true"),
        ("Debug", "false"),
        ("GetCredentialsFrom", "0"),
        ("Region", "us-west-2"),
        ("AccessKey", "AKIAIOSFODNN7EXAMPLE"),
        ("AssumeRoleARN", "arn:aws:iam::222222222222:role/Bedrock"),
        (
            "VPCEndpointURL",
            "https://vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com/",
        ),
        (
            "STSEndpointURL",
            "https://vpce-2.sts.us-west-2.vpce.amazonaws.com/",
        ),
        ("ExternalId", "workshop-external-id-7 "),
        ("MFASerial", "arn:aws:iam::111111111111:mfa/workshop-user "),
        ("RoleSessionName", "bedrock "),
        ("SessionDuration", "3600"),
        ("Region", "<us-east-1/us-west-2/others>"),
    ];
    let d = Dir::new();
    for (key, start) in cases {
        let text = merged(key, start, secret);
        d.write("merged.properties", &text);
        let done = d
            .run("encrypt-config")
            .args(["--check", "merged.properties"])
            .code(CONFIG);
        let out = done.all();
        let line = text.lines().count();
        assert!(
            out.contains(&format!("merged.properties:{line}: [default] {key}: ")),
            "{key}: the key and line are named\n{}",
            done.describe()
        );
        // Any run of 8 characters of the secret would be too many.
        for piece in secret.as_bytes().windows(8) {
            let piece = std::str::from_utf8(piece).unwrap();
            assert!(
                !out.contains(piece),
                "{key}: {piece:?} of the secret shown\n{}",
                done.describe()
            );
        }
        if !start.starts_with('<') {
            done.stderr_has("and contains '=' at character")
                .stderr_has("two lines may have run together");
        }
    }

    // A Fernet key pasted on a line of its own reads as a key (it ends in
    // '='); the unknown-key warning must not repeat it.
    let fernet = "c2VjcmV0LWtleS1mb3ItdGhlLXRlc3Qtb25seS0xMjM=";
    d.write(
        "pasted.properties",
        &format!("[default]\nGetCredentialsFrom = 0\n{fernet}\n"),
    );
    let done = d
        .run("encrypt-config")
        .args(["--check", "pasted.properties"])
        .ok();
    done.stderr_has("pasted.properties:3: [default] (a name of 43 characters, not shown");
    assert!(!done.all().contains(&fernet[..20]), "{}", done.describe());

    // The same through invoke, which reads the file the same way.
    d.write("merged.properties", &merged("Region", "us-west-2", secret));
    let done = d
        .run("invoke")
        .args([
            "--config",
            "merged.properties",
            "--prompt",
            "hi",
            "--dry-run",
        ])
        .output();
    assert!(
        done.stderr()
            .contains("[default] Region: expected a region"),
        "{}",
        done.describe()
    );
    assert!(!done.all().contains(&secret[..12]), "{}", done.describe());
}

/// A plaintext config `invoke --dry-run` accepts, and the arguments of a
/// dry run that logs at debug level to `log`.
fn dry_run_with_log(d: &Dir, log: &str) -> Option<(i32, String)> {
    d.write(
        "config.properties",
        "[default]\nGetCredentialsFrom = 0\nRegion = us-west-2\n\n[models]\nTitan = amazon.titan-text-express-v1\n",
    );
    let args = [
        "--prompt",
        "hi",
        "-m",
        "Titan",
        "--dry-run",
        "--debug",
        "--log-file",
        log,
    ];
    run_within(d, "invoke", &args, Duration::from_secs(30))
}

/// Fixed bug: `--log-file` was created with the umask's mode (0644 here),
/// followed a symbolic link to wherever it pointed, and waited forever on a
/// FIFO.
#[cfg(unix)]
#[test]
fn log_file_is_private_and_never_reached_through_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let d = Dir::new();

    let (code, out) = dry_run_with_log(&d, "new.log").expect("finishes");
    assert_eq!(code, 0, "{out}");
    assert_eq!(common::mode(&d.join("new.log")), 0o600);
    assert!(d.read("new.log").contains("DEBUG"), "the log was written");

    // An existing file of the user's is appended to, and made private.
    d.write("wide.log", "earlier line\n");
    std::fs::set_permissions(d.join("wide.log"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out) = dry_run_with_log(&d, "wide.log").expect("finishes");
    assert_eq!(code, 0, "{out}");
    assert_eq!(common::mode(&d.join("wide.log")), 0o600);
    let log = d.read("wide.log");
    assert!(
        log.starts_with("earlier line\n"),
        "appended, not replaced: {log}"
    );
    assert!(
        log.contains("was open to group or others (mode 644); it is now 0600"),
        "{log}"
    );

    // A link, to a file that exists or not, is refused and left alone.
    d.write("victim.txt", "keep\n");
    std::os::unix::fs::symlink(d.join("victim.txt"), d.join("link.log")).unwrap();
    std::os::unix::fs::symlink(d.join("elsewhere.txt"), d.join("dangling.log")).unwrap();
    for link in ["link.log", "dangling.log"] {
        let (code, out) = dry_run_with_log(&d, link).expect("finishes");
        assert_eq!(code, 252, "{out}");
        assert!(
            out.contains(&format!("--log-file {link}: is a symbolic link")),
            "{out}"
        );
    }
    assert_eq!(d.read("victim.txt"), "keep\n");
    assert!(
        !d.exists("elsewhere.txt"),
        "nothing created through the link"
    );

    // A FIFO is refused at once rather than waited on.
    let fifo = std::ffi::CString::new(d.join("fifo.log").to_str().unwrap()).unwrap();
    // SAFETY: a valid C string and a mode.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let (code, out) = dry_run_with_log(&d, "fifo.log").expect("a FIFO must not block the run");
    assert_eq!(code, 252, "{out}");
    assert!(
        out.contains("--log-file fifo.log: is not a regular file"),
        "{out}"
    );
}

/// Makes `.NAME.Ab3dE9.tmp` in `dir`, last modified two minutes ago: what a
/// write that crashed before its rename leaves.
fn crash_leftover(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(format!(".{name}.Ab3dE9.tmp"));
    let f = std::fs::File::create(&p).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(120))
        .unwrap();
    p
}

/// Fixed bug: a write that replaces a file renamed the new file over the
/// path, so a config (or key) linked into place from another folder became
/// a copy, and the file it linked to went stale. And temporary files of a
/// write that crashed stayed forever.
#[cfg(unix)]
#[test]
fn set_on_a_linked_config_writes_the_target_and_removes_crash_leftovers() {
    use bedrock_private::config::keys::KeyOptions;
    use bedrock_private::config::sealed;
    let d = Dir::new();
    let real = d.join("real");
    std::fs::create_dir(&real).unwrap();
    d.write("real/plain.properties", PLAIN);
    d.run("encrypt-config")
        .args(["real/plain.properties", "-o", "real/config.properties"])
        .ok();
    let (config, key) = (d.join("config.properties"), d.join("config.properties.key"));
    std::os::unix::fs::symlink(real.join("config.properties"), &config).unwrap();
    std::os::unix::fs::symlink(real.join("config.properties.key"), &key).unwrap();
    let stale_there = crash_leftover(&real, "config.properties");
    let stale_here = crash_leftover(d.path(), "config.properties");
    let fresh = real.join(".config.properties.Zz9yX8.tmp");
    std::fs::write(&fresh, "another writer at work").unwrap();

    d.run("encrypt-config")
        .args(["--set", "ModelID", "config.properties"])
        .stdin("Titan\n")
        .ok();

    for link in [&config, &key] {
        assert!(
            link.symlink_metadata().unwrap().file_type().is_symlink(),
            "{} is still a link",
            link.display()
        );
    }
    let target = d.read("real/config.properties");
    assert!(target.contains("ModelID = Titan"), "{target}");
    assert_eq!(common::mode(&real.join("config.properties")), 0o600);
    let (_, v) = sealed::open_validated(&config, &KeyOptions::default()).unwrap();
    assert_eq!(v.config.model_id.as_deref(), Some("Titan"));
    assert_eq!(
        v.config.sensitive("SecretKey").unwrap().expose(),
        SECRETS[1]
    );

    assert!(
        !stale_there.exists(),
        "the crash's leftover beside the target is removed"
    );
    assert!(
        !stale_here.exists(),
        "the crash's leftover beside the link is removed"
    );
    assert!(
        fresh.exists(),
        "a temporary file too young to be a leftover is kept"
    );
    let leftovers: Vec<String> = std::fs::read_dir(&real)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert_eq!(leftovers, [".config.properties.Zz9yX8.tmp"]);
}

/// A link that points nowhere is refused with a message, and nothing is
/// created where it points.
#[cfg(unix)]
#[test]
fn a_dangling_link_as_output_is_refused_clearly() {
    let d = Dir::new();
    d.write("plain.properties", PLAIN);
    std::os::unix::fs::symlink(d.join("gone/config.properties"), d.join("out.properties")).unwrap();
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "out.properties", "--force"])
        .code(252)
        .stderr_has("out.properties")
        .stderr_has("is a symbolic link to")
        .stderr_has("which cannot be followed");
    assert!(!d.join("gone").exists());
}

/// Fixed bug: the temporary file of a write that crashed before its rename
/// stayed forever. The next write of the same file removes it, and only it:
/// a younger one may belong to a writer still at work.
#[test]
fn a_crash_leftover_is_removed_by_the_next_write() {
    let d = Dir::new();
    d.write("plain.properties", PLAIN);
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties"])
        .ok();
    let stale = crash_leftover(d.path(), "config.properties");
    let other = crash_leftover(d.path(), "plain.properties");
    d.write(".config.properties.Zz9yX8.tmp", "another writer at work");
    d.run("encrypt-config")
        .args(["--set", "ModelID", "config.properties"])
        .stdin("Titan\n")
        .ok();
    assert!(!stale.exists(), "the leftover is removed");
    assert!(
        other.exists(),
        "another file's leftover is not this write's business"
    );
    assert!(d.exists(".config.properties.Zz9yX8.tmp"));
    assert!(d.read("config.properties").contains("ModelID = Titan"));
}
