/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sock_record.h — filling and counting one socket's np_sock_stats, shared by
 * every rung. Owner and tuple are read once, in process context, the first
 * time a send or receive is seen; counters are added atomically so two
 * threads on one socket never lose an update. Nothing here reads payload.
 */
#ifndef NETOPROC_SOCK_RECORD_H
#define NETOPROC_SOCK_RECORD_H

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define MSG_PEEK 2
#define TCP_CLOSE 7

#include "lifecycle.h"

static __always_inline bool np_tracked(__u16 family, __u16 protocol)
{
	return (family == AF_INET || family == AF_INET6) &&
	       (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP);
}

/* The socket's tuple as the kernel holds it now (CO-RE reads). */
static __always_inline void np_read_tuple(struct np_tuple *t, struct sock *sk)
{
	struct np_tuple n = {};

	n.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	n.protocol = BPF_CORE_READ(sk, sk_protocol);
	n.sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	n.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (n.family == AF_INET) {
		__u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(n.saddr, &s, 4);
		__builtin_memcpy(n.daddr, &d, 4);
	} else {
		bpf_core_read(&n.saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(&n.daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	__builtin_memcpy(t, &n, sizeof(n));
}

/* The process's name: its main thread's (what ps and /proc/PID/comm show),
 * not the calling thread's (dig resolves on "isc-net-0000"). */
static __always_inline void np_process_comm(char *comm)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	if (!leader || bpf_probe_read_kernel_str(comm, NP_COMM_LEN, &leader->comm) < 0)
		bpf_get_current_comm(comm, NP_COMM_LEN);
}

/* The inode number of the current process's network namespace (where a
 * socket it makes lives). */
static __always_inline __u32 np_current_netns(void)
{
	struct task_struct *task = (void *)bpf_get_current_task();

	return BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
}

/* The current process as a socket's owner (all but the namespace). */
static __always_inline void np_fill_owner(struct np_owner *o)
{
	struct task_struct *task = (void *)bpf_get_current_task();

	o->tgid = bpf_get_current_pid_tgid() >> 32;
	o->uid = (__u32)bpf_get_current_uid_gid();
	o->cgroup_id = bpf_get_current_cgroup_id();
	o->start_boottime_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	np_process_comm(o->comm);
}

/* Tell userspace who a process is, once per process (and again if its pid
 * is reused), so a process that lives for a millisecond keeps its name and
 * command line after it exits. */
static __always_inline void np_describe_process(void)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 start = BPF_CORE_READ(task, group_leader, start_boottime);
	__u64 *seen = bpf_map_lookup_elem(&np_procs_seen, &tgid);

	if (seen && *seen == start)
		return;
	bpf_map_update_elem(&np_procs_seen, &tgid, &start, BPF_ANY);

	struct np_proc_event *ev = bpf_ringbuf_reserve(&np_events, sizeof(*ev), 0);
	if (!ev) {
		stat_add(NP_STAT_RINGBUF_LOST, 1);
		bpf_map_delete_elem(&np_procs_seen, &tgid);
		return;
	}
	ev->hdr.kind = NP_EV_PROC;
	ev->hdr._pad0 = 0;
	ev->hdr.ktime_ns = bpf_ktime_get_ns();
	ev->tgid = tgid;
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev->uid = (__u32)bpf_get_current_uid_gid();
	ev->start_time_ns = start;
	np_process_comm(ev->comm);

	unsigned long arg_start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(task, mm, arg_end);
	__u64 len = arg_end - arg_start;

	if (len > NP_CMDLINE_LEN)
		len = NP_CMDLINE_LEN;
	if (len && bpf_probe_read_user(ev->cmdline, len, (void *)arg_start))
		len = 0;
	ev->cmdline_len = len;
	bpf_ringbuf_submit(ev, np_rb_flags());
	stat_add(NP_STAT_PROC_EVENTS, 1);
}

/* Adds one send or receive of `bytes` to the per-remote record `key` of an
 * unconnected UDP socket; a full map is counted. */
static __always_inline void np_peer_add(struct np_peer_key *key, long bytes, int dir)
{
	struct np_peer_counters *c = bpf_map_lookup_elem(&np_peers, key);
	if (!c) {
		struct np_peer_counters zero = {};

		if (!bpf_map_update_elem(&np_peers, key, &zero, BPF_NOEXIST))
			stat_add(NP_STAT_PEER_INSERTS, 1);
		c = bpf_map_lookup_elem(&np_peers, key);
		if (!c) {
			stat_add(NP_STAT_PEER_MAP_FULL, 1);
			return;
		}
	}
	if (dir == NP_DIR_TX) {
		__sync_fetch_and_add(&c->tx_bytes, bytes);
		__sync_fetch_and_add(&c->tx_calls, 1);
	} else {
		__sync_fetch_and_add(&c->rx_bytes, bytes);
		__sync_fetch_and_add(&c->rx_calls, 1);
	}
}

/* Count traffic of an unconnected UDP socket against the remote that the
 * cgroup sendmsg/recvmsg hook saw for this very call. */
static __always_inline void np_count_peer(struct np_sock_stats *st, long bytes, int dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct np_pending_peer *p = bpf_map_lookup_elem(&np_pending_peer, &id);

	if (!p)
		return;
	if (p->dir != dir || p->cookie != st->cookie) {
		bpf_map_delete_elem(&np_pending_peer, &id);
		return;
	}

	struct np_peer_key key = {};

	key.cookie = st->cookie;
	__builtin_memcpy(key.addr, p->addr, 16);
	key.port = p->port;
	key.family = p->family;
	bpf_map_delete_elem(&np_pending_peer, &id);
	np_peer_add(&key, bytes, dir);
}

/* One send or receive of `bytes` payload bytes, on the socket's record. */
static __always_inline void np_add_payload(struct np_sock_stats *st, long bytes, int dir)
{
	if (dir == NP_DIR_TX) {
		__sync_fetch_and_add(&st->counters.tx_bytes, bytes);
		__sync_fetch_and_add(&st->counters.tx_calls, 1);
	} else {
		__sync_fetch_and_add(&st->counters.rx_bytes, bytes);
		__sync_fetch_and_add(&st->counters.rx_calls, 1);
	}
}

/* One successful send or receive of `bytes` payload bytes on `sk`, called
 * in the caller's process context. `st` is the socket's record. */
static __always_inline void np_count_io(struct np_sock_stats *st, struct sock *sk, long bytes,
					int dir)
{
	if (!(st->flags & NP_F_OWNER)) {
		struct np_owner *o = &st->owner;

		np_fill_owner(o);
		o->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
		np_read_tuple(&st->tuple, sk);
		st->flags |= NP_F_OWNER | NP_F_TUPLE;
		np_describe_process();
	} else if (st->tuple.dport == 0) {
		/* Unconnected so far: it may have been connected since. */
		np_read_tuple(&st->tuple, sk);
	}

	np_add_payload(st, bytes, dir);

	if (st->tuple.protocol == IPPROTO_UDP && st->tuple.dport == 0)
		np_count_peer(st, bytes, dir);
	else if (st->tuple.protocol == IPPROTO_TCP)
		np_life_on_io(st, dir);
}

/* A close record carries the owner, tuple and counters only: it is sent
 * without the TCP lifecycle part (NP_SOCK_EVENT_LEN; lifecycle goes in
 * np_life_event records), which halves the ring's bytes per socket. */
static __always_inline void np_emit_close(struct np_sock_stats *st)
{
	struct np_sock_event *ev = bpf_ringbuf_reserve(&np_events, NP_SOCK_EVENT_LEN, 0);

	if (!ev) {
		stat_add(NP_STAT_RINGBUF_LOST, 1);
		return;
	}
	ev->hdr.kind = NP_EV_SOCK_CLOSE;
	ev->hdr._pad0 = 0;
	ev->hdr.ktime_ns = bpf_ktime_get_ns();
	__builtin_memcpy(&ev->stats, st, __builtin_offsetof(struct np_sock_stats, life));
	bpf_ringbuf_submit(ev, np_rb_flags());
	stat_add(NP_STAT_SOCK_EVENTS, 1);
}

#endif /* NETOPROC_SOCK_RECORD_H */
