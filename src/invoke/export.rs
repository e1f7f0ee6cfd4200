//! Credentials for other tools, as aws-vault and granted hand them out:
//! `invoke credentials` (the AWS CLI's `credential_process` JSON),
//! `invoke env` (`export` lines) and `invoke exec -- CMD` (a command run
//! with them in its environment). The credentials are the ones `invoke`
//! itself would call Bedrock with, through the same encrypted cache, so the
//! AWS CLI, boto3 and any SDK can use the cross-account session; `env` and
//! `exec` add the endpoints and CA bundle of the config, so they take the
//! same path. Secrets go to standard output only when it is not a terminal,
//! and never onto a command line.

use super::{Options, Terminal, cache_for, load, warn_all};
use crate::aws::credentials::{self, RunTime};
use crate::aws::diagnose;
use crate::aws::plan::Plan;
use crate::error::{Error, ExitCode, Result};
use crate::secret::Secret;
use aws_credential_types::provider::ProvideCredentials;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::time::SystemTime;

/// What to hand the credentials to.
#[derive(Debug, Clone)]
pub(crate) enum Export {
    /// `credential_process` JSON on standard output.
    Process,
    /// `export NAME='value'` lines on standard output.
    Env,
    /// A command, run with them in its environment.
    Exec(Vec<OsString>),
}

/// Temporary or long-term credentials, every part a secret.
struct Handed {
    key_id: Secret,
    secret: Secret,
    token: Option<Secret>,
    expiry: Option<SystemTime>,
}

/// Resolves the config's credentials and hands them over as `export` says;
/// for `exec`, the command's own exit code is returned.
pub(crate) async fn run(opts: &Options, export: Export) -> Result<ExitCode> {
    let to_stdout = !matches!(export, Export::Exec(_));
    if to_stdout && std::io::stdout().is_terminal() {
        return Err(Error::Usage(format!(
            "invoke {}: standard output is a terminal, and these are secrets: give it to a program instead \
             (credential_process in an AWS profile, `eval \"$(invoke env)\"`), or use `invoke exec -- COMMAND`",
            if matches!(export, Export::Process) {
                "credentials"
            } else {
                "env"
            }
        )));
    }
    let mut terminal = Terminal;
    let loaded = load(&opts.config, &mut terminal)?;
    warn_all(&loaded.warnings);
    let plan = Plan::new(loaded.config, opts.aws.clone()).await?;
    warn_all(&plan.warnings);
    let runtime = RunTime {
        interactive: Terminal::is_interactive(),
        cache: cache_for(loaded.key, plan.options.cache_dir.clone()),
    };
    let mut ctx = plan.context(None);
    let resolved = credentials::resolve(&plan, &runtime, &mut ctx).await?;
    let creds = resolved
        .provider
        .provide_credentials()
        .await
        .map_err(|e| diagnose::credentials_error(crate::error::Hop::Sts, &e, &ctx))?;
    let handed = Handed {
        key_id: Secret::new(creds.access_key_id()),
        secret: Secret::new(creds.secret_access_key()),
        token: creds.session_token().map(Secret::new),
        expiry: creds.expiry(),
    };
    match export {
        Export::Process => {
            println!("{}", process_json(&handed));
            Ok(ExitCode::Ok)
        }
        Export::Env => {
            for (name, value) in variables(&plan, &handed) {
                match value {
                    Some(v) => println!("export {name}={}", shell_quote(v.expose())),
                    None => println!("unset {name}"),
                }
            }
            Ok(ExitCode::Ok)
        }
        Export::Exec(command) => exec(&command, &variables(&plan, &handed)),
    }
}

