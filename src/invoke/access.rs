//! Model access, from the Bedrock control plane (`invoke models
//! --available`, and the "model access" step of `invoke check`): which
//! models the account may call in the region, which only through an
//! inference profile, and which profiles exist. Through the config's
//! credentials and `ControlPlaneEndpointURL` (a `bedrock` VPC endpoint),
//! else the AWS settings' endpoint, else the public one.

use super::{Options, Terminal, cache_for, load, warn_all};
use crate::aws::credentials::{self, RunTime};
use crate::aws::diagnose::{self, Context};
use crate::aws::plan::{Auth, Plan};
use crate::aws::signed::Signed;
use crate::error::{Error, ExitCode, Hop, Result};
use crate::output::{self, Format};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many availability questions are in flight at once.
const CONCURRENCY: usize = 8;

/// One model of the region, and whether this account and caller may use it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ModelAccess {
    pub(crate) model_id: String,
    pub(crate) provider: String,
    pub(crate) name: String,
    /// Whether a call would be allowed: authorized, entitled, in the region.
    pub(crate) access: bool,
    /// Why not, in words, when not.
    pub(crate) reason: Option<String>,
    /// Whether the base id may be called (on-demand throughput).
    pub(crate) on_demand: bool,
    /// The system-defined inference profiles that route to it here.
    pub(crate) profiles: Vec<String>,
    /// The config's aliases that name it (or a profile of it).
    pub(crate) aliases: Vec<String>,
}

/// An inference profile of the region.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Profile {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) kind: String,
    /// The foundation models it routes to (their ARNs).
    pub(crate) models: Vec<String>,
}

// The control plane's answers, as far as the tool reads them (botocore's
// `bedrock` service model, REST-JSON: members in camelCase). A member
// that is absent reads as empty, as the SDK's deserialisers default it,
// so one odd record does not fail the whole listing.

/// ListFoundationModels' answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FoundationModels {
    #[serde(default)]
    model_summaries: Vec<ModelSummary>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelSummary {
    model_id: String,
    #[serde(default)]
    provider_name: Option<String>,
    #[serde(default)]
    model_name: Option<String>,
    #[serde(default)]
    inference_types_supported: Vec<String>,
}

/// ListInferenceProfiles' answer, one page.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InferenceProfiles {
    #[serde(default)]
    inference_profile_summaries: Vec<ProfileSummary>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileSummary {
    inference_profile_id: String,
    #[serde(default)]
    inference_profile_name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    r#type: String,
    #[serde(default)]
    models: Vec<ProfileModel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileModel {
    #[serde(default)]
    model_arn: Option<String>,
}

/// GetFoundationModelAvailability's answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Availability {
    #[serde(default)]
    authorization_status: String,
    #[serde(default)]
    entitlement_availability: String,
    #[serde(default)]
    region_availability: String,
    #[serde(default)]
    agreement_availability: Option<Agreement>,
}

#[derive(Deserialize)]
struct Agreement {
    #[serde(default)]
    status: String,
}

/// Whether one model may be called, from GetFoundationModelAvailability:
/// `None` when it may, else why not.
pub(crate) async fn availability(
    client: &Signed,
    model: &str,
    ctx: &Context,
) -> Result<Option<String>> {
    let out: Availability = client
        .get(&format!(
            "/foundation-model-availability/{}",
            crate::aws::signed::label(model)
        ))
        .await
        .map_err(|e| diagnose::signed_failure(Hop::Control, &e, ctx))?;
    let entitled = out.entitlement_availability == "AVAILABLE";
    let mut why = Vec::new();
    if out.authorization_status != "AUTHORIZED" {
        why.push("the caller's policies do not allow invoking it");
    }
    if !entitled {
        why.push("the account has no model access to it (grant it under Model access in the Bedrock console)");
    }
    if let Some(agreement) = &out.agreement_availability
        && agreement.status != "AVAILABLE"
        && entitled
    {
        why.push("its end-user licence agreement is not accepted");
    }
    if out.region_availability != "AVAILABLE" {
        why.push("it is not offered in this region");
    }
    Ok((!why.is_empty()).then(|| why.join("; ")))
}

/// Every inference profile of the region, page by page.
async fn profiles(client: &Signed, ctx: &Context) -> Result<Vec<Profile>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    loop {
        let path = match token.take() {
            Some(t) => format!(
                "/inference-profiles?nextToken={}",
                crate::aws::signed::label(&t)
            ),
            None => "/inference-profiles".to_string(),
        };
        let page: InferenceProfiles = client
            .get(&path)
            .await
            .map_err(|e| diagnose::signed_failure(Hop::Control, &e, ctx))?;
        for p in page.inference_profile_summaries {
            out.push(Profile {
                id: p.inference_profile_id,
                name: p.inference_profile_name,
                status: p.status,
                kind: p.r#type,
                models: p.models.into_iter().filter_map(|m| m.model_arn).collect(),
            });
        }
        // A token met before would page for ever.
        match page.next_token {
            Some(t) if !t.is_empty() && seen.insert(t.clone()) => token = Some(t),
            _ => return Ok(out),
        }
    }
}

/// The base model id an ARN or id names.
fn base_of(arn_or_id: &str) -> &str {
    arn_or_id.rsplit('/').next().unwrap_or(arn_or_id)
}

