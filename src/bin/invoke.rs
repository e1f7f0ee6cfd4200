//! `invoke`: calls Amazon Bedrock with the credentials and network path a
//! properties file describes. Not yet available in this release.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "invoke: error: not yet available in this release; `encrypt-config --check CONFIG` verifies a config meanwhile"
    );
    ExitCode::from(bedrock_private::ExitCode::Other.code())
}
