//! The shared harness of the integration tests: a temporary folder per test
//! with helpers to write files, and a command builder that runs the real
//! binaries with a clean environment and, on failure, shows the command,
//! its stdout and its stderr.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The plaintext secrets of [`PLAIN`]; no output may ever contain one.
pub(crate) const SECRETS: [&str; 7] = [
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "arn:aws:iam::222222222222:role/team/BedrockCrossAccount",
    "https://vpce-0a1b2c3d4e5f67890-abcdefgh.bedrock-runtime.us-west-2.vpce.amazonaws.com",
    "workshop-external-id-7",
    "arn:aws:iam::111111111111:mfa/workshop-user",
    "https://vpce-0fedcba987654321-zyxwvuts.sts.us-west-2.vpce.amazonaws.com",
];

/// A complete plaintext config using every sensitive field.
pub(crate) const PLAIN: &str = "\
# Workshop configuration
; with both comment styles

[default]
UseVPCe = true
GetCredentialsFrom = 2
Region = us-west-2
AccessKey = AKIAIOSFODNN7EXAMPLE
SecretKey=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
# the role in the other account
AssumeRoleARN = arn:aws:iam::222222222222:role/team/BedrockCrossAccount
VPCEndpointURL = https://vpce-0a1b2c3d4e5f67890-abcdefgh.bedrock-runtime.us-west-2.vpce.amazonaws.com
ExternalId   =   workshop-external-id-7
MFASerial = arn:aws:iam::111111111111:mfa/workshop-user
STSEndpointURL = https://vpce-0fedcba987654321-zyxwvuts.sts.us-west-2.vpce.amazonaws.com
SessionDuration = 3600
PromptFilePath = prompt.txt
Debug = false

[models]
Claude-3-Haiku = anthropic.claude-3-haiku-20240307-v1:0
Titan-Text = amazon.titan-text-express-v1
";

/// A temporary folder for one test.
pub(crate) struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    pub(crate) fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().expect("temporary folder"),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    pub(crate) fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub(crate) fn exists(&self, name: &str) -> bool {
        self.join(name).exists()
    }

    /// Names of the files in the folder, sorted.
    pub(crate) fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Runs `bin` in this folder with a clean environment.
    pub(crate) fn run(&self, bin: &str) -> Run {
        let exe = match bin {
            "encrypt-config" => env!("CARGO_BIN_EXE_encrypt-config"),
            "invoke" => env!("CARGO_BIN_EXE_invoke"),
            other => panic!("unknown binary {other}"),
        };
        let mut cmd = Command::new(exe);
        cmd.current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path());
        Run {
            cmd,
            stdin: String::new(),
        }
    }
}

/// A command about to run.
pub(crate) struct Run {
    cmd: Command,
    stdin: String,
}

impl Run {
    pub(crate) fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Run {
        self.cmd.env(key, value);
        self
    }

    /// Lines to answer prompts with.
    pub(crate) fn stdin(mut self, text: &str) -> Run {
        self.stdin = text.to_string();
        self
    }

    pub(crate) fn output(mut self) -> Done {
        use std::io::Write;
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = format!("{:?}", self.cmd);
        let mut child = self.cmd.spawn().expect("spawn");
        let mut pipe = child.stdin.take().unwrap();
        let _ = pipe.write_all(self.stdin.as_bytes());
        drop(pipe);
        let output = child.wait_with_output().unwrap();
        Done { shown, output }
    }

    /// Runs and expects exit code `code`.
    pub(crate) fn code(self, code: i32) -> Done {
        let done = self.output();
        if done.output.status.code() != Some(code) {
            panic!("expected exit code {code}\n{}", done.describe());
        }
        done
    }

    /// Runs and expects success.
    pub(crate) fn ok(self) -> Done {
        self.code(0)
    }
}

/// A finished command.
pub(crate) struct Done {
    shown: String,
    pub(crate) output: Output,
}

