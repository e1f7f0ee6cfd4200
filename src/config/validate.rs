//! The typed configuration: every key of the properties file, validated.
//!
//! Values arrive here already decrypted (see [`crate::open`]); this module
//! turns them into typed values and checks that they fit together, naming the
//! file, line and key of anything wrong and never showing a sensitive value.

use crate::config::document::shown_name;
use crate::error::{Error, Location, Result};
use crate::secret::Secret;
use std::fmt;
use std::path::{Path, PathBuf};

/// The section with the tool's settings.
pub const DEFAULT_SECTION: &str = "default";
/// The section with model aliases.
pub const MODELS_SECTION: &str = "models";

/// The fields stored encrypted, in the order they are asked for.
pub const SENSITIVE_FIELDS: [&str; 7] = [
    "AccessKey",
    "SecretKey",
    "AssumeRoleARN",
    "ExternalId",
    "MFASerial",
    "VPCEndpointURL",
    "STSEndpointURL",
];

/// Every key the `[default]` section knows, with its canonical spelling.
pub const KNOWN_KEYS: [&str; 20] = [
    "UseVPCe",
    "GetCredentialsFrom",
    "Region",
    "AccessKey",
    "SecretKey",
    "AssumeRoleARN",
    "VPCEndpointURL",
    "PromptFilePath",
    "Debug",
    "ModelID",
    "ExternalId",
    "RoleSessionName",
    "SessionDuration",
    "MFASerial",
    "STSEndpointURL",
    "SystemPromptFile",
    "UserQueryFile",
    "CABundle",
    "Profile",
    "SecretKeyFernet",
];

/// Whether `key` names a field that is stored encrypted.
pub fn is_sensitive(key: &str) -> bool {
    SENSITIVE_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(key))
}

/// The canonical spelling of a known `[default]` key.
pub fn canonical_key(key: &str) -> Option<&'static str> {
    KNOWN_KEYS
        .iter()
        .copied()
        .find(|k| k.eq_ignore_ascii_case(key))
}

/// Where the credentials come from (`GetCredentialsFrom`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// 0: the EC2 / Cloud9 instance role through IMDSv2.
    InstanceRole,
    /// 1: sts:AssumeRole with the ambient credentials.
    AssumeRole,
    /// 2: IAM access keys, used to sts:AssumeRole (or directly without a role).
    AccessKeys,
    /// 3: the standard AWS chain (environment, profile, SSO).
    DefaultChain,
}

impl CredentialSource {
    /// Parses `0`..`3` or the words for them.
    pub fn parse(value: &str) -> Option<CredentialSource> {
        Some(match value.trim().to_ascii_lowercase().as_str() {
            "0" | "instance-role" => CredentialSource::InstanceRole,
            "1" | "assume-role" => CredentialSource::AssumeRole,
            "2" | "access-keys" => CredentialSource::AccessKeys,
            "3" | "default-chain" => CredentialSource::DefaultChain,
            _ => return None,
        })
    }

    /// The number the workshop format uses.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The word for this source.
    pub fn word(self) -> &'static str {
        match self {
            CredentialSource::InstanceRole => "instance-role",
            CredentialSource::AssumeRole => "assume-role",
            CredentialSource::AccessKeys => "access-keys",
            CredentialSource::DefaultChain => "default-chain",
        }
    }
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.number(), self.word())
    }
}

/// An AWS region name such as `us-west-2` or `us-gov-west-1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region(String);

impl Region {
    /// Checks the shape `<area>-<direction>-<number>`, with an optional
    /// partition part (`us-gov-west-1`, `us-isob-east-1`).
    pub fn parse(value: &str) -> Option<Region> {
        let parts: Vec<&str> = value.split('-').collect();
        let letters = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
        let ok = (3..=4).contains(&parts.len())
            && parts[0].len() == 2
            && letters(parts[0])
            && parts[1..parts.len() - 1].iter().all(|p| letters(p))
            && parts[parts.len() - 1].parse::<u8>().is_ok();
        ok.then(|| Region(value.to_string()))
    }

    /// The region name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IAM role ARN, `arn:<partition>:iam::<12 digits>:role/<path/name>`.
/// Secret: it names an account and a role.
#[derive(Debug, Clone)]
pub struct RoleArn(Secret);

impl RoleArn {
    /// Checks the shape.
    pub fn parse(value: Secret) -> Option<RoleArn> {
        is_iam_arn(value.expose(), "role/").then_some(RoleArn(value))
    }

