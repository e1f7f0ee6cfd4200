//! The record of every request: what a test reads to prove which key,
//! region and host each call used, and what happened to it.
//!
//! Readable through `GET /__emulator/requests` (a path the real services do
//! not have), in-process through [`Record::entries`], and as JSON lines in a
//! file when one is given.

use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

/// One request.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RecordEntry {
    /// `bedrock`, `sts` or `imds`.
    pub service: String,
    /// `InvokeModel`, `AssumeRole`, `GetToken`, ...
    pub operation: String,
    /// The access key id the request was signed with, if any.
    pub access_key_id: Option<String>,
    /// How the request was authenticated: `sigv4`, `bearer` (a Bedrock API
    /// key; the token itself is never recorded) or `other`; `None` without
    /// an Authorization header.
    #[serde(default)]
    pub auth: Option<String>,
    /// The signing region claimed by the request, if any.
    pub region: Option<String>,
    /// The Host header.
    pub host: String,
    /// The model id, for Bedrock calls.
    pub model: Option<String>,
    /// The caller's ARN, once authenticated.
    pub caller: Option<String>,
    /// HTTP status.
    pub status: u16,
    /// The error code returned, if any.
    pub error: Option<String>,
    /// When the request arrived, in microseconds since the epoch.
    pub at_us: u64,
    /// When the first stream event was sent, in microseconds since the epoch.
    pub first_event_us: Option<u64>,
    /// How many messages a Converse request carried (the conversation so
    /// far and the new one).
    #[serde(default)]
    pub messages: Option<usize>,
}

impl RecordEntry {
    /// An entry for a request as it arrives: the key and region it claims
    /// and the host it was sent to, before anything is verified.
    pub(crate) fn begin(
        service: &str,
        operation: &str,
        parts: &http::request::Parts,
    ) -> RecordEntry {
        RecordEntry {
            service: service.into(),
            operation: operation.into(),
            access_key_id: super::sigv4::claimed_key(parts),
            auth: super::sigv4::claimed_auth(parts),
            region: super::sigv4::claimed_region(parts),
            host: super::host_of(parts),
            model: None,
            caller: None,
            status: 200,
            error: None,
            at_us: now_us(),
            first_event_us: None,
            messages: None,
        }
    }

    /// The same entry, marked as failed with `status` and `code`.
    pub(crate) fn failed(&self, status: u16, code: &str) -> RecordEntry {
        RecordEntry {
            status,
            error: Some(code.to_string()),
            ..self.clone()
        }
    }
}

/// All entries so far.
#[derive(Debug)]
pub struct Record {
    entries: Mutex<Vec<RecordEntry>>,
    file: Option<PathBuf>,
    total: std::sync::atomic::AtomicUsize,
}

impl Record {
    /// An empty record, appending to `file` when given.
    pub fn new(file: Option<PathBuf>) -> Record {
        Record {
            entries: Mutex::new(Vec::new()),
            file,
            total: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Adds an entry and returns its index.
    pub fn push(&self, entry: RecordEntry) -> usize {
        if let Some(path) = &self.file
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            && let Ok(line) = serde_json::to_string(&entry)
        {
            let _ = writeln!(f, "{line}");
        }
        self.total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut entries = self.entries.lock().expect("record lock");
        entries.push(entry);
        entries.len() - 1
    }

    /// How many requests were recorded since the start, cleared or not.
    pub fn total(&self) -> usize {
        self.total.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Notes when entry `index` sent its first stream event.
    pub fn first_event(&self, index: usize) {
        let mut entries = self.entries.lock().expect("record lock");
        if let Some(e) = entries.get_mut(index) {
            e.first_event_us = Some(now_us());
        }
    }

    /// A copy of every entry, oldest first.
    pub fn entries(&self) -> Vec<RecordEntry> {
        self.entries.lock().expect("record lock").clone()
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries.lock().expect("record lock").clear();
    }
}

/// Microseconds since the epoch.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}