impl Done {
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Both streams, for scanning.
    pub(crate) fn all(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {:?}\n--- stdout\n{}--- stderr\n{}",
            self.shown,
            self.output.status.code(),
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts that stderr contains `text`.
    pub(crate) fn stderr_has(&self, text: &str) -> &Done {
        assert!(
            self.stderr().contains(text),
            "expected {text:?} in stderr\n{}",
            self.describe()
        );
        self
    }

    /// Asserts that stdout contains `text`.
    pub(crate) fn stdout_has(&self, text: &str) -> &Done {
        assert!(
            self.stdout().contains(text),
            "expected {text:?} in stdout\n{}",
            self.describe()
        );
        self
    }
}

/// File mode bits.
#[cfg(unix)]
pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `key = value` lines with `extra` applied: an extra line replaces the line
/// of the same key, and `Key =` with nothing after it removes the key.
pub(crate) fn with_overrides(mut lines: Vec<String>, extra: &[&str]) -> Vec<String> {
    let key_of = |l: &str| l.split('=').next().unwrap().trim().to_string();
    for e in extra {
        let key = key_of(e);
        lines.retain(|l| key_of(l) != key);
        if !e.trim_end().ends_with('=') {
            lines.push(e.to_string());
        }
    }
    lines
}

impl Run {
    /// Runs, killing the command after `limit`: `None` when it did not end
    /// in time (for a defect that makes a run hang).
    pub(crate) fn output_within(mut self, limit: std::time::Duration) -> Option<Done> {
        use std::io::{Read, Write};
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = format!("{:?}", self.cmd);
        let mut child = self.cmd.spawn().expect("spawn");
        let mut pipe = child.stdin.take().unwrap();
        let _ = pipe.write_all(self.stdin.as_bytes());
        drop(pipe);
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                buf
            })
        };
        let out = drain(Box::new(child.stdout.take().unwrap()));
        let err = drain(Box::new(child.stderr.take().unwrap()));
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
        status.map(|status| Done {
            shown,
            output: Output {
                status,
                stdout,
                stderr,
            },
        })
    }

    /// Gives the command `file` as its file descriptor `fd` (as a shell's
    /// `3<file` does).
    #[cfg(unix)]
    pub(crate) fn fd(mut self, fd: i32, file: std::fs::File) -> Run {
        use std::os::fd::IntoRawFd;
        use std::os::unix::process::CommandExt;
        let raw = file.into_raw_fd();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            self.cmd.pre_exec(move || {
                if raw == fd {
                    if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(raw, fd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        self
    }

    /// Runs on a new pseudo-terminal (stdin, stdout and stderr, and the
    /// controlling terminal): each time `question` appears once more, the
    /// next of `answers` is typed. What the terminal showed is the stdout of
    /// the result. Killed after `limit`.
    #[cfg(unix)]
    pub(crate) fn on_terminal(
        mut self,
        question: &str,
        answers: &[&str],
        limit: std::time::Duration,
    ) -> Done {
        use std::io::{Read, Write};
        use std::os::fd::{FromRawFd, OwnedFd};
        use std::os::unix::process::CommandExt;
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors into the given integers.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        self.cmd
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            self.cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let shown = format!("{:?} (on a terminal)", self.cmd);
        let mut child = self.cmd.spawn().expect("spawn");
        drop(self.cmd);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let mut reader = std::fs::File::from(master.try_clone().unwrap());
        let into = seen.clone();
        let read_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child and its descendants have closed the terminal.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let mut writer = std::fs::File::from(master);
        let deadline = std::time::Instant::now() + limit;
        let mut typed = 0;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            let asked = String::from_utf8_lossy(&seen.lock().unwrap())
                .matches(question)
                .count();
            if asked > typed && typed < answers.len() {
                // Let the question turn echo off before typing.
                std::thread::sleep(std::time::Duration::from_millis(300));
                writer
                    .write_all(format!("{}\r", answers[typed]).as_bytes())
                    .unwrap();
                typed += 1;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        drop(writer);
        let _ = read_thread.join();
        let stdout = seen.lock().unwrap().clone();
        Done {
            shown,
            output: Output {
                status,
                stdout,
                stderr: Vec::new(),
            },
        }
    }
}

/// [`PLAIN`] encrypted by the real binary into config.properties, with its
/// key in config.properties.key, in a new folder.
pub(crate) fn encrypted_plain() -> Dir {
    encrypted_plain_with(&[]).0
}

/// [`PLAIN`] encrypted by the real binary into config.properties with
/// `flags` added, in a new folder; returns the folder and the run.
pub(crate) fn encrypted_plain_with(flags: &[&str]) -> (Dir, Done) {
    let d = Dir::new();
    d.write("plain.properties", PLAIN);
    let done = d
        .run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties"])
        .args(flags)
        .ok();
    (d, done)
}

/// The emulator, in this process, on a free port, that checks on drop
/// that it was called: a test that starts one and never reaches it would
/// pass for the wrong reason. A test that proves nothing was sent says so
/// with [`Emu::expect_no_calls`], and then the check is the opposite.
pub(crate) struct Emu {
    inner: bedrock_emulator::Emulator,
    no_calls: std::cell::Cell<bool>,
}

impl Emu {
    /// The emulator must see no request at all.
    pub(crate) fn expect_no_calls(&self) {
        self.no_calls.set(true);
    }
}

impl std::ops::Deref for Emu {
    type Target = bedrock_emulator::Emulator;
    fn deref(&self) -> &bedrock_emulator::Emulator {
        &self.inner
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let calls = self.inner.record.total();
        if self.no_calls.get() {
            assert_eq!(
                calls,
                0,
                "the emulator was to see no request: {:?}",
                self.inner.record.entries()
            );
        } else {
            assert!(calls > 0, "the emulator was started but never called");
        }
    }
}

/// The emulator with `config`.
pub(crate) fn start(config: bedrock_emulator::EmulatorConfig) -> Emu {
    Emu {
        inner: bedrock_emulator::Emulator::start(config).expect("emulator starts"),
        no_calls: std::cell::Cell::new(false),
    }
}

/// The emulator with `faults` and its default accounts.
pub(crate) fn emulator(faults: bedrock_emulator::Faults) -> Emu {
    start(bedrock_emulator::EmulatorConfig {
        faults,
        ..bedrock_emulator::EmulatorConfig::default()
    })
}

/// A plaintext config for mode 2 (the emulator's demo keys assume its demo
/// role) through `url` as VPC and STS endpoint, with `extra` lines applied
/// as [`with_overrides`] does, and `models` after `[default]`.
pub(crate) fn access_keys_config(url: &str, extra: &[&str], models: &str) -> String {
    use bedrock_emulator::identity::{
        DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN, DEMO_SECRET_KEY,
    };
    let lines = vec![
        "UseVPCe = true".to_string(),
        "GetCredentialsFrom = 2".into(),
        "Region = us-west-2".into(),
        format!("AccessKey = {DEMO_ACCESS_KEY}"),
        format!("SecretKey = {DEMO_SECRET_KEY}"),
        format!("AssumeRoleARN = {DEMO_ROLE_ARN}"),
        format!("ExternalId = {DEMO_EXTERNAL_ID}"),
        format!("VPCEndpointURL = {url}"),
        format!("STSEndpointURL = {url}"),
        "ModelID = Claude-3-Haiku".into(),
    ];
    let lines = with_overrides(lines, extra);
    format!("[default]\n{}\n{models}", lines.join("\n"))
}

/// Encrypts `plain` into config.properties (replacing an earlier one and
/// its key) and removes the plaintext.
pub(crate) fn sealed(d: &Dir, plain: &str) {
    d.write("plain.properties", plain);
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties", "--force"])
        .ok();
    std::fs::remove_file(d.join("plain.properties")).unwrap();
}

/// The credential cache entry `invoke` uses for [`access_keys_config`]
/// through `url` (its demo keys and role, no USER set).
pub(crate) fn demo_cache_key(url: &str) -> bedrock_private::aws::credentials::cache::CacheKey {
    use bedrock_emulator::identity::{DEMO_ACCESS_KEY, DEMO_EXTERNAL_ID, DEMO_ROLE_ARN};
    use bedrock_private::Secret;
    bedrock_private::aws::credentials::cache::CacheKey {
        role: Secret::new(DEMO_ROLE_ARN),
        external_id: Some(Secret::new(DEMO_EXTERNAL_ID)),
        source: Secret::new(DEMO_ACCESS_KEY),
        region: "us-west-2".into(),
        sts_endpoint: Some(Secret::new(url)),
        session: "bedrock-private-user/900".into(),
        ..Default::default()
    }
}
