/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * maps.h — every map netoproc's programs share, and the loss counters.
 * Sizes are upper bounds: when one is reached the update fails and the
 * matching NP_STAT_* counter says so, or (np_peers, an LRU) the oldest entry
 * is evicted and counted; nothing is lost silently.
 */
#ifndef NETOPROC_MAPS_H
#define NETOPROC_MAPS_H

/* Per-socket record for the tracing rungs and the cgroup programs. It lives
 * and dies with the socket; the close events carry its final state. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct np_sock_stats);
} np_socks SEC(".maps");

/* Per-socket record for the kprobe rung (kprobes cannot use socket storage),
 * keyed by the kernel address of struct sock. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct np_sock_stats);
} np_sock_hash SEC(".maps");

/* Per-socket record in walk mode (np_walk_mode: no iterator can read
 * socket storage here), keyed by socket cookie; removed at close. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct np_sock_stats);
} np_sock_walk SEC(".maps");

/* Counter path: the owner of each listening TCP socket, recorded when
 * listen() runs (in the listening process), given to its children. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct np_listen_key);
	__type(value, struct np_owner);
} np_listeners SEC(".maps");

/* Counter path: owners of the sockets that existed when netoproc started, by
 * socket inode, filled once by userspace from /proc; the socket iterators
 * name such a socket's record from it (nothing else would before close). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct np_owner);
} np_inode_owners SEC(".maps");

/* Unconnected UDP: bytes per (socket, remote). An LRU: a flood of remotes
 * (a busy server, a random-source flood) evicts the oldest entries instead
 * of filling the map for good; userspace counts what was evicted. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct np_peer_key);
	__type(value, struct np_peer_counters);
} np_peers SEC(".maps");

/* The remote of the UDP send/receive in progress, per thread. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct np_pending_peer);
} np_pending_peer SEC(".maps");

/* kprobe rung: arguments saved at entry for the kretprobe. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct np_inflight);
} np_inflight_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct np_inflight);
} np_inflight_rx SEC(".maps");

/* Processes already described to userspace: tgid -> task start time. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, __u64);
} np_procs_seen SEC(".maps");

/* Close, process and DNS events. Userspace sizes it (default 8 MiB). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} np_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} np_stats SEC(".maps");

/* An all-zero record: the value new hash entries are made from (a record
 * is too big to zero on the BPF stack beside the callers' own locals).
 * Never written. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct np_sock_stats);
} np_zero_record SEC(".maps");

static __always_inline struct np_sock_stats *np_zero(void)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&np_zero_record, &k);
}

/* Scratch space to build a DNS event before copying only its used part. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct np_dns_event);
} np_dns_scratch SEC(".maps");

/* Wake the reader only when the ring is a quarter full: userspace drains at
 * least every 100 ms anyway, and a wakeup per event (an interrupt, a VM
 * exit here) cost the sending process more than the event itself. */
static __always_inline __u64 np_rb_flags(void)
{
	__u64 avail = bpf_ringbuf_query(&np_events, BPF_RB_AVAIL_DATA);
	__u64 size = bpf_ringbuf_query(&np_events, BPF_RB_RING_SIZE);

	return avail * 4 >= size ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void stat_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&np_stats, &idx);
	if (v)
		*v += n; /* per-CPU slot: no atomic needed */
}

#endif /* NETOPROC_MAPS_H */
