/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * abi.h — the one contract between netoproc's BPF programs and its Rust
 * userspace. Every map key, map value and ring-buffer event is defined here
 * and only here; the Rust side is generated from this file by bindgen
 * (crates/ebpf/src/generated/abi.rs, regenerate with scripts/regen-bpf.sh).
 *
 * Layout rules: fixed-size integer types only, explicit padding, no
 * bitfields, every struct a multiple of 8 bytes. The Rust bindings carry
 * size/offset asserts, so a change here that is not regenerated fails the
 * build.
 */
#ifndef NETOPROC_ABI_H
#define NETOPROC_ABI_H

#ifdef __VMLINUX_H__
/* BPF side: integer types come from vmlinux.h. */
#else
#include <linux/types.h>
#endif

#define NP_COMM_LEN 16
#define NP_DNS_MAX 1024      /* DNS bytes copied per packet, at most */
#define NP_DNS_PORTS_MAX 8   /* ports recognised as DNS (default: 53) */
#define NP_CMDLINE_LEN 256

/* np_sock_stats.flags */
#define NP_F_OWNER 0x1  /* owner fields were filled in process context */
#define NP_F_TUPLE 0x2  /* tuple was read from the socket */
#define NP_F_CLOSED 0x4 /* the owning process released the socket */
#define NP_F_EARLY_OWNER 0x8 /* owner.tgid alone, from connect()/sendto() */
#define NP_F_CLOSER_OWNER 0x10 /* owner is who released it, never seen sending or receiving */

/* Directions, as used internally by the programs. */
#define NP_DIR_TX 0
#define NP_DIR_RX 1

/* The five-tuple of a socket, cached the first time the socket is seen.
 * Addresses are in network order (IPv4 in the first 4 bytes), ports in host
 * order. dport == 0 means "not connected" (unconnected UDP). */
struct np_tuple {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u16 family;  /* AF_INET or AF_INET6 */
	__u8 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 _pad0;
};

/* Who used the socket: recorded in process context at first sight. */
struct np_owner {
	__u32 tgid;
	__u32 uid;
	__u64 cgroup_id; /* cgroup v2 id of the task */
	__u32 netns;     /* inode number of the socket's network namespace */
	__u32 _pad0;
	char comm[NP_COMM_LEN];
	__u64 start_boottime_ns; /* the process's start (boot-based, as /proc's
				  * starttime): tells reused pids apart */
};

/* Cumulative counters of one socket since netoproc first saw it. Userspace
 * merges records of the same cookie by taking each field's maximum, so
 * events and map reads can arrive in any order. */
struct np_counters {
	__u64 tx_bytes;        /* L4 payload moved by send calls */
	__u64 rx_bytes;        /* L4 payload moved by recv calls (MSG_PEEK excluded) */
	__u64 tx_calls;
	__u64 rx_calls;
	__u64 tx_wire_bytes;   /* IP-layer bytes, headers included (cgroup_skb) */
	__u64 rx_wire_bytes;
	__u64 tx_wire_packets; /* skbs at the IP layer (GSO super-packets once) */
	__u64 rx_wire_packets;
};

/* ---- TCP connection lifecycle and health (issue 18) ---------------------- */

/* np_tcp_life.role */
#define NP_ROLE_CLIENT 1 /* this side sent the SYN (connect) */
#define NP_ROLE_SERVER 2 /* this side accepted it (a listener's child) */

/* np_tcp_life.outcome, decided when the socket reaches TCP_CLOSE */
#define NP_OUT_OPEN 0        /* not closed yet */
#define NP_OUT_CLOSED 1      /* established, then closed without error */
#define NP_OUT_REFUSED 2     /* ECONNREFUSED: RST in answer to the SYN */
#define NP_OUT_RESET 3       /* ECONNRESET / EPIPE: the peer reset it */
#define NP_OUT_TIMEOUT 4     /* ETIMEDOUT: SYN or data never acknowledged */
#define NP_OUT_UNREACHABLE 5 /* EHOSTUNREACH / ENETUNREACH */
#define NP_OUT_ABORTED 6     /* closed by its owner (or its exit) while connecting, no error */
#define NP_OUT_OTHER 7       /* any other error */

