/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dns.h — copying DNS messages, and nothing else, to userspace with the
 * socket that sent or received them. Called from the cgroup_skb programs,
 * where the skb starts at the IP header. Sockets whose own ports show they
 * are not DNS cost two comparisons; only unconnected UDP sockets need the
 * packet's ports read. Userspace parses the message and drops it.
 */
#ifndef NETOPROC_DNS_H
#define NETOPROC_DNS_H

_Static_assert((NP_DNS_MAX & (NP_DNS_MAX - 1)) == 0, "NP_DNS_MAX must be a power of two");

/* Ports treated as DNS; set by userspace before load (0 = unused slot). */
const volatile __u16 np_dns_ports[NP_DNS_PORTS_MAX] = { 53 };

static __always_inline bool np_is_dns_port(__u16 port)
{
	if (!port)
		return false;
#pragma unroll
	for (int i = 0; i < NP_DNS_PORTS_MAX; i++)
		if (np_dns_ports[i] == port)
			return true;
	return false;
}

#define NP_IPV6_HDR_LEN 40

static __always_inline void np_maybe_dns(struct __sk_buff *skb, struct bpf_sock *sk,
					 struct np_sock_stats *st, int dir)
{
	__u16 sport = sk->src_port;
	__u16 dport = bpf_ntohs(sk->dst_port);
	bool unconnected_udp = sk->protocol == IPPROTO_UDP && dport == 0;

	if (!np_dns_ports[0]) /* DNS capture switched off */
		return;

	if (!unconnected_udp && !np_is_dns_port(sport) && !np_is_dns_port(dport))
		return;

	__u32 zero = 0;
	struct np_dns_event *ev = bpf_map_lookup_elem(&np_dns_scratch, &zero);
	if (!ev)
		return;

	__u8 first;
	__u32 l4off, proto;

	if (bpf_skb_load_bytes(skb, 0, &first, 1))
		goto unparsed;
	__builtin_memset(&ev->tuple, 0, sizeof(ev->tuple));
	if ((first >> 4) == 4) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			goto unparsed;
		if (ip.frag_off & bpf_htons(0x1fff)) /* not the first fragment */
			return;
		l4off = ip.ihl * 4;
		proto = ip.protocol;
		ev->tuple.family = AF_INET;
		__builtin_memcpy(ev->tuple.saddr, &ip.saddr, 4);
		__builtin_memcpy(ev->tuple.daddr, &ip.daddr, 4);
	} else if ((first >> 4) == 6) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			goto unparsed;
		l4off = NP_IPV6_HDR_LEN;
		proto = ip6.nexthdr; /* extension headers: not DNS we can read */
		ev->tuple.family = AF_INET6;
		__builtin_memcpy(ev->tuple.saddr, &ip6.saddr, 16);
		__builtin_memcpy(ev->tuple.daddr, &ip6.daddr, 16);
	} else {
		goto unparsed;
	}

	__u32 payload_off;
	__be16 ports[2];

	ev->tcp_seq = 0;
	ev->_pad1 = 0;
	if (proto == IPPROTO_UDP) {
		payload_off = l4off + 8;
	} else if (proto == IPPROTO_TCP) {
		__u8 doff;
		__be32 seq;

		if (bpf_skb_load_bytes(skb, l4off + 12, &doff, 1) ||
		    bpf_skb_load_bytes(skb, l4off + 4, &seq, 4))
			goto unparsed;
		payload_off = l4off + (doff >> 4) * 4;
		/* Retransmitted segments pass here again: the sequence number
		 * lets userspace keep the stream's framing. */
		ev->tcp_seq = bpf_ntohl(seq);
	} else {
		return;
	}
	if (bpf_skb_load_bytes(skb, l4off, ports, sizeof(ports)))
		goto unparsed;
	ev->tuple.protocol = proto;
	ev->tuple.sport = bpf_ntohs(ports[0]);
	ev->tuple.dport = bpf_ntohs(ports[1]);
	if (!np_is_dns_port(ev->tuple.sport) && !np_is_dns_port(ev->tuple.dport))
		return;
	if (skb->len <= payload_off)
		return; /* no payload: a pure TCP ACK, SYN or FIN */

	__u32 len = skb->len - payload_off;
	__u64 cap = len;

	if (cap > NP_DNS_MAX) {
		cap = NP_DNS_MAX;
		stat_add(NP_STAT_DNS_TRUNCATED, 1);
	}
	/* cap is 1..NP_DNS_MAX here, but clang drops checks it can prove and
	 * older verifiers (6.1) cannot narrow `!= 0`: compute the same value in
	 * a way every verifier bounds to [1, NP_DNS_MAX] by arithmetic alone. */
	asm volatile("%0 -= 1; %0 &= %1; %0 += 1" : "+r"(cap) : "i"(NP_DNS_MAX - 1));
	if (bpf_skb_load_bytes(skb, payload_off, ev->data, cap))
		goto unparsed;

	ev->hdr.kind = NP_EV_DNS;
	ev->hdr._pad0 = 0;
	ev->hdr.ktime_ns = bpf_ktime_get_ns();
	ev->cookie = st->cookie;
	ev->dir = dir;
	ev->owner_tgid = (st->flags & (NP_F_OWNER | NP_F_EARLY_OWNER)) ? st->owner.tgid : 0;
	ev->payload_len = len;
	ev->captured = cap;

	__u64 size = offsetof(struct np_dns_event, data) + cap;

	if (size > sizeof(*ev))
		return;
	if (bpf_ringbuf_output(&np_events, ev, size, np_rb_flags()))
		stat_add(NP_STAT_RINGBUF_LOST, 1);
	else
		stat_add(NP_STAT_DNS_EVENTS, 1);
	return;
unparsed:
	stat_add(NP_STAT_DNS_UNPARSED, 1);
}

#endif /* NETOPROC_DNS_H */
