use super::*;

const STATUS: &str = "Name:\tnetoproc\nNoNewPrivs:\t1\nCapInh:\t0000000000000000\n\
CapPrm:\t0000000000282004\nCapEff:\t0000000000282004\nCapBnd:\t000001ffffffffff\n\
CapAmb:\t0000000000000000\n";

#[test]
fn status_lines_parse() {
    let c = ThreadCaps::parse(STATUS).unwrap();
    assert_eq!(c.permitted, 0x282004);
    assert_eq!(c.bounding, 0x1ff_ffff_ffff);
    assert!(c.no_new_privs);
    assert!(c.reduced_to(0x282004));
    assert!(!c.reduced_to(0x2004), "CAP_SYS_ADMIN is still held");
    let before = STATUS.replace("NoNewPrivs:\t1", "NoNewPrivs:\t0");
    assert!(!ThreadCaps::parse(&before).unwrap().reduced_to(0x282004));
    assert_eq!(ThreadCaps::parse("CapEff:\tzz\n"), None);
}

#[test]
fn kept_is_needed_and_held() {
    let needs = [
        CapabilityNeed {
            capability: Capability::CAP_NET_RAW,
            why: "a",
        },
        CapabilityNeed {
            capability: Capability::CAP_SYS_ADMIN,
            why: "b",
        },
        CapabilityNeed {
            capability: Capability::CAP_NET_RAW,
            why: "c",
        },
    ];
    let held = Capability::CAP_NET_RAW.bitmask() | Capability::CAP_BPF.bitmask();
    let kept = retained(held, &needs);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].capability, Capability::CAP_NET_RAW);
    assert_eq!(kept[0].why, "a");
    assert!(retained(0, &needs).is_empty());
    assert!(retained(u64::MAX, &[]).is_empty());
}

#[test]
fn verbose_lines_say_what_and_why() {
    let d = Dropped {
        kept: vec![CapabilityNeed {
            capability: Capability::CAP_NET_RAW,
            why: "new rings",
        }],
        cleared: vec![Capability::CAP_BPF],
        bounding: false,
    };
    assert_eq!(
        d.lines(),
        [
            "keeps CAP_NET_RAW after start: new rings",
            "cleared after start (not needed any more): CAP_BPF",
            "no-new-privs set"
        ]
    );
}
