//! `invoke`: calls Amazon Bedrock with the credentials and network path a
//! properties file describes. All logic is in the library
//! ([`bedrock_private::invoke::cli::main`]); the exit code comes from its
//! one table.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(bedrock_private::invoke::cli::main(std::env::args_os()).code())
}
