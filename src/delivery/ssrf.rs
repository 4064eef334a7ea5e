//! SSRF guard: deliveries may not reach loopback, private, link-local, metadata and other
//! special-purpose addresses unless the operator allows a network explicitly
//! (`HOOKLINE_ALLOWED_NETWORKS`).
//!
//! Host names are checked in [`GuardedResolver`], which reqwest uses for every connection, so
//! the address that was checked is the address that is connected to (no DNS rebinding window).
//! Literal-IP URLs never reach a resolver and are checked by [`Guard::check_url`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The setting that lets an operator allow refused networks; named in every refusal.
pub const ALLOW_SETTING: &str = "HOOKLINE_ALLOWED_NETWORKS";

fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    match Ipv4Net::new(Ipv4Addr::new(a, b, c, d), len) {
        Ok(n) => n,
        Err(_) => unreachable!("constant prefix length is valid"),
    }
}

fn v6(segments: [u16; 8], len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    match Ipv6Net::new(Ipv6Addr::new(a, b, c, d, e, f, g, h), len) {
        Ok(n) => n,
        Err(_) => unreachable!("constant prefix length is valid"),
    }
}

const LOOPBACK: &str = "a loopback address";
const PRIVATE: &str = "a private address";
const LINK_LOCAL: &str = "a link-local address";
const METADATA: &str = "the cloud metadata address";
const CGNAT: &str = "a carrier-grade NAT (shared, 100.64.0.0/10) address";
const MULTICAST: &str = "a multicast address";
const BROADCAST: &str = "the broadcast address";
const UNSPECIFIED: &str = "the unspecified address";
const RESERVED: &str = "a reserved address";
const DOCUMENTATION: &str = "a documentation address";
const BENCHMARKING: &str = "a benchmarking address";
const IETF: &str = "an IETF protocol assignment address";

/// Why the IPv4 address `ip` may not be reached, or `None` if it is a public address.
fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip == Ipv4Addr::UNSPECIFIED {
        return Some(UNSPECIFIED);
    }
    if ip == Ipv4Addr::BROADCAST {
        return Some(BROADCAST);
    }
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        return Some(METADATA);
    }
    let table: [(Ipv4Net, &'static str); 17] = [
        (
            v4(0, 0, 0, 0, 8),
            "a reserved \"this network\" (0.0.0.0/8) address",
        ),
        (v4(127, 0, 0, 0, 8), LOOPBACK),
        (v4(10, 0, 0, 0, 8), PRIVATE),
        (v4(172, 16, 0, 0, 12), PRIVATE),
        (v4(192, 168, 0, 0, 16), PRIVATE),
        (v4(100, 64, 0, 0, 10), CGNAT),
        (v4(169, 254, 0, 0, 16), LINK_LOCAL),
        (v4(192, 0, 0, 0, 24), IETF),
        (v4(192, 0, 2, 0, 24), DOCUMENTATION),
        (v4(198, 51, 100, 0, 24), DOCUMENTATION),
        (v4(203, 0, 113, 0, 24), DOCUMENTATION),
        (v4(198, 18, 0, 0, 15), BENCHMARKING),
        (
            v4(192, 88, 99, 0, 24),
            "a reserved 6to4 relay anycast address",
        ),
        (v4(224, 0, 0, 0, 4), MULTICAST),
        (v4(240, 0, 0, 0, 4), RESERVED),
        // Covered above, listed so the table reads as the full picture.
        (v4(255, 255, 255, 255, 32), BROADCAST),
        (v4(169, 254, 169, 254, 32), METADATA),
    ];
    table
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, why)| *why)
}

