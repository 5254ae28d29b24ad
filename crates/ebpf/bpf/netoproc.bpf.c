// SPDX-License-Identifier: GPL-2.0-only
/*
 * netoproc.bpf.c — every BPF program netoproc loads. Userspace picks one rung
 * of byte hooks (tracepoint, fentry or kprobe: the first that loads and
 * attaches) and adds the cgroup programs around it:
 *
 *   counters   no program per call (np_counter_mode, counters.h): TCP from
 *              the kernel's socket counters at state changes and in iter/tcp,
 *              UDP from cgroup_skb, owners from cgroup/sock_create, connect,
 *              listen; otherwise one of these rungs of per-call hooks:
 *   bytes      tp_btf/sock_{send,recv}_length  (Linux 6.3+)
 *              fexit/inet{,6}_{send,recv}msg, fexit/inet_sendpage (BTF kernels)
 *              kprobe+kretprobe on the same functions (anything else)
 *   UDP remote cgroup/sendmsg{4,6}, cgroup/recvmsg{4,6}
 *   close      cgroup/sock_release, tp_btf/inet_sock_set_state (TCP_CLOSE),
 *              kprobe/inet_release (kprobe rung)
 *   wire bytes cgroup_skb/{egress,ingress}, which also copy DNS payloads
 *   reading    iter/bpf_sk_storage_map dumps every live socket record; where
 *              the kernel refuses it, iter/tcp and iter/udp dump the records
 *              of one namespace's sockets; where those are refused too, the
 *              records live in a hash (np_walk_mode) that userspace walks.
 *              iter/bpf_map_elem dumps every per-remote record of
 *              unconnected UDP (else userspace walks that hash too).
 *
 * Only headers and socket metadata are read; payload never is.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "abi.h"
#include "maps.h"
#include "sock_record.h"
#include "dns.h"
#include "counters.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- tracing rungs: records in socket-local storage ---------------------- */

/* Set by userspace at load time when no iterator can read socket storage on
 * this kernel (map and socket iterators both refused): then every record
 * lives in np_sock_walk, keyed by socket cookie, which userspace walks with
 * the map syscalls. Read-only data: the verifier drops the branch not taken. */
const volatile bool np_walk_mode = false;

/* np_sock_walk's record of the socket `cookie`, made on first sight; a full
 * map is counted. */
static __always_inline struct np_sock_stats *np_walk_record(__u64 cookie)
{
	struct np_sock_stats *st = bpf_map_lookup_elem(&np_sock_walk, &cookie);

	if (st)
		return st;

	struct np_sock_stats *zero = np_zero();

	if (zero)
		bpf_map_update_elem(&np_sock_walk, &cookie, zero, BPF_NOEXIST);
	st = bpf_map_lookup_elem(&np_sock_walk, &cookie);
	if (!st)
		stat_add(NP_STAT_SOCK_HASH_FULL, 1);
	else if (!st->cookie)
		st->cookie = cookie;
	return st;
}

/* The socket's record, made on first sight; a failure is counted. `sk` is
 * whatever socket pointer the program type has (kernel sock, bpf_sock);
 * `cookie` is its socket cookie, read by the caller only in walk mode (0
 * otherwise: the storage record gets it from the caller afterwards). */
static __always_inline struct np_sock_stats *np_sock_record(void *sk, __u64 cookie)
{
	if (np_walk_mode)
		return np_walk_record(cookie);

	struct np_sock_stats *st =
		bpf_sk_storage_get(&np_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);

	if (!st)
		stat_add(NP_STAT_SK_STORAGE_FAIL, 1);
	return st;
}

/* The socket's record if it has one (close paths: never creates one). */
static __always_inline struct np_sock_stats *np_sock_record_lookup(void *sk, __u64 cookie)
{
	if (np_walk_mode)
		return bpf_map_lookup_elem(&np_sock_walk, &cookie);
	return bpf_sk_storage_get(&np_socks, sk, 0, 0);
}

