use super::*;
use crate::cli::Cli;
use clap::CommandFactory;

fn check(args: &[&str], why: Option<&str>) -> Result<(), String> {
    let command = Cli::command();
    let matches = command.clone().try_get_matches_from(args).expect("parses");
    check_input(&command, &matches, why).map_err(|f| {
        assert_eq!(f.exit_code(), 4, "{f}");
        f.to_string()
    })
}

const WHY: Option<&str> = Some("test");

#[test]
fn path_flags_are_refused_only_when_elevated() {
    let e = check(&["netoproc", "--proc-root", "/tmp/x"], WHY).unwrap_err();
    assert!(e.contains("refusing --proc-root"), "{e}");
    assert!(e.contains("run it as root"), "{e}");
    let e = check(&["netoproc", "--sys-root=/tmp/x", "-d", "1"], WHY).unwrap_err();
    assert!(
        e.contains("--sys-root") && !e.contains("--proc-root"),
        "{e}"
    );
    let e = check(&["netoproc", "doctor", "--sys-root", "/tmp/x"], WHY).unwrap_err();
    assert!(e.contains("doctor --sys-root"), "{e}");
    // The default value is not the caller's choice.
    check(&["netoproc", "-d", "1"], WHY).unwrap();
    check(&["netoproc", "doctor"], WHY).unwrap();
    // Not elevated: everything goes.
    check(&["netoproc", "--proc-root", "/tmp/x"], None).unwrap();
}

#[test]
fn every_path_valued_flag_is_covered() {
    // The rule is by value type, so a flag added tomorrow is refused too.
    let command = Command::new("netoproc")
        .arg(
            clap::Arg::new("output")
                .long("output")
                .value_parser(clap::value_parser!(PathBuf)),
        )
        .arg(clap::Arg::new("name").long("name"));
    let m = command
        .clone()
        .try_get_matches_from(["netoproc", "--output", "/x", "--name", "/y"])
        .unwrap();
    let e = check_input(&command, &m, WHY).unwrap_err().to_string();
    assert!(e.contains("--output") && !e.contains("--name"), "{e}");
}

#[test]
fn sizes_are_bounded_when_elevated() {
    let ok = Sizes {
        ring_mib: 8,
        rings: 1,
        namespaces: bounds::NAMESPACES,
        ringbuf_kib: 8192,
    };
    check_sizes(ok, WHY).unwrap();
    for (bad, flag) in [
        (Sizes { ring_mib: 65, ..ok }, "--ring-mib 65"),
        (Sizes { rings: 5, ..ok }, "--rings 5"),
        (
            Sizes {
                namespaces: 17,
                ..ok
            },
            "--max-netns 17",
        ),
        (
            Sizes {
                ring_mib: 64,
                rings: 4,
                ..ok
            },
            "4096 MiB of rings",
        ),
        (
            Sizes {
                ringbuf_kib: 1 << 17,
                ..ok
            },
            "--ringbuf-kib 131072",
        ),
    ] {
        let e = check_sizes(bad, WHY).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(e.to_string().contains(flag), "{e}");
        check_sizes(bad, None).unwrap();
    }
}
