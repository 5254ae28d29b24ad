/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lifecycle.h — a TCP socket's lifecycle and health in its np_sock_stats
 * (np_tcp_life): when it began connecting or was accepted, when it was
 * established, how it ended and why, its RTT, cwnd and retransmissions,
 * and a histogram of response times taken from the timing of the send and
 * receive calls (never from payload). Lifecycle steps go to userspace as
 * np_life_event records; a full ring is counted in NP_STAT_RINGBUF_LOST.
 */
#ifndef NETOPROC_LIFECYCLE_H
#define NETOPROC_LIFECYCLE_H

#define NP_ECONNRESET 104
#define NP_ECONNREFUSED 111
#define NP_ETIMEDOUT 110
#define NP_EHOSTUNREACH 113
#define NP_ENETUNREACH 101
#define NP_EPIPE 32

_Static_assert((NP_RT_BUCKETS & (NP_RT_BUCKETS - 1)) == 0, "NP_RT_BUCKETS: a power of two");

/* Set by userspace at load time: whether anyone streams the steps before
 * close (`netoproc watch`). Otherwise only NP_LIFE_CLOSED is sent (it
 * carries the whole record: owner, outcome, health), which keeps the ring
 * and the reader at two events per connection instead of five. */
const volatile bool np_life_steps = true;

static __always_inline void np_life_emit(struct np_sock_stats *st, __u32 what)
{
	if (what != NP_LIFE_CLOSED && !np_life_steps)
		return;

	struct np_life_event *ev;

	/* Most sockets never took a response-time sample: their record goes
	 * without the histogram, less than half the bytes. */
	if (st->life.rt_count) {
		ev = bpf_ringbuf_reserve(&np_events, sizeof(*ev), 0);
		if (!ev)
			goto lost;
		__builtin_memcpy(&ev->stats, st, sizeof(*st));
	} else {
		ev = bpf_ringbuf_reserve(&np_events, NP_LIFE_EVENT_SHORT_LEN, 0);
		if (!ev)
			goto lost;
		__builtin_memcpy(&ev->stats, st,
				 __builtin_offsetof(struct np_sock_stats, life.rt_hist));
	}
	ev->hdr.kind = NP_EV_LIFE;
	ev->hdr._pad0 = 0;
	ev->hdr.ktime_ns = bpf_ktime_get_ns();
	ev->what = what;
	ev->_pad0 = 0;
	bpf_ringbuf_submit(ev, np_rb_flags());
	stat_add(NP_STAT_LIFE_EVENTS, 1);
	return;
lost:
	stat_add(NP_STAT_RINGBUF_LOST, 1);
}

/* The health fields tcp_info would report, read from the tcp_sock. */
static __always_inline void np_life_health(struct np_tcp_life *l, const struct sock *sk)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;

	l->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	l->rttvar_us = BPF_CORE_READ(tp, mdev_us) >> 2;
	l->min_rtt_us = BPF_CORE_READ(tp, rtt_min.s[0].v);
	l->cwnd = BPF_CORE_READ(tp, snd_cwnd);
	l->total_retrans = BPF_CORE_READ(tp, total_retrans);
	l->segs_out = BPF_CORE_READ(tp, segs_out);
	l->flags |= NP_L_HEALTH;
}

/* How a connection that reaches TCP_CLOSE ended. `err` is sk_err (or
 * sk_err_soft when sk_err is 0). A connection that was established and
 * closed without error is a success however short it was. */
static __always_inline __u8 np_life_outcome(const struct np_tcp_life *l, int err)
{
	switch (err) {
	case 0:
		return l->established_ns ? NP_OUT_CLOSED : NP_OUT_ABORTED;
	case NP_ECONNREFUSED:
		return NP_OUT_REFUSED;
	case NP_ECONNRESET:
	case NP_EPIPE:
		return NP_OUT_RESET;
	case NP_ETIMEDOUT:
		return NP_OUT_TIMEOUT;
	case NP_EHOSTUNREACH:
	case NP_ENETUNREACH:
		return NP_OUT_UNREACHABLE;
	default:
		return NP_OUT_OTHER;
	}
}

static __always_inline __u32 np_log2(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

/* The histogram bucket of a response time of `us` microseconds. */
static __always_inline __u32 np_rt_bucket(__u64 us)
{
	if (us < (1ULL << NP_RT_MIN_SHIFT))
		return 0;

	__u32 msb = np_log2(us);
	__u32 sub = (us >> (msb - 3)) & (NP_RT_SUB - 1);
	__u32 idx = (msb - NP_RT_MIN_SHIFT) * NP_RT_SUB + sub;

	return idx < NP_RT_BUCKETS ? idx : NP_RT_BUCKETS - 1;
}

/* A send or receive call on a TCP socket with a role, in process context.
 * Client view: the time from the last send of a burst to the first receive
 * after it; server view: from the last receive to the first send. */
static __always_inline void np_life_on_io(struct np_sock_stats *st, int dir)
{
	struct np_tcp_life *l = &st->life;

	if (!l->role)
		return;
	if (l->role == NP_ROLE_SERVER && !(l->flags & NP_L_ACCEPTED)) {
		l->flags |= NP_L_ACCEPTED;
		np_life_emit(st, NP_LIFE_ACCEPTED);
	}

	__u64 now = bpf_ktime_get_ns();
	__u32 ask = l->role == NP_ROLE_CLIENT ? NP_DIR_TX : NP_DIR_RX;

	if (l->last_dir == ask + 1 && dir != ask && l->last_io_ns && now > l->last_io_ns) {
		__u64 us = (now - l->last_io_ns) / 1000;
		__u32 b = np_rt_bucket(us);

		/* Bound the index where older verifiers (6.1) can see it: clang
		 * otherwise drops the check it can prove, and the verifier
		 * cannot. */
		asm volatile("" : "+r"(b));
		b &= NP_RT_BUCKETS - 1;
		if (l->rt_hist[b] < 0xffff)
			l->rt_hist[b]++;
		l->rt_count++;
		l->rt_sum_us += us;
	}
	l->last_dir = dir + 1;
	l->last_io_ns = now;
}

#endif /* NETOPROC_LIFECYCLE_H */
