//! Validation: the decrypted values of a file turned into a typed
//! [`Config`], naming the file, line and key of anything wrong and never
//! showing a value, which may be secret.

use super::schema::{self, DEFAULT_SECTION, MODELS_SECTION};
use super::types::{
    AccessKeys, BedrockEndpoint, Config, ConfigPath, CredentialSource, EndpointUrl, Mode,
    ModelAlias, Region, RoleArn, RoleToAssume, SensitiveValue, is_mfa_arn,
};
use crate::config::document::shown_name;
use crate::error::{Error, Location, Result};
use crate::secret::Secret;
use std::path::PathBuf;

/// A decrypted value with where it came from.
#[derive(Debug, Clone)]
pub struct Value {
    /// One-based line number.
    pub line: usize,
    /// The key as written.
    pub key: String,
    /// The value; sensitive ones are only ever here, in a [`Secret`].
    pub value: Secret,
}

/// The decrypted values of a file, in document order, by section.
#[derive(Debug, Clone, Default)]
pub struct Values {
    /// The file, for messages.
    pub path: PathBuf,
    /// `[default]` entries.
    pub default: Vec<Value>,
    /// `[models]` entries.
    pub models: Vec<Value>,
}

impl Values {
    /// The non-empty value of `key` in `[default]`.
    fn get(&self, key: &str) -> Option<&Value> {
        self.default
            .iter()
            .find(|v| v.key.eq_ignore_ascii_case(key))
            .filter(|v| !v.value.is_empty())
    }

    fn text(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| v.value.expose().to_string())
    }

    fn secret(&self, key: &str) -> Option<Secret> {
        self.get(key).map(|v| v.value.clone())
    }

    fn at(&self, line: Option<usize>, key: &str) -> Location {
        Location {
            file: self.path.clone(),
            line,
            section: DEFAULT_SECTION.to_string(),
            key: Some(key.to_string()),
        }
    }

    fn invalid(&self, v: &Value, message: impl Into<String>) -> Error {
        Error::Invalid {
            at: self.at(Some(v.line), &shown_name(&v.key)),
            message: message.into(),
        }
    }

    /// The error for a value that does not have the form `expected`: it
    /// describes the value instead of showing it, because a value that does
    /// not fit is often two lines run together, a secret included.
    fn misfit(&self, v: &Value, expected: &str) -> Error {
        let value = v.value.expose();
        // A short plain word in a field that holds no secret is shown: it
        // cannot be two lines run together, nor an AWS key or secret.
        let plain = !schema::is_sensitive(&v.key)
            && (1..=12).contains(&value.chars().count())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if plain {
            return self.invalid(v, format!("{expected}, not '{value}'"));
        }
        self.invalid(v, format!("{expected}; {}", described(value)))
    }

    /// `key` parsed by `parse`, or the misfit error naming `expected`.
    fn parsed<T>(
        &self,
        key: &str,
        expected: &str,
        parse: impl FnOnce(&Value) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse(v).map(Some).ok_or_else(|| self.misfit(v, expected)),
        }
    }

    /// `key` as a secret that must satisfy `fits`.
    fn checked(&self, key: &str, expected: &str, fits: fn(&str) -> bool) -> Result<Option<Secret>> {
        self.parsed(key, expected, |v| {
            fits(v.value.expose()).then(|| v.value.clone())
        })
    }

    fn boolean(&self, key: &str) -> Result<bool> {
        self.parsed(
            key,
            "expected true or false (or yes/no, on/off, 1/0)",
            |v| schema::parse_bool(v.value.expose()),
        )
        .map(Option::unwrap_or_default)
    }

    fn endpoint(&self, key: &str) -> Result<Option<EndpointUrl>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => EndpointUrl::parse(v.value.clone())
                .map(Some)
                .map_err(|why| self.misfit(v, why)),
        }
    }

    /// The error for a field that `why` needs and the file lacks, at the
    /// field's line if it is there empty, else at the mode's line.
    fn missing(&self, key: &str, why: &str) -> Error {
        let line = self
            .default
            .iter()
            .find(|v| v.key.eq_ignore_ascii_case(key))
            .or_else(|| self.get("GetCredentialsFrom"))
            .map(|v| v.line);
        Error::Invalid {
            at: self.at(line, key),
            message: format!("missing; {why}"),
        }
    }

    fn warn(&self, warnings: &mut Vec<String>, text: String) {
        warnings.push(format!("{}: {text}", self.path.display()));
    }
}

