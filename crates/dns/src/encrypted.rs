//! Encrypted DNS, flagged, never decoded: a connection to port 853 is DNS
//! over TLS (TCP) or over QUIC (UDP); HTTPS (port 443, TCP or QUIC) to a
//! well-known public resolver's address, or to an address the name cache
//! knows as a DoH endpoint, is DNS over HTTPS. Other DoH servers look like
//! any HTTPS and are not flagged.

use std::net::{IpAddr, SocketAddr};

use netoproc_core::model::canonical_ip;

/// Anycast addresses of public DoH resolvers (Cloudflare, Google, Quad9).
const DOH_ADDRESSES: [&str; 12] = [
    "1.1.1.1",
    "1.0.0.1",
    "8.8.8.8",
    "8.8.4.4",
    "9.9.9.9",
    "149.112.112.112",
    "2606:4700:4700::1111",
    "2606:4700:4700::1001",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
    "2620:fe::fe",
    "2620:fe::9",
];

/// Host names of public DoH endpoints, matched against the name cache.
const DOH_HOSTS: [&str; 8] = [
    "cloudflare-dns.com",
    "one.one.one.one",
    "dns.google",
    "dns.google.com",
    "dns.quad9.net",
    "dns.adguard-dns.com",
    "doh.opendns.com",
    "dns.nextdns.io",
];

/// An encrypted DNS transport: its queries are counted as connections,
/// never parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptedDns {
    /// DNS over TLS or over QUIC (port 853).
    Dot,
    /// DNS over HTTPS.
    Doh,
}

/// What kind of encrypted DNS a connection to `remote` is, if any;
/// `host` is the name the cache has for its address.
pub fn classify(remote: SocketAddr, host: Option<&str>) -> Option<EncryptedDns> {
    match remote.port() {
        853 => Some(EncryptedDns::Dot),
        // TCP (HTTP/2) and UDP (HTTP/3) alike.
        443 if is_doh_address(remote.ip()) || host.is_some_and(|h| DOH_HOSTS.contains(&h)) => {
            Some(EncryptedDns::Doh)
        }
        _ => None,
    }
}

fn is_doh_address(ip: IpAddr) -> bool {
    let ip = canonical_ip(ip);
    DOH_ADDRESSES
        .iter()
        .any(|a| a.parse::<IpAddr>().is_ok_and(|a| a == ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(remote: &str, host: Option<&str>) -> Option<EncryptedDns> {
        classify(remote.parse().unwrap(), host)
    }

    #[test]
    fn dot_by_port_doh_by_address_or_name() {
        assert_eq!(c("10.0.0.1:853", None), Some(EncryptedDns::Dot));
        assert_eq!(c("1.1.1.1:443", None), Some(EncryptedDns::Doh));
        assert_eq!(c("[::ffff:8.8.4.4]:443", None), Some(EncryptedDns::Doh));
        assert_eq!(c("[2620:fe::fe]:443", None), Some(EncryptedDns::Doh));
        assert_eq!(
            c("203.0.113.9:443", Some("dns.google")),
            Some(EncryptedDns::Doh)
        );
        assert_eq!(c("203.0.113.9:443", Some("www.example.com")), None);
        assert_eq!(c("1.1.1.1:53", None), None);
        assert_eq!(c("1.1.1.1:80", None), None);
    }
}
