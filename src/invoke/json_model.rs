//! What `invoke embed` and `invoke image` share: the config and its plan,
//! the model `--model` names (an alias resolved) or the command's default,
//! and InvokeModel calls with a JSON body whose JSON reply each command
//! reads in its model family's shape.

use super::{Options, Terminal, cache_for, load, model_choice, warn_all};
use crate::aws::credentials::{self, RunTime};
use crate::aws::diagnose::{self, Context};
use crate::aws::plan::{BedrockAuth, Plan};
use crate::config::crypto::ConfigKey;
use crate::error::{Hop, Result};
use aws_sdk_bedrockruntime::primitives::Blob;
use serde_json::Value;

/// The config read, its plan, and the model to call.
pub(crate) struct Planned {
    pub(crate) plan: Plan,
    pub(crate) model: String,
    key: Option<ConfigKey>,
}

/// Reads the config and makes the plan; the model is `--model` (an alias
/// of `[models]` or an id) or `default`. Sends nothing.
pub(crate) async fn plan(opts: &Options, default: &str) -> Result<Planned> {
    let loaded = load(&opts.config, &mut Terminal)?;
    warn_all(&loaded.warnings);
    let plan = Plan::new(loaded.config, opts.aws.clone()).await?;
    warn_all(&plan.warnings);
    let model = match opts.model.as_deref() {
        Some(name) => model_choice::lookup(name, &plan.config.models)
            .map(|m| m.id)
            .unwrap_or_else(|| name.to_string()),
        None => default.to_string(),
    };
    Ok(Planned {
        plan,
        model,
        key: loaded.key,
    })
}

/// A Bedrock client with the config's credentials, for one model.
pub(crate) struct Caller {
    client: aws_sdk_bedrockruntime::Client,
    model: String,
    ctx: Context,
}

impl Planned {
    /// Resolves the credentials (the cache, else the source and STS) and
    /// builds the client.
    pub(crate) async fn connect(&self) -> Result<Caller> {
        let plan = &self.plan;
        let runtime = RunTime {
            interactive: Terminal::is_interactive(),
            cache: cache_for(self.key.clone(), plan.options.cache_dir.clone()),
        };
        let mut ctx = plan.context(Some(&self.model));
        let resolved = credentials::resolve(plan, &runtime, &mut ctx).await?;
        crate::output::note("model", &format!("{} via InvokeModel", self.model));
        let client = plan.bedrock_client(&plan.bedrock, BedrockAuth::SigV4(resolved.provider));
        Ok(Caller {
            client,
            model: self.model.clone(),
            ctx,
        })
    }
}

impl Caller {
    /// InvokeModel with `body`; the reply as JSON (null when it is not).
    pub(crate) async fn call(&self, body: &Value) -> Result<Value> {
        let out = self
            .client
            .invoke_model()
            .model_id(&self.model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body.to_string()))
            .send()
            .await
            .map_err(|err| diagnose::sdk_error(Hop::Bedrock, &err, &self.ctx))?;
        Ok(serde_json::from_slice(out.body().as_ref()).unwrap_or_default())
    }
}
