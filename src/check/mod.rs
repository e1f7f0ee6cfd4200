//! `invoke check`: proves the path to Bedrock hop by hop.
//!
//! Configuration ([`setup`]), name resolution, TCP and TLS for each host
//! the call goes to ([`network`], [`tls_probe`]; STS only when a role is
//! assumed), the instance metadata service for the instance role
//! ([`imds`]), the identities at each step ([`identity`]), the smallest Bedrock call and optionally the same call
//! through the public endpoint ([`bedrock`]), and the load mode ([`load`]).
//! Each step is timed and reported as pass, warn, fail or skip, with the
//! likely cause and fix on failure ([`report`]). A step that fails stops
//! the steps that depend on it.

mod access;
mod bedrock;
mod identity;
mod imds;
mod load;
mod network;
pub(crate) mod report;
mod setup;
pub(crate) mod tls_probe;

pub(crate) use report::{Report, Step, print};

use crate::invoke::{DEFAULT_CONFIG, Options};
use network::Outcome;
use setup::Setup;
use std::time::Instant;

/// What `invoke check` was asked.
#[derive(Debug, Clone)]
pub(crate) struct CheckOptions {
    /// The shared options (config, model, region, endpoint, timeouts, output, `--resolve`).
    pub(crate) invoke: Options,
    /// Skip the Bedrock call.
    pub(crate) no_invoke: bool,
    /// Also call through the public endpoint.
    pub(crate) compare_public: bool,
    /// Fail when any hop would use a public address.
    pub(crate) require_private: bool,
    /// Load mode: this many calls after the checks.
    pub(crate) repeat: Option<usize>,
    /// Load mode: this many at a time (at least 1).
    pub(crate) concurrency: usize,
}

fn skip_all(steps: &mut Vec<Step>, names: &[&'static str], why: &str) {
    steps.extend(names.iter().map(|name| Step::skip(name, None, why)));
}

/// Runs every step and returns the report.
pub(crate) async fn check(opts: &CheckOptions) -> Report {
    let mut steps = Vec::new();
    let started = Instant::now();
    let setup = match Setup::new(opts).await {
        Ok(s) => s,
        Err(e) => {
            steps.push(Step::failed("config", None, started, &e));
            skip_all(
                &mut steps,
                &["dns", "tcp", "tls", "identity", "bedrock"],
                "the configuration failed",
            );
            let path = opts
                .invoke
                .config
                .path
                .clone()
                .unwrap_or_else(|| DEFAULT_CONFIG.into());
            return Report::new(path, steps);
        }
    };
    steps.push(setup.step(started));
    let path = setup.plan.config.path.clone();
    match network::run(&setup, opts, &mut steps).await {
        Outcome::Reachable => {}
        Outcome::NotPrivate => {
            skip_all(
                &mut steps,
                &["tcp", "tls", "identity", "bedrock"],
                "a hop would use a public address (--require-private)",
            );
            return Report::new(path, steps);
        }
        Outcome::Unreachable => {
            skip_all(
                &mut steps,
                &["identity", "bedrock"],
                "a network step failed",
            );
            return Report::new(path, steps);
        }
    }
    if matches!(
        setup.plan.config.source,
        crate::config::CredentialSource::InstanceRole
    ) {
        let step = imds::run(&setup).await;
        let failed = step.status == report::Status::Fail;
        steps.push(step);
        if failed {
            skip_all(&mut steps, &["identity", "bedrock"], "IMDS failed");
            return Report::new(path, steps);
        }
    }
    let (identity, resolved) = identity::run(&setup).await;
    steps.push(identity);
    let Some(resolved) = resolved else {
        steps.push(Step::skip("bedrock", None, "no credentials"));
        return Report::new(path, steps);
    };
    let Some(model) = &setup.model else {
        steps.push(Step::skip("bedrock", None, "no model chosen (--model)"));
        return Report::new(path, steps);
    };
    steps.push(access::run(&setup, model, &resolved).await);
    let (calls, public) = if opts.no_invoke {
        (vec![Step::skip("bedrock", None, "--no-invoke")], Vec::new())
    } else {
        let mut calls = bedrock::run(&setup, model, &resolved, opts.compare_public).await;
        let public = calls.split_off(1);
        (calls, public)
    };
    steps.extend(calls);
    if let Some(n) = opts.repeat {
        steps.push(
            load::run(
                &setup,
                &model.id,
                resolved.provider.clone(),
                n,
                opts.concurrency,
            )
            .await,
        );
    }
    steps.extend(public);
    Report::new(path, steps)
}
