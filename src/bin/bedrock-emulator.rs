//! `bedrock-emulator`: the local Bedrock runtime, STS and IMDS endpoint.
//! All logic is in the library (`bedrock_private::emulator`).

use bedrock_private::emulator::{self, cli::Args};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match bedrock_private::error::parse_args::<Args>(std::env::args_os()) {
        Ok(args) => args,
        Err(code) => return ExitCode::from(code.code()),
    };
    let ca_out = args.ca_out.clone();
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bedrock-emulator: error: {e}");
            return ExitCode::from(252);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bedrock-emulator: error: {e}");
            return ExitCode::from(255);
        }
    };
    rt.block_on(async move {
        let server = match emulator::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bedrock-emulator: error: cannot listen: {e}");
                return ExitCode::from(255);
            }
        };
        if let (Some(path), Some(pem)) = (&ca_out, &server.ca_pem)
            && let Err(e) = std::fs::write(path, pem)
        {
            eprintln!(
                "bedrock-emulator: error: cannot write {}: {e}",
                path.display()
            );
            return ExitCode::from(255);
        }
        println!("{}", server.base_url);
        let _ = std::io::stdout().flush();
        server.serve(shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