/* np_tcp_life.closer: who sent the first FIN */
#define NP_CLOSER_LOCAL 1
#define NP_CLOSER_REMOTE 2

/* np_tcp_life.flags */
#define NP_L_HEALTH 0x1      /* srtt..total_retrans were read from tcp_sock */
#define NP_L_ACCEPTED 0x2    /* the accepted event was sent (server side) */

/* Response-time histogram: eight buckets per power of two of microseconds
 * from 64 us (bucket 0 also holds faster answers) to ~4 s (the last also
 * holds slower ones); bucket i starts at 2^(i/8 + 6) + (i%8) * 2^(i/8 + 3).
 * Counts saturate at 65535. */
#define NP_RT_BUCKETS 128
#define NP_RT_SUB 8
#define NP_RT_MIN_SHIFT 6

/* Per-socket lifecycle, in the socket's np_sock_stats. Times are
 * bpf_ktime_get_ns(); durations in ns; health in us as tcp_info gives it. */
struct np_tcp_life {
	__u64 connect_ns;     /* client: SYN_SENT; server: child socket made */
	__u64 established_ns; /* 0 if never established */
	__u64 closed_ns;      /* 0 while open */
	__u64 handshake_ns;   /* client: SYN_SENT -> ESTABLISHED; server: the
			       * SYN-ACK -> ACK time (the kernel's first RTT) */
	__u32 srtt_us;        /* tp->srtt_us >> 3 */
	__u32 rttvar_us;      /* tp->mdev_us >> 2 */
	__u32 min_rtt_us;     /* tp->rtt_min */
	__u32 cwnd;           /* tp->snd_cwnd, segments */
	__u32 total_retrans;  /* tp->total_retrans: segments retransmitted */
	__u32 retrans_events; /* tcp:tcp_retransmit_skb seen for this socket */
	__u32 sk_err;         /* sk->sk_err (or sk_err_soft) at close */
	__u8 role;            /* NP_ROLE_* (0: not seen connecting or accepted) */
	__u8 outcome;         /* NP_OUT_* */
	__u8 closer;          /* NP_CLOSER_* */
	__u8 flags;           /* NP_L_* */
	__u64 last_io_ns;     /* last send/recv call (response time) */
	__u32 last_dir;       /* NP_DIR_* + 1 of that call, 0 if none */
	__u32 rt_count;       /* response-time samples taken */
	__u32 segs_out;       /* tp->segs_out: segments sent, retransmissions included */
	__u32 _pad0;
	__u64 rt_sum_us;      /* sum of the response-time samples, us */
	__u16 rt_hist[NP_RT_BUCKETS];
};

/* ---- Counter path (issue 22) --------------------------------------------- */
/* np_tcp_base.flags */
#define NP_B_SET 0x1     /* tx/rx hold the counters' values at the start */
#define NP_B_FIN_OUT 0x2 /* this side queued its FIN (FIN_WAIT1 or LAST_ACK):
			  * write_seq counts it, the application did not write it */
/* On the counter path a TCP socket's payload comes from the kernel's own
 * counters, read at state changes and by the socket iterator: what the
 * application wrote is bytes_acked + (write_seq - snd_una), what it read is
 * bytes_received - (rcv_nxt - copied_seq), each less the FIN it counts.
 * Both are 64-bit and only grow; the record counts their growth since
 * netoproc first saw the connection established. */
struct np_tcp_base {
	__u64 tx; /* written, as above, when first seen */
	__u64 rx; /* read, as above, when first seen */
	__u32 flags; /* NP_B_* */
	__u32 _pad0;
};