    /// The ARN.
    pub fn secret(&self) -> &Secret {
        &self.0
    }
}

/// An endpoint URL: https, or http on a loopback host (a local emulator).
/// Secret: a VPC endpoint's name identifies the network.
#[derive(Debug, Clone)]
pub struct EndpointUrl(Secret);

impl EndpointUrl {
    /// Checks the scheme and host; the error text says what is expected.
    pub fn parse(value: Secret) -> std::result::Result<EndpointUrl, &'static str> {
        let url = url::Url::parse(value.expose())
            .map_err(|_| "expected a URL such as https://vpce-0123-abcd.bedrock-runtime.us-west-2.vpce.amazonaws.com")?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err("expected a URL with a host name");
        }
        // An endpoint is a scheme, a host and perhaps a port. Anything more
        // is most often another line run into this one (the URL parser
        // accepts spaces and `=` in a path), and would be sent in every
        // request.
        let extra = value
            .expose()
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
            || !url.username().is_empty()
            || url.password().is_some()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some();
        if extra {
            return Err(
                "expected only a scheme, a host and perhaps a port, such as https://vpce-0123-abcd.bedrock-runtime.us-west-2.vpce.amazonaws.com: no path, query, user name or spaces",
            );
        }
        match url.scheme() {
            "https" => Ok(EndpointUrl(value)),
            "http" if is_loopback(&url) => Ok(EndpointUrl(value)),
            "http" => Err(
                "expected https; plain http is allowed only for loopback hosts (127.0.0.1, ::1, localhost)",
            ),
            _ => Err("expected an https:// URL"),
        }
    }

    /// The URL.
    pub fn secret(&self) -> &Secret {
        &self.0
    }
}

/// `arn:<partition>:iam::<12 digits>:mfa/<path/name>`, the form of a
/// virtual MFA device's ARN; the name has IAM's characters only, so two
/// lines run together do not pass for one.
fn is_mfa_arn(value: &str) -> bool {
    is_iam_arn(value, "mfa/")
}

