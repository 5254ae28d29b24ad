//! Network namespaces the end-to-end tests make and always delete: one
//! copy for every test crate, in `netoproc-testkit` ([`Netns`] with `lo` up,
//! [`VethPair`] with 10.203.N.x and fd00:203:N::x); re-exported here so the
//! tests keep naming `common::netns`.

// Each test binary uses only some of them.
#[allow(unused_imports)]
pub use netoproc_testkit::netns::{ip, mac, pin_neighbour, Netns, VethPair, IFACE_A, IFACE_B};
