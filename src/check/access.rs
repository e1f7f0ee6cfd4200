//! The "model access" step of `invoke check`: whether the account has
//! been granted the model and the caller may invoke it, asked of the
//! Bedrock control plane (GetFoundationModelAvailability) before the call.
//!
//! The control plane is not on the call's path, so a control plane that
//! cannot be reached, or a role that may not ask it, is a warning. It is
//! not asked at all when the call goes through a VPC endpoint and no
//! control-plane endpoint is configured: a private path is not checked by
//! sending traffic to a public endpoint nobody named.

use super::report::{Status, Step};
use super::setup::Setup;
use crate::aws::credentials::Resolved;
use crate::aws::plan::Origin;
use crate::error::{ExitCode, Hop};
use crate::invoke::model_choice::ModelChoice;
use serde_json::json;
use std::time::Instant;

/// Runs the step for `model`.
pub(crate) async fn run(setup: &Setup, model: &ModelChoice, resolved: &Resolved) -> Step {
    let plan = &setup.plan;
    if plan.bedrock.origin == Origin::Vpc && !plan.control_is_named() {
        return Step::skip(
            "access",
            None,
            "the call goes through a VPC endpoint and no ControlPlaneEndpointURL is set: model access is asked of \
             the control plane only through an endpoint the config names (a bedrock VPC endpoint)",
        );
    }
    let started = Instant::now();
    let base = crate::invoke::families::base_model_id(&model.id).to_string();
    let mut ctx = plan.context(Some(&model.id));
    let control = match plan.control().await {
        Ok(c) => c,
        Err(e) => return unasked(started, &e, serde_json::Value::Null),
    };
    ctx.host = Some(control.url.shown_host().to_string());
    ctx.endpoint = Some(format!("the {control}"));
    let client = plan.signed(&control, resolved.provider.clone());
    let details = json!({"endpoint": control.url.shown(), "model": base});
    match crate::invoke::access::availability(&client, &base, &ctx).await {
        Ok(None) => Step {
            details,
            ..Step::new(
                "access",
                None,
                Status::Pass,
                started,
                format!("{base}: the account has model access and the caller may invoke it"),
            )
        },
        Ok(Some(why)) => Step {
            details,
            ..Step::new("access", None, Status::Pass, started, format!("{base}: {why}"))
        }
        .fail_with(
            format!(
                "calls to {base} will be refused: {why}; `invoke models --available` lists the models this account may use"
            ),
            ExitCode::Service,
        ),
        Err(e) => unasked(started, &e, details),
    }
}

/// The step when model access could not be asked: a warning, not a
/// failure, since the control plane is not on the call's path.
fn unasked(started: Instant, e: &crate::error::Error, details: serde_json::Value) -> Step {
    let mut step = Step::failed("access", None, started, e);
    step.status = Status::Warn;
    step.exit = None;
    step.details = details;
    let asked = match e {
        crate::error::Error::Remote {
            hop: Hop::Control, ..
        } => "",
        _ => " (before the control plane was reached)",
    };
    step.summary = format!("model access could not be asked{asked}: {}", step.summary);
    step
}
