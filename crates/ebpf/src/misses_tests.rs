use std::path::Path;

use super::*;

/// A program fd's fdinfo as Linux 6.18 prints it (with bpf_stats on).
const FDINFO_6_18: &str = "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t2065\n\
prog_type:\t26\nprog_jited:\t1\nprog_tag:\t6deef7357e7b4530\nmemlock:\t8192\n\
prog_id:\t611\nrun_time_ns:\t367601234\nrun_cnt:\t975083\nrecursion_misses:\t666\n\
verified_insns:\t1180\n";

#[test]
fn reads_the_recursion_misses_line() {
    assert_eq!(parse_recursion_misses(FDINFO_6_18), Some(666));
}

#[test]
fn kernels_without_the_line_report_none() {
    assert_eq!(
        parse_recursion_misses("prog_type:\t26\nprog_id:\t3\n"),
        None
    );
    assert_eq!(parse_recursion_misses("recursion_misses:\tlots\n"), None);
}

#[test]
fn fdinfo_sits_beside_the_given_mountinfo() {
    assert_eq!(
        fdinfo_dir(Path::new("/proc/self/mountinfo")),
        Path::new("/proc/self/fdinfo")
    );
}