/// `arn:<partition>:iam::<12 digits>:<kind><path/name>`, each segment of
/// the path and name made of IAM's characters only.
fn is_iam_arn(value: &str, kind: &str) -> bool {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[1]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5].strip_prefix(kind).is_some_and(|path| {
            path.split('/').all(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
            })
        })
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// One `[models]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelAlias {
    /// The alias as written.
    pub alias: String,
    /// The model or inference-profile id.
    pub id: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Use `vpc_endpoint_url` for Bedrock.
    pub use_vpce: bool,
    /// Where credentials come from.
    pub source: CredentialSource,
    /// The region, when the file sets one.
    pub region: Option<Region>,
    /// IAM access key id (mode 2).
    pub access_key: Option<Secret>,
    /// IAM secret access key (mode 2).
    pub secret_key: Option<Secret>,
    /// The role to assume (modes 1 and 2).
    pub assume_role_arn: Option<RoleArn>,
    /// The Bedrock VPC endpoint.
    pub vpc_endpoint_url: Option<EndpointUrl>,
    /// External id for AssumeRole.
    pub external_id: Option<Secret>,
    /// Role session name for AssumeRole.
    pub role_session_name: Option<String>,
    /// Session duration in seconds, 900 to 43200.
    pub session_duration: Option<u32>,
    /// MFA device serial number or ARN.
    pub mfa_serial: Option<Secret>,
    /// An STS VPC endpoint.
    pub sts_endpoint_url: Option<EndpointUrl>,
    /// Prompt template, or an InvokeModel JSON body.
    pub prompt_file: Option<PathBuf>,
    /// System prompt file.
    pub system_prompt_file: Option<PathBuf>,
    /// User query file substituted into the template.
    pub user_query_file: Option<PathBuf>,
    /// PEM bundle of extra trusted CAs.
    pub ca_bundle: Option<PathBuf>,
    /// Profile for the default chain (mode 3).
    pub profile: Option<String>,
    /// Default model: an alias or an id.
    pub model_id: Option<String>,
    /// Debug logging.
    pub debug: bool,
    /// `[models]`, in file order.
    pub models: Vec<ModelAlias>,
}

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
    fn get(&self, key: &str) -> Option<&Value> {
        self.default
            .iter()
            .find(|v| v.key.eq_ignore_ascii_case(key))
            .filter(|v| !v.value.is_empty())
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
        self.invalid(v, format!("{expected}; {}", described(v.value.expose())))
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
    let path = values.path.as_path();

    for v in &values.default {
        if v.value.expose().starts_with('<') && v.value.expose().ends_with('>') {
            return Err(values.invalid(
                v,
                format!(
                    "template placeholder left in; replace the value in <angle brackets> ({} characters) with a real one",
                    v.value.expose().chars().count()
                ),
            ));
        }
        match canonical_key(&v.key) {
            None => warnings.push(format!(
                "{}:{}: [default] {}: unknown key, ignored{}",
                path.display(),
                v.line,
                shown_name(&v.key),
                suggestion(&v.key)
            )),
            Some("SecretKeyFernet") => {}
            Some(_) => {}
        }
    }

    let text = |key: &str| values.get(key).map(|v| v.value.expose().to_string());
    let boolean = |key: &str, default: bool| -> Result<bool> {
        match values.get(key) {
            None => Ok(default),
            Some(v) => parse_bool(v.value.expose())
                .ok_or_else(|| values.misfit(v, "expected true or false (or yes/no, on/off, 1/0)")),
        }
    };

    let use_vpce = boolean("UseVPCe", false)?;
    let debug = boolean("Debug", false)?;

    let source = match values.get("GetCredentialsFrom") {
        None => {
            return Err(Error::Invalid {
                at: values.at(None, "GetCredentialsFrom"),
                message: "missing; expected 0 (instance-role), 1 (assume-role), 2 (access-keys) or 3 (default-chain)".into(),
            });
        }
        Some(v) => CredentialSource::parse(v.value.expose()).ok_or_else(|| {
            values.misfit(
                v,
                "expected 0 (instance-role), 1 (assume-role), 2 (access-keys) or 3 (default-chain)",
            )
        })?,
    };

    let region = match values.get("Region") {
        None => None,
        Some(v) => Some(
            Region::parse(v.value.expose())
                .ok_or_else(|| values.misfit(v, "expected a region such as us-west-2"))?,
        ),
    };

    let secret = |key: &str| values.get(key).map(|v| v.value.clone());

    let access_key = secret("AccessKey");
    if let Some(v) = values.get("AccessKey") {
        let k = v.value.expose();
        if k.len() < 16 || k.len() > 128 || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(values.misfit(
                v,
                "expected an access key id: 16 to 128 letters and digits, such as AKIA... or ASIA...",
            ));
        }
    }
    let secret_key = secret("SecretKey");

    let assume_role_arn = match values.get("AssumeRoleARN") {
        None => None,
        Some(v) => Some(RoleArn::parse(v.value.clone()).ok_or_else(|| {
            values.misfit(
                v,
                "expected a role ARN: arn:<partition>:iam::<12-digit account>:role/<path/name>",
            )
        })?),
    };

    let endpoint = |key: &str| -> Result<Option<EndpointUrl>> {
        match values.get(key) {
            None => Ok(None),
            Some(v) => EndpointUrl::parse(v.value.clone())
                .map(Some)
                .map_err(|why| values.misfit(v, why)),
        }
    };
    let vpc_endpoint_url = endpoint("VPCEndpointURL")?;
    let sts_endpoint_url = endpoint("STSEndpointURL")?;

    let external_id = secret("ExternalId");
    if let Some(v) = values.get("ExternalId") {
        let e = v.value.expose();
        if e.len() < 2
            || e.len() > 1224
            || !e
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(c))
        {
            return Err(values.misfit(
                v,
                "expected 2 to 1224 characters: letters, digits and +=,.@:/_-",
            ));
        }
    }

    let mfa_serial = secret("MFASerial");
    if let Some(v) = values.get("MFASerial") {
        let m = v.value.expose();
        let arn = is_mfa_arn(m);
        let serial = (9..=256).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_alphanumeric());
        if !(arn || serial) {
            return Err(values.misfit(
                v,
                "expected an MFA device ARN (arn:aws:iam::<account>:mfa/<name>) or a hardware serial number",
            ));
        }
    }

    let role_session_name = match values.get("RoleSessionName") {
        None => None,
        Some(v) => {
            let n = v.value.expose();
            if !(2..=64).contains(&n.len())
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
            {
                return Err(values.misfit(
                    v,
                    "expected 2 to 64 characters: letters, digits and +=,.@_-",
                ));
            }
            Some(n.to_string())
        }
    };

    let session_duration = match values.get("SessionDuration") {
        None => None,
        Some(v) => {
            let d = v.value.expose();
            match d.parse::<u32>() {
                Ok(n) if (900..=43200).contains(&n) => Some(n),
                _ => {
                    return Err(values.misfit(v, "expected a number of seconds from 900 to 43200"));
                }
            }
        }
    };

    let path_of = |key: &str| text(key).map(PathBuf::from);

    let mut models = Vec::new();
    for v in &values.models {
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
        models.push(ModelAlias {
            alias: v.key.clone(),
            id: v.value.expose().to_string(),
        });
    }

    let config = Config {
        use_vpce,
        source,
        region,
        access_key,
        secret_key,
        assume_role_arn,
        vpc_endpoint_url,
        external_id,
        role_session_name,
        session_duration,
        mfa_serial,
        sts_endpoint_url,
        prompt_file: path_of("PromptFilePath"),
        system_prompt_file: path_of("SystemPromptFile"),
        user_query_file: path_of("UserQueryFile"),
        ca_bundle: path_of("CABundle"),
        profile: text("Profile"),
        model_id: text("ModelID"),
        debug,
        models,
    };
    check_requirements(values, &config, &mut warnings)?;
    Ok(Validated { config, warnings })
}

