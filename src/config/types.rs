//! The typed configuration: each value parsed once, when the file is read,
//! into a type that cannot hold a wrong one.
//!
//! A [`Config`] cannot say `UseVPCe = true` without a URL ([`BedrockEndpoint`]),
//! or name access keys without both halves ([`CredentialSource`]); an
//! [`EndpointUrl`] is a URL that was checked and split once, and carries
//! the form in which it may be shown. Code downstream matches on these and
//! needs no `expect`.

use crate::secret::{self, Secret};
use std::fmt;
use std::path::{Path, PathBuf};

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

/// `arn:<partition>:iam::<12 digits>:mfa/<path/name>`, the form of a
/// virtual MFA device's ARN; the name has IAM's characters only, so two
/// lines run together do not pass for one.
pub(crate) fn is_mfa_arn(value: &str) -> bool {
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

/// An endpoint URL, checked and split once: https, or http on a loopback
/// host (a local emulator); a scheme, a host and perhaps a port, nothing
/// more. Secret, since a VPC endpoint's name identifies the network; it
/// knows how it may be shown.
#[derive(Clone)]
pub struct EndpointUrl {
    url: Secret,
    host: Secret,
    port: u16,
    https: bool,
    shown: String,
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EndpointUrl({})", self.shown)
    }
}

impl EndpointUrl {
    /// Checks the scheme and host; the error text says what is expected.
    pub fn parse(value: Secret) -> std::result::Result<EndpointUrl, &'static str> {
        let url = url::Url::parse(value.expose())
            .map_err(|_| "expected a URL: https:// and a host, as a VPC endpoint's name (https://vpce-0123-abcd.SERVICE.us-west-2.vpce.amazonaws.com)")?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("expected a URL with a host name")?;
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
                "expected only a scheme, a host and perhaps a port, as https://vpce-0123-abcd.SERVICE.us-west-2.vpce.amazonaws.com: no path, query, user name or spaces",
            );
        }
        let https = match url.scheme() {
            "https" => true,
            "http" if is_loopback(&url) => false,
            "http" => {
                return Err(
                    "expected https; plain http is allowed only for loopback hosts (127.0.0.1, ::1, localhost)",
                );
            }
            _ => return Err("expected an https:// URL"),
        };
        Ok(EndpointUrl {
            host: Secret::new(host.trim_start_matches('[').trim_end_matches(']')),
            port: url.port_or_known_default().unwrap_or(443),
            https,
            shown: secret::redact_url(&value),
            url: value,
        })
    }

    /// One of AWS's own endpoints, as the SDK's endpoint rules give it:
    /// not a secret, shown as it is.
    pub fn aws(url: &str) -> std::result::Result<EndpointUrl, &'static str> {
        let mut parsed = EndpointUrl::parse(Secret::new(url.trim_end_matches('/')))?;
        parsed.shown = parsed.url.expose().to_string();
        Ok(parsed)
    }

    /// The URL, to hand to an SDK client.
    pub fn secret(&self) -> &Secret {
        &self.url
    }

    /// The host name or address (an IPv6 address without brackets).
    pub fn host(&self) -> &Secret {
        &self.host
    }

    /// The port, given or the scheme's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it is https (else plain http to a loopback host).
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The URL as it may be shown: a VPC endpoint's id masked.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// `host[:port]` as it may be shown, for hints that name a host.
    pub fn shown_host(&self) -> &str {
        let rest = self.shown.split("://").nth(1).unwrap_or(&self.shown);
        rest.split('/').next().unwrap_or(rest)
    }

    /// The region a VPC endpoint's host names:
    /// `vpce-<id>.<service>.<region>.vpce.amazonaws.com`.
    pub fn vpce_region(&self) -> Option<&str> {
        vpce_region(self.host.expose())
    }
}

/// Why a VPC endpoint of region `named` cannot be used with `region`: the
/// same words from `encrypt-config --check` as from `invoke`.
pub fn region_mismatch(named: &str, region: &Region) -> String {
    format!(
        "the endpoint is in region {named} but requests would be signed for {region}; \
         they would be refused (InvalidSignatureException). Set Region = {named}, or use the VPC endpoint of {region}"
    )
}