#[cfg(test)]
impl Values {
    /// `[default]` holding `pairs` from line 2 on, in a file at `path`.
    pub(crate) fn of(path: &std::path::Path, pairs: &[(&str, &str)]) -> Values {
        Values {
            path: path.to_path_buf(),
            default: pairs
                .iter()
                .enumerate()
                .map(|(i, (k, v))| Value {
                    line: i + 2,
                    key: k.to_string(),
                    value: Secret::new(*v),
                })
                .collect(),
            models: vec![],
        }
    }
}

/// The result of validation: the configuration and what deserves a warning.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The configuration.
    pub config: Config,
    /// Things that work but are probably not what the user meant.
    pub warnings: Vec<String>,
}

/// Validates decrypted values into a [`Config`].
pub fn validate(values: &Values) -> Result<Validated> {
    let mut warnings = Vec::new();
    check_keys(values, &mut warnings)?;
    let vpc_endpoint = values.endpoint("VPCEndpointURL")?;
    let sts_endpoint = values.endpoint("STSEndpointURL")?;
    let control_endpoint = values.endpoint("ControlPlaneEndpointURL")?;
    let endpoints = vpc_endpoint
        .iter()
        .chain(&sts_endpoint)
        .chain(&control_endpoint)
        .cloned()
        .collect();
    let bedrock = match (values.boolean("UseVPCe")?, vpc_endpoint) {
        (true, Some(url)) => BedrockEndpoint::Vpc(url),
        (true, None) => {
            return Err(values.missing(
                "VPCEndpointURL",
                "UseVPCe = true needs the VPC endpoint URL",
            ));
        }
        (false, _) => BedrockEndpoint::Public,
    };
    let debug = values.boolean("Debug")?;
    let mode = mode(values)?;
    let region = values.parsed("Region", "expected a region such as us-west-2", |v| {
        Region::parse(v.value.expose())
    })?;
    let source = source(values, mode, &mut warnings)?;
    if let Some(region) = &region {
        for (key, url) in [
            ("VPCEndpointURL", &vpc_endpoint_of(&bedrock)),
            ("STSEndpointURL", &sts_endpoint),
            ("ControlPlaneEndpointURL", &control_endpoint),
        ] {
            if let Some(named) = url.as_ref().and_then(|u| u.vpce_region())
                && named != region.as_str()
            {
                let v = values.get(key).expect("an endpoint read from this key");
                return Err(values.invalid(v, super::types::region_mismatch(named, region)));
            }
        }
    }
    let config = Config {
        path: values.path.clone(),
        bedrock,
        source,
        region,
        sts_endpoint,
        control_endpoint,
        profile: values.text("Profile"),
        prompt_file: fallback_path(values, "PromptFilePath"),
        system_prompt_file: fallback_path(values, "SystemPromptFile"),
        user_query_file: fallback_path(values, "UserQueryFile"),
        ca_bundle: values
            .text("CABundle")
            .map(|p| ConfigPath::beside(&values.path, &p)),
        model_id: values.text("ModelID"),
        debug,
        models: models(values)?,
        sensitive: sensitive(values),
        endpoints,
    };
    Ok(Validated { config, warnings })
}

/// The VPC endpoint of a Bedrock endpoint choice, if it is one.
fn vpc_endpoint_of(bedrock: &BedrockEndpoint) -> Option<EndpointUrl> {
    match bedrock {
        BedrockEndpoint::Vpc(url) => Some(url.clone()),
        BedrockEndpoint::Public => None,
    }
}