/* Key of `np_listeners`: a listening TCP socket by namespace and port. Its
 * children (accepted connections) take the owner stored under it. */
struct np_listen_key {
	__u32 netns;  /* inode number of the network namespace */
	__u16 port;   /* local port, host order */
	__u16 family; /* AF_INET or AF_INET6 */
};

/* The per-socket record: value of the socket-local storage map `np_socks`
 * (tracing rungs and cgroup programs) and of the hash map `np_sock_hash`
 * (kprobe rung, keyed by the kernel address of the socket). */
struct np_sock_stats {
	struct np_owner owner;
	struct np_tuple tuple;
	struct np_counters counters;
	__u64 cookie; /* socket cookie, the join key across programs */
	__u32 flags;  /* NP_F_* */
	__u32 state;  /* last TCP state np_tcp_state followed (TCP_* numbering; it
		       * skips FIN_WAIT2, TIME_WAIT, LAST_ACK, CLOSING), 0 if none */
	struct np_tcp_life life; /* TCP only; zero where no lifecycle hook ran */
	struct np_tcp_base base; /* counter path only (np_counter_mode) */
};

/* Key of `np_peers`: traffic of an unconnected UDP socket to or from one
 * remote, learnt from cgroup/sendmsg{4,6} and cgroup/recvmsg{4,6}. */
struct np_peer_key {
	__u64 cookie;
	__u8 addr[16];
	__u16 port;   /* host order */
	__u16 family; /* AF_INET or AF_INET6 */
	__u32 _pad0;
};

struct np_peer_counters {
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 tx_calls;
	__u64 rx_calls;
};

/* One `np_peers` entry as the np_dump_peers iterator writes it. */
struct np_peer_entry {
	struct np_peer_key key;
	struct np_peer_counters counters;
};

/* Value of `np_pending_peer`, keyed by pid_tgid: the remote a UDP send or
 * receive in progress on this thread is addressed to / came from. */
struct np_pending_peer {
	__u64 cookie; /* the socket the address belongs to */
	__u8 addr[16];
	__u16 port;
	__u16 family;
	__u32 dir; /* NP_DIR_* */
};

/* Value of `np_inflight_*` (kprobe rung): the arguments saved at function
 * entry, read back by the kretprobe. */
struct np_inflight {
	__u64 sk;
	__u32 flags;
	__u32 _pad0;
};

/* Indices of the per-CPU array `np_stats`: counts of everything that was
 * lost or could not be attributed, so nothing is lost silently. */
enum np_stat {
	NP_STAT_RINGBUF_LOST = 0,      /* events dropped: ring buffer full */
	NP_STAT_SK_STORAGE_FAIL = 1,   /* socket storage could not be created */
	NP_STAT_SOCK_HASH_FULL = 2,    /* a socket map full: kprobe rung's, walk mode's,
	                                * or the counter path's listeners */
	NP_STAT_PEER_MAP_FULL = 3,     /* per-remote UDP map full */
	NP_STAT_INFLIGHT_MISS = 4,     /* kretprobe without its entry record */
	NP_STAT_WIRE_NO_SOCK_TX = 5,   /* egress skbs without a full socket */
	NP_STAT_WIRE_NO_SOCK_RX = 6,   /* ingress skbs without a full socket */
	NP_STAT_WIRE_NO_SOCK_TX_BYTES = 7,
	NP_STAT_WIRE_NO_SOCK_RX_BYTES = 8,
	NP_STAT_PROC_EVENTS = 9,       /* process records emitted */
	NP_STAT_SOCK_EVENTS = 10,      /* socket close records emitted */
	NP_STAT_DNS_EVENTS = 11,       /* DNS packets copied to userspace */
	NP_STAT_DNS_TRUNCATED = 12,    /* DNS packets longer than NP_DNS_MAX */
	NP_STAT_DNS_UNPARSED = 13,     /* DNS-port packets whose headers could not be read */
	NP_STAT_KRETPROBE_STALE = 14,  /* kprobe-rung entry record still there at the
	                                * thread's next call: the kernel missed the
	                                * return (out of kretprobe instances) */
	NP_STAT_PEER_INSERTS = 15,     /* np_peers entries made: userspace derives the
	                                * LRU's evictions (made - deleted - alive) */
	NP_STAT_LIFE_EVENTS = 16,      /* lifecycle events emitted */
	NP_STAT_UDP_UNPARSED = 17,     /* counter path: UDP packets whose headers could
	                                * not be read (IPv6 extension headers): their
	                                * payload is not counted, their wire bytes are */
	NP_STAT_MAX = 18,
};