/// Checks that the mode and `UseVPCe` have the fields they need.
fn check_requirements(values: &Values, c: &Config, warnings: &mut Vec<String>) -> Result<()> {
    let mode_line = values.get("GetCredentialsFrom").map(|v| v.line);
    let missing = |key: &str, why: &str| Error::Invalid {
        at: values.at(
            values
                .default
                .iter()
                .find(|v| v.key.eq_ignore_ascii_case(key))
                .map(|v| v.line)
                .or(mode_line),
            key,
        ),
        message: format!("missing; {why}"),
    };
    if c.source == CredentialSource::AccessKeys {
        if c.access_key.is_none() {
            return Err(missing(
                "AccessKey",
                "GetCredentialsFrom = 2 (access-keys) needs AccessKey and SecretKey",
            ));
        }
        if c.secret_key.is_none() {
            return Err(missing(
                "SecretKey",
                "GetCredentialsFrom = 2 (access-keys) needs AccessKey and SecretKey",
            ));
        }
        if c.assume_role_arn.is_none() {
            warnings.push(format!(
                "{}: GetCredentialsFrom = 2 without AssumeRoleARN: the access keys will be used directly, not to assume a role",
                values.path.display()
            ));
        }
    }
    if c.source == CredentialSource::AssumeRole && c.assume_role_arn.is_none() {
        return Err(missing(
            "AssumeRoleARN",
            "GetCredentialsFrom = 1 (assume-role) needs the ARN of the role to assume",
        ));
    }
    if c.use_vpce && c.vpc_endpoint_url.is_none() {
        return Err(missing(
            "VPCEndpointURL",
            "UseVPCe = true needs the VPC endpoint URL",
        ));
    }
    let assumes = c.assume_role_arn.is_some()
        && matches!(
            c.source,
            CredentialSource::AssumeRole | CredentialSource::AccessKeys
        );
    for (present, key) in [
        (c.external_id.is_some(), "ExternalId"),
        (c.mfa_serial.is_some(), "MFASerial"),
        (c.session_duration.is_some(), "SessionDuration"),
        (c.role_session_name.is_some(), "RoleSessionName"),
    ] {
        if present && !assumes {
            warnings.push(format!(
                "{}: [default] {key} is set but no role is assumed (GetCredentialsFrom = {}), so it is not used",
                values.path.display(),
                c.source
            ));
        }
    }
    if c.access_key.is_some() && c.source != CredentialSource::AccessKeys {
        warnings.push(format!(
            "{}: [default] AccessKey is set but GetCredentialsFrom = {}, so it is not used",
            values.path.display(),
            c.source
        ));
    }
    Ok(())
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

/// Booleans as Python's configparser reads them.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn suggestion(key: &str) -> String {
    let key = key.as_bytes();
    let prefix = |long: &[u8], short: &[u8]| {
        long.len() >= short.len() && long[..short.len()].eq_ignore_ascii_case(short)
    };
    KNOWN_KEYS
        .iter()
        .find(|k| {
            let k = k.as_bytes();
            prefix(k, key) || prefix(key, k) || within_two_edits(k, key)
        })
        .map(|k| format!(" (did you mean {k}?)"))
        .unwrap_or_default()
}

/// Whether the edit distance of `a` and `b`, ignoring ASCII case, is at
/// most 2. It allocates nothing and stops as soon as no alignment can get
/// there, so a file of many unknown keys costs a few steps per key.
fn within_two_edits(a: &[u8], b: &[u8]) -> bool {
    const LIMIT: usize = 2;
    const LONGEST: usize = 64;
    if a.len().abs_diff(b.len()) > LIMIT || a.len() > LONGEST || b.len() > LONGEST {
        return false;
    }
    let mut prev = [0usize; LONGEST + 1];
    let mut cur = [0usize; LONGEST + 1];
    for (j, p) in prev.iter_mut().enumerate().take(b.len() + 1) {
        *p = j;
    }
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(!ca.eq_ignore_ascii_case(cb));
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        if cur[..=b.len()].iter().all(|d| *d > LIMIT) {
            return false;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()] <= LIMIT
}