/// Refuses template placeholders left in, all of them in one error (a
/// template just copied has several, and one per run would take as many
/// runs), and warns of unknown keys.
fn check_keys(values: &Values, warnings: &mut Vec<String>) -> Result<()> {
    let placeholders: Vec<&Value> = values
        .default
        .iter()
        .filter(|v| {
            let text = v.value.expose();
            text.starts_with('<') && text.ends_with('>')
        })
        .collect();
    if let Some(first) = placeholders.first() {
        let others: Vec<String> = placeholders[1..]
            .iter()
            .map(|v| format!("line {} {}", v.line, shown_name(&v.key)))
            .collect();
        let text = first.value.expose();
        return Err(values.invalid(
            first,
            format!(
                "template placeholder left in; replace the value in <angle brackets> ({} characters) with a real one{}",
                text.chars().count(),
                if others.is_empty() {
                    String::new()
                } else {
                    format!("; {} more: {}", others.len(), others.join(", "))
                }
            ),
        ));
    }
    for v in &values.default {
        if schema::canonical_key(&v.key).is_none() {
            warnings.push(format!(
                "{}:{}: [default] {}: unknown key, ignored{}",
                values.path.display(),
                v.line,
                shown_name(&v.key),
                schema::suggestion(&v.key)
            ));
        }
    }
    Ok(())
}

const MODES: &str =
    "expected 0 (instance-role), 1 (assume-role), 2 (access-keys) or 3 (default-chain)";

fn mode(values: &Values) -> Result<Mode> {
    values
        .parsed("GetCredentialsFrom", MODES, |v| {
            Mode::parse(v.value.expose())
        })?
        .ok_or_else(|| Error::Invalid {
            at: values.at(None, "GetCredentialsFrom"),
            message: format!("missing; {MODES}"),
        })
}

/// The credential source of `mode`, with the fields it needs; fields it
/// does not use are warned about.
fn source(values: &Values, mode: Mode, warnings: &mut Vec<String>) -> Result<CredentialSource> {
    let keys = access_keys(values)?;
    let role = role(values)?;
    let unused = |warnings: &mut Vec<String>, key: &str| {
        values.warn(
            warnings,
            format!("[default] {key} is set but GetCredentialsFrom = {mode}, so it is not used"),
        )
    };
    if keys.is_some() && mode != Mode::AccessKeys {
        unused(warnings, "AccessKey");
    }
    if role.is_some() && !matches!(mode, Mode::AssumeRole | Mode::AccessKeys) {
        unused(warnings, "AssumeRoleARN");
    }
    if role.is_none() {
        for key in [
            "ExternalId",
            "MFASerial",
            "SessionDuration",
            "RoleSessionName",
        ] {
            if values.get(key).is_some() {
                values.warn(
                    warnings,
                    format!("[default] {key} is set but no role is assumed (GetCredentialsFrom = {mode}), so it is not used"),
                );
            }
        }
    }
    Ok(match mode {
        Mode::InstanceRole => CredentialSource::InstanceRole,
        Mode::DefaultChain => CredentialSource::DefaultChain,
        Mode::AssumeRole => CredentialSource::AssumeRole(role.ok_or_else(|| {
            values.missing(
                "AssumeRoleARN",
                "GetCredentialsFrom = 1 (assume-role) needs the ARN of the role to assume",
            )
        })?),
        Mode::AccessKeys => {
            let keys = both_keys(values, keys)?;
            if role.is_none() {
                values.warn(
                    warnings,
                    "GetCredentialsFrom = 2 without AssumeRoleARN: the access keys will be used directly, not to assume a role".into(),
                );
            }
            CredentialSource::AccessKeys { keys, role }
        }
    })
}

