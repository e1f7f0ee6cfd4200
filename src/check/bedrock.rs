//! The Bedrock steps of `invoke check`: the smallest Converse call through
//! the plan's endpoint, and with `--compare-public` the same call through
//! the public endpoint, side by side.

use super::report::{Status, Step};
use super::setup::Setup;
use crate::aws::credentials::Resolved;
use crate::aws::diagnose;
use crate::aws::plan::{BedrockAuth, Endpoint};
use crate::error::{Error, Hop};
use crate::invoke::model_choice::ModelChoice;
use aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use serde_json::json;
use std::time::Instant;

/// A call's latency in milliseconds, or its failure and how long it took.
type Timed = std::result::Result<f64, (f64, Error)>;

/// The smallest Converse call there is: one word in, one token out.
pub(crate) fn ping_call(
    client: &aws_sdk_bedrockruntime::Client,
    model: &str,
) -> ConverseFluentBuilder {
    client
        .converse()
        .model_id(model)
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text("ping".into()))
                .build()
                .expect("role and content set"),
        )
        .inference_config(InferenceConfiguration::builder().max_tokens(1).build())
}

/// The smallest Converse call through `endpoint`; its latency or its failure.
async fn ping(
    setup: &Setup,
    endpoint: &Endpoint,
    model: &ModelChoice,
    resolved: &Resolved,
) -> Timed {
    let plan = &setup.plan;
    let client = plan.bedrock_client(endpoint, BedrockAuth::SigV4(resolved.provider.clone()));
    let mut ctx = plan.context(Some(&model.id));
    ctx.key_id = Some(resolved.key_id.clone());
    ctx.host = Some(endpoint.url.shown_host().to_string());
    ctx.endpoint = Some(format!("the {endpoint}"));
    let started = Instant::now();
    let result = ping_call(&client, &model.id).send().await;
    let ms = crate::invoke::reply::ms(started.elapsed());
    result
        .map(|_| ms)
        .map_err(|e| (ms, diagnose::sdk_error(Hop::Bedrock, &e, &ctx)))
}

fn step(name: &'static str, endpoint: &Endpoint, result: &Timed) -> Step {
    let started = Instant::now();
    match result {
        Ok(ms) => Step {
            ms: *ms,
            details: json!({"endpoint": endpoint.url.shown(), "latency_ms": ms}),
            ..Step::new(
                name,
                None,
                Status::Pass,
                started,
                format!("Converse through the {endpoint} answered"),
            )
        },
        Err((ms, e)) => Step {
            ms: *ms,
            details: json!({"endpoint": endpoint.url.shown()}),
            ..Step::failed(name, None, started, e)
        },
    }
}

/// The call through the plan's endpoint, then, when asked, through the
/// endpoint Bedrock is reached at without the VPC endpoint; each a step.
pub(crate) async fn run(
    setup: &Setup,
    model: &ModelChoice,
    resolved: &Resolved,
    compare_public: bool,
) -> Vec<Step> {
    let plan = &setup.plan;
    let private = ping(setup, &plan.bedrock, model, resolved).await;
    let mut steps = vec![step("bedrock", &plan.bedrock, &private)];
    if !compare_public {
        return steps;
    }
    let skip = |why: &str| Step::skip("public", None, why);
    steps.push(match &plan.direct_bedrock {
        None => skip("the AWS settings name an invalid Bedrock endpoint (see the config step)"),
        Some(d) if d.url.secret() == plan.bedrock.url.secret() => {
            skip("the call above already goes to the endpoint used without a VPC endpoint")
        }
        Some(direct) => {
            let public = ping(setup, direct, model, resolved).await;
            compare(setup, direct, &private, &public)
        }
    });
    steps
}

/// The side-by-side step: a direct endpoint that works too means nothing
/// restricts the credentials to the VPC endpoint.
fn compare(setup: &Setup, direct: &Endpoint, private: &Timed, public: &Timed) -> Step {
    let plan = &setup.plan;
    let mut s = step("public", direct, public);
    let side = |r: &Timed| match r {
        Ok(ms) => format!("ok in {ms:.0} ms"),
        Err((ms, Error::Remote { code, .. })) => format!("{code} in {ms:.0} ms"),
        Err((ms, e)) => format!("{e} in {ms:.0} ms"),
    };
    s.summary = format!(
        "{}: {}; {}: {}",
        plan.bedrock.origin,
        side(private),
        direct.origin,
        side(public)
    );
    if private.is_ok() && public.is_ok() && setup.private_path() {
        s.status = Status::Warn;
        s.hint = Some(format!(
            "the {} works too: no aws:SourceVpce condition or endpoint policy restricts these credentials to the VPC endpoint",
            direct.origin
        ));
    } else if private.is_ok() && public.is_err() {
        s.status = Status::Pass;
        s.hint = Some(format!(
            "only the {} works: a policy restricts these credentials to it, or the {} is not reachable from here",
            plan.bedrock.origin, direct.origin
        ));
        s.exit = None;
    }
    s
}
