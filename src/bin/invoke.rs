//! `invoke`: calls Amazon Bedrock with the credentials and network path a
//! properties file describes. All logic is in the library; this only wires
//! arguments, logging, the runtime and the exit code together.

use bedrock_private::{invoke::cli as invoke_cli, logging};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match invoke_cli::parse(std::env::args_os()) {
        Ok(args) => args,
        Err(code) => return ExitCode::from(code.code()),
    };
    let logging = match logging::init(args.debug, args.log_file.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("invoke: error: cannot open the log file: {e}");
            return ExitCode::from(bedrock_private::ExitCode::Usage.code());
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("invoke: error: {e}");
            return ExitCode::from(bedrock_private::ExitCode::Other.code());
        }
    };
    match runtime.block_on(invoke_cli::run(args, &logging)) {
        Ok(code) => ExitCode::from(code.code()),
        Err(e) => {
            eprintln!("invoke: error: {e}");
            ExitCode::from(e.exit_code().code())
        }
    }
}
