//! What the emulator's tests share: a temporary folder, the binary as a
//! child process, and SDK HTTP clients that trust the emulator's CA.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
}

/// The emulator binary as a child process on a free port; killed on drop.
pub(crate) struct ChildEmulator {
    pub(crate) child: std::process::Child,
    pub(crate) base_url: String,
    pub(crate) port: u16,
}

impl ChildEmulator {
    /// Starts `bedrock-emulator` with `args` and waits for its first line.
    pub(crate) fn start(args: &[&str]) -> ChildEmulator {
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
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }

    /// The request record, through the admin path.
    pub(crate) fn record(&self) -> Vec<serde_json::Value> {
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
pub(crate) fn http_get(port: u16, path: &str) -> String {
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
pub(crate) fn trusting(pem: &str) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
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
