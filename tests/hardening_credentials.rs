//! Hardening of how `invoke` gets and keeps credentials, through the real
//! binaries against the emulator: cached sessions that AWS refuses are
//! evicted and replaced once; cache entries and the cache folder are opened
//! the safe way (no symlinks, FIFOs, other owners or loose modes, no absurd
//! expiries); the MFA code comes from a descriptor or the environment and a
//! refused one names MFA; and an STS that does not answer costs one bounded
//! wait.

mod common;

use bedrock_emulator::identity::Directory;
use bedrock_emulator::{EmulatorConfig, Faults};
use bedrock_private::aws::credentials::cache::{CacheKey, CredentialCache};
use bedrock_private::config::crypto::ConfigKey;
use common::{Dir, Done};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MODELS: &str = "\n[models]\nClaude-3-Haiku = anthropic.claude-3-haiku-20240307-v1:0\n";

use common::{emulator, sealed};

/// [`common::access_keys_config`] with one model.
fn config(url: &str, extra: &[&str]) -> String {
    common::access_keys_config(url, extra, MODELS)
}

/// `invoke --prompt hi` on the config of `d`, with the cache in `d/cache`.
fn invoke(d: &Dir) -> common::Run {
    d.run("invoke")
        .env(
            "BEDROCK_PRIVATE_CACHE_DIR",
            d.join("cache").to_str().unwrap(),
        )
        .args(["--config", "config.properties", "--prompt", "hi"])
}

fn count(emu: &common::Emu, operation: &str) -> usize {
    emu.record
        .entries()
        .iter()
        .filter(|e| e.operation == operation)
        .count()
}

fn bedrock_keys(emu: &common::Emu) -> Vec<String> {
    emu.record
        .entries()
        .iter()
        .filter(|e| e.service == "bedrock")
        .filter_map(|e| e.access_key_id.clone())
        .collect()
}

/// The config's key, to write cache entries as `invoke` does.
fn config_key(d: &Dir) -> ConfigKey {
    ConfigKey::parse(
        bedrock_private::Secret::new(d.read("config.properties.key")),
        "test",
    )
    .unwrap()
}

/// The entry `invoke` uses for the config of [`config`].
fn cache_key(emu: &common::Emu) -> CacheKey {
    common::demo_cache_key(&emu.base_url)
}

/// The one entry in the cache folder of `d`.
fn entry(d: &Dir) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(d.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cred"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), None).unwrap();
}

// ---------------------------------------------------------------- eviction

/// Before: a cached session that AWS had stopped honouring (here, the
/// emulator's --session-ttl ends it early) failed every run with
/// ExpiredTokenException until the entry expired by itself.
#[test]
fn an_expired_cached_session_is_evicted_and_the_call_retried_with_fresh_credentials() {
    let emu = emulator(Faults {
        session_ttl: Some(Duration::from_secs(3)),
        ..Faults::default()
    });
    let d = Dir::new();
    sealed(&d, &config(&emu.base_url, &[]));
    invoke(&d).ok();
    assert_eq!(count(&emu, "AssumeRole"), 1);
    let first = std::fs::read_to_string(entry(&d)).unwrap();
    std::thread::sleep(Duration::from_secs(4));

    let done = invoke(&d).ok();
    done.stdout_has("Reply from anthropic.claude-3-haiku")
        .stderr_has("the cached credentials were refused (ExpiredTokenException)");
    let record = emu.record.entries();
    let bedrock: Vec<_> = record.iter().filter(|e| e.service == "bedrock").collect();
    assert_eq!(bedrock.len(), 3, "{record:?}");
    assert_eq!(bedrock[1].error.as_deref(), Some("ExpiredTokenException"));
    assert_eq!(bedrock[2].status, 200);
    assert_ne!(bedrock[1].access_key_id, bedrock[2].access_key_id);
    assert_eq!(count(&emu, "AssumeRole"), 2, "fresh credentials from STS");
    assert_ne!(
        std::fs::read_to_string(entry(&d)).unwrap(),
        first,
        "the refused entry was replaced"
    );
    // The fresh session is what the cache now holds.
    invoke(&d).ok().stderr_has("from the credential cache");
    assert_eq!(count(&emu, "AssumeRole"), 2);
}

