//! The pretty format as a person sees it, pinned with insta snapshots.

mod common;

use netoproc_core::report::{Losses, Report};
use netoproc_export::{Format, Meta};

#[test]
fn processes_and_connections() {
    let out = common::render(Format::Pretty, &common::meta(), &common::report(), true);
    assert!(out.lines().take(6).all(|l| l.chars().count() <= 160));
    insta::assert_snapshot!(out);
}

#[test]
fn processes_only() {
    let out = common::render(Format::Pretty, &common::meta(), &common::report(), false);
    assert!(!out.contains("PROTO"));
    insta::assert_snapshot!(out);
}

#[test]
fn empty_report() {
    let meta = Meta {
        interrupted: true,
        duration_s: 3.2,
        lost: Losses::default(),
        degraded: Vec::new(),
        ..common::meta()
    };
    let out = common::render(Format::Pretty, &meta, &Report::default(), true);
    assert!(out.contains("no traffic captured in 3.2 s"));
    assert!(out.contains("nothing lost"));
    insta::assert_snapshot!(out);
}
