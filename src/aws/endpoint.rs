//! Which Bedrock endpoint a call goes to, and the region check that catches
//! a VPC endpoint of another region before anything is signed.

use crate::config::{Config, EndpointUrl, Region};
use crate::error::{Error, Location, Result};
use crate::secret::{self, Secret};
use std::fmt;

/// The environment variable aws-config reads for a Bedrock runtime endpoint.
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME";

/// Where the endpoint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// `VPCEndpointURL`, with `UseVPCe = true`.
    Vpc,
    /// `https://bedrock-runtime.<Region>.amazonaws.com`.
    Public,
    /// `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`.
    Environment,
    /// `--endpoint-url`.
    Flag,
}

impl fmt::Display for EndpointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndpointKind::Vpc => "VPC endpoint",
            EndpointKind::Public => "public endpoint",
            EndpointKind::Environment => "endpoint from AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            EndpointKind::Flag => "endpoint from --endpoint-url",
        })
    }
}

/// The chosen endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Where it came from.
    pub kind: EndpointKind,
    /// The URL; secret, since a VPC endpoint's name identifies the network.
    pub url: Secret,
}

impl Endpoint {
    /// The URL as it may be shown: a VPC endpoint's id masked.
    pub fn shown(&self) -> String {
        match self.kind {
            EndpointKind::Public => self.url.expose().to_string(),
            _ => secret::redact_url(&self.url),
        }
    }

    /// The host, for hints about name resolution.
    pub fn host(&self) -> Option<String> {
        url::Url::parse(self.url.expose())
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
    }
}

/// Chooses the endpoint: `--endpoint-url`, else `VPCEndpointURL` when
/// `UseVPCe = true`, else `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, else the public
/// endpoint of `region`. Then checks a `vpce-...` host's region.
pub fn choose(
    config: &Config,
    config_path: &std::path::Path,
    region: &Region,
    flag: Option<&str>,
    env: Option<String>,
) -> Result<Endpoint> {
    let endpoint = if let Some(url) = flag {
        let url = EndpointUrl::parse(Secret::new(url))
            .map_err(|why| Error::Usage(format!("--endpoint-url: {why}")))?;
        Endpoint {
            kind: EndpointKind::Flag,
            url: url.secret().clone(),
        }
    } else if config.use_vpce {
        let url = config
            .vpc_endpoint_url
            .as_ref()
            .expect("validation requires VPCEndpointURL with UseVPCe");
        Endpoint {
            kind: EndpointKind::Vpc,
            url: url.secret().clone(),
        }
    } else if let Some(url) = env.filter(|e| !e.trim().is_empty()) {
        let url = EndpointUrl::parse(Secret::new(url))
            .map_err(|why| Error::Usage(format!("${ENDPOINT_ENV}: {why}")))?;
        Endpoint {
            kind: EndpointKind::Environment,
            url: url.secret().clone(),
        }
    } else {
        Endpoint {
            kind: EndpointKind::Public,
            url: Secret::new(format!("https://bedrock-runtime.{region}.amazonaws.com")),
        }
    };
    if let Some(host) = endpoint.host()
        && let Some(named) = vpce_region(&host)
        && named != region.as_str()
    {
        let message = format!(
            "the endpoint is in region {named} but requests would be signed for {region}; \
             they would be refused (InvalidSignatureException). Set Region = {named}, or use the VPC endpoint of {region}"
        );
        return Err(match endpoint.kind {
            EndpointKind::Vpc => Error::Invalid {
                at: Location {
                    file: config_path.to_path_buf(),
                    line: None,
                    section: crate::config::DEFAULT_SECTION.into(),
                    key: Some("VPCEndpointURL".into()),
                },
                message,
            },
            _ => Error::Usage(format!("{}: {message}", endpoint.kind)),
        });
    }
    Ok(endpoint)
}

/// The region named in a VPC endpoint host name:
/// `vpce-<id>.bedrock-runtime.<region>.vpce.amazonaws.com` (or `.sts.`),
/// and in the private DNS name `bedrock-runtime.<region>.amazonaws.com`.
pub fn vpce_region(host: &str) -> Option<&str> {
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    if n >= 5 && labels[n - 2..] == ["amazonaws", "com"] && labels[n - 3] == "vpce" {
        return Some(labels[n - 4]).filter(|r| Region::parse(r).is_some());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