/// Why the IPv6 address `ip` may not be reached, or `None` if it is a public address.
fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip == Ipv6Addr::UNSPECIFIED {
        return Some(UNSPECIFIED);
    }
    if ip == Ipv6Addr::LOCALHOST {
        return Some(LOOPBACK);
    }
    // IPv4-mapped (::ffff:a.b.c.d) reaches the embedded IPv4 address: judge that one.
    if let Some(embedded) = mapped_v4(ip) {
        return forbidden_v4(embedded);
    }
    let table: [(Ipv6Net, &'static str); 17] = [
        (
            v6([0, 0, 0, 0, 0, 0, 0, 0], 96),
            "a deprecated IPv4-compatible IPv6 address",
        ),
        (v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), "a NAT64 address"),
        (
            v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
            "a local-use NAT64 address",
        ),
        (
            v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
            "a discard-only address",
        ),
        (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), DOCUMENTATION),
        (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), DOCUMENTATION),
        (v6([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48), BENCHMARKING),
        (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), "a Teredo address"),
        (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), IETF),
        (v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), "a 6to4 address"),
        // AWS's IPv6 instance metadata endpoint, inside fc00::/7.
        (v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128), METADATA),
        (
            v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
            "a unique-local (private) address",
        ),
        (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), LINK_LOCAL),
        (
            v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
            "a deprecated site-local address",
        ),
        (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), MULTICAST),
        // Covered above, listed for completeness.
        (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), LOOPBACK),
        (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), UNSPECIFIED),
    ];
    if let Some((_, why)) = table.iter().find(|(net, _)| net.contains(&ip)) {
        return Some(why);
    }
    // Everything public lives in 2000::/3; the rest is reserved or unassigned.
    if !v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3).contains(&ip) {
        return Some("a reserved IPv6 address (outside global unicast 2000::/3)");
    }
    None
}

/// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
fn mapped_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    ip.to_ipv4_mapped()
}

/// Why `ip` may not be reached (e.g. `"a loopback address"`), or `None` if it is public.
///
/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is judged by its embedded IPv4 address:
/// `::ffff:127.0.0.1` is refused as a loopback address, `::ffff:8.8.8.8` is allowed.
/// Every other IPv6 transition form (IPv4-compatible, NAT64, 6to4, Teredo) is refused
/// outright, since what it reaches cannot be judged from here.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => forbidden_v4(a),
        IpAddr::V6(a) => forbidden_v6(a),
    }
}

/// A refused address. Its message is what the attempt record shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The refused address.
    pub ip: IpAddr,
    /// Why, e.g. `"a loopback address"`.
    pub reason: &'static str,
    /// The host name that resolved to `ip`, when the URL held a name.
    pub host: Option<String>,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(h) => write!(f, "blocked: {h} resolves to {}, which is", self.ip)?,
            None => write!(f, "blocked: {} is", self.ip)?,
        }
        write!(f, " {} (allow it with {ALLOW_SETTING})", self.reason)
    }
}

impl std::error::Error for Blocked {}

/// The address filter: refuses [`forbidden_reason`] addresses except inside allowed networks.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allowed: Vec<IpNet>,
}

impl Guard {
    pub fn new(allowed: Vec<IpNet>) -> Guard {
        Guard { allowed }
    }

    /// The networks the operator allowed.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    fn is_allowed(&self, ip: IpAddr) -> bool {
        let embedded = match ip {
            IpAddr::V6(a) => mapped_v4(a).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allowed
            .iter()
            .any(|n| n.contains(&ip) || embedded.is_some_and(|e| n.contains(&e)))
    }

    /// `Ok` if deliveries may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        if self.is_allowed(ip) {
            return Ok(());
        }
        match forbidden_reason(ip) {
            None => Ok(()),
            Some(reason) => Err(Blocked {
                ip,
                reason,
                host: None,
            }),
        }
    }

    /// Check a URL whose host is a literal IP address (`http://10.0.0.1/`, `http://[::1]/`,
    /// `http://[::ffff:127.0.0.1]/`); such URLs never reach the resolver. URLs with a host
    /// name pass here and are checked by [`GuardedResolver`] at connect time.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Blocked> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(a)) => IpAddr::V4(a),
            Some(url::Host::Ipv6(a)) => IpAddr::V6(a),
            Some(url::Host::Domain(d)) => {
                // `url` already turns every IPv4 spelling into `Host::Ipv4` for http(s);
                // this is belt and braces for other schemes.
                match d
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                {
                    Ok(ip) => ip,
                    Err(_) => return Ok(()),
                }
            }
            None => return Ok(()),
        };
        self.check(ip)
    }

    /// Keep the addresses this guard allows; if none remain, the refusal of the first one.
    pub fn filter(
        &self,
        host: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, ResolveError> {
        let mut kept = Vec::new();
        let mut first_refusal = None;
        for a in addrs {
            match self.check(a.ip()) {
                Ok(()) => kept.push(a),
                Err(mut b) => {
                    if first_refusal.is_none() {
                        b.host = Some(host.to_string());
                        first_refusal = Some(b);
                    }
                }
            }
        }
        if !kept.is_empty() {
            return Ok(kept);
        }
        Err(match first_refusal {
            Some(b) => ResolveError::Blocked(b),
            None => ResolveError::NoAddress {
                host: host.to_string(),
                detail: None,
            },
        })
    }
}