/// `AccessKey` and `SecretKey` as the file has them, the key id checked.
fn access_keys(values: &Values) -> Result<Option<(Option<Secret>, Option<Secret>)>> {
    let id = values.checked(
        "AccessKey",
        "expected an access key id: 16 to 128 letters and digits, such as AKIA... or ASIA...",
        |k| (16..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric()),
    )?;
    let secret = values.secret("SecretKey");
    Ok((id.is_some() || secret.is_some()).then_some((id, secret)))
}

fn both_keys(
    values: &Values,
    keys: Option<(Option<Secret>, Option<Secret>)>,
) -> Result<AccessKeys> {
    const WHY: &str = "GetCredentialsFrom = 2 (access-keys) needs AccessKey and SecretKey";
    match keys {
        Some((Some(id), Some(secret))) => Ok(AccessKeys { id, secret }),
        Some((Some(_), None)) => Err(values.missing("SecretKey", WHY)),
        _ => Err(values.missing("AccessKey", WHY)),
    }
}

/// The role to assume, with the fields that shape the AssumeRole call.
fn role(values: &Values) -> Result<Option<RoleToAssume>> {
    let arn = values.parsed(
        "AssumeRoleARN",
        "expected a role ARN: arn:<partition>:iam::<12-digit account>:role/<path/name>",
        |v| RoleArn::parse(v.value.clone()),
    )?;
    let external_id = values.checked(
        "ExternalId",
        "expected 2 to 1224 characters: letters, digits and +=,.@:/_-",
        |e| {
            (2..=1224).contains(&e.len())
                && e.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(c))
        },
    )?;
    let mfa_serial = values.checked(
        "MFASerial",
        "expected an MFA device ARN (arn:aws:iam::<account>:mfa/<name>) or a hardware serial number",
        |m| {
            is_mfa_arn(m)
                || ((9..=256).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_alphanumeric()))
        },
    )?;
    let session_name = values.checked(
        "RoleSessionName",
        "expected 2 to 64 characters: letters, digits and +=,.@_-",
        |n| {
            (2..=64).contains(&n.len())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        },
    )?;
    let duration = values.parsed(
        "SessionDuration",
        "expected a number of seconds from 900 to 43200",
        |v| {
            v.value
                .expose()
                .parse::<u32>()
                .ok()
                .filter(|n| (900..=43200).contains(n))
        },
    )?;
    Ok(arn.map(|arn| RoleToAssume {
        arn,
        external_id,
        mfa_serial,
        session_name: session_name.map(|s| s.expose().to_string()),
        duration,
    }))
}

/// Whether `value` has the form the sensitive field `key` takes, by the
/// rules [`validate`] applies: the message (never showing the value) when
/// it has not. For asking a value again as soon as it is typed.
pub fn check_field(key: &str, value: &Secret) -> std::result::Result<(), String> {
    let values = Values {
        path: PathBuf::from("typed"),
        default: vec![Value {
            line: 1,
            key: key.to_string(),
            value: value.clone(),
        }],
        models: vec![],
    };
    let result = match key {
        "AccessKey" => access_keys(&values).map(|_| ()),
        "AssumeRoleARN" | "ExternalId" | "MFASerial" | "RoleSessionName" => {
            role(&values).map(|_| ())
        }
        "VPCEndpointURL" | "STSEndpointURL" | "ControlPlaneEndpointURL" => {
            values.endpoint(key).map(|_| ())
        }
        _ => Ok(()),
    };
    match result {
        Err(Error::Invalid { message, .. }) => Err(message),
        Err(e) => Err(e.to_string()),
        Ok(()) => Ok(()),
    }
}

fn fallback_path(values: &Values, key: &str) -> Option<ConfigPath> {
    values
        .text(key)
        .map(|p| ConfigPath::fallback(&values.path, &p))
}

fn models(values: &Values) -> Result<Vec<ModelAlias>> {
    values
        .models
        .iter()
        .map(|v| {
            if v.value.is_empty() {
                return Err(Error::Invalid {
                    at: Location {
                        file: values.path.clone(),
                        line: Some(v.line),
                        section: MODELS_SECTION.to_string(),
                        key: Some(shown_name(&v.key)),
                    },
                    message: "expected a model or inference-profile id after '='".into(),
                });
            }
            Ok(ModelAlias {
                alias: v.key.clone(),
                id: v.value.expose().to_string(),
            })
        })
        .collect()
}

