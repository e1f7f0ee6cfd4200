//! The configuration step of `invoke check`: the config read and verified,
//! the plan made (region, endpoints, redaction), the model chosen, and the
//! hosts the later steps will test.

use super::CheckOptions;
use super::network::Target;
use super::report::{Status, Step};
use crate::aws::plan::{Origin, Plan};
use crate::config::BedrockEndpoint;
use crate::error::{Hop, Result};
use crate::invoke::model_choice::{self, ModelChoice};
use crate::prompt::Terminal;
use serde_json::json;
use std::time::Instant;

/// What the configuration step learned, for the steps after it.
pub(crate) struct Setup {
    pub(crate) plan: Plan,
    pub(crate) model: Option<ModelChoice>,
    pub(crate) targets: Vec<Target>,
    /// The extra CA bundle's PEM, for the TLS step.
    pub(crate) bundle: Option<Vec<u8>>,
    format: &'static str,
    integrity: String,
    warnings: Vec<String>,
}

impl Setup {
    /// Reads the config and makes the plan. With `--no-invoke` no model is
    /// needed, so none is asked for on a terminal.
    pub(crate) async fn new(opts: &CheckOptions) -> Result<Setup> {
        let loaded = crate::invoke::load(&opts.invoke.config, &mut Terminal)?;
        let plan = Plan::new(loaded.config, opts.invoke.aws.clone()).await?;
        let ask = Terminal::is_interactive() && !opts.no_invoke;
        let model = match model_choice::choose(
            opts.invoke.model.as_deref(),
            &plan.config,
            ask,
            &mut Terminal,
        ) {
            Ok(m) => Some(m),
            Err(_) if opts.no_invoke => None,
            Err(e) => return Err(e),
        };
        let bundle = plan
            .ca_bundle
            .as_deref()
            .map(crate::aws::transport::read_bundle)
            .transpose()?;
        // STS is a hop only when the call makes it: a role to assume.
        let mut targets = vec![Target::new("bedrock", Hop::Bedrock, &plan.bedrock.url)];
        if plan.config.source.role().is_some() {
            targets.push(Target::new("sts", Hop::Sts, &plan.sts.url));
        }
        let mut warnings = loaded.warnings;
        warnings.extend(plan.warnings.iter().cloned());
        Ok(Setup {
            plan,
            model,
            targets,
            bundle,
            format: loaded.format,
            integrity: loaded.integrity,
            warnings,
        })
    }

    /// Whether the path is meant to be private: a VPC endpoint in use or asked for.
    pub(crate) fn private_path(&self) -> bool {
        self.plan.bedrock.origin == Origin::Vpc
            || matches!(self.plan.config.bedrock, BedrockEndpoint::Vpc(_))
    }

    /// The configuration step's line.
    pub(crate) fn step(&self, started: Instant) -> Step {
        let plan = &self.plan;
        let credentials = crate::aws::credentials::describe(&plan.config.source, plan.profile());
        let summary = format!(
            "{}; {credentials}; region {}; {}{}",
            self.integrity,
            plan.region,
            plan.bedrock,
            self.model
                .as_ref()
                .map(|m| format!("; model {m}"))
                .unwrap_or_default()
        );
        let mut step = Step::new("config", None, Status::Pass, started, summary);
        step.details = json!({
            "format": self.format,
            "credentials": credentials,
            "region": plan.region.to_string(),
            "endpoint": {"kind": plan.bedrock.origin.word(), "url": plan.bedrock.url.shown()},
            "sts": {"kind": plan.sts.origin.word(), "url": plan.sts.url.shown()},
            "model": self.model.as_ref().map(|m| m.id.clone()),
        });
        if !self.warnings.is_empty() {
            step.status = Status::Warn;
            step.hint = Some(self.warnings.join("; "));
        }
        step
    }
}