/// Why a host name gave no address to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// Every address the name resolved to is refused.
    Blocked(Blocked),
    /// The name did not resolve.
    NoAddress {
        host: String,
        detail: Option<String>,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Blocked(b) => b.fmt(f),
            ResolveError::NoAddress { host, detail } => {
                write!(f, "DNS: no address for {host}")?;
                if let Some(d) = detail {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// The delivery client's resolver: the system resolver, with every refused address dropped
/// (and an error when none is left). A `tower` service, as hyper's connector wants it.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    guard: Arc<Guard>,
}

impl GuardedResolver {
    pub fn new(guard: Arc<Guard>) -> GuardedResolver {
        GuardedResolver { guard }
    }

    /// The addresses `host` may be reached at.
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        let addrs = tokio::net::lookup_host((host, 0)).await.map_err(|e| {
            let msg = e.to_string();
            let detail = msg
                .strip_prefix("failed to lookup address information: ")
                .unwrap_or(&msg)
                .to_string();
            ResolveError::NoAddress {
                host: host.to_string(),
                detail: Some(detail),
            }
        })?;
        self.guard.filter(host, addrs)
    }
}

type Resolving = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<std::vec::IntoIter<SocketAddr>, ResolveError>>
            + Send,
    >,
>;

impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = Resolving;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), ResolveError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> Resolving {
        let me = self.clone();
        Box::pin(async move { Ok(me.resolve(name.as_str()).await?.into_iter()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> Option<&'static str> {
        forbidden_reason(s.parse().unwrap())
    }

    #[test]
    fn ipv4_forbidden_ranges() {
        let cases = [
            ("0.0.0.0", UNSPECIFIED),
            ("0.1.2.3", "a reserved \"this network\" (0.0.0.0/8) address"),
            ("127.0.0.1", LOOPBACK),
            ("127.255.255.254", LOOPBACK),
            ("10.0.0.1", PRIVATE),
            ("10.255.255.255", PRIVATE),
            ("172.16.0.1", PRIVATE),
            ("172.31.255.255", PRIVATE),
            ("192.168.1.1", PRIVATE),
            ("100.64.0.1", CGNAT),
            ("100.127.255.255", CGNAT),
            ("169.254.0.1", LINK_LOCAL),
            ("169.254.169.254", METADATA),
            ("169.254.169.253", LINK_LOCAL),
            ("192.0.0.8", IETF),
            ("192.0.2.1", DOCUMENTATION),
            ("198.51.100.7", DOCUMENTATION),
            ("203.0.113.200", DOCUMENTATION),
            ("198.18.0.1", BENCHMARKING),
            ("198.19.255.255", BENCHMARKING),
            ("192.88.99.1", "a reserved 6to4 relay anycast address"),
            ("224.0.0.1", MULTICAST),
            ("239.255.255.250", MULTICAST),
            ("240.0.0.1", RESERVED),
            ("254.1.2.3", RESERVED),
            ("255.255.255.255", BROADCAST),
        ];
        for (ip, want) in cases {
            assert_eq!(reason(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn ipv4_public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "192.0.1.1",
            "192.0.3.1",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.1",
            "203.0.112.1",
            "223.255.255.255",
            "93.184.216.34",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_forbidden_ranges() {
        let cases = [
            ("::", UNSPECIFIED),
            ("::1", LOOPBACK),
            ("::2", "a deprecated IPv4-compatible IPv6 address"),
            ("::127.0.0.1", "a deprecated IPv4-compatible IPv6 address"),
            ("::8.8.8.8", "a deprecated IPv4-compatible IPv6 address"),
            ("::ffff:127.0.0.1", LOOPBACK),
            ("::ffff:10.1.2.3", PRIVATE),
            ("::ffff:169.254.169.254", METADATA),
            ("::ffff:0.0.0.0", UNSPECIFIED),
            ("::ffff:255.255.255.255", BROADCAST),
            ("64:ff9b::a00:1", "a NAT64 address"),
            ("64:ff9b::808:808", "a NAT64 address"),
            ("64:ff9b:1::1", "a local-use NAT64 address"),
            ("100::1", "a discard-only address"),
            ("2001:db8::1", DOCUMENTATION),
            ("2001:db8:ffff::1", DOCUMENTATION),
            ("3fff::1", DOCUMENTATION),
            ("2001:2::1", BENCHMARKING),
            ("2001::1", "a Teredo address"),
            ("2001:0:4136:e378::1", "a Teredo address"),
            ("2001:10::1", IETF),
            ("2002:7f00:1::1", "a 6to4 address"),
            ("2002:808:808::1", "a 6to4 address"),
            ("fd00:ec2::254", METADATA),
            ("fc00::1", "a unique-local (private) address"),
            ("fdff:ffff::1", "a unique-local (private) address"),
            ("fe80::1", LINK_LOCAL),
            ("febf::1", LINK_LOCAL),
            ("fec0::1", "a deprecated site-local address"),
            ("ff02::1", MULTICAST),
            ("ff0e::1", MULTICAST),
            (
                "4000::1",
                "a reserved IPv6 address (outside global unicast 2000::/3)",
            ),
            (
                "1::1",
                "a reserved IPv6 address (outside global unicast 2000::/3)",
            ),
            (
                "e000::1",
                "a reserved IPv6 address (outside global unicast 2000::/3)",
            ),
        ];
        for (ip, want) in cases {
            assert_eq!(reason(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn ipv6_public_addresses_pass() {
        for ip in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "2001:200::1",
            "2003::1",
            "3ffe::1",
            "3fff:1000::1",
            "::ffff:8.8.8.8",
            "::ffff:93.184.216.34",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn guard_refuses_with_a_message_naming_the_setting() {
        let g = Guard::new(vec![]);
        let e = g.check("127.0.0.1".parse().unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "blocked: 127.0.0.1 is a loopback address (allow it with HOOKLINE_ALLOWED_NETWORKS)"
        );
        let e = g.check("10.0.0.1".parse().unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "blocked: 10.0.0.1 is a private address (allow it with HOOKLINE_ALLOWED_NETWORKS)"
        );
        let e = g.check("169.254.169.254".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("cloud metadata"), "{e}");
        assert!(g.check("8.8.8.8".parse().unwrap()).is_ok());
        assert!(g.check("2606:4700::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn allowed_networks_override() {
        let g = Guard::new(vec![net("127.0.0.0/8"), net("::1/128"), net("10.1.0.0/16")]);
        assert!(g.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(g.check("127.9.9.9".parse().unwrap()).is_ok());
        assert!(g.check("::1".parse().unwrap()).is_ok());
        assert!(g.check("10.1.2.3".parse().unwrap()).is_ok());
        // The mapped form of an allowed IPv4 address is allowed too.
        assert!(g.check("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(g.check("::ffff:10.1.0.9".parse().unwrap()).is_ok());
        // Neighbours stay refused.
        assert!(g.check("10.2.0.1".parse().unwrap()).is_err());
        assert!(g.check("::ffff:10.2.0.1".parse().unwrap()).is_err());
        assert!(g.check("::2".parse().unwrap()).is_err());
        assert!(g.check("169.254.169.254".parse().unwrap()).is_err());
        // A v6 allowance can cover a range that is not otherwise public.
        let g = Guard::new(vec![net("fd00::/8")]);
        assert!(g.check("fd12::1".parse().unwrap()).is_ok());
        assert!(g.check("fe80::1".parse().unwrap()).is_err());
    }

    #[test]
    fn literal_ip_urls() {
        let g = Guard::new(vec![]);
        let blocked = [
            "http://127.0.0.1:8080/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]:8080/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "https://0.0.0.0/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://127.0.0.1./",
            "http://[fe80::1]/",
            "http://[64:ff9b::7f00:1]/",
        ];
        for u in blocked {
            let url = url::Url::parse(u).unwrap();
            assert!(g.check_url(&url).is_err(), "{u}");
        }
        for u in [
            "https://example.com/hook",
            "https://8.8.8.8/",
            "https://[2606:4700::1]/",
            "https://localhost/", // names are checked by the resolver
        ] {
            let url = url::Url::parse(u).unwrap();
            assert!(g.check_url(&url).is_ok(), "{u}");
        }
        let e = g
            .check_url(&url::Url::parse("http://[::ffff:127.0.0.1]:1/").unwrap())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "blocked: ::ffff:127.0.0.1 is a loopback address (allow it with HOOKLINE_ALLOWED_NETWORKS)"
        );
    }

    #[test]
    fn filter_keeps_allowed_and_reports_the_first_refusal() {
        let g = Guard::new(vec![]);
        let a: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let b: SocketAddr = "[::1]:0".parse().unwrap();
        let c: SocketAddr = "8.8.8.8:0".parse().unwrap();
        assert_eq!(g.filter("x", [a, c, b]).unwrap(), vec![c]);
        let e = g.filter("localhost", [a, b]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "blocked: localhost resolves to 127.0.0.1, which is a loopback address (allow it with HOOKLINE_ALLOWED_NETWORKS)"
        );
        let e = g.filter("empty.example", []).unwrap_err();
        assert_eq!(e.to_string(), "DNS: no address for empty.example");
    }

    #[tokio::test]
    async fn resolver_filters_localhost() {
        let r = GuardedResolver::new(Arc::new(Guard::new(vec![])));
        let err = match r.resolve("localhost").await {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e,
        };
        assert!(
            err.to_string()
                .starts_with("blocked: localhost resolves to"),
            "{err}"
        );

        let r = GuardedResolver::new(Arc::new(Guard::new(vec![
            net("127.0.0.0/8"),
            net("::1/128"),
        ])));
        let addrs: Vec<SocketAddr> = match r.resolve("localhost").await {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        };
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }
}

/// Seeded property runs: random addresses and URLs never panic the guard, and its verdicts
/// agree with themselves across address forms.
#[cfg(test)]
mod fuzz {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn random_addresses_classify_consistently() {
        let mut rng = XorShift(0x5eed_1234_abcd_ef01);
        let guard = Guard::new(vec![]);
        for _ in 0..200_000 {
            let v4 = Ipv4Addr::from(rng.next() as u32);
            let reason = forbidden_reason(IpAddr::V4(v4));
            // The IPv4-mapped IPv6 form is judged exactly like the IPv4 address.
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            assert_eq!(
                forbidden_reason(mapped).is_some(),
                reason.is_some(),
                "{v4} vs {mapped}"
            );
            assert_eq!(guard.check(IpAddr::V4(v4)).is_err(), reason.is_some());
            if v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast()
            {
                assert!(reason.is_some(), "{v4} must be refused");
            }
            let v6 = Ipv6Addr::from(((rng.next() as u128) << 64) | rng.next() as u128);
            let _ = forbidden_reason(IpAddr::V6(v6));
            if v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
            {
                assert!(
                    forbidden_reason(IpAddr::V6(v6)).is_some(),
                    "{v6} must be refused"
                );
            }
        }
    }

    #[test]
    fn random_urls_and_secrets_never_panic() {
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        let guard = Guard::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let alphabet: &[u8] = b"htps:/[]:.0123456789abcdefx%@?#-_~ \\\t\n\xff";
        let seeds = [
            "https://",
            "http://[::ffff:",
            "https://127.",
            "https://0x7f.",
            "https://[fe80::1%25",
            "whsec_",
        ];
        for _ in 0..100_000 {
            let mut s = seeds[(rng.next() % seeds.len() as u64) as usize]
                .as_bytes()
                .to_vec();
            for _ in 0..(rng.next() % 40) {
                s.push(alphabet[(rng.next() % alphabet.len() as u64) as usize]);
            }
            let s = String::from_utf8_lossy(&s).into_owned();
            if let Ok(u) = url::Url::parse(&s) {
                let _ = guard.check_url(&u);
            }
            let _ = crate::domain::WebhookUrl::parse(&s, rng.next().is_multiple_of(2));
            let _ = crate::domain::WebhookSecret::parse(&s);
        }
    }
}
