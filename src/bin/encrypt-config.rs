//! `encrypt-config`: encrypts the sensitive fields of a properties file.
//! All logic is in the library; this only wires arguments, logging and the
//! exit code together.

use bedrock_private::{encrypt::cli as encrypt_cli, logging};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match encrypt_cli::parse(std::env::args_os()) {
        Ok(args) => args,
        Err(code) => return ExitCode::from(code.code()),
    };
    let _ = logging::init(args.debug, None);
    match encrypt_cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("encrypt-config: error: {e}");
            ExitCode::from(e.exit_code().code())
        }
    }
}
