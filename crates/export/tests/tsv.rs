//! The TSV format of a full run, pinned with an insta snapshot; field-level
//! checks live next to the code in `src/tsv.rs`.

mod common;

use netoproc_export::Format;

#[test]
fn processes_then_connections() {
    let out = common::render(Format::Tsv, &common::meta(), &common::report(), true);
    let header_fields = out
        .lines()
        .find(|l| l.starts_with("pid\t"))
        .unwrap()
        .split('\t')
        .count();
    let rows: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(rows[1].split('\t').count(), header_fields);
    insta::assert_snapshot!(out);
}