static __always_inline void np_on_io_traced(struct sock *sk, long bytes, int dir)
{
	if (!sk)
		return;
	if (!np_tracked(sk->__sk_common.skc_family, sk->sk_protocol))
		return;

	struct np_sock_stats *st =
		np_sock_record(sk, np_walk_mode ? bpf_get_socket_cookie(sk) : 0);

	if (!st)
		return;
	if (!st->cookie)
		st->cookie = bpf_get_socket_cookie(sk);
	np_count_io(st, sk, bytes, dir);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(np_tp_send, struct sock *sk, int ret, int flags)
{
	if (ret > 0)
		np_on_io_traced(sk, ret, NP_DIR_TX);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(np_tp_recv, struct sock *sk, int ret, int flags)
{
	if (ret > 0 && !(flags & MSG_PEEK))
		np_on_io_traced(sk, ret, NP_DIR_RX);
	return 0;
}

SEC("fexit/inet_sendmsg")
int BPF_PROG(np_fexit_inet_sendmsg, struct socket *sock, struct msghdr *msg, size_t size, int ret)
{
	if (ret > 0)
		np_on_io_traced(sock->sk, ret, NP_DIR_TX);
	return 0;
}

SEC("fexit/inet6_sendmsg")
int BPF_PROG(np_fexit_inet6_sendmsg, struct socket *sock, struct msghdr *msg, size_t size, int ret)
{
	if (ret > 0)
		np_on_io_traced(sock->sk, ret, NP_DIR_TX);
	return 0;
}

SEC("fexit/inet_recvmsg")
int BPF_PROG(np_fexit_inet_recvmsg, struct socket *sock, struct msghdr *msg, size_t size,
	     int flags, int ret)
{
	if (ret > 0 && !(flags & MSG_PEEK))
		np_on_io_traced(sock->sk, ret, NP_DIR_RX);
	return 0;
}

SEC("fexit/inet6_recvmsg")
int BPF_PROG(np_fexit_inet6_recvmsg, struct socket *sock, struct msghdr *msg, size_t size,
	     int flags, int ret)
{
	if (ret > 0 && !(flags & MSG_PEEK))
		np_on_io_traced(sock->sk, ret, NP_DIR_RX);
	return 0;
}

/* sendfile/splice before Linux 6.5 bypass sendmsg and go through sendpage. */
SEC("fexit/inet_sendpage")
int BPF_PROG(np_fexit_inet_sendpage, struct socket *sock, struct page *page, int offset,
	     size_t size, int flags, long ret)
{
	if (ret > 0)
		np_on_io_traced(sock->sk, ret, NP_DIR_TX);
	return 0;
}

/* ---- kprobe rung: records in a hash keyed by the socket's address -------- */

static __always_inline struct np_sock_stats *np_sock_hash_get(struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct np_sock_stats *st = bpf_map_lookup_elem(&np_sock_hash, &key);

	if (st)
		return st;

	struct np_sock_stats *zero = np_zero();

	if (zero)
		bpf_map_update_elem(&np_sock_hash, &key, zero, BPF_NOEXIST);
	st = bpf_map_lookup_elem(&np_sock_hash, &key);
	if (!st)
		stat_add(NP_STAT_SOCK_HASH_FULL, 1);
	return st;
}

static __always_inline int np_kprobe_enter(void *inflight, struct socket *sock, int flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct np_inflight in = {};

	in.sk = (__u64)BPF_CORE_READ(sock, sk);
	in.flags = flags;
	/* A thread is in at most one of these calls at a time, so a record
	 * already there belongs to a call whose return the kernel did not
	 * report (every kretprobe instance was in use): its bytes are lost,
	 * and counted here. */
	if (bpf_map_update_elem(inflight, &id, &in, BPF_NOEXIST)) {
		stat_add(NP_STAT_KRETPROBE_STALE, 1);
		bpf_map_update_elem(inflight, &id, &in, BPF_ANY);
	}
	return 0;
}

static __always_inline int np_kprobe_exit(void *inflight, long ret, int dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct np_inflight *in = bpf_map_lookup_elem(inflight, &id);

	if (!in) {
		stat_add(NP_STAT_INFLIGHT_MISS, 1);
		return 0;
	}
	struct sock *sk = (struct sock *)in->sk;
	__u32 flags = in->flags;

	bpf_map_delete_elem(inflight, &id);
	if (ret <= 0 || !sk || (dir == NP_DIR_RX && (flags & MSG_PEEK)))
		return 0;
	if (!np_tracked(BPF_CORE_READ(sk, __sk_common.skc_family), BPF_CORE_READ(sk, sk_protocol)))
		return 0;

	struct np_sock_stats *st = np_sock_hash_get(sk);
	if (!st)
		return 0;
	if (!st->cookie)
		st->cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	np_count_io(st, sk, ret, dir);
	return 0;
}

SEC("kprobe/inet_sendmsg")
int BPF_KPROBE(np_kp_inet_sendmsg, struct socket *sock)
{
	return np_kprobe_enter(&np_inflight_tx, sock, 0);
}

SEC("kretprobe/inet_sendmsg")
int BPF_KRETPROBE(np_krp_inet_sendmsg, int ret)
{
	return np_kprobe_exit(&np_inflight_tx, ret, NP_DIR_TX);
}

SEC("kprobe/inet6_sendmsg")
int BPF_KPROBE(np_kp_inet6_sendmsg, struct socket *sock)
{
	return np_kprobe_enter(&np_inflight_tx, sock, 0);
}

SEC("kretprobe/inet6_sendmsg")
int BPF_KRETPROBE(np_krp_inet6_sendmsg, int ret)
{
	return np_kprobe_exit(&np_inflight_tx, ret, NP_DIR_TX);
}

SEC("kprobe/inet_sendpage")
int BPF_KPROBE(np_kp_inet_sendpage, struct socket *sock)
{
	return np_kprobe_enter(&np_inflight_tx, sock, 0);
}

SEC("kretprobe/inet_sendpage")
int BPF_KRETPROBE(np_krp_inet_sendpage, long ret)
{
	return np_kprobe_exit(&np_inflight_tx, ret, NP_DIR_TX);
}

SEC("kprobe/inet_recvmsg")
int BPF_KPROBE(np_kp_inet_recvmsg, struct socket *sock, struct msghdr *msg, size_t size, int flags)
{
	return np_kprobe_enter(&np_inflight_rx, sock, flags);
}

SEC("kretprobe/inet_recvmsg")
int BPF_KRETPROBE(np_krp_inet_recvmsg, int ret)
{
	return np_kprobe_exit(&np_inflight_rx, ret, NP_DIR_RX);
}

SEC("kprobe/inet6_recvmsg")
int BPF_KPROBE(np_kp_inet6_recvmsg, struct socket *sock, struct msghdr *msg, size_t size, int flags)
{
	return np_kprobe_enter(&np_inflight_rx, sock, flags);
}

SEC("kretprobe/inet6_recvmsg")
int BPF_KRETPROBE(np_krp_inet6_recvmsg, int ret)
{
	return np_kprobe_exit(&np_inflight_rx, ret, NP_DIR_RX);
}

/* inet6_release calls inet_release, so this sees both families. */
SEC("kprobe/inet_release")
int BPF_KPROBE(np_kp_inet_release, struct socket *sock)
{
	__u64 key = (__u64)BPF_CORE_READ(sock, sk);
	struct np_sock_stats *st = bpf_map_lookup_elem(&np_sock_hash, &key);

	if (!st)
		return 0;
	/* No cookie was ever assigned: name it by address, as userspace does
	 * for map entries (records.rs, socket_record). */
	if (!st->cookie)
		st->cookie = key | (1ULL << 63);
	st->flags |= NP_F_CLOSED;
	np_emit_close(st);
	bpf_map_delete_elem(&np_sock_hash, &key);
	return 0;
}

/* ---- every rung: UDP remotes, close, wire bytes, reading ----------------- */

/* `v6` is a constant at every call site: a sendmsg4/recvmsg4 program may not
 * even read user_ip6 (the verifier rejects it), so each program only
 * contains its own family's branch. */
static __always_inline int np_remember_peer(struct bpf_sock_addr *ctx, int dir, const bool v6)
{
	if (ctx->protocol != IPPROTO_UDP)
		return 1;

	__u64 id = bpf_get_current_pid_tgid();
	struct np_pending_peer p = {};

	p.cookie = bpf_get_socket_cookie(ctx);
	p.port = bpf_ntohs((__u16)ctx->user_port);
	p.dir = dir;
	if (!v6) {
		__u32 a = ctx->user_ip4;

		p.family = AF_INET;
		__builtin_memcpy(p.addr, &a, 4);
	} else {
		__u32 a[4];

		p.family = AF_INET6;
		a[0] = ctx->user_ip6[0];
		a[1] = ctx->user_ip6[1];
		a[2] = ctx->user_ip6[2];
		a[3] = ctx->user_ip6[3];
		__builtin_memcpy(p.addr, a, 16);
	}
	bpf_map_update_elem(&np_pending_peer, &id, &p, BPF_ANY);
	return 1;
}

/* The pid of the process connecting a socket, recorded before the first
 * packet leaves (resolvers connect their UDP sockets): the first query of a
 * one-shot DNS socket then carries its owner (the counting hooks run after
 * the packet has passed cgroup_skb). np_count_io fills in the whole owner
 * at the first counted send or receive. */
static __always_inline void np_early_owner(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	if (!sk || !np_tracked(sk->family, sk->protocol))
		return;

	struct np_sock_stats *st =
		np_sock_record(sk, np_walk_mode ? bpf_get_socket_cookie(ctx) : 0);

	if (!st)
		return;
	if (!st->cookie)
		st->cookie = bpf_get_socket_cookie(ctx);
	if (np_counter_mode && !(st->flags & NP_F_OWNER)) {
		/* No send or receive call will name it: the caller does. */
		np_fill_owner(&st->owner);
		st->owner.netns = np_current_netns();
		st->flags |= NP_F_OWNER;
		st->flags &= ~NP_F_EARLY_OWNER;
		np_describe_process();
	} else if (!(st->flags & (NP_F_OWNER | NP_F_EARLY_OWNER))) {
		st->owner.tgid = bpf_get_current_pid_tgid() >> 32;
		st->flags |= NP_F_EARLY_OWNER;
	}
}

SEC("cgroup/connect4")
int np_connect4(struct bpf_sock_addr *ctx)
{
	np_early_owner(ctx);
	return 1;
}

SEC("cgroup/connect6")
int np_connect6(struct bpf_sock_addr *ctx)
{
	np_early_owner(ctx);
	return 1;
}

/* Counter path: the remote comes from the packets (np_udp_packet); a
 * socket older than netoproc is named by its first sendto(). */
SEC("cgroup/sendmsg4")
int np_sendmsg4(struct bpf_sock_addr *ctx)
{
	if (np_counter_mode) {
		np_early_owner(ctx);
		return 1;
	}
	return np_remember_peer(ctx, NP_DIR_TX, false);
}

SEC("cgroup/sendmsg6")
int np_sendmsg6(struct bpf_sock_addr *ctx)
{
	if (np_counter_mode) {
		np_early_owner(ctx);
		return 1;
	}
	return np_remember_peer(ctx, NP_DIR_TX, true);
}

SEC("cgroup/recvmsg4")
int np_recvmsg4(struct bpf_sock_addr *ctx)
{
	if (np_counter_mode)
		return 1;
	return np_remember_peer(ctx, NP_DIR_RX, false);
}

SEC("cgroup/recvmsg6")
int np_recvmsg6(struct bpf_sock_addr *ctx)
{
	if (np_counter_mode)
		return 1;
	return np_remember_peer(ctx, NP_DIR_RX, true);
}

/* Counter path: every UDP socket made from now on is owned by the process
 * that made it (a receive-only socket is named by nothing else). TCP is
 * left to connect() and listen(), which name every socket that moves bytes
 * (a client, a listener and through it its children): making the record
 * here too cost 2 us a connection (storage allocated at socket() instead
 * of at connect, the owner read twice). */
SEC("cgroup/sock_create")
int np_sock_create(struct bpf_sock *ctx)
{
	if (!np_counter_mode || ctx->protocol != IPPROTO_UDP ||
	    !np_tracked(ctx->family, ctx->protocol))
		return 1;

	struct np_sock_stats *st = np_sock_record(ctx, 0);

	if (!st)
		return 1;
	if (!st->cookie)
		st->cookie = bpf_get_socket_cookie(ctx);
	np_fill_owner(&st->owner);
	st->owner.netns = np_current_netns();
	st->flags |= NP_F_OWNER;
	np_describe_process();
	return 1;
}

SEC("cgroup/sock_release")
int np_sock_release(struct bpf_sock *ctx)
{
	if (!np_tracked(ctx->family, ctx->protocol))
		return 1;

	struct np_sock_stats *st =
		np_sock_record_lookup(ctx, np_walk_mode ? bpf_get_socket_cookie(ctx) : 0);

	if (!st)
		return 1;
	/* Never used for a send or receive here (a listener that only saw
	 * SYNs; on the kprobe rung every socket, whose sends and receives are
	 * counted in np_sock_hash): the process closing it is its owner, and
	 * the flag lets userspace prefer the owner that did the I/O. */
	if (!(st->flags & NP_F_OWNER)) {
		np_fill_owner(&st->owner);
		st->flags |= NP_F_OWNER | NP_F_CLOSER_OWNER;
	}
	/* Accepted and closed without a single send or receive. */
	if (st->life.role == NP_ROLE_SERVER && !(st->life.flags & NP_L_ACCEPTED)) {
		st->life.flags |= NP_L_ACCEPTED;
		np_life_emit(st, NP_LIFE_ACCEPTED);
	}
	st->flags |= NP_F_CLOSED;
	/* Counter path: a TCP socket's record goes when it is freed
	 * (np_tcp_destroy), with the bytes read until this release. */
	if (!np_counter_mode || ctx->protocol != IPPROTO_TCP)
		np_emit_close(st);
	/* Walk mode: the entry outlives the socket unless removed. UDP is done
	 * now, and so is TCP already in CLOSE; other TCP states still send
	 * (FIN, final ACKs) and reach CLOSE later (np_tcp_state removes it). */
	if (np_walk_mode && (ctx->protocol == IPPROTO_UDP || ctx->state == TCP_CLOSE))
		bpf_map_delete_elem(&np_sock_walk, &st->cookie);
	return 1;
}

/* Connecting: in the connecting process (tcp_v4_connect/tcp_v6_connect),
 * so the owner is who called connect(). The local port is not chosen yet. */
static __always_inline void np_life_connect(struct sock *sk, struct np_sock_stats *st)
{
	struct np_tcp_life *l = &st->life;

	if (!(st->flags & NP_F_OWNER)) {
		np_fill_owner(&st->owner);
		st->owner.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
		st->flags |= NP_F_OWNER;
		st->flags &= ~NP_F_EARLY_OWNER;
		np_describe_process();
	}
	np_read_tuple(&st->tuple, sk);
	st->flags |= NP_F_TUPLE;
	l->role = NP_ROLE_CLIENT;
	l->connect_ns = bpf_ktime_get_ns();
	np_life_emit(st, NP_LIFE_CONNECT);
}

/* Lifecycle from TCP state changes. Some run in softirq, where `current`
 * is not the socket's owner: the owner is what process context recorded
 * (connect for clients; the accepting process's first call for servers). */
static __always_inline void np_life_state(struct sock *sk, int oldstate, int newstate)
{
	if (np_counter_mode) {
		if (newstate == TCP_LISTEN) {
			np_listener_opened(sk);
			return;
		}
		/* (A listener's child also leaves LISTEN: for SYN_RECV.) */
		if (oldstate == TCP_LISTEN && newstate == TCP_CLOSE) {
			np_listener_closed(sk);
			return;
		}
	}
	/* FIN_WAIT2, TIME_WAIT, CLOSING, LISTEN (and LAST_ACK but on the
	 * counter path) change nothing netoproc keeps: leave before the
	 * storage lookup (four of a connection's ten state changes). */
	if (newstate != TCP_SYN_SENT && newstate != TCP_SYN_RECV && newstate != TCP_ESTABLISHED &&
	    newstate != TCP_FIN_WAIT1 && newstate != TCP_CLOSE_WAIT && newstate != TCP_CLOSE &&
	    !(np_counter_mode && newstate == TCP_LAST_ACK))
		return;

	/* A listener's child enters SYN_RECV inside inet_csk_clone_lock,
	 * before the kernel gives it its own cookie: until then sk_cookie is
	 * the listener's (copied with the rest of the socket; Linux 6.1 sets
	 * the child's afterwards). Its cookie is taken at the next step. */
	bool cloning = newstate == TCP_SYN_RECV;

	if (cloning && np_walk_mode)
		return; /* walk mode keys records by cookie: begin at ESTABLISHED */

	__u64 cookie = np_walk_mode ? bpf_get_socket_cookie(sk) : 0;
	bool child = newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV;
	struct np_sock_stats *st;

	if (newstate == TCP_SYN_SENT || cloning || (child && np_walk_mode))
		st = np_sock_record(sk, cookie);
	else
		st = np_sock_record_lookup(sk, cookie);
	if (!st)
		return;
	if (!st->cookie && !cloning)
		st->cookie = bpf_get_socket_cookie(sk);

	struct np_tcp_life *l = &st->life;

	st->state = newstate;
	switch (newstate) {
	case TCP_SYN_SENT:
		np_life_connect(sk, st);
		break;
	case TCP_SYN_RECV:
		/* A listener's child, made when the handshake's last ACK came. */
		if (oldstate == TCP_LISTEN || !l->role) {
			l->role = NP_ROLE_SERVER;
			l->connect_ns = bpf_ktime_get_ns();
		}
		if (np_counter_mode)
			np_listener_child(st, sk);
		break;
	case TCP_ESTABLISHED:
		if (l->established_ns)
			break;
		l->established_ns = bpf_ktime_get_ns();
		if (child && !l->role) {
			/* Walk mode: the child's first step (see above). */
			l->role = NP_ROLE_SERVER;
			l->connect_ns = l->established_ns;
		}
		if (l->role == NP_ROLE_CLIENT && l->connect_ns) {
			l->handshake_ns = l->established_ns - l->connect_ns;
			np_read_tuple(&st->tuple, sk);
			st->flags |= NP_F_TUPLE;
			np_life_health(l, sk);
			np_life_emit(st, NP_LIFE_ESTABLISHED);
		} else if (l->role == NP_ROLE_SERVER) {
			/* The SYN-ACK's round trip: the kernel's first RTT sample. */
			np_life_health(l, sk);
			l->handshake_ns = (__u64)l->srtt_us * 1000;
			if (!(st->flags & NP_F_TUPLE)) {
				np_read_tuple(&st->tuple, sk);
				st->flags |= NP_F_TUPLE;
			}
			/* Counter path: no call will come to say who accepted
			 * it; the listener's owner (np_listener_child) does. */
			if (np_counter_mode && (st->flags & NP_F_OWNER) &&
			    !(l->flags & NP_L_ACCEPTED)) {
				l->flags |= NP_L_ACCEPTED;
				np_life_emit(st, NP_LIFE_ACCEPTED);
			}
		}
		if (np_counter_mode)
			np_tcp_count(st, sk, false); /* the base */
		break;
	case TCP_FIN_WAIT1:
	case TCP_LAST_ACK:
		/* FIN_WAIT1 and LAST_ACK come before tcp_send_fin() counts the
		 * FIN in write_seq. */
		if (np_counter_mode)
			st->base.flags |= NP_B_FIN_OUT;
		if (newstate == TCP_FIN_WAIT1 && !l->closer)
			l->closer = NP_CLOSER_LOCAL;
		break;
	case TCP_CLOSE_WAIT:
		if (!l->closer)
			l->closer = NP_CLOSER_REMOTE;
		break;
	case TCP_CLOSE:
		if (np_counter_mode && (st->base.flags & NP_B_SET))
			np_tcp_count(st, sk, false); /* all written */
		if (l->role && !l->closed_ns) {
			int err = BPF_CORE_READ(sk, sk_err);

			if (!err)
				err = BPF_CORE_READ(sk, sk_err_soft);
			/* A connect closed with only a soft error pending (an ICMP
			 * that did not end it) was still closed by its owner. */
			if (!BPF_CORE_READ(sk, sk_err) && oldstate == TCP_SYN_SENT &&
			    err != NP_EHOSTUNREACH && err != NP_ENETUNREACH)
				err = 0;
			l->closed_ns = bpf_ktime_get_ns();
			l->sk_err = err;
			l->outcome = np_life_outcome(l, err);
			np_life_health(l, sk);
			if (st->tuple.sport == 0)
				np_read_tuple(&st->tuple, sk);
			/* The closed step carries the whole record: userspace
			 * takes it as the socket's close record too (its final
			 * wire counters, after the last FIN/ACK). On the counter
			 * path np_tcp_destroy sends it: the application may
			 * still read what arrived before CLOSE. */
			if (!np_counter_mode)
				np_life_emit(st, NP_LIFE_CLOSED);
		} else if (!np_counter_mode) {
			/* No lifecycle (a listener, a socket from before the
			 * start): the final wire counters as a close record. */
			np_emit_close(st);
		}
		/* Walk mode: released already, or never owned by a file (a child
		 * never accepted): no release will come to remove the entry. */
		if (np_walk_mode && ((st->flags & NP_F_CLOSED) || !sk->sk_socket))
			bpf_map_delete_elem(&np_sock_walk, &cookie);
		break;
	}
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(np_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	np_life_state((struct sock *)sk, oldstate, newstate);
	return 0;
}

/* Counter path: the socket is freed (after CLOSE, and after its release by
 * the application, which can read what arrived before CLOSE): its final
 * payload, and its one record to userspace. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(np_tcp_destroy, struct sock *sk)
{
	if (!np_counter_mode)
		return 0;

	struct np_sock_stats *st = bpf_sk_storage_get(&np_socks, sk, 0, 0);

	if (!st)
		return 0;
	if (st->base.flags & NP_B_SET)
		np_tcp_count(st, sk, true);
	if (st->life.role && st->life.closed_ns)
		np_life_emit(st, NP_LIFE_CLOSED);
	else
		np_emit_close(st);
	return 0;
}

/* One retransmitted skb (two arguments: Linux 6.1's form; later kernels add
 * an error code, and tp->total_retrans counts only the segments sent). */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(np_tcp_retrans, const struct sock *sk, const struct sk_buff *skb)
{
	__u64 cookie = np_walk_mode ? bpf_get_socket_cookie((struct sock *)sk) : 0;
	struct np_sock_stats *st = np_sock_record_lookup((struct sock *)sk, cookie);

	if (st)
		__sync_fetch_and_add(&st->life.retrans_events, 1);
	return 0;
}

static __always_inline void np_tuple_from_bpf_sock(struct np_tuple *t, struct bpf_sock *sk)
{
	t->family = sk->family;
	t->protocol = sk->protocol;
	t->sport = sk->src_port;
	t->dport = bpf_ntohs(sk->dst_port);
	if (sk->family == AF_INET) {
		__u32 s = sk->src_ip4, d = sk->dst_ip4;

		__builtin_memcpy(t->saddr, &s, 4);
		__builtin_memcpy(t->daddr, &d, 4);
	} else {
		__u32 s[4], d[4];

		s[0] = sk->src_ip6[0];
		s[1] = sk->src_ip6[1];
		s[2] = sk->src_ip6[2];
		s[3] = sk->src_ip6[3];
		d[0] = sk->dst_ip6[0];
		d[1] = sk->dst_ip6[1];
		d[2] = sk->dst_ip6[2];
		d[3] = sk->dst_ip6[3];
		__builtin_memcpy(t->saddr, s, 16);
		__builtin_memcpy(t->daddr, d, 16);
	}
}

static __always_inline void np_count_wire(struct __sk_buff *skb, int dir)
{
	struct bpf_sock *sk = skb->sk;

	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (!sk) {
		stat_add(dir == NP_DIR_TX ? NP_STAT_WIRE_NO_SOCK_TX : NP_STAT_WIRE_NO_SOCK_RX, 1);
		stat_add(dir == NP_DIR_TX ? NP_STAT_WIRE_NO_SOCK_TX_BYTES
					  : NP_STAT_WIRE_NO_SOCK_RX_BYTES,
			 skb->len);
		return;
	}
	if (!np_tracked(sk->family, sk->protocol))
		return;

	struct np_sock_stats *st =
		np_sock_record(sk, np_walk_mode ? bpf_get_socket_cookie(skb) : 0);

	if (!st)
		return;
	if (!st->cookie)
		st->cookie = bpf_get_socket_cookie(skb);
	/* A connecting socket's record has no local port yet: its SYN does. */
	if (!(st->flags & NP_F_TUPLE) || !st->tuple.sport) {
		np_tuple_from_bpf_sock(&st->tuple, sk);
		st->flags |= NP_F_TUPLE;
	}
	if (dir == NP_DIR_TX) {
		__sync_fetch_and_add(&st->counters.tx_wire_bytes, skb->len);
		__sync_fetch_and_add(&st->counters.tx_wire_packets, 1);
	} else {
		__sync_fetch_and_add(&st->counters.rx_wire_bytes, skb->len);
		__sync_fetch_and_add(&st->counters.rx_wire_packets, 1);
	}
	if (np_counter_mode && sk->protocol == IPPROTO_UDP) {
		/* Connected since its tuple was read: read it again. */
		if (st->tuple.dport == 0 && sk->dst_port)
			np_tuple_from_bpf_sock(&st->tuple, sk);
		np_udp_packet(skb, sk, st, dir);
	}
	np_maybe_dns(skb, sk, st, dir);
}

SEC("cgroup_skb/egress")
int np_skb_egress(struct __sk_buff *skb)
{
	np_count_wire(skb, NP_DIR_TX);
	return 1;
}

SEC("cgroup_skb/ingress")
int np_skb_ingress(struct __sk_buff *skb)
{
	np_count_wire(skb, NP_DIR_RX);
	return 1;
}

#include "readers.h"
