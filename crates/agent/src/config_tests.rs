//! The configuration's unit tests: parsing, flags over the file, ranges
//! and the series budget they leave identities.

use super::*;
use crate::metrics::TCP_SERIES_PER_IDENTITY;

#[test]
fn unknown_keys_and_bad_types_name_their_line() {
    let e = FileConfig::parse("listen = \"0.0.0.0:1\"\n\n[metrics]\nmax_seris = 5\n").unwrap_err();
    assert!(e.starts_with("line 4: "), "{e}");
    assert!(e.contains("max_seris"), "{e}");
    let e = FileConfig::parse("[capture]\nrings = \"two\"\n").unwrap_err();
    assert!(e.starts_with("line 2: "), "{e}");
    let e = FileConfig::parse("bogus = 1\n").unwrap_err();
    assert!(e.starts_with("line 1: "), "{e}");
    let c = FileConfig::parse("web_config_file = \"web.yml\"\n").unwrap();
    assert_eq!(c.web_config_file.as_deref(), Some(Path::new("web.yml")));
    let e = FileConfig::parse("listen = \n").unwrap_err();
    assert!(e.starts_with("line 1: "), "{e}");
}

#[test]
fn a_full_file_parses() {
    let text = include_str!("../../../deploy/netoproc.toml");
    let c = FileConfig::parse(text).unwrap();
    assert_eq!(c.listen.as_deref(), Some(DEFAULT_LISTEN));
    assert_eq!(c.metrics.max_series, Some(DEFAULT_MAX_SERIES));
    assert_eq!(c.metrics.tcp_connections, Some(DEFAULT_TCP_CONNECTIONS));
    let s = MetricsSettings::resolve(&MetricsSection::default(), &c.metrics).unwrap();
    assert_eq!(s.ttl, DEFAULT_TTL);
    assert!(s.tcp_connections);
}

#[test]
fn flags_win_and_ranges_are_checked() {
    let file = MetricsSection {
        max_series: Some(5000),
        identity_ttl_s: Some(30),
        ..Default::default()
    };
    let flags = MetricsSection {
        max_series: Some(20_000),
        ..Default::default()
    };
    let s = MetricsSettings::resolve(&flags, &file).unwrap();
    assert_eq!((s.max_series, s.ttl), (20_000, Duration::from_secs(30)));
    let b = s.budget();
    assert!(fixed_series(true) + b.max_identities * series_per_identity(2, true) <= 20_000);
    let tiny = MetricsSection {
        max_series: Some(10),
        ..Default::default()
    };
    assert!(MetricsSettings::resolve(&tiny, &file).is_err());
    let zero_ttl = MetricsSection {
        identity_ttl_s: Some(0),
        ..Default::default()
    };
    assert!(MetricsSettings::resolve(&zero_ttl, &file).is_err());
    // Remote pairs come out of the same budget, at most half of it.
    let remotes = MetricsSection {
        remote_series: Some(500),
        ..Default::default()
    };
    let r = MetricsSettings::resolve(&remotes, &file).unwrap();
    assert_eq!(r.remote_budget().map(|b| b.max_identities), Some(500));
    let b = r.budget();
    assert!(
        fixed_series(true) + b.max_identities * series_per_identity(2, true) + remote_cost(500)
            <= 5000
    );
    assert!(s.remote_budget().is_none(), "off unless asked for");
    let greedy = MetricsSection {
        remote_series: Some(1000),
        ..Default::default()
    };
    let e = MetricsSettings::resolve(&greedy, &file).unwrap_err();
    assert!(e.to_string().contains("remote_series"), "{e}");
    assert!(resolve_listen(Some("nonsense"), None).is_err());
    assert_eq!(
        resolve_listen(None, None).unwrap(),
        DEFAULT_LISTEN.parse().unwrap()
    );
}

/// The settings from `file`'s `[metrics]` and `flags`.
fn settings(flags: MetricsSection, file: &str) -> Result<MetricsSettings, ConfigError> {
    let file = FileConfig::parse(file).unwrap();
    MetricsSettings::resolve(&flags, &file.metrics)
}

