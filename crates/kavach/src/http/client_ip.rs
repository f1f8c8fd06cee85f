//! The client's IP address: the socket peer, unless the peer is a configured
//! trusted proxy, in which case `X-Forwarded-For` is walked from the right past
//! every trusted hop. Never taken from a header the client controls alone.

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

/// An address block in CIDR notation (`10.0.0.0/8`, `::1/128`, or a bare address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s.trim().split_once('/').map(|(a, p)| (a, Some(p))).unwrap_or((s.trim(), None));
        let addr: IpAddr = a.parse().map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{s:?} has an invalid prefix length"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            _ => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix) };
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

/// Resolve the client IP from the peer address and headers.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[Cidr]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    // Walk from the right (the hops our proxies appended) to the first address
    // that is not a trusted proxy; what the client wrote further left is never read.
    let mut hops: Vec<&str> = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(v) = v.to_str() else { return Some(peer) };
        hops.extend(v.split(','));
    }
    for hop in hops.into_iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => continue,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

pub fn peer_of(ext: &axum::http::Extensions) -> Option<IpAddr> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(xff: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert("x-forwarded-for", xff.parse().unwrap());
        m
    }

    #[test]
    fn untrusted_peer_wins_over_headers() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(Some(peer), &h("1.2.3.4"), &[]), Some(peer));
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1".parse().unwrap()];
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(client_ip(Some(peer), &h("6.6.6.6, 198.51.100.7, 10.1.2.3"), &trusted), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(client_ip(Some(peer), &h("garbage"), &trusted), Some(peer));
        // Garbage the client wrote left of the real hops does not hide its address.
        assert_eq!(client_ip(Some(peer), &h("x, 198.51.100.7, 10.1.2.3"), &trusted), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(client_ip(Some(peer), &HeaderMap::new(), &trusted), Some(peer));
    }

    #[test]
    fn cidr_parsing() {
        assert!("::1".parse::<Cidr>().unwrap().contains("::1".parse().unwrap()));
        assert!("192.168.0.0/16".parse::<Cidr>().unwrap().contains("192.168.4.5".parse().unwrap()));
        assert!(!"192.168.0.0/16".parse::<Cidr>().unwrap().contains("192.169.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
    }
}
