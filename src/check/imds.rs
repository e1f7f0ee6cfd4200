//! The IMDS step of `invoke check`, for a config whose credentials come from
//! the instance role: the instance metadata service answers (IMDSv2: a
//! session token, then the role's name), as the call will ask it, at the
//! endpoint `AWS_EC2_METADATA_SERVICE_ENDPOINT` names or the usual one.

use super::report::{Status, Step};
use super::setup::Setup;
use crate::aws::diagnose;
use serde_json::json;
use std::time::Instant;

/// The path that lists the instance role.
const ROLE_PATH: &str = "/latest/meta-data/iam/security-credentials/";

/// Asks IMDS for the instance role's name.
pub(crate) async fn run(setup: &Setup) -> Step {
    let started = Instant::now();
    let plan = &setup.plan;
    let client = aws_config::imds::Client::builder()
        .configure(&plan.provider_config())
        .build();
    match client.get(ROLE_PATH).await {
        Ok(role) => {
            let role = role
                .as_ref()
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            if role.is_empty() {
                let mut s = Step::new(
                    "imds",
                    None,
                    Status::Fail,
                    started,
                    "IMDS answers, but this instance has no role".into(),
                );
                s.hint = Some(
                    "attach an instance profile with a role to this instance (EC2 console: Actions, Security, Modify IAM role)"
                        .into(),
                );
                s.exit = Some(crate::error::ExitCode::Config);
                return s;
            }
            let mut s = Step::new(
                "imds",
                None,
                Status::Pass,
                started,
                format!("IMDSv2 answers: instance role {role}"),
            );
            s.details = json!({"role": role});
            s
        }
        Err(e) => Step::failed(
            "imds",
            None,
            started,
            &diagnose::imds_error(&e, &plan.context(None)),
        ),
    }
}