/// The retry happens once: fresh credentials that are refused too end the run.
#[test]
fn a_refused_cache_entry_is_retried_only_once() {
    // Every session the emulator issues is already over.
    let emu = emulator(Faults {
        session_ttl: Some(Duration::ZERO),
        ..Faults::default()
    });
    let d = Dir::new();
    sealed(&d, &config(&emu.base_url, &[]));
    // Not from the cache: no retry.
    invoke(&d).code(253).stderr_has("ExpiredTokenException");
    assert_eq!(
        (count(&emu, "AssumeRole"), bedrock_keys(&emu).len()),
        (1, 1)
    );
    // From the cache: one eviction, one fresh session, one more call.
    invoke(&d)
        .code(253)
        .stderr_has("the cached credentials were refused (ExpiredTokenException)")
        .stderr_has("Bedrock: ExpiredTokenException");
    assert_eq!(
        (count(&emu, "AssumeRole"), bedrock_keys(&emu).len()),
        (2, 3)
    );
}

/// Before: an entry whose key AWS does not know (UnrecognizedClient) or
/// whose secret does not match (InvalidSignature) failed every run.
#[test]
fn cache_entries_with_an_unknown_key_or_a_wrong_secret_are_evicted_and_retried() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &config(&emu.base_url, &[]));
    invoke(&d).ok();
    let cache = CredentialCache::new(d.join("cache"), config_key(&d));
    let k = cache_key(&emu);
    let good = cache.load(&k).expect("the test computes invoke's entry");
    let expiry = good.expiry();
    let cases = [
        (
            "UnrecognizedClientException",
            aws_credential_types::Credentials::new(
                "ASIAUNKNOWNKEY000001",
                good.secret_access_key(),
                good.session_token().map(str::to_string),
                expiry,
                "test",
            ),
        ),
        (
            "InvalidSignatureException",
            aws_credential_types::Credentials::new(
                good.access_key_id(),
                "not-the-secret-of-this-session",
                good.session_token().map(str::to_string),
                expiry,
                "test",
            ),
        ),
    ];
    for (n, (code, creds)) in cases.into_iter().enumerate() {
        cache.store(&k, &creds);
        invoke(&d)
            .ok()
            .stderr_has(&format!("the cached credentials were refused ({code})"));
        assert_eq!(count(&emu, "AssumeRole"), n + 2);
        let replaced = cache.load(&k).unwrap();
        assert_ne!(replaced.secret_access_key(), creds.secret_access_key());
        assert_ne!(replaced.access_key_id(), creds.access_key_id());
    }
}

// ------------------------------------------------------------- safe opening

/// Before: entries were read through symlinks and FIFOs (a FIFO hung the
/// run), whoever owned them and whatever their mode.
#[test]
fn cache_entries_that_are_symlinks_fifos_or_not_private_are_misses_and_replaced() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &config(&emu.base_url, &[]));
    invoke(&d).ok();
    let path = entry(&d);
    let valid = std::fs::read(&path).unwrap();
    let assume_roles = || count(&emu, "AssumeRole");

    // A symlink to a valid entry elsewhere: not followed, and the link (not
    // its target) is replaced.
    let target = d.join("elsewhere.cred");
    std::fs::write(&target, &valid).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let before = assume_roles();
    invoke(&d).ok();
    assert_eq!(assume_roles(), before + 1, "a symlinked entry is a miss");
    assert_eq!(std::fs::read(&target).unwrap(), valid, "target untouched");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the link was replaced by a file"
    );
    assert_eq!(mode(&path), 0o600);

    // A FIFO: never opened for a blocking read.
    std::fs::remove_file(&path).unwrap();
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let before = assume_roles();
    let done = invoke(&d)
        .output_within(Duration::from_secs(20))
        .expect("a FIFO in the cache must not hang the run");
    assert_eq!(done.output.status.code(), Some(0), "{}", done.describe());
    assert_eq!(assume_roles(), before + 1);
    assert!(
        !std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    // Readable by others: a miss, replaced by a 0600 file.
    std::fs::write(&path, &valid).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = assume_roles();
    invoke(&d).ok();
    assert_eq!(assume_roles(), before + 1, "a 0644 entry is a miss");
    assert_eq!(mode(&path), 0o600);

    // Owned by someone else (only root can make one).
    if is_root() {
        std::fs::write(&path, &valid).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        chown(&path, 65534);
        let before = assume_roles();
        invoke(&d).ok();
        assert_eq!(assume_roles(), before + 1, "another user's entry is a miss");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&path).unwrap().uid(), 0);
    }

    // The plain 0600 file of this user is still a hit.
    invoke(&d).ok().stderr_has("from the credential cache");
}

