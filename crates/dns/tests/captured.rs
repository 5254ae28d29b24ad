//! The parser on real messages: every query and response of
//! `testdata/dns.pcap` (dig and a small TCP client against dnsmasq; see
//! `testdata/capture.sh` for the zones), whole and cut at every length.

mod common;

use netoproc_dns::{parse, AnswerData, DnsMessage, ParseError, Rcode, MAX_ANSWERS};

/// The response to the first query for `name`/`qtype` over `udp`.
fn response(name: &str, qtype: &str, udp: bool) -> DnsMessage {
    common::messages()
        .into_iter()
        .filter(|(c, _)| !c.to_server() && (c.protocol == netoproc_core::Protocol::Udp) == udp)
        .map(|(_, m)| parse(&m, false).expect("real message parses"))
        .find(|m| {
            m.question
                .as_ref()
                .is_some_and(|q| q.name == name && q.qtype.to_string() == qtype)
        })
        .unwrap_or_else(|| panic!("no response for {name} {qtype}"))
}

fn answers(m: &DnsMessage) -> Vec<String> {
    m.answers.iter().map(|a| a.data.to_string()).collect()
}

#[test]
fn every_captured_message_parses_whole() {
    let msgs = common::messages();
    assert_eq!(msgs.len(), 42);
    for (c, m) in &msgs {
        let msg = parse(m, false).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        assert!(msg.complete);
        assert_eq!(msg.is_response, !c.to_server(), "{c:?}");
        assert!(msg.question.is_some());
    }
}

#[test]
fn address_records_and_edns() {
    let a = response("www.np.test", "A", true);
    assert_eq!(answers(&a), ["10.53.0.10"]);
    assert_eq!(a.rcode, Rcode::NOERROR);
    assert!(a.is_response && !a.truncated);
    assert_eq!(a.answers[0].ttl, 300);
    let edns = a.edns.expect("dig sends EDNS, dnsmasq answers with it");
    assert_eq!(
        (edns.udp_payload, edns.version, edns.dnssec_ok),
        (1232, 0, false)
    );
    assert_eq!(
        answers(&response("www.np.test", "AAAA", true)),
        ["fd00:53::10"]
    );
}

#[test]
fn cname_chain_in_order() {
    let m = response("chain.np.test", "A", true);
    assert_eq!(
        answers(&m),
        ["CNAME alias.np.test", "CNAME www.np.test", "10.53.0.10"]
    );
    assert_eq!(m.answers[0].name, "chain.np.test");
    assert_eq!(m.answers[2].name, "www.np.test");
}

#[test]
fn mx_txt_srv_ptr() {
    assert_eq!(
        answers(&response("np.test", "MX", true)),
        ["MX 10 mail.np.test"]
    );
    assert_eq!(
        answers(&response("np.test", "TXT", true)),
        [r#"TXT "v=spf1 -all" "hello world""#]
    );
    assert_eq!(
        answers(&response("_sip._udp.np.test", "SRV", true)),
        ["SRV 0 5 5060 sip.np.test"]
    );
    assert_eq!(
        answers(&response("10.0.53.10.in-addr.arpa", "PTR", true)),
        ["PTR www.np.test"]
    );
}

#[test]
fn https_and_svcb() {
    let h = response("svc.np.test", "HTTPS", true);
    match &h.answers[0].data {
        AnswerData::Svcb {
            https,
            priority,
            target,
            params,
        } => {
            assert!(*https);
            assert_eq!((*priority, target.as_str()), (1, "."));
            assert_eq!(params, "alpn=h2 ipv4hint=10.53.0.10");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        answers(&response("_dns.np.test", "SVCB", true)),
        ["SVCB 0 svc.np.test"]
    );
}

#[test]
fn failure_codes() {
    assert_eq!(response("nx.np.test", "A", true).rcode, Rcode::NXDOMAIN);
    assert_eq!(response("example.com", "A", true).rcode, Rcode::REFUSED);
    assert_eq!(
        response("nx.np.test", "A", false).rcode.to_string(),
        "NXDOMAIN"
    );
}

#[test]
fn truncation_flag_without_edns() {
    let m = response("big.np.test", "TXT", true);
    assert!(m.truncated);
    assert!(m.answers.is_empty() && m.edns.is_none());
}

#[test]
fn answers_are_capped_but_counted() {
    let m = response("many.np.test", "A", false);
    assert_eq!(m.answer_count, 90);
    assert_eq!(m.answers.len(), MAX_ANSWERS);
    assert!(m.complete);
}

#[test]
fn a_copy_cut_by_the_kernel_keeps_header_question_and_what_fits() {
    let (_, whole) = common::messages()
        .into_iter()
        .find(|(_, m)| m.len() > common::KERNEL_COPY)
        .expect("a message over the copy limit");
    let cut = &whole[..common::KERNEL_COPY];
    assert_eq!(parse(cut, false), Err(ParseError::Malformed));
    let m = parse(cut, true).unwrap();
    assert!(!m.complete);
    assert_eq!(m.question.unwrap().name, "many.np.test");
    assert_eq!(m.answers.len(), MAX_ANSWERS);
}

#[test]
fn every_prefix_of_every_message_is_handled() {
    for (_, m) in common::messages() {
        for k in 0..m.len() {
            let p = &m[..k];
            if k < 12 {
                assert_eq!(parse(p, true), Err(ParseError::Short));
                continue;
            }
            assert!(
                parse(p, false).is_err(),
                "prefix {k} of {} taken as whole",
                m.len()
            );
            let cut = parse(p, true).expect("a cut copy keeps its header");
            assert!(!cut.complete);
        }
    }
}