/// Every non-empty sensitive value of `[default]`, used or not.
fn sensitive(values: &Values) -> Vec<SensitiveValue> {
    values
        .default
        .iter()
        .filter(|v| !v.value.is_empty())
        .filter_map(|v| {
            let field = schema::canonical_key(&v.key).filter(|k| schema::is_sensitive(k))?;
            Some(SensitiveValue {
                field,
                value: v.value.clone(),
            })
        })
        .collect()
}

/// A value described without being shown: its length, and where it holds
/// an `=` or white space, which in a value that does not fit usually means
/// two lines ran together. Messages use this in place of the value, which
/// may hold a secret (`Region = us-west-2SecretKey = ...`).
pub(crate) fn described(value: &str) -> String {
    let length = value.chars().count();
    if length == 0 {
        return "the value is empty".into();
    }
    let mut out = format!(
        "the value has {length} character{}",
        if length == 1 { "" } else { "s" }
    );
    let at = |wanted: fn(&char) -> bool| value.chars().position(|c| wanted(&c)).map(|i| i + 1);
    let equals = at(|c| *c == '=');
    let features: Vec<String> = [
        equals.map(|i| format!("'=' at character {i}")),
        at(char::is_ascii_whitespace).map(|i| format!("white space at character {i}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !features.is_empty() {
        out.push_str(&format!(" and contains {}", features.join(" and ")));
    }
    if equals.is_some() {
        out.push_str(": two lines may have run together; put each 'key = value' on its own line");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Values {
        Values::of(std::path::Path::new("c.properties"), pairs)
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        validate(&values(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn every_placeholder_left_in_is_named_at_once() {
        let e = error(&[
            ("GetCredentialsFrom", "2"),
            ("AccessKey", "<access-key>"),
            ("SecretKey", "<secret-key>"),
            ("Region", "us-west-2"),
            ("AssumeRoleARN", "<role-arn>"),
        ]);
        assert!(
            e.contains("[default] AccessKey: template placeholder left in"),
            "{e}"
        );
        assert!(
            e.contains("2 more: line 4 SecretKey, line 6 AssumeRoleARN"),
            "{e}"
        );
    }

    #[test]
    fn every_validation_error_names_line_and_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("GetCredentialsFrom", "7")],
                "c.properties:2: [default] GetCredentialsFrom: expected 0",
            ),
            (
                &[("GetCredentialsFrom", "0"), ("UseVPCe", "maybe")],
                ":3: [default] UseVPCe: expected true or false",
            ),
            (
                &[("GetCredentialsFrom", "0"), ("Region", "uswest")],
                ":3: [default] Region: expected a region",
            ),
            (
                &[
                    ("GetCredentialsFrom", "1"),
                    ("AssumeRoleARN", "arn:aws:iam::1:role/x"),
                ],
                ":3: [default] AssumeRoleARN: expected a role ARN",
            ),
            (
                &[
                    ("GetCredentialsFrom", "0"),
                    ("UseVPCe", "true"),
                    ("VPCEndpointURL", "http://vpce.example.com"),
                ],
                ":4: [default] VPCEndpointURL: expected https",
            ),
            (
                &[("GetCredentialsFrom", "0"), ("SessionDuration", "899")],
                ":3: [default] SessionDuration: expected a number of seconds from 900 to 43200",
            ),
            (
                &[("GetCredentialsFrom", "0"), ("SessionDuration", "43201")],
                "from 900 to 43200",
            ),
            (
                &[("UseVPCe", "<true/false>"), ("GetCredentialsFrom", "0")],
                ":2: [default] UseVPCe: template placeholder left in; replace the value in <angle brackets> (12 characters)",
            ),
            (
                &[
                    ("GetCredentialsFrom", "2"),
                    ("AccessKey", "AKIAIOSFODNN7EXAMPLE"),
                ],
                "[default] SecretKey: missing; GetCredentialsFrom = 2",
            ),
            (
                &[("GetCredentialsFrom", "2"), ("SecretKey", "s")],
                "[default] AccessKey: missing; GetCredentialsFrom = 2",
            ),
            (
                &[("GetCredentialsFrom", "1")],
                ":2: [default] AssumeRoleARN: missing; GetCredentialsFrom = 1",
            ),
            (
                &[("GetCredentialsFrom", "0"), ("UseVPCe", "true")],
                "[default] VPCEndpointURL: missing; UseVPCe = true",
            ),
            (
                &[("Region", "us-west-2")],
                "[default] GetCredentialsFrom: missing",
            ),
            (
                &[
                    ("GetCredentialsFrom", "2"),
                    ("AccessKey", "AKIA/bad"),
                    ("SecretKey", "s"),
                ],
                "AccessKey: expected an access key id",
            ),
        ];
        for (pairs, expected) in cases {
            let e = error(pairs);
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
        }
    }

    #[test]
    fn sensitive_placeholders_are_not_echoed() {
        let e = error(&[("GetCredentialsFrom", "2"), ("AccessKey", "<access-key>")]);
        assert!(
            e.contains("AccessKey: template placeholder left in;"),
            "{e}"
        );
        assert!(!e.contains("<access-key>"), "{e}");
    }

    #[test]
    fn values_that_do_not_fit_are_described_not_shown() {
        // Fixed bug: messages quoted the value, and a value that does not
        // fit is often two lines run together, a secret included.
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let merged = format!("us-west-2SecretKey = {secret}");
        let e = error(&[("GetCredentialsFrom", "0"), ("Region", &merged)]);
        assert!(
            e.contains(
                ":3: [default] Region: expected a region such as us-west-2; the value has 61 characters \
                 and contains '=' at character 20 and white space at character 19: two lines may have run together"
            ),
            "{e}"
        );
        assert!(!e.contains(secret) && !e.contains("us-west-2Secret"), "{e}");
        assert_eq!(described(""), "the value is empty");
        assert_eq!(described("maybe"), "the value has 5 characters");
        assert_eq!(
            described("a b"),
            "the value has 3 characters and contains white space at character 2"
        );
        // A short plain word where no secret goes is shown as typed.
        let e = error(&[("GetCredentialsFrom", "7")]);
        assert!(e.contains(", not '7'"), "{e}");
        let e = error(&[("GetCredentialsFrom", "0"), ("UseVPCe", "maybe")]);
        assert!(e.contains("not 'maybe'"), "{e}");
        // Not in a field that holds a secret.
        let e = error(&[("GetCredentialsFrom", "0"), ("ExternalId", "a")]);
        assert!(!e.contains("'a'"), "{e}");
    }

    #[test]
    fn unknown_keys_that_look_like_secrets_are_not_named() {
        // A Fernet key pasted on a line of its own reads as a key (it ends
        // in '='); the warning must not repeat it.
        let pasted = "c2VjcmV0LWtleS1mb3ItdGhlLXRlc3Qtb25seS0xMjM";
        let v = validate(&values(&[("GetCredentialsFrom", "0"), (pasted, "")])).unwrap();
        let all = v.warnings.join("\n");
        assert!(
            all.contains(":3: [default] (a name of 43 characters, not shown"),
            "{all}"
        );
        assert!(!all.contains(pasted), "{all}");
    }

    #[test]
    fn each_mode_selects_its_source_with_what_it_needs() {
        let arn = "arn:aws:iam::222222222222:role/Bedrock";
        let keys = [
            ("AccessKey", "AKIAIOSFODNN7EXAMPLE"),
            ("SecretKey", "s3cret"),
        ];
        let source = |pairs: &[(&str, &str)]| validate(&values(pairs)).unwrap();
        let v = source(&[("GetCredentialsFrom", "0")]);
        assert!(matches!(v.config.source, CredentialSource::InstanceRole));
        let v = source(&[
            ("GetCredentialsFrom", "1"),
            ("AssumeRoleARN", arn),
            ("ExternalId", "ext-1"),
            ("SessionDuration", "1800"),
        ]);
        let CredentialSource::AssumeRole(role) = &v.config.source else {
            panic!("{:?}", v.config.source)
        };
        assert_eq!(role.arn.secret().expose(), arn);
        assert_eq!(role.external_id.as_ref().unwrap().expose(), "ext-1");
        assert_eq!(
            (role.duration, role.mfa_serial.is_none()),
            (Some(1800), true)
        );
        let mut with_role = keys.to_vec();
        with_role.extend([("GetCredentialsFrom", "2"), ("AssumeRoleARN", arn)]);
        let v = source(&with_role);
        let CredentialSource::AccessKeys {
            keys: k,
            role: Some(r),
        } = &v.config.source
        else {
            panic!("{:?}", v.config.source)
        };
        assert_eq!(
            (k.id.expose(), k.secret.expose()),
            ("AKIAIOSFODNN7EXAMPLE", "s3cret")
        );
        assert_eq!(r.arn.secret().expose(), arn);
        assert!(v.warnings.is_empty(), "{:?}", v.warnings);
        let v = source(&[("GetCredentialsFrom", "default-chain"), ("Profile", "team")]);
        assert!(matches!(v.config.source, CredentialSource::DefaultChain));
        assert_eq!(v.config.profile.as_deref(), Some("team"));
    }

    #[test]
    fn fields_a_mode_does_not_use_are_warned_about() {
        let v = validate(&values(&[
            ("GetCredentialsFrom", "0"),
            ("AccessKey", "AKIAIOSFODNN7EXAMPLE"),
            ("AssumeRoleARN", "arn:aws:iam::222222222222:role/Bedrock"),
            ("ExternalId", "ext-1"),
        ]))
        .unwrap();
        assert!(matches!(v.config.source, CredentialSource::InstanceRole));
        let all = v.warnings.join("\n");
        for key in ["AccessKey", "AssumeRoleARN"] {
            assert!(
                all.contains(&format!("[default] {key} is set but GetCredentialsFrom = 0 (instance-role), so it is not used")),
                "{all}"
            );
        }
        // The role is not assumed, so its external id goes with it unused:
        // not warned twice, once for the role.
        assert!(!all.contains("ExternalId"), "{all}");
        let v = validate(&values(&[
            ("GetCredentialsFrom", "1"),
            ("AssumeRoleARN", "arn:aws:iam::222222222222:role/B"),
            ("SecretKey", "x"),
        ]))
        .unwrap();
        assert!(matches!(v.config.source, CredentialSource::AssumeRole(_)));
        // Every sensitive value is kept for redaction, used or not.
        assert!(v.config.sensitive("SecretKey").is_some());
    }

    #[test]
    fn mode_2_without_role_warns_and_unknown_keys_are_named() {
        let v = validate(&values(&[
            ("GetCredentialsFrom", "access-keys"),
            ("AccessKey", "AKIAIOSFODNN7EXAMPLE"),
            ("SecretKey", "secret"),
            ("UseVPC", "true"),
        ]))
        .unwrap();
        assert!(
            matches!(
                &v.config.source,
                CredentialSource::AccessKeys { keys, role: None } if keys.id.expose() == "AKIAIOSFODNN7EXAMPLE"
            ),
            "{:?}",
            v.config.source
        );
        assert!(
            v.warnings.iter().any(|w| w.contains("used directly")),
            "{:?}",
            v.warnings
        );
        assert!(
            v.warnings
                .iter()
                .any(|w| w.contains("UseVPC: unknown key, ignored (did you mean UseVPCe?)")),
            "{:?}",
            v.warnings
        );
    }
}