/// Before: an expiry past what SystemTime can hold panicked (exit 101), and
/// one centuries ahead was trusted.
#[test]
fn absurd_expiries_in_the_cache_are_misses_never_panics() {
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &config(&emu.base_url, &[]));
    invoke(&d).ok();
    let path = entry(&d);
    let key = config_key(&d);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expiries = [
        serde_json::json!(u64::MAX),
        serde_json::json!(i64::MAX),
        serde_json::json!(now + 100 * 365 * 24 * 3600),
        serde_json::json!(1e300),
        serde_json::json!(-5),
        serde_json::json!(0),
        serde_json::json!("soon"),
    ];
    for expires in expiries {
        let body = serde_json::json!({
            "access_key_id": "ASIABOGUSEXPIRY00001",
            "secret_access_key": "bogus",
            "session_token": "bogus",
            "expires": expires,
        });
        let token = key.token_at(&bedrock_private::Secret::new(body.to_string()), now);
        bedrock_private::fsutil::write_private(
            &path,
            token.as_bytes(),
            bedrock_private::fsutil::Existing::Replace,
        )
        .unwrap();
        let before = count(&emu, "AssumeRole");
        let done = invoke(&d).output();
        assert_eq!(
            done.output.status.code(),
            Some(0),
            "expires {expires}\n{}",
            done.describe()
        );
        assert!(!done.stderr().contains("panicked"), "{}", done.describe());
        assert_eq!(count(&emu, "AssumeRole"), before + 1, "expires {expires}");
    }
    assert!(
        !bedrock_keys(&emu)
            .iter()
            .any(|k| k == "ASIABOGUSEXPIRY00001"),
        "an absurd entry was used"
    );
}

/// Before: an existing cache folder was chmod'ed 0700 through a symlink
/// (changing its target) and whoever owned it, and used.
#[test]
fn a_cache_folder_that_is_a_symlink_or_someone_elses_is_refused_not_chmoded() {
    use std::os::unix::fs::PermissionsExt;
    let emu = emulator(Faults::default());
    let d = Dir::new();
    sealed(&d, &config(&emu.base_url, &[]));

    // A missing folder is created 0700.
    invoke(&d).ok();
    assert_eq!(mode(&d.join("cache")), 0o700);
    std::fs::remove_dir_all(d.join("cache")).unwrap();

    // A symlink to a folder: refused, the target neither chmod'ed nor written.
    let real = d.join("real-cache");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(&real, d.join("cache")).unwrap();
    let folder = d.join("cache").display().to_string();
    for _ in 0..2 {
        let done = invoke(&d).ok();
        let warning = format!("warning: credential cache not used: {folder} is a symbolic link");
        assert_eq!(
            done.stderr().matches(&warning).count(),
            1,
            "warned once per run\n{}",
            done.describe()
        );
    }
    assert_eq!(mode(&real), 0o755, "the link's target was chmod'ed");
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
    assert_eq!(count(&emu, "AssumeRole"), 3, "each run without the cache");
    std::fs::remove_file(d.join("cache")).unwrap();

    // Someone else's folder (only root can make one).
    if is_root() {
        let theirs = d.join("cache");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o755)).unwrap();
        chown(&theirs, 65534);
        invoke(&d).ok().stderr_has(&format!(
            "warning: credential cache not used: {folder} belongs to user 65534"
        ));
        assert_eq!(mode(&theirs), 0o755, "someone else's folder was chmod'ed");
        assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0);
    }

    // This user's own folder with a loose mode is tightened and used.
    std::fs::remove_dir_all(d.join("cache")).ok();
    std::fs::create_dir(d.join("cache")).unwrap();
    std::fs::set_permissions(d.join("cache"), std::fs::Permissions::from_mode(0o755)).unwrap();
    invoke(&d).ok();
    assert_eq!(mode(&d.join("cache")), 0o700);
    invoke(&d).ok().stderr_has("from the credential cache");
}

// --------------------------------------------------------------------- MFA

/// An emulator whose demo user's MFA device accepts `code`, and a config
/// assuming the role that requires MFA.
fn mfa_setup(code: &str) -> (common::Emu, Dir) {
    let mut directory = Directory::default();
    directory.users[0].mfa.as_mut().unwrap().code = code.into();
    let emu = common::start(EmulatorConfig {
        directory,
        ..EmulatorConfig::default()
    });
    let d = Dir::new();
    sealed(
        &d,
        &config(
            &emu.base_url,
            &[
                "AssumeRoleARN = arn:aws:iam::222222222222:role/BedrockWithMfa",
                "ExternalId =",
                "MFASerial = arn:aws:iam::111111111111:mfa/demo-user",
            ],
        ),
    );
    (emu, d)
}

