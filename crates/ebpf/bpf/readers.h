/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * readers.h — the iterator programs userspace reads live records with (see
 * crates/ebpf/src/live_read.rs): the socket storage map in one read, or each
 * namespace's TCP and UDP sockets (which on the counter path also bring each
 * TCP socket's payload up to date and name sockets older than netoproc), and
 * the per-remote UDP counters. Included once, by netoproc.bpf.c.
 */
#ifndef NETOPROC_READERS_H
#define NETOPROC_READERS_H

SEC("iter/bpf_sk_storage_map")
int np_dump_socks(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	struct np_sock_stats *st = ctx->value;

	if (!ctx->sk || !st)
		return 0;
	bpf_seq_write(ctx->meta->seq, st, sizeof(*st));
	return 0;
}

/* Socket iterators: the live records of one network namespace's TCP and UDP
 * sockets (the namespace of the process that creates the iterator), where
 * the storage map iterator is refused. Sockets in TIME_WAIT or SYN_RECV have
 * no record: bpf_skc_to_tcp_sock() answers NULL for them. */
SEC("iter/tcp")
int np_dump_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	struct np_sock_stats *st;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	st = bpf_sk_storage_get(&np_socks, tp, 0, 0);
	if (np_counter_mode) {
		int state = skc->skc_state;
		bool moving = state == TCP_ESTABLISHED || state == TCP_FIN_WAIT1 ||
			      state == TCP_FIN_WAIT2 || state == TCP_CLOSE_WAIT ||
			      state == TCP_CLOSING || state == TCP_LAST_ACK;

		if (state == TCP_LISTEN)
			np_name_older_listener((struct sock *)tp);
		/* A connection older than netoproc: counted from now on. */
		if (!st && moving) {
			st = bpf_sk_storage_get(&np_socks, tp, 0, BPF_SK_STORAGE_GET_F_CREATE);
			if (!st) {
				stat_add(NP_STAT_SK_STORAGE_FAIL, 1);
				return 0;
			}
			st->cookie = bpf_get_socket_cookie(tp);
			np_read_tuple(&st->tuple, (struct sock *)tp);
			st->flags |= NP_F_TUPLE;
		}
		if (st && (moving || (st->base.flags & NP_B_SET)))
			np_tcp_count(st, (struct sock *)tp, state == TCP_CLOSE);
		if (st)
			np_name_older(st, (struct sock *)tp);
	}
	if (st) {
		/* Live health, as tcp_info would report it now. */
		if (st->life.role && !st->life.closed_ns)
			np_life_health(&st->life, (struct sock *)tp);
		bpf_seq_write(ctx->meta->seq, st, sizeof(*st));
	}
	return 0;
}

SEC("iter/udp")
int np_dump_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;
	struct np_sock_stats *st;

	if (!udp)
		return 0;
	st = bpf_sk_storage_get(&np_socks, &udp->inet.sk, 0, 0);
	if (st && np_counter_mode)
		np_name_older(st, &udp->inet.sk);
	if (st)
		bpf_seq_write(ctx->meta->seq, st, sizeof(*st));
	return 0;
}

/* Every per-remote record of unconnected UDP in one read(): walking the hash
 * with syscalls costs two per entry, and a busy UDP server's socket gains an
 * entry per client port. */
SEC("iter/bpf_map_elem")
int np_dump_peers(struct bpf_iter__bpf_map_elem *ctx)
{
	struct np_peer_key *k = ctx->key;
	struct np_peer_counters *c = ctx->value;
	struct np_peer_entry e;

	if (!k || !c)
		return 0;
	__builtin_memcpy(&e.key, k, sizeof(e.key));
	__builtin_memcpy(&e.counters, c, sizeof(e.counters));
	bpf_seq_write(ctx->meta->seq, &e, sizeof(e));
	return 0;
}

#endif /* NETOPROC_READERS_H */