/// The region named in a VPC endpoint host name:
/// `vpce-<id>.bedrock-runtime.<region>.vpce.amazonaws.com` (or `.sts.`).
pub fn vpce_region(host: &str) -> Option<&str> {
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    if n >= 5 && labels[n - 2..] == ["amazonaws", "com"] && labels[n - 3] == "vpce" {
        return Some(labels[n - 4]).filter(|r| Region::parse(r).is_some());
    }
    None
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Which Bedrock endpoint the file asks for (`UseVPCe`, `VPCEndpointURL`).
#[derive(Debug, Clone)]
pub enum BedrockEndpoint {
    /// `UseVPCe = true`: this VPC endpoint.
    Vpc(EndpointUrl),
    /// `UseVPCe = false`: the public endpoint of the region, unless the AWS
    /// environment names another.
    Public,
}

/// `GetCredentialsFrom` as a number or a word, before its fields are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 0: the EC2 / Cloud9 instance role through IMDSv2.
    InstanceRole = 0,
    /// 1: sts:AssumeRole with the ambient credentials.
    AssumeRole = 1,
    /// 2: IAM access keys, used to sts:AssumeRole (or directly without a role).
    AccessKeys = 2,
    /// 3: the standard AWS chain (environment, profile, SSO).
    DefaultChain = 3,
}

impl Mode {
    /// Parses `0`..`3` or the words for them.
    pub fn parse(value: &str) -> Option<Mode> {
        Some(match value.trim().to_ascii_lowercase().as_str() {
            "0" | "instance-role" => Mode::InstanceRole,
            "1" | "assume-role" => Mode::AssumeRole,
            "2" | "access-keys" => Mode::AccessKeys,
            "3" | "default-chain" => Mode::DefaultChain,
            _ => return None,
        })
    }

    /// The number the workshop format uses.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The word for this mode, which `--output json` also uses.
    pub fn word(self) -> &'static str {
        match self {
            Mode::InstanceRole => "instance-role",
            Mode::AssumeRole => "assume-role",
            Mode::AccessKeys => "access-keys",
            Mode::DefaultChain => "default-chain",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.number(), self.word())
    }
}

/// An IAM access key pair (`AccessKey`, `SecretKey`).
#[derive(Debug, Clone)]
pub struct AccessKeys {
    /// The access key id.
    pub id: Secret,
    /// The secret access key.
    pub secret: Secret,
}

/// The role to assume and how (`AssumeRoleARN` and the keys that go with it).
#[derive(Debug, Clone)]
pub struct RoleToAssume {
    /// The role.
    pub arn: RoleArn,
    /// The external id its trust policy asks for.
    pub external_id: Option<Secret>,
    /// The MFA device, when the trust policy asks for MFA.
    pub mfa_serial: Option<Secret>,
    /// The session name, when not the default.
    pub session_name: Option<String>,
    /// The session length in seconds, 900 to 43200, when not the default.
    pub duration: Option<u32>,
}

/// Where the credentials come from, with what each source needs.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// 0: the instance role through IMDSv2.
    InstanceRole,
    /// 1: the ambient credentials assume a role.
    AssumeRole(RoleToAssume),
    /// 2: access keys, which assume a role when one is named.
    AccessKeys {
        /// The keys.
        keys: AccessKeys,
        /// The role they assume, if any.
        role: Option<RoleToAssume>,
    },
    /// 3: the standard AWS chain.
    DefaultChain,
}

impl CredentialSource {
    /// The `GetCredentialsFrom` mode.
    pub fn mode(&self) -> Mode {
        match self {
            CredentialSource::InstanceRole => Mode::InstanceRole,
            CredentialSource::AssumeRole(_) => Mode::AssumeRole,
            CredentialSource::AccessKeys { .. } => Mode::AccessKeys,
            CredentialSource::DefaultChain => Mode::DefaultChain,
        }
    }

    /// The role assumed, if any.
    pub fn role(&self) -> Option<&RoleToAssume> {
        match self {
            CredentialSource::AssumeRole(role) => Some(role),
            CredentialSource::AccessKeys { role, .. } => role.as_ref(),
            _ => None,
        }
    }
}

/// A path written in the file, and the path it means: relative to the
/// config's folder (see [`ConfigPath::beside`] and [`ConfigPath::fallback`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPath {
    /// As written in the file.
    pub written: PathBuf,
    /// The file it names.
    pub resolved: PathBuf,
}

impl ConfigPath {
    /// Relative to the config's folder and nowhere else: for a file that
    /// decides what is trusted (a CA bundle), which must never be picked up
    /// from wherever the tool happens to run.
    pub fn beside(config: &Path, written: &str) -> ConfigPath {
        let written = PathBuf::from(written);
        let resolved = if written.is_absolute() {
            written.clone()
        } else {
            config
                .parent()
                .map(|p| p.join(&written))
                .unwrap_or_else(|| written.clone())
        };
        ConfigPath { written, resolved }
    }

