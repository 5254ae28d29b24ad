/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * counters.h — the counter path (np_counter_mode): no program runs per send
 * or receive call. TCP payload is read from the kernel's own per-socket
 * counters (np_tcp_count) at state changes and by the socket iterator; UDP
 * payload from the packets the cgroup_skb programs already see
 * (np_udp_packet); owners from hooks that run once per socket: socket
 * creation, connect, listen (a listener's children take its owner) and
 * release. Nothing here reads payload.
 */
#ifndef NETOPROC_COUNTERS_H
#define NETOPROC_COUNTERS_H

/* Set by userspace at load time when the counter path is chosen; the
 * verifier drops the branches not taken. */
const volatile bool np_counter_mode = false;

#define NP_SOCK_DONE 1 /* enum sock_flags: the peer's FIN arrived (tcp_fin) */

/* What the application has written and read on `sk` as the kernel counts
 * it, each a 64-bit number that only grows (see struct np_tcp_base). */
static __always_inline void np_tcp_app_bytes(const struct sock *sk, const struct np_sock_stats *st,
					     __u64 *tx, __u64 *rx)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u32 unacked = BPF_CORE_READ(tp, write_seq) - BPF_CORE_READ(tp, snd_una);
	__u32 unread = BPF_CORE_READ(tp, rcv_nxt) - BPF_CORE_READ(tp, copied_seq);
	__u64 t = BPF_CORE_READ(tp, bytes_acked) + unacked;
	__u64 r = BPF_CORE_READ(tp, bytes_received) - unread;

	/* The FIN takes a sequence number: this side's is in write_seq once
	 * queued; the peer's is in bytes_received, and in copied_seq once the
	 * application read the end of the stream (then nothing is unread). */
	if (st->base.flags & NP_B_FIN_OUT)
		t -= 1;
	if (!unread && (BPF_CORE_READ(sk, __sk_common.skc_flags) & (1UL << NP_SOCK_DONE)))
		r -= 1;
	*tx = t;
	*rx = r;
}

/* Brings the record's TCP payload counters up to what the kernel counts
 * now; the first call (at ESTABLISHED, or the iterator's first sight of an
 * older connection) only takes the base. `closed`: the socket is past
 * TCP_CLOSE, where nothing more can be written (the written count was
 * taken at CLOSE) and tcp_disconnect() (a close with SO_LINGER 0, connect
 * AF_UNSPEC) may have reset the sequence numbers and counters; the
 * application can still read what arrived before CLOSE. */
static __always_inline void np_tcp_count(struct np_sock_stats *st, const struct sock *sk,
					 bool closed)
{
	__u64 tx, rx;

	np_tcp_app_bytes(sk, st, &tx, &rx);
	if (!(st->base.flags & NP_B_SET)) {
		st->base.tx = tx;
		st->base.rx = rx;
		st->base.flags |= NP_B_SET;
		return;
	}
	if (!closed && (__s64)(tx - st->base.tx) > (__s64)st->counters.tx_bytes)
		st->counters.tx_bytes = tx - st->base.tx;
	if ((__s64)(rx - st->base.rx) > (__s64)st->counters.rx_bytes)
		st->counters.rx_bytes = rx - st->base.rx;
}

static __always_inline void np_listen_key_of(struct np_listen_key *k, const struct sock *sk)
{
	k->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	k->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	k->family = BPF_CORE_READ(sk, __sk_common.skc_family);
}

/* The record's owner from now on is `o` (recorded elsewhere: a listener's,
 * or one userspace read from /proc). */
static __always_inline void np_take_owner(struct np_sock_stats *st, const struct np_owner *o)
{
	__builtin_memcpy(&st->owner, o, sizeof(st->owner));
	st->flags |= NP_F_OWNER;
	st->flags &= ~NP_F_EARLY_OWNER;
}

/* listen(), in the listening process: it owns the connections accepted on
 * this socket (recorded for np_listener_child). */
static __always_inline void np_listener_opened(const struct sock *sk)
{
	struct np_listen_key k = {};
	struct np_owner o = {};

	np_listen_key_of(&k, sk);
	np_fill_owner(&o);
	o.netns = k.netns;
	if (bpf_map_update_elem(&np_listeners, &k, &o, BPF_ANY))
		stat_add(NP_STAT_SOCK_HASH_FULL, 1);
	np_describe_process();
}

