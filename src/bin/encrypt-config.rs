//! `encrypt-config`: encrypts the sensitive fields of a properties file.
//! All logic is in the library ([`bedrock_private::encrypt::cli::main`]);
//! the exit code comes from its one table.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(bedrock_private::encrypt::cli::main(std::env::args_os()).code())
}