/// Resolves a path written in the file against the file's own folder.
pub fn resolve_relative(config_path: &Path, written: &Path) -> PathBuf {
    if written.is_absolute() {
        written.to_path_buf()
    } else {
        config_path
            .parent()
            .map(|p| p.join(written))
            .unwrap_or_else(|| written.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Values {
        Values {
            path: PathBuf::from("c.properties"),
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

    fn error(pairs: &[(&str, &str)]) -> String {
        validate(&values(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn modes_parse_as_numbers_and_words() {
        for (text, mode) in [
            ("0", CredentialSource::InstanceRole),
            ("assume-role", CredentialSource::AssumeRole),
            ("2", CredentialSource::AccessKeys),
            ("Default-Chain", CredentialSource::DefaultChain),
        ] {
            assert_eq!(CredentialSource::parse(text), Some(mode));
        }
        assert_eq!(CredentialSource::parse("4"), None);
    }

    #[test]
    fn regions() {
        for ok in [
            "us-west-2",
            "eu-central-1",
            "us-gov-west-1",
            "ap-southeast-3",
            "us-isob-east-1",
        ] {
            assert!(Region::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "us-west",
            "US-WEST-2",
            "uswest2",
            "us_west_2",
            "<us-east-1/us-west-2/others>",
            "",
        ] {
            assert!(Region::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn role_arns() {
        for ok in [
            "arn:aws:iam::222222222222:role/Bedrock",
            "arn:aws-cn:iam::222222222222:role/path/to/Role+x=y,z.a@b-c_d",
        ] {
            assert!(RoleArn::parse(Secret::new(ok)).is_some(), "{ok}");
        }
        for bad in [
            "arn:aws:iam::22222222222:role/x",
            "arn:aws:iam::222222222222:user/x",
            "arn:aws:sts::222222222222:role/x",
            "arn:aws:iam::222222222222:role/",
            "arn:aws:iam::222222222222:role//x",
            "role/x",
        ] {
            assert!(RoleArn::parse(Secret::new(bad)).is_none(), "{bad}");
        }
    }

    #[test]
    fn mfa_arns() {
        assert!(is_mfa_arn("arn:aws:iam::111111111111:mfa/workshop-user"));
        assert!(is_mfa_arn(
            "arn:aws-us-gov:iam::111111111111:mfa/path/u+x=y"
        ));
        for bad in [
            "arn:aws:iam::111111111111:mfa/workshop-user SecretKey = x",
            "arn:aws:iam::1111:mfa/u",
            "arn:aws:iam::111111111111:user/u",
            "arn:aws:iam::111111111111:mfa/",
        ] {
            assert!(!is_mfa_arn(bad), "{bad}");
        }
    }

    #[test]
    fn endpoint_urls() {
        assert!(
            EndpointUrl::parse(Secret::new(
                "https://vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com"
            ))
            .is_ok()
        );
        assert!(EndpointUrl::parse(Secret::new("http://127.0.0.1:8080")).is_ok());
        assert!(EndpointUrl::parse(Secret::new("http://[::1]:8080")).is_ok());
        assert!(EndpointUrl::parse(Secret::new("http://localhost:1")).is_ok());
        assert!(EndpointUrl::parse(Secret::new("https://vpce-1.example.com:8443/")).is_ok());
        for extra in [
            "https://vpce-1.example.com/SecretKey = wJalr",
            "https://vpce-1.example.com/SecretKey=wJalr",
            "https://vpce-1.example.com?x=1",
            "https://vpce-1.example.com#x",
            "https://user:pass@vpce-1.example.com",
        ] {
            let e = EndpointUrl::parse(Secret::new(extra)).unwrap_err();
            assert!(e.contains("no path, query"), "{extra}: {e}");
        }
        let e = EndpointUrl::parse(Secret::new("http://vpce-1.example.com")).unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        assert!(EndpointUrl::parse(Secret::new("vpce-1.example.com")).is_err());
        assert!(EndpointUrl::parse(Secret::new("ftp://x.example.com")).is_err());
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
    fn near_misses_are_within_two_edits() {
        let near = |a: &str, b: &str| within_two_edits(a.as_bytes(), b.as_bytes());
        assert!(near("UseVPCe", "usevpc"));
        assert!(near("Region", "regoin"));
        assert!(near("Profile", "profile"));
        assert!(!near("Region", "reg"));
        assert!(!near("Debug", "ModelID"));
        assert!(!near("abcdef", "uvwxyz"));
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
        assert_eq!(v.config.source, CredentialSource::AccessKeys);
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
