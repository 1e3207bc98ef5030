//! IP networks in CIDR notation: the proxies whose `X-Forwarded-For` the server believes.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

/// The proxies trusted when `server.trustedProxies` is absent: the private (RFC 1918, RFC 4193),
/// loopback and link-local ranges, where a cluster's pods, nodes and internal load balancers
/// live. This is what the server trusted before the field existed, so older configs keep working.
pub const DEFAULT_TRUSTED_PROXIES: [&str; 8] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// Most entries `server.trustedProxies` may hold.
pub const MAX_TRUSTED_PROXIES: usize = 64;

/// Schema pattern of a CIDR or a single address: the characters and shape only;
/// [`Cidr::from_str`] decides.
pub const CIDR_PATTERN: &str = "^[0-9a-fA-F:.]{2,45}(/[0-9]{1,3})?$";

/// An IPv4 or IPv6 network, e.g. `10.0.0.0/8` or `fd00::/8`; a single address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a CIDR string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {input:?}: {reason} (write e.g. 10.0.0.0/8, fd00::/8 or 192.0.2.7)")]
pub struct CidrError {
    input: String,
    reason: String,
}

impl Cidr {
    /// Whether `ip` is inside the network. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a
    /// dual-stack socket reports for IPv4 peers) counts as the IPv4 address it maps.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => mask_v4(ip, self.prefix) == network,
            (IpAddr::V6(network), IpAddr::V6(ip)) => mask_v6(ip, self.prefix) == network,
            _ => false,
        }
    }
}

fn mask_v4(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(u32::from(ip) & mask)
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    Ipv6Addr::from(u128::from(ip) & mask)
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| CidrError {
            input: s.chars().take(64).collect(),
            reason,
        };
        let (address, prefix) = match s.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| err("not an IPv4 or IPv6 address".into()))?;
        if let IpAddr::V6(v6) = address
            && v6.to_ipv4_mapped().is_some()
        {
            return Err(err("an IPv4-mapped IPv6 address; write the IPv4 form".into()));
        }
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= bits)
                .ok_or_else(|| err(format!("the prefix length must be 0 to {bits}")))?,
            Some(_) => return Err(err(format!("the prefix length must be 0 to {bits}"))),
        };
        let network = match address {
            IpAddr::V4(ip) => IpAddr::V4(mask_v4(ip, prefix)),
            IpAddr::V6(ip) => IpAddr::V6(mask_v6(ip, prefix)),
        };
        // `10.1.2.3/8` is nearly always a typo for a /32 or a misremembered network: refuse it
        // instead of silently trusting all of 10.0.0.0/8.
        if network != address {
            return Err(err(format!(
                "bits are set beyond the /{prefix} prefix; the network is {network}/{prefix}"
            )));
        }
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let private: Cidr = "172.16.0.0/12".parse().unwrap();
        assert!(private.contains(ip("172.31.255.255")));
        assert!(!private.contains(ip("172.32.0.0")));
        assert!(private.contains(ip("::ffff:172.16.0.1")), "IPv4-mapped peer");
        assert!(!private.contains(ip("fd00::1")));
        let ula: Cidr = "fc00::/7".parse().unwrap();
        assert!(ula.contains(ip("fd12:3456::1")));
        assert!(!ula.contains(ip("2001:db8::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")) && !all.contains(ip("::1")));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(one.to_string(), "192.0.2.7/32");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        assert_eq!(
            "2001:db8::1".parse::<Cidr>().unwrap().to_string(),
            "2001:db8::1/128"
        );
        assert_eq!("::/0".parse::<Cidr>().unwrap().to_string(), "::/0");
    }

    #[test]
    fn the_defaults_parse() {
        for cidr in DEFAULT_TRUSTED_PROXIES {
            assert_eq!(cidr.parse::<Cidr>().unwrap().to_string(), cidr);
        }
    }

    #[test]
    fn malformed_networks_are_refused_with_the_reason() {
        for (bad, reason) in [
            ("", "not an IPv4 or IPv6 address"),
            ("10.0.0.0/33", "the prefix length must be 0 to 32"),
            ("fd00::/129", "the prefix length must be 0 to 128"),
            ("10.0.0.0/", "the prefix length must be 0 to 32"),
            ("10.0.0.0/+8", "the prefix length must be 0 to 32"),
            ("10.0.0.0/8/8", "the prefix length must be 0 to 32"),
            ("10.0.0/8", "not an IPv4 or IPv6 address"),
            ("lb.example.com", "not an IPv4 or IPv6 address"),
            (" 10.0.0.0/8", "not an IPv4 or IPv6 address"),
            ("fe80::1%eth0", "not an IPv4 or IPv6 address"),
            ("10.1.2.3/8", "the network is 10.0.0.0/8"),
            ("fd00::1/8", "the network is fd00::/8"),
            ("::ffff:10.0.0.0/104", "IPv4-mapped"),
        ] {
            let err = bad.parse::<Cidr>().unwrap_err().to_string();
            assert!(err.contains(reason), "{bad:?}: {err}");
        }
    }
}
