//! How a socket address becomes one cell of a text table (TSV or pretty):
//! `*` for an unknown one; what a process row shows of its identity. Strings from untrusted sources go through
//! [`netoproc_core::escape`] instead: `for_terminal` in pretty,
//! `reversible` in TSV. JSON does not use either; it escapes on its own.

use std::net::SocketAddr;

/// `10.0.0.1:80`, `[fd00::1]:80`, or `*` when unknown.
pub(crate) fn addr(a: Option<SocketAddr>) -> String {
    a.map_or_else(|| "*".to_string(), |a| a.to_string())
}

/// What a process row shows of its identity: the user's name (else the
/// uid, else `?`), and the workload's label (`docker:web`,
/// `nginx.service`; empty for a host process or an unread identity).
/// Unescaped.
pub(crate) fn user_and_owner(p: &netoproc_core::report::ProcessRow) -> (String, String) {
    let id = p.identity.as_deref();
    let user = id
        .and_then(|i| i.user.clone())
        .or_else(|| p.uid.map(|u| u.to_string()))
        .unwrap_or_else(|| "?".to_string());
    let owner = id.map(|i| i.workload.label()).unwrap_or_default();
    (user, owner)
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