/* A listener closed by its owner: forget it (another process's listener on
 * the same port, SO_REUSEPORT, keeps its entry). */
static __always_inline void np_listener_closed(const struct sock *sk)
{
	struct np_listen_key k = {};

	np_listen_key_of(&k, sk);
	struct np_owner *o = bpf_map_lookup_elem(&np_listeners, &k);

	if (o && o->tgid == bpf_get_current_pid_tgid() >> 32)
		bpf_map_delete_elem(&np_listeners, &k);
}

/* A listener's child (SYN_RECV): the listener's owner, if netoproc saw
 * listen() or userspace told it who listens there. Otherwise the process
 * that releases the socket names it at close; until then its bytes are
 * counted without an owner. */
static __always_inline void np_listener_child(struct np_sock_stats *st, const struct sock *sk)
{
	struct np_listen_key k = {};

	np_listen_key_of(&k, sk);
	struct np_owner *o = bpf_map_lookup_elem(&np_listeners, &k);

	if (!o || (st->flags & NP_F_OWNER))
		return;
	np_take_owner(st, o);
}

/* A socket older than netoproc, seen by a socket iterator without an
 * owner: the process that held it when netoproc started, if userspace found
 * one (np_inode_owners, by the socket's inode). */
static __always_inline void np_name_older(struct np_sock_stats *st, const struct sock *sk)
{
	if (st->flags & NP_F_OWNER)
		return;

	__u64 ino = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
	struct np_owner *o = ino ? bpf_map_lookup_elem(&np_inode_owners, &ino) : NULL;

	if (!o)
		return;
	np_take_owner(st, o);
}

/* A listener older than netoproc, seen by iter/tcp: named like the sockets
 * (np_inode_owners), so the connections it accepts from now on are too. A
 * listener the kernel saw listen keeps that entry. */
static __always_inline void np_name_older_listener(const struct sock *sk)
{
	__u64 ino = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
	struct np_owner *o = ino ? bpf_map_lookup_elem(&np_inode_owners, &ino) : NULL;
	struct np_listen_key k = {};

	if (!o)
		return;
	np_listen_key_of(&k, sk);
	if (bpf_map_update_elem(&np_listeners, &k, o, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&np_listeners, &k))
		stat_add(NP_STAT_SOCK_HASH_FULL, 1);
}

/* One UDP packet of `sk` on the counter path: its payload (the datagram, as
 * the cgroup_skb programs see it before fragmentation and after reassembly)
 * counts as one send or receive; for an unconnected socket also against the
 * remote in its headers. */
static __always_inline void np_udp_packet(struct __sk_buff *skb, struct bpf_sock *sk,
					  struct np_sock_stats *st, int dir)
{
	struct np_peer_key key = {};
	bool unconnected = !sk->dst_port;
	__u32 l4off;
	__u8 first;

	if (bpf_skb_load_bytes(skb, 0, &first, 1))
		goto unparsed;
	if ((first >> 4) == 4) {
		l4off = (first & 0xf) * 4;
		key.family = AF_INET;
		if (unconnected && bpf_skb_load_bytes(skb, dir == NP_DIR_TX ? 16 : 12, key.addr, 4))
			goto unparsed;
	} else if ((first >> 4) == 6) {
		__u8 next;

		if (bpf_skb_load_bytes(skb, 6, &next, 1) || next != IPPROTO_UDP)
			goto unparsed;
		l4off = NP_IPV6_HDR_LEN;
		key.family = AF_INET6;
		if (unconnected && bpf_skb_load_bytes(skb, dir == NP_DIR_TX ? 24 : 8, key.addr, 16))
			goto unparsed;
	} else {
		goto unparsed;
	}
	if (skb->len < l4off + 8)
		goto unparsed;

	long payload = skb->len - l4off - 8;

	np_add_payload(st, payload, dir);
	if (!unconnected)
		return;

	__be16 port;

	if (bpf_skb_load_bytes(skb, l4off + (dir == NP_DIR_TX ? 2 : 0), &port, 2))
		goto unparsed;
	key.cookie = st->cookie;
	key.port = bpf_ntohs(port);
	np_peer_add(&key, payload, dir);
	return;
unparsed:
	stat_add(NP_STAT_UDP_UNPARSED, 1);
}

#endif /* NETOPROC_COUNTERS_H */
