//! `bedrock-emulator`: the local Bedrock runtime, STS and IMDS endpoint.
//! All logic is in the library; this only wires arguments, the runtime and
//! the exit code together.

use bedrock_emulator::cli::Args;
use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

/// Bad arguments, as the AWS CLI and the tool itself use it.
const USAGE: u8 = 252;
/// Anything else: the port, the runtime, the CA file.
const OTHER: u8 = 255;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { USAGE } else { 0 });
        }
    };
    let ca_out = args.ca_out.clone();
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => return fail(USAGE, &e),
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(OTHER, &e.to_string()),
    };
    rt.block_on(async move {
        let server = match bedrock_emulator::bind(config).await {
            Ok(s) => s,
            Err(e) => return fail(OTHER, &format!("cannot listen: {e}")),
        };
        if let (Some(path), Some(pem)) = (&ca_out, &server.ca_pem)
            && let Err(e) = std::fs::write(path, pem)
        {
            return fail(OTHER, &format!("cannot write {}: {e}", path.display()));
        }
        println!("{}", server.base_url);
        let _ = std::io::stdout().flush();
        server.serve(shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("bedrock-emulator: error: {message}");
    ExitCode::from(code)
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
