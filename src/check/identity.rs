//! The identity step of `invoke check`: the credentials resolved as the
//! call resolves them (never from the cache: the check proves the STS
//! hop), and who they are: the source identity, the role assumed, and
//! whether the call crosses accounts.

use super::network::scrubbed;
use super::report::{Status, Step};
use super::setup::Setup;
use crate::aws::credentials::{self, Resolved, RunTime};
use crate::aws::diagnose::{self, Context};
use crate::error::{Hop, Result};
use crate::prompt::Terminal;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde_json::json;
use std::time::Instant;

/// An identity as GetCallerIdentity gives it.
struct Caller {
    arn: String,
    account: String,
}

/// Resolves the credentials and names the identities; the step's line, and
/// the credentials when they work.
pub(crate) async fn run(setup: &Setup) -> (Step, Option<Resolved>) {
    let started = Instant::now();
    let plan = &setup.plan;
    let mut ctx = plan.context(setup.model.as_ref().map(|m| m.id.as_str()));
    let runtime = RunTime {
        interactive: Terminal::is_interactive(),
        cache: None,
    };
    let resolved = match credentials::resolve(plan, &runtime, &mut ctx).await {
        Ok(r) => r,
        Err(e) => return (Step::failed("identity", None, started, &e), None),
    };
    if plan.config.source.role().is_none() {
        // The call makes no STS call, so neither does the check: the
        // identity is the credentials the source gave.
        return (without_sts(setup, &resolved, started), Some(resolved));
    }
    let source = caller(setup, resolved.source.clone(), &ctx).await;
    let assumed = match plan.config.source.role() {
        Some(_) => Some(caller(setup, resolved.provider.clone(), &ctx).await),
        None => None,
    };
    let (source, assumed) = match (source, assumed.transpose()) {
        (Ok(s), Ok(a)) => (s, a),
        (Err(e), _) | (_, Err(e)) => return (Step::failed("identity", None, started, &e), None),
    };
    let step = describe(setup, &resolved, &source, assumed.as_ref(), started);
    (step, Some(resolved))
}

/// The step's line: who signs, what is assumed, whether accounts differ;
/// the assumed role redacted as the role ARN is everywhere else.
fn describe(
    setup: &Setup,
    resolved: &Resolved,
    source: &Caller,
    assumed: Option<&Caller>,
    started: Instant,
) -> Step {
    let expires = resolved.expiry.map(crate::output::iso_time);
    let mut summary = format!(
        "{} (account {}, key {})",
        source.arn, source.account, resolved.source_key_id
    );
    if let Some(a) = assumed {
        summary.push_str(&format!(" assumed {} (account {}", a.arn, a.account));
        if let Some(exp) = &expires {
            summary.push_str(&format!(", expires {exp}"));
        }
        summary.push(')');
        if a.account != source.account {
            summary.push_str(&format!(
                "; cross-account: {} -> {}",
                source.account, a.account
            ));
        } else {
            summary.push_str("; same account");
        }
    }
    let scrubber = &setup.plan.scrubber;
    let mut s = Step::new(
        "identity",
        None,
        Status::Pass,
        started,
        scrubber.scrub(&summary),
    );
    s.details = scrubbed(
        scrubber,
        json!({
            "source": {"arn": source.arn, "account": source.account},
            "assumed": assumed.map(|a| json!({"arn": a.arn, "account": a.account, "expires": expires})),
            "cross_account": assumed.map(|a| a.account != source.account),
            "access_key_id": resolved.key_id,
        }),
    );
    s
}

/// The step's line for a source the call uses without STS.
fn without_sts(setup: &Setup, resolved: &Resolved, started: Instant) -> Step {
    let expires = resolved.expiry.map(crate::output::iso_time);
    let summary = format!(
        "{} (key {}{}); no STS call, as the Bedrock call makes none",
        resolved.description,
        resolved.key_id,
        expires
            .as_ref()
            .map(|e| format!(", expires {e}"))
            .unwrap_or_default()
    );
    let scrubber = &setup.plan.scrubber;
    let mut s = Step::new(
        "identity",
        None,
        Status::Pass,
        started,
        scrubber.scrub(&summary),
    );
    s.details = scrubbed(
        scrubber,
        json!({"source": resolved.description, "access_key_id": resolved.key_id, "expires": expires}),
    );
    s
}

/// GetCallerIdentity with `provider`.
async fn caller(
    setup: &Setup,
    provider: SharedCredentialsProvider,
    ctx: &Context,
) -> Result<Caller> {
    let out = setup
        .plan
        .sts_client(provider)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| diagnose::sdk_error(Hop::Sts, &e, ctx))?;
    Ok(Caller {
        arn: out.arn().unwrap_or("?").to_string(),
        account: out.account().unwrap_or("?").to_string(),
    })
}