#[test]
fn tcp_connections_is_on_unless_switched_off_and_the_flag_wins() {
    let default = settings(MetricsSection::default(), "").unwrap();
    assert!(default.tcp_connections);
    let off = settings(
        MetricsSection::default(),
        "[metrics]\ntcp_connections = false\n",
    )
    .unwrap();
    assert!(!off.tcp_connections);
    let on = settings(
        MetricsSection::default(),
        "[metrics]\ntcp_connections = true\n",
    )
    .unwrap();
    assert!(on.tcp_connections);
    // The flag over the file, both ways.
    let flag = |v| MetricsSection {
        tcp_connections: Some(v),
        ..Default::default()
    };
    let s = settings(flag(true), "[metrics]\ntcp_connections = false\n").unwrap();
    assert!(s.tcp_connections);
    let s = settings(flag(false), "[metrics]\ntcp_connections = true\n").unwrap();
    assert!(!s.tcp_connections);
    let e = FileConfig::parse("[metrics]\ntcp_connections = \"no\"\n").unwrap_err();
    assert!(e.starts_with("line 2: "), "{e}");
}

#[test]
fn the_default_budget_with_and_without_tcp_connections() {
    // 10 000 series: 631 fixed, then 58 per identity (20 traffic, DNS and
    // `_info`, 38 TCP) with the TCP families; 577 fixed (the lifecycle's
    // three loss counters stay) and 20 per identity without them.
    assert_eq!(TCP_SERIES_PER_IDENTITY, 38);
    assert_eq!(
        (fixed_series(true), series_per_identity(2, true)),
        (631, 58)
    );
    assert_eq!(
        (fixed_series(false), series_per_identity(2, false)),
        (577, 20)
    );
    let on = settings(MetricsSection::default(), "").unwrap();
    assert_eq!(on.budget().max_identities, 161);
    let off = settings(
        MetricsSection::default(),
        "[metrics]\ntcp_connections = false\n",
    )
    .unwrap();
    // What the budget held before the TCP families existed.
    assert_eq!(off.budget().max_identities, 471);
    for s in [on, off] {
        let b = s.budget();
        let per = series_per_identity(2, s.tcp_connections);
        let fixed = fixed_series(s.tcp_connections);
        assert!(fixed + b.max_identities * per <= s.max_series);
        assert!(fixed + (b.max_identities + 1) * per > s.max_series);
    }
}

#[test]
fn the_least_max_series_is_room_for_five_identities_at_their_cost() {
    let at = |max_series, tcp| MetricsSection {
        max_series: Some(max_series),
        tcp_connections: Some(tcp),
        ..Default::default()
    };
    let least_on = fixed_series(true) + 5 * series_per_identity(2, true);
    let least_off = fixed_series(false) + 5 * series_per_identity(2, false);
    assert_eq!((least_on, least_off), (921, 677));
    assert_eq!(
        settings(at(least_on, true), "")
            .unwrap()
            .budget()
            .max_identities,
        5
    );
    let e = settings(at(least_on - 1, true), "").unwrap_err();
    assert_eq!(
        e.to_string(),
        "max_series: must be between 921 (room for 5 identities) and 10000000, got 920"
    );
    // Without the TCP families far fewer series hold five identities.
    let s = settings(at(least_off, false), "").unwrap();
    assert_eq!(s.budget().max_identities, 5);
    let e = settings(at(least_off - 1, false), "").unwrap_err();
    assert_eq!(
        e.to_string(),
        "max_series: must be between 677 (room for 5 identities without TCP connection series) and 10000000, got 676"
    );
    // The file's setting counts as much as the flag's.
    let file_off = MetricsSection {
        max_series: Some(least_off),
        ..Default::default()
    };
    assert!(settings(file_off.clone(), "").is_err());
    assert!(settings(file_off, "[metrics]\ntcp_connections = false\n").is_ok());
}