/// `invoke cache list|clear`. The folder is the run's (`--no-cache` has
/// none); entries are told apart with the config's key when a config is
/// found (`--config`, else `./config.properties`), listed without it.
pub(crate) fn cache(opts: &Options, action: super::cli::CacheAction) -> Result<ExitCode> {
    use crate::aws::credentials::cache::CredentialCache;
    let Some(dir) = opts.aws.cache_dir.clone() else {
        return Err(Error::Usage(
            "invoke cache: no cache folder (--no-cache, or no HOME, XDG_CACHE_HOME or BEDROCK_PRIVATE_CACHE_DIR)".into(),
        ));
    };
    let wanted = opts.config.path.is_some()
        || std::path::Path::new(super::DEFAULT_CONFIG).exists()
        || super::user_config().is_some_and(|p| p.exists());
    let key = if wanted {
        load(&opts.config, &mut Terminal)?.key
    } else {
        None
    };
    let cache = CredentialCache::new(
        dir.clone(),
        key.unwrap_or_else(crate::config::crypto::ConfigKey::generate),
    );
    match action {
        super::cli::CacheAction::Clear => {
            let n = cache.clear();
            println!("removed {n} cached session(s) from {}", dir.display());
        }
        super::cli::CacheAction::List => {
            let entries = cache.entries();
            println!(
                "{} ({} entr{})",
                dir.display(),
                entries.len(),
                if entries.len() == 1 { "y" } else { "ies" }
            );
            let now = SystemTime::now();
            for e in entries {
                let name = e
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let written = std::fs::metadata(&e.path)
                    .and_then(|m| m.modified())
                    .map(crate::output::iso_time)
                    .unwrap_or_else(|_| "?".into());
                let what = match e.session {
                    Some((expires, key)) if expires > now => format!(
                        "this config's: key {key}, expires {}",
                        crate::output::iso_time(expires)
                    ),
                    Some((_, key)) => format!("this config's: key {key}, expired"),
                    None => "another config's (or unreadable)".into(),
                };
                println!("  {name}  written {written}  {what}");
            }
        }
    }
    Ok(ExitCode::Ok)
}

/// The `credential_process` output, version 1.
fn process_json(h: &Handed) -> String {
    let mut v = serde_json::json!({
        "Version": 1,
        "AccessKeyId": h.key_id.expose(),
        "SecretAccessKey": h.secret.expose(),
    });
    if let Some(t) = &h.token {
        v["SessionToken"] = t.expose().into();
    }
    if let Some(e) = h.expiry {
        v["Expiration"] = aws_smithy_types::DateTime::from(e)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default()
            .into();
    }
    v.to_string()
}

/// The environment another AWS tool needs to take the same path: the
/// credentials, the region, the endpoints of the config and its CA bundle.
/// `None` unsets: a profile or stray token left in the environment would
/// otherwise mix with these.
fn variables(plan: &Plan, h: &Handed) -> Vec<(&'static str, Option<Secret>)> {
    let region = plan.region.to_string();
    let mut vars = vec![
        ("AWS_ACCESS_KEY_ID", Some(h.key_id.clone())),
        ("AWS_SECRET_ACCESS_KEY", Some(h.secret.clone())),
        ("AWS_SESSION_TOKEN", h.token.clone()),
        ("AWS_PROFILE", None),
        ("AWS_REGION", Some(Secret::new(region.as_str()))),
        ("AWS_DEFAULT_REGION", Some(Secret::new(region.as_str()))),
        (
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            Some(plan.bedrock.url.secret().clone()),
        ),
        ("AWS_ENDPOINT_URL_STS", Some(plan.sts.url.secret().clone())),
    ];
    if let Some(ca) = &plan.ca_bundle {
        vars.push(("AWS_CA_BUNDLE", Some(Secret::new(ca.display().to_string()))));
    }
    vars
}

/// `value` in single quotes for a POSIX shell.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Runs `command` with `vars` set (and unset), waiting for it; its exit
/// code, or 128 and the signal that ended it, is ours.
fn exec(command: &[OsString], vars: &[(&str, Option<Secret>)]) -> Result<ExitCode> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Error::Usage("invoke exec: expected a command after --".into()))?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    for (name, value) in vars {
        match value {
            Some(v) => cmd.env(name, v.expose()),
            None => cmd.env_remove(name),
        };
    }
    let status = cmd.status().map_err(|e| {
        Error::Usage(format!(
            "invoke exec: cannot run {}: {e}",
            program.to_string_lossy()
        ))
    })?;
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255);
    Ok(ExitCode::Child(u8::try_from(code).unwrap_or(255)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("a/b+c"), "'a/b+c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn process_json_is_version_1_with_an_iso_expiry() {
        let h = Handed {
            key_id: Secret::new("ASIAEXAMPLE"),
            secret: Secret::new("s"),
            token: Some(Secret::new("t")),
            expiry: Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)),
        };
        let v: serde_json::Value = serde_json::from_str(&process_json(&h)).unwrap();
        assert_eq!(v["Version"], 1);
        assert_eq!(v["SessionToken"], "t");
        assert_eq!(v["Expiration"], "2023-11-14T22:13:20Z");
        let long_term = Handed {
            token: None,
            expiry: None,
            ..h
        };
        let v: serde_json::Value = serde_json::from_str(&process_json(&long_term)).unwrap();
        assert!(v.get("SessionToken").is_none() && v.get("Expiration").is_none());
    }
}
