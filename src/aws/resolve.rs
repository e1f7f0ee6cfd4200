//! Name resolution as `invoke check` sees it: what each host resolves to,
//! what kind of address each is, and `--resolve HOST:ADDRESS` overrides (as
//! curl has) that also steer the SDK clients, so an endpoint can be tested
//! before its DNS exists.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

/// What kind of network an address is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum AddressKind {
    /// RFC 1918, 100.64.0.0/10 (shared), or IPv6 unique local (fc00::/7).
    Private,
    /// 127.0.0.0/8 or ::1.
    Loopback,
    /// 169.254.0.0/16 or fe80::/10.
    LinkLocal,
    /// Anything else: the traffic would leave a VPC.
    Public,
}

impl std::fmt::Display for AddressKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddressKind::Private => "private",
            AddressKind::Loopback => "loopback",
            AddressKind::LinkLocal => "link-local",
            AddressKind::Public => "public",
        })
    }
}

/// Classifies an address.
pub(crate) fn classify(ip: IpAddr) -> AddressKind {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            let first = v6.segments()[0];
            if v6 == Ipv6Addr::LOCALHOST {
                AddressKind::Loopback
            } else if first & 0xfe00 == 0xfc00 {
                AddressKind::Private
            } else if first & 0xffc0 == 0xfe80 {
                AddressKind::LinkLocal
            } else {
                AddressKind::Public
            }
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressKind {
    let o = ip.octets();
    if ip.is_loopback() {
        AddressKind::Loopback
    } else if ip.is_private() || (o[0] == 100 && (64..128).contains(&o[1])) {
        AddressKind::Private
    } else if ip.is_link_local() {
        AddressKind::LinkLocal
    } else {
        AddressKind::Public
    }
}

/// `--resolve` overrides: host name to addresses.
#[derive(Clone, Default)]
pub(crate) struct Overrides(Arc<HashMap<String, Vec<IpAddr>>>);

/// How many hosts only: a host may be a VPC endpoint's name.
impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Overrides({} hosts)", self.0.len())
    }
}

impl Overrides {
    /// Parses `HOST:ADDRESS` entries (an IPv6 address in brackets:
    /// `HOST:[::1]`); several for one host add up.
    pub(crate) fn parse(entries: &[String]) -> Result<Overrides> {
        let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for entry in entries {
            let bad = || {
                Error::Usage(format!(
                    "--resolve {entry}: expected HOST:ADDRESS, such as vpce-0abc.bedrock-runtime.us-west-2.vpce.amazonaws.com:10.0.1.23"
                ))
            };
            let (host, addr) = entry.split_once(':').ok_or_else(bad)?;
            let addr = addr.trim_start_matches('[').trim_end_matches(']');
            let ip: IpAddr = addr.parse().map_err(|_| bad())?;
            if host.is_empty() {
                return Err(bad());
            }
            map.entry(host.to_ascii_lowercase()).or_default().push(ip);
        }
        Ok(Overrides(Arc::new(map)))
    }

    /// The override for `host`, if any.
    pub(crate) fn get(&self, host: &str) -> Option<&[IpAddr]> {
        self.0.get(&host.to_ascii_lowercase()).map(Vec::as_slice)
    }

    /// Resolves `host`: the override, an address literal, or the system
    /// resolver within `timeout`.
    pub(crate) async fn lookup(
        &self,
        host: &str,
        timeout: Duration,
    ) -> std::io::Result<Vec<IpAddr>> {
        if let Some(ips) = self.get(host) {
            return Ok(ips.to_vec());
        }
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(vec![ip]);
        }
        let found = tokio::time::timeout(timeout, tokio::net::lookup_host((host, 0)))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "name resolution timed out")
            })??;
        let mut ips: Vec<IpAddr> = found.map(|a| a.ip()).collect();
        ips.dedup();
        Ok(ips)
    }
}

/// Whether a public service name is one a VPC endpoint with private DNS
/// answers for (`bedrock-runtime.<region>.amazonaws.com`, `sts.<region>...`).
pub(crate) fn is_public_service_name(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() == 4
        && (labels[0] == "bedrock-runtime" || labels[0] == "sts")
        && labels[2..] == ["amazonaws", "com"]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let k = |s: &str| classify(s.parse().unwrap());
        assert_eq!(k("10.0.1.2"), AddressKind::Private);
        assert_eq!(k("172.31.255.1"), AddressKind::Private);
        assert_eq!(k("192.168.0.1"), AddressKind::Private);
        assert_eq!(k("100.64.0.1"), AddressKind::Private);
        assert_eq!(k("100.128.0.1"), AddressKind::Public);
        assert_eq!(k("127.0.0.1"), AddressKind::Loopback);
        assert_eq!(k("169.254.169.254"), AddressKind::LinkLocal);
        assert_eq!(k("52.94.1.1"), AddressKind::Public);
        assert_eq!(k("fd00::1"), AddressKind::Private);
        assert_eq!(k("fe80::1"), AddressKind::LinkLocal);
        assert_eq!(k("::1"), AddressKind::Loopback);
        assert_eq!(k("2600:1f14::1"), AddressKind::Public);
        assert_eq!(k("::ffff:10.1.1.1"), AddressKind::Private);
    }

    #[test]
    fn overrides() {
        let o = Overrides::parse(&[
            "Example.com:10.0.0.1".into(),
            "example.com:[fd00::2]".into(),
        ])
        .unwrap();
        assert_eq!(o.get("example.com").unwrap().len(), 2);
        assert!(Overrides::parse(&["nohost".into()]).is_err());
        assert!(Overrides::parse(&["h:notanip".into()]).is_err());
        assert!(is_public_service_name(
            "bedrock-runtime.us-west-2.amazonaws.com"
        ));
        assert!(!is_public_service_name(
            "vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com"
        ));
    }
}
