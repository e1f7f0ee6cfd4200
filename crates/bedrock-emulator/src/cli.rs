//! Arguments of the `bedrock-emulator` binary.

use super::identity::Directory;
use super::{EmulatorConfig, Faults, StreamException};
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Command-line arguments of `bedrock-emulator`.
#[derive(Debug, Parser)]
#[command(
    name = "bedrock-emulator",
    version,
    about = "Local Bedrock runtime, STS and IMDSv2 endpoint on 127.0.0.1, for tests and offline demos",
    after_help = "Prints its base URL as the first line of stdout once it accepts connections; \
                  stops on SIGINT or SIGTERM. See docs/emulator.md."
)]
pub struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The region served (requests signed for another are rejected).
    #[arg(long, default_value = "us-west-2")]
    pub region: String,
    /// JSON file of users, roles and permissions (default: the built-in demo accounts).
    #[arg(long, value_name = "FILE")]
    pub identities: Option<PathBuf>,
    /// Answer the first N Bedrock calls with ThrottlingException (429).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub throttle_first: u32,
    /// Answer the next N Bedrock calls with ServiceUnavailableException (503).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fail_first: u32,
    /// The error type --fail-first answers with (any error of the Bedrock
    /// runtime API definition, such as ModelErrorException).
    #[arg(long, value_name = "TYPE", requires = "fail_first")]
    pub fail_with: Option<String>,
    /// Wait this long before the first byte of each Bedrock reply.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub first_byte_delay_ms: u64,
    /// Drop the connection after N events of each stream.
    #[arg(long, value_name = "N")]
    pub cut_stream_after: Option<usize>,
    /// Send an exception event after N events of each stream.
    #[arg(long, value_name = "N")]
    pub stream_error_after: Option<usize>,
    /// Which exception event --stream-error-after sends.
    #[arg(long, value_enum, default_value_t = StreamException::ModelStreamError)]
    pub stream_error_kind: StreamException,
    /// Fail only the first N streams with --stream-error-after.
    #[arg(long, value_name = "N", requires = "stream_error_after")]
    pub stream_error_times: Option<u32>,
    /// Stop sending after N events of each stream, keeping the connection open.
    #[arg(long, value_name = "N")]
    pub stall_stream_after: Option<usize>,
    /// Stall only the first N streams with --stall-stream-after.
    #[arg(long, value_name = "N", requires = "stall_stream_after")]
    pub stall_stream_times: Option<u32>,
    /// Make issued credentials stop working after SECS, whatever expiry they report.
    #[arg(long, value_name = "SECS")]
    pub session_ttl: Option<u64>,
    /// Serve HTTPS with a certificate from a CA generated at start.
    #[arg(long)]
    pub tls: bool,
    /// A name for the certificate (repeatable); 127.0.0.1 and localhost are always in it.
    #[arg(long = "tls-name", value_name = "NAME", requires = "tls")]
    pub tls_names: Vec<String>,
    /// Write the generated CA certificate (PEM) here.
    #[arg(long, value_name = "PATH", requires = "tls")]
    pub ca_out: Option<PathBuf>,
    /// Append each request record as a JSON line to this file.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// A model (or pattern, such as anthropic.*) the account was not
    /// granted access to (repeatable).
    #[arg(long, value_name = "MODEL")]
    pub no_model_access: Vec<String>,
}

impl Args {
    /// Builds the configuration, reading the identities file.
    pub fn into_config(self) -> Result<EmulatorConfig, String> {
        let mut directory: Directory = match &self.identities {
            None => Directory::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
        };
        directory
            .no_model_access
            .extend(self.no_model_access.iter().cloned());
        if !super::is_region_name(&self.region) {
            return Err(format!(
                "--region {}: expected a region such as us-west-2",
                self.region
            ));
        }
        if let Some(kind) = &self.fail_with {
            let api = crate::shapes::Api::bedrock_runtime();
            if api.error_status(kind).is_none() {
                return Err(format!(
                    "--fail-with {kind}: expected an error of the Bedrock runtime API: {}",
                    api.errors("InvokeModel").join(", ")
                ));
            }
        }
        Ok(EmulatorConfig {
            port: self.port,
            region: self.region,
            directory,
            faults: Faults {
                throttle_first: self.throttle_first,
                fail_first: self.fail_first,
                fail_with: self.fail_with,
                first_byte_delay: Duration::from_millis(self.first_byte_delay_ms),
                cut_stream_after: self.cut_stream_after,
                stream_error_after: self.stream_error_after,
                stream_error_kind: self.stream_error_kind,
                stream_error_times: self.stream_error_times,
                stall_stream_after: self.stall_stream_after,
                stall_stream_times: self.stall_stream_times,
                session_ttl: self.session_ttl.map(Duration::from_secs),
            },
            tls_names: self.tls.then_some(self.tls_names),
            record_file: self.record,
        })
    }
}
