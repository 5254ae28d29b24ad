//! Failures reported before or without a socket: these need no root.

use std::path::Path;

use netoproc_afpacket::{Ring, RingConfig, RingError};

#[test]
fn unknown_interface_is_a_clear_error() {
    let config = RingConfig {
        interface: Some("no-such-if0".into()),
        ..RingConfig::default()
    };
    let err = Ring::open(&config).err().expect("must fail");
    assert!(matches!(&err, RingError::UnknownInterface { name } if name == "no-such-if0"));
    assert!(err.to_string().contains("ip link"), "{err}");
}

#[test]
fn bad_geometry_is_rejected_before_any_socket() {
    let config = RingConfig {
        block_size: 5000,
        ..RingConfig::default()
    };
    assert!(matches!(Ring::open(&config), Err(RingError::Config(_))));
}

#[test]
fn missing_namespace_names_the_path() {
    let path = Path::new("/run/netns/netoproc-does-not-exist");
    let err = Ring::open_in_netns(path, &RingConfig::default())
        .err()
        .expect("must fail");
    assert!(
        matches!(&err, RingError::Netns { path: p, .. } if p == path),
        "{err}"
    );
}

#[test]
fn without_cap_net_raw_says_what_to_do() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("skipping without_cap_net_raw_says_what_to_do: running as root");
        return;
    }
    let err = Ring::open(&RingConfig::default()).err().expect("must fail");
    assert!(matches!(err, RingError::Permission), "{err}");
    assert!(err.to_string().contains("cap_net_raw"));
}