    /// Beside the config when a file is there, else as written (relative to
    /// the working folder, as the workshop tool had it): for prompt files.
    pub fn fallback(config: &Path, written: &str) -> ConfigPath {
        let beside = ConfigPath::beside(config, written);
        if beside.resolved.exists() {
            beside
        } else {
            ConfigPath {
                resolved: beside.written.clone(),
                written: beside.written,
            }
        }
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

/// A sensitive value of the file, used or not: what redaction removes from
/// everything shown.
#[derive(Debug, Clone)]
pub struct SensitiveValue {
    /// The canonical field name.
    pub field: &'static str,
    /// The value.
    pub value: Secret,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// The Bedrock endpoint the file asks for.
    pub bedrock: BedrockEndpoint,
    /// Where credentials come from.
    pub source: CredentialSource,
    /// The region, when the file sets one.
    pub region: Option<Region>,
    /// An STS endpoint (a VPC endpoint of STS, usually).
    pub sts_endpoint: Option<EndpointUrl>,
    /// The Bedrock control plane's endpoint (a `bedrock` VPC endpoint,
    /// usually), for model access.
    pub control_endpoint: Option<EndpointUrl>,
    /// The AWS profile for the ambient credentials (modes 1 and 3) and for
    /// the AWS settings (endpoints) of the run.
    pub profile: Option<String>,
    /// Prompt template, or an InvokeModel JSON body.
    pub prompt_file: Option<ConfigPath>,
    /// System prompt file.
    pub system_prompt_file: Option<ConfigPath>,
    /// User query file substituted into the template.
    pub user_query_file: Option<ConfigPath>,
    /// PEM bundle of extra trusted CAs.
    pub ca_bundle: Option<ConfigPath>,
    /// Default model: an alias or an id.
    pub model_id: Option<String>,
    /// Debug logging.
    pub debug: bool,
    /// `[models]`, in file order.
    pub models: Vec<ModelAlias>,
    /// Every sensitive value of `[default]`, in file order, used or not.
    pub sensitive: Vec<SensitiveValue>,
    /// Every endpoint the file names (`VPCEndpointURL`, `STSEndpointURL`,
    /// `ControlPlaneEndpointURL`),
    /// used or not: redaction removes their hosts too.
    pub endpoints: Vec<EndpointUrl>,
}

impl Config {
    /// The value of sensitive `field`, if the file has one.
    pub fn sensitive(&self, field: &str) -> Option<&Secret> {
        self.sensitive
            .iter()
            .find(|s| s.field.eq_ignore_ascii_case(field))
            .map(|s| &s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let aws = EndpointUrl::aws("https://sts.cn-north-1.amazonaws.com.cn").unwrap();
        assert_eq!(aws.shown(), "https://sts.cn-north-1.amazonaws.com.cn");
        assert_eq!(aws.shown_host(), "sts.cn-north-1.amazonaws.com.cn");
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
    fn endpoint_urls_are_split_once() {
        let u = EndpointUrl::parse(Secret::new(
            "https://vpce-0a1b2c3d4e5f67890-abcdefgh.bedrock-runtime.us-west-2.vpce.amazonaws.com",
        ))
        .unwrap();
        assert_eq!(u.port(), 443);
        assert!(u.is_https());
        assert_eq!(u.vpce_region(), Some("us-west-2"));
        assert!(!u.shown().contains("abcdefgh"), "{}", u.shown());
        assert!(!format!("{u:?}").contains("abcdefgh"));
        assert!(
            u.shown_host().starts_with("vpce-0a1*"),
            "{}",
            u.shown_host()
        );
        assert!(
            u.shown_host()
                .ends_with("*.bedrock-runtime.us-west-2.vpce.amazonaws.com")
        );
        let local = EndpointUrl::parse(Secret::new("http://[::1]:8080")).unwrap();
        assert_eq!((local.host().expose(), local.port()), ("::1", 8080));
        assert!(!local.is_https());
        assert_eq!(local.shown_host(), "[::1]:8080");
        assert!(EndpointUrl::parse(Secret::new("http://127.0.0.1:8080")).is_ok());
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
    fn vpce_hosts_name_their_region() {
        assert_eq!(
            vpce_region("vpce-0a1b-xyz.bedrock-runtime.us-west-2.vpce.amazonaws.com"),
            Some("us-west-2")
        );
        assert_eq!(
            vpce_region("vpce-0a1b-xyz.sts.eu-central-1.vpce.amazonaws.com"),
            Some("eu-central-1")
        );
        assert_eq!(vpce_region("bedrock-runtime.us-west-2.amazonaws.com"), None);
        assert_eq!(vpce_region("127.0.0.1"), None);
    }

    #[test]
    fn modes_parse_as_numbers_and_words() {
        for (text, mode) in [
            ("0", Mode::InstanceRole),
            ("assume-role", Mode::AssumeRole),
            ("2", Mode::AccessKeys),
            ("Default-Chain", Mode::DefaultChain),
        ] {
            assert_eq!(Mode::parse(text), Some(mode));
        }
        assert_eq!(Mode::parse("4"), None);
    }
}