/// Everything `models --available` shows.
pub(crate) async fn survey(
    plan: &Plan,
    client: &Signed,
    ctx: &Context,
) -> Result<(Vec<ModelAccess>, Vec<Profile>)> {
    let listed: FoundationModels = client
        .get("/foundation-models")
        .await
        .map_err(|e| diagnose::signed_failure(Hop::Control, &e, ctx))?;
    let profiles = profiles(client, ctx).await?;
    let mut by_model: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &profiles {
        for arn in &p.models {
            let ids = by_model.entry(base_of(arn).to_string()).or_default();
            if !ids.contains(&p.id) {
                ids.push(p.id.clone());
            }
        }
    }
    let summaries = listed.model_summaries;
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, s) in summaries.iter().enumerate() {
        let (client, ctx, id) = (client.clone(), ctx.clone(), s.model_id.clone());
        let semaphore = semaphore.clone();
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (i, availability(&client, &id, &ctx).await)
        });
    }
    let mut reasons = vec![None; summaries.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, result) =
            done.map_err(|e| Error::Usage(format!("a model access check failed: {e}")))?;
        reasons[i] = Some(result?);
    }
    let models = summaries
        .iter()
        .zip(reasons)
        .map(|(s, reason)| {
            let id = s.model_id.clone();
            let reason = reason.flatten();
            let profile_ids = by_model.get(&id).cloned().unwrap_or_default();
            let aliases = plan
                .config
                .models
                .iter()
                .filter(|a| {
                    super::families::base_model_id(&a.id) == id
                        || profile_ids.iter().any(|p| p == &a.id)
                })
                .map(|a| a.alias.clone())
                .collect();
            ModelAccess {
                provider: s.provider_name.clone().unwrap_or_default(),
                name: s.model_name.clone().unwrap_or_default(),
                access: reason.is_none(),
                reason,
                on_demand: s.inference_types_supported.iter().any(|t| t == "ON_DEMAND"),
                profiles: profile_ids,
                aliases,
                model_id: id,
            }
        })
        .collect();
    Ok((models, profiles))
}

/// How a model is called: its id on demand, else its profiles.
fn call_as(m: &ModelAccess) -> String {
    if m.on_demand {
        "on demand".into()
    } else if m.profiles.is_empty() {
        "a profile (none in this region)".into()
    } else {
        m.profiles.join(", ")
    }
}

/// Runs `invoke models --available`.
pub(crate) async fn run(opts: &Options) -> Result<ExitCode> {
    let loaded = load(&opts.config, &mut Terminal)?;
    warn_all(&loaded.warnings);
    let plan = Plan::new(loaded.config, opts.aws.clone()).await?;
    warn_all(&plan.warnings);
    if let Auth::Bearer(_) = plan.options.auth {
        return Err(Error::Usage(
            "--auth bearer: a Bedrock API key reaches the runtime only; model access needs the config's credentials (SigV4)"
                .into(),
        ));
    }
    let runtime = RunTime {
        interactive: Terminal::is_interactive(),
        cache: cache_for(loaded.key, plan.options.cache_dir.clone()),
    };
    let mut ctx = plan.context(None);
    let resolved = credentials::resolve(&plan, &runtime, &mut ctx).await?;
    let control = plan.control().await?;
    ctx.host = Some(control.url.shown_host().to_string());
    ctx.endpoint = Some(format!("the {control}"));
    output::note("control", &control.to_string());
    let client = plan.signed(&control, resolved.provider);
    let (models, profiles) = survey(&plan, &client, &ctx).await?;
    if opts.format == Format::Json {
        output::print_json(&serde_json::json!({
            "schema": output::SCHEMA,
            "region": plan.region.to_string(),
            "models": models,
            "profiles": profiles,
        }));
        return Ok(ExitCode::Ok);
    }
    print_table(&models, &profiles);
    for alias in &plan.config.models {
        let base = super::families::base_model_id(&alias.id);
        match models.iter().find(|m| m.model_id == base) {
            None => eprintln!(
                "warning: [models] {} = {}: not a foundation model of {}",
                alias.alias, alias.id, plan.region
            ),
            Some(m) if !m.access => eprintln!(
                "warning: [models] {} = {}: no access: {}",
                alias.alias,
                alias.id,
                m.reason.as_deref().unwrap_or_default()
            ),
            Some(m) if !m.on_demand && alias.id == base => eprintln!(
                "warning: [models] {} = {}: served only through an inference profile: use {}",
                alias.alias,
                alias.id,
                call_as(m)
            ),
            Some(_) => {}
        }
    }
    Ok(ExitCode::Ok)
}

fn print_table(models: &[ModelAccess], profiles: &[Profile]) {
    let width = |f: &dyn Fn(&ModelAccess) -> usize, title: usize| {
        models.iter().map(f).max().unwrap_or(0).max(title)
    };
    let w_id = width(&|m| m.model_id.len(), 5);
    let w_provider = width(&|m| m.provider.len(), 8);
    let access = |m: &ModelAccess| if m.access { "yes" } else { "no" };
    println!(
        "{:<w_id$}  {:<w_provider$}  {:<6}  CALL AS / WHY NOT",
        "MODEL", "PROVIDER", "ACCESS"
    );
    for m in models {
        let mut tail = match &m.reason {
            Some(why) => why.clone(),
            None => call_as(m),
        };
        if !m.aliases.is_empty() {
            tail += &format!("  [{}]", m.aliases.join(", "));
        }
        println!(
            "{:<w_id$}  {:<w_provider$}  {:<6}  {tail}",
            m.model_id,
            m.provider,
            access(m)
        );
    }
    let usable = models.iter().filter(|m| m.access).count();
    println!();
    println!(
        "{usable} of {} models usable; {} inference profiles:",
        models.len(),
        profiles.len()
    );
    for p in profiles {
        println!("  {}  ({}, {}, {})", p.id, p.name, p.kind, p.status);
    }
}