const MFA_CODE: &str = "739251";
const WRONG_CODE: &str = "480613";

fn assert_no_code(done: &Done) {
    for code in [MFA_CODE, WRONG_CODE] {
        assert!(
            !done.all().contains(code),
            "the MFA code {code} in the output\n{}",
            done.describe()
        );
    }
}

/// Before: the code could only be given on the command line, where other
/// users see it in the process list.
#[test]
fn mfa_code_from_a_file_descriptor_or_the_environment() {
    let (emu, d) = mfa_setup(MFA_CODE);
    // File descriptor 3, as `--mfa-code-fd 3 3<file` gives it.
    d.write("code.txt", &format!("{MFA_CODE}\n"));
    let done = invoke(&d)
        .args(["--no-cache", "--debug", "--mfa-code-fd", "3"])
        .fd(3, std::fs::File::open(d.join("code.txt")).unwrap())
        .ok();
    assert_no_code(&done);
    // Standard input is a descriptor too.
    let done = invoke(&d)
        .args(["--no-cache", "--mfa-code-fd", "0"])
        .stdin(&format!("{MFA_CODE}\n"))
        .ok();
    assert_no_code(&done);
    // The environment.
    let done = invoke(&d)
        .args(["--no-cache", "--debug"])
        .env("BEDROCK_PRIVATE_MFA_CODE", MFA_CODE)
        .ok();
    assert_no_code(&done);
    assert_eq!(count(&emu, "AssumeRole"), 3);
    assert_eq!(bedrock_keys(&emu).len(), 3);

    // Mistakes are named without the code.
    let done = invoke(&d)
        .args(["--no-cache", "--mfa-code-fd", "7"])
        .code(252);
    done.stderr_has("--mfa-code-fd 7");
    let done = invoke(&d)
        .args(["--no-cache", "--mfa-code-fd", "0"])
        .stdin("\n")
        .code(252);
    done.stderr_has("--mfa-code-fd 0: no code");
    let done = invoke(&d)
        .args(["--no-cache", "--mfa-code", MFA_CODE, "--mfa-code-fd", "0"])
        .code(252);
    assert_no_code(&done);
    assert_eq!(count(&emu, "AssumeRole"), 3);
}

/// Before: a wrong code got the trust-policy hint ("may not assume ..."),
/// which sends the user to IAM instead of to their MFA device.
#[test]
fn a_refused_mfa_code_names_mfa_and_is_not_asked_again_off_a_terminal() {
    let (emu, d) = mfa_setup(MFA_CODE);
    for how in ["env", "flag"] {
        let run = invoke(&d).args(["--no-cache", "--debug"]);
        let run = match how {
            "env" => run.env("BEDROCK_PRIVATE_MFA_CODE", WRONG_CODE),
            _ => run.args(["--mfa-code", WRONG_CODE]),
        };
        let done = run.code(254);
        done.stderr_has("STS: AccessDenied")
            .stderr_has("the MFA code was refused: wrong or expired (codes change every 30 s)");
        assert!(
            !done.stderr().contains("may not assume"),
            "{}",
            done.describe()
        );
        assert_no_code(&done);
    }
    // One AssumeRole per run: no second try, and no GetCallerIdentity.
    assert_eq!(count(&emu, "AssumeRole"), 2);
    assert_eq!(count(&emu, "GetCallerIdentity"), 0);
    assert!(bedrock_keys(&emu).is_empty());
}

/// Before: a mistyped code on a terminal ended the run.
#[test]
fn a_refused_mfa_code_is_asked_again_on_a_terminal_up_to_three_times() {
    let (emu, d) = mfa_setup(MFA_CODE);
    let limit = Duration::from_secs(60);
    let done = invoke(&d).args(["--no-cache"]).on_terminal(
        "MFA code for",
        &[WRONG_CODE, WRONG_CODE, MFA_CODE],
        limit,
    );
    assert_eq!(done.output.status.code(), Some(0), "{}", done.describe());
    done.stdout_has("the MFA code was refused: wrong or expired (codes change every 30 s)")
        .stdout_has("Reply from anthropic.claude-3-haiku");
    assert_eq!(done.stdout().matches("MFA code for").count(), 3);
    assert_eq!(count(&emu, "AssumeRole"), 3);

    // Three wrong codes end the run.
    let done = invoke(&d).args(["--no-cache"]).on_terminal(
        "MFA code for",
        &[WRONG_CODE, WRONG_CODE, WRONG_CODE, MFA_CODE],
        limit,
    );
    assert_eq!(done.output.status.code(), Some(254), "{}", done.describe());
    assert_eq!(done.stdout().matches("MFA code for").count(), 3);
    done.stdout_has("STS: AccessDenied");
    assert_eq!(count(&emu, "AssumeRole"), 6);
    assert_eq!(bedrock_keys(&emu).len(), 1);
}

