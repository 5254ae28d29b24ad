//! How a socket address becomes one cell of a text table (TSV or pretty):
//! `*` for an unknown one. Strings from untrusted sources go through
//! [`netoproc_core::escape`] instead: `for_terminal` in pretty,
//! `reversible` in TSV. JSON does not use either; it escapes on its own.

use std::net::SocketAddr;

/// `10.0.0.1:80`, `[fd00::1]:80`, or `*` when unknown.
pub(crate) fn addr(a: Option<SocketAddr>) -> String {
    a.map_or_else(|| "*".to_string(), |a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_bracket_ipv6_and_star_unknown() {
        assert_eq!(addr(Some("10.0.0.1:80".parse().unwrap())), "10.0.0.1:80");
        assert_eq!(addr(Some("[fd00::1]:80".parse().unwrap())), "[fd00::1]:80");
        assert_eq!(addr(None), "*");
    }
}