/* Ring buffer events. Every event starts with np_event_hdr. */
enum np_event_kind {
	NP_EV_SOCK_CLOSE = 1, /* final counters of a socket (release or TCP close) */
	NP_EV_PROC = 2,       /* first socket of a process: its identity */
	NP_EV_DNS = 3,        /* one DNS packet's payload, with its socket */
	NP_EV_LIFE = 4,       /* a TCP connection's lifecycle step (np_life_event) */
};

/* np_life_event.what */
enum np_life_what {
	NP_LIFE_CONNECT = 1,     /* SYN_SENT, in the connecting process */
	NP_LIFE_ESTABLISHED = 2, /* client: the handshake completed */
	NP_LIFE_ACCEPTED = 3,    /* server: first call by the accepting process */
	NP_LIFE_CLOSED = 4,      /* TCP_CLOSE: outcome, duration, health */
};

struct np_event_hdr {
	__u32 kind;
	__u32 _pad0;
	__u64 ktime_ns; /* bpf_ktime_get_ns() when emitted */
};

struct np_sock_event {
	struct np_event_hdr hdr;
	struct np_sock_stats stats;
};

struct np_proc_event {
	struct np_event_hdr hdr;
	__u32 tgid;
	__u32 ppid;
	__u32 uid;
	__u32 cmdline_len; /* bytes valid in cmdline, 0 if unreadable */
	__u64 start_time_ns; /* process start (start_boottime, as /proc's
			      * starttime), tells reused pids apart */
	char comm[NP_COMM_LEN];
	char cmdline[NP_CMDLINE_LEN]; /* NUL-separated argv, truncated */
};

/* One lifecycle step of a TCP socket, with the socket's whole record.
 * Sent without the response histogram (NP_LIFE_EVENT_SHORT_LEN bytes)
 * when the socket has no response-time sample. */
struct np_life_event {
	struct np_event_hdr hdr;
	__u32 what; /* np_life_what */
	__u32 _pad0;
	struct np_sock_stats stats;
};

/* Bytes of a close record as sent: np_sock_event up to stats.life. */
#define NP_SOCK_EVENT_LEN __builtin_offsetof(struct np_sock_event, stats.life)
/* Bytes of a lifecycle record without its response histogram. */
#define NP_LIFE_EVENT_SHORT_LEN __builtin_offsetof(struct np_life_event, stats.life.rt_hist)

/* A packet to or from a DNS port: headers parsed in the kernel, only the
 * DNS payload copied. Sent with its real length (header + `captured`). */
struct np_dns_event {
	struct np_event_hdr hdr;
	__u64 cookie;         /* the socket, joins the owner */
	struct np_tuple tuple; /* from the packet: saddr:sport is its source */
	__u32 dir;            /* NP_DIR_* seen from the socket */
	__u32 owner_tgid;     /* 0 when not known yet (first packet of a socket) */
	__u32 payload_len;    /* L4 payload bytes in the packet */
	__u32 captured;       /* bytes valid in data */
	__u32 tcp_seq;        /* TCP: sequence number of the first payload byte */
	__u32 _pad1;
	__u8 data[NP_DNS_MAX];
};

#endif /* NETOPROC_ABI_H */