// --------------------------------------------------------------------- STS

/// A TCP listener that accepts connections, counts them and never answers
/// (or, with `close`, closes each at once).
fn silent_listener(close: bool) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            if !close {
                open.push(stream);
            }
        }
    });
    (port, seen)
}

/// Runs `invoke` with 1 s timeouts against an STS endpoint that accepts
/// and never answers (or, with `close`, closes each connection); returns the
/// emulator (the Bedrock side), the run, its duration and how many
/// connections STS saw.
fn run_against_silent_sts(close: bool) -> (common::Emu, Done, Duration, usize) {
    use std::sync::atomic::Ordering;
    let emu = emulator(Faults::default());
    // The Bedrock endpoint: the run must stop at STS, before reaching it.
    emu.expect_no_calls();
    let (port, seen) = silent_listener(close);
    let d = Dir::new();
    sealed(
        &d,
        &config(
            &emu.base_url,
            &[&format!("STSEndpointURL = http://127.0.0.1:{port}")],
        ),
    );
    let started = Instant::now();
    let done = invoke(&d)
        .args(["--read-timeout", "1", "--connect-timeout", "1"])
        .code(255);
    let took = started.elapsed();
    (emu, done, took, seen.load(Ordering::SeqCst))
}

/// Before: AssumeRole's three attempts each waited out the read timeout,
/// then three diagnostic GetCallerIdentity attempts waited again: six waits.
#[test]
fn an_sts_that_never_answers_costs_one_bounded_wait() {
    let (emu, done, took, connections) = run_against_silent_sts(false);
    done.stderr_has("STS: ");
    assert!(
        (1..=3).contains(&connections),
        "{connections} connections for 3 attempts\n{}",
        done.describe()
    );
    assert!(
        took < Duration::from_secs(4),
        "took {took:?}: more than one bounded wait\n{}",
        done.describe()
    );
    assert!(bedrock_keys(&emu).is_empty());
}

/// Before: after AssumeRole failed to connect, GetCallerIdentity tried the
/// same dead endpoint three more times.
#[test]
fn an_sts_that_drops_connections_gets_no_diagnostic_calls() {
    let (_emu, done, took, connections) = run_against_silent_sts(true);
    assert!(
        (1..=3).contains(&connections),
        "{connections} connections for 3 attempts\n{}",
        done.describe()
    );
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

/// `invoke cache list` shows the folder and its entries (the config's own
/// with its redacted key and expiry, never a secret); `invoke cache clear`
/// empties it, and the next call asks STS again.
#[test]
fn the_cache_can_be_listed_and_cleared() {
    let emu = common::emulator(bedrock_emulator::Faults::default());
    let d = common::Dir::new();
    common::sealed(
        &d,
        &common::access_keys_config(
            &emu.base_url,
            &[],
            "\n[models]\nTitan = amazon.titan-text-express-v1\n",
        ),
    );
    let call = || {
        d.run("invoke")
            .args([
                "--config",
                "config.properties",
                "--prompt",
                "hi",
                "--model",
                "Titan",
            ])
            .ok()
    };
    let assumed = || {
        emu.record
            .entries()
            .iter()
            .filter(|e| e.operation == "AssumeRole")
            .count()
    };
    call();
    call();
    assert_eq!(assumed(), 1, "the second call used the cache");
    let done = d
        .run("invoke")
        .args(["cache", "list", "--config", "config.properties"])
        .ok();
    let out = done.stdout();
    assert!(
        out.contains(".cache/bedrock-private/credentials (1 entry)"),
        "{out}"
    );
    assert!(out.contains("this config's: key ASIA"), "{out}");
    assert!(out.contains("expires 20"), "{out}");
    assert!(
        !done
            .all()
            .contains(bedrock_emulator::identity::DEMO_SECRET_KEY)
    );
    d.run("invoke")
        .args(["cache", "clear", "--config", "config.properties"])
        .ok()
        .stdout_has("removed 1 cached session(s)");
    let out = d
        .run("invoke")
        .args(["cache", "list", "--config", "config.properties"])
        .ok()
        .stdout();
    assert!(out.contains("(0 entries)"), "{out}");
    call();
    assert_eq!(assumed(), 2, "after clear, STS again");
}
