//! The shared harness of the integration tests: a temporary folder per test
//! with helpers to write files, and a command builder that runs the real
//! binaries with a clean environment and, on failure, shows the command,
//! its stdout and its stderr.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The plaintext secrets of [`PLAIN`]; no output may ever contain one.
pub const SECRETS: [&str; 7] = [
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "arn:aws:iam::222222222222:role/team/BedrockCrossAccount",
    "https://vpce-0a1b2c3d4e5f67890-abcdefgh.bedrock-runtime.us-west-2.vpce.amazonaws.com",
    "workshop-external-id-7",
    "arn:aws:iam::111111111111:mfa/workshop-user",
    "https://vpce-0fedcba987654321-zyxwvuts.sts.us-west-2.vpce.amazonaws.com",
];

/// A complete plaintext config using every sensitive field.
pub const PLAIN: &str = "\
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
pub struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().expect("temporary folder"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.join(name).exists()
    }

    /// Names of the files in the folder, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Runs `bin` in this folder with a clean environment.
    pub fn run(&self, bin: &str) -> Run {
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
pub struct Run {
    cmd: Command,
    stdin: String,
}

impl Run {
    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Run {
        self.cmd.env(key, value);
        self
    }

    /// Lines to answer prompts with.
    pub fn stdin(mut self, text: &str) -> Run {
        self.stdin = text.to_string();
        self
    }

    pub fn output(mut self) -> Done {
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
    pub fn code(self, code: i32) -> Done {
        let done = self.output();
        if done.output.status.code() != Some(code) {
            panic!("expected exit code {code}\n{}", done.describe());
        }
        done
    }

    /// Runs and expects success.
    pub fn ok(self) -> Done {
        self.code(0)
    }
}

/// A finished command.
pub struct Done {
    shown: String,
    pub output: Output,
}

impl Done {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Both streams, for scanning.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }

    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {:?}\n--- stdout\n{}--- stderr\n{}",
            self.shown,
            self.output.status.code(),
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts that stderr contains `text`.
    pub fn stderr_has(&self, text: &str) -> &Done {
        assert!(
            self.stderr().contains(text),
            "expected {text:?} in stderr\n{}",
            self.describe()
        );
        self
    }

    /// Asserts that stdout contains `text`.
    pub fn stdout_has(&self, text: &str) -> &Done {
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
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The emulator binary as a child process on a free port; killed on drop.
pub struct ChildEmulator {
    pub child: std::process::Child,
    pub base_url: String,
    pub port: u16,
}

impl ChildEmulator {
    /// Starts `bedrock-emulator` with `args` and waits for its first line.
    pub fn start(args: &[&str]) -> ChildEmulator {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_bedrock-emulator"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start bedrock-emulator");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base_url = line.trim().to_string();
        assert!(
            base_url.contains("://127.0.0.1:"),
            "first line is the base URL: {line:?}"
        );
        let port = base_url.rsplit(':').next().unwrap().parse().unwrap();
        ChildEmulator {
            child,
            base_url,
            port,
        }
    }

    /// Sends SIGTERM and returns the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }

    /// The request record, through the admin path.
    pub fn record(&self) -> Vec<serde_json::Value> {
        let text = http_get(self.port, "/__emulator/requests");
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for ChildEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP GET on loopback; returns the body.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out[out.find("\r\n\r\n").map(|i| i + 4).unwrap_or(0)..].to_string()
}

/// An SDK HTTP client that trusts only the CA in `pem` (the emulator's).
pub fn trusting(pem: &str) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(TrustStore::empty().with_pem_certificate(pem.as_bytes().to_vec()))
                .build()
                .unwrap(),
        )
        .build_https()
}

/// `key = value` lines with `extra` applied: an extra line replaces the line
/// of the same key, and `Key =` with nothing after it removes the key.
pub fn with_overrides(mut lines: Vec<String>, extra: &[&str]) -> Vec<String> {
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
    pub fn output_within(mut self, limit: std::time::Duration) -> Option<Done> {
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
    pub fn fd(mut self, fd: i32, file: std::fs::File) -> Run {
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
    pub fn on_terminal(
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
pub fn encrypted_plain() -> Dir {
    encrypted_plain_with(&[]).0
}

/// [`PLAIN`] encrypted by the real binary into config.properties with
/// `flags` added, in a new folder; returns the folder and the run.
pub fn encrypted_plain_with(flags: &[&str]) -> (Dir, Done) {
    let d = Dir::new();
    d.write("plain.properties", PLAIN);
    let done = d
        .run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties"])
        .args(flags)
        .ok();
    (d, done)
}

/// The emulator, in this process, with `faults`, on a free port.
pub fn emulator(faults: bedrock_private::emulator::Faults) -> bedrock_private::emulator::Emulator {
    bedrock_private::emulator::Emulator::start(bedrock_private::emulator::EmulatorConfig {
        faults,
        ..bedrock_private::emulator::EmulatorConfig::default()
    })
    .unwrap()
}

/// A plaintext config for mode 2 (the emulator's demo keys assume its demo
/// role) through `url` as VPC and STS endpoint, with `extra` lines applied
/// as [`with_overrides`] does, and `models` after `[default]`.
pub fn access_keys_config(url: &str, extra: &[&str], models: &str) -> String {
    use bedrock_private::emulator::identity::{
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
pub fn sealed(d: &Dir, plain: &str) {
    d.write("plain.properties", plain);
    d.run("encrypt-config")
        .args(["plain.properties", "-o", "config.properties", "--force"])
        .ok();
    std::fs::remove_file(d.join("plain.properties")).unwrap();
}
