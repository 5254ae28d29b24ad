// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * dnsload — DNS load for scripts/bench-dns.sh: a UDP responder and a client
 * that sends valid DNS queries at a controlled rate and counts, itself,
 * what it sent and what was answered. IPv4 only, no dependencies.
 *
 *   dnsload serve  --bind 127.0.0.1:53 --seconds S
 *   dnsload client --server 127.0.0.1:53 --rate R --seconds S
 *                  [--mode reuse|fresh] [--sockets N] [--window W] [--names N]
 *
 * serve: answers every query with the query's question and one A record
 * (192.0.2.x, x from the name) or, for other types, no answer; NOERROR.
 * recvmmsg/sendmmsg in batches of 64. Exits after S seconds or on SIGTERM /
 * SIGINT and prints one JSON line (received, answered, malformed).
 *
 * client: open loop — query i is due at i / R seconds after the start; at
 * most W queries are in flight (a due query that finds the window full is
 * sent late; `window_full` counts the times that happened). R = 0 is a closed loop: W in flight,
 * as fast as answers come. `reuse`: N connected UDP sockets, queries
 * round-robin, transaction ids sequential per socket. `fresh`: socket(),
 * connect(), send() per query, closed once answered (or expired) — what
 * glibc's stub resolver does. A query not answered within 1 s is expired
 * (counted as unanswered). After S seconds it waits up to 1 s for the last
 * answers, then prints one JSON line with its counts, its elapsed time,
 * its own CPU time (getrusage) and the latency (send to answer read, µs
 * buckets) at p50 and p99.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MSG_MAX 512
#define EXPIRE_NS 1000000000ull
#define DRAIN_NS 1000000000ull
#define FIFO_CAP (1u << 17)
#define MAX_SOCKETS 64
#define MAX_WINDOW 65536
#define HIST_US 1000000 /* latency histogram: 1 µs buckets up to 1 s */

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "dnsload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: dnsload serve --bind IP:PORT --seconds S\n"
		"       dnsload client --server IP:PORT --rate R --seconds S [--mode reuse|fresh]\n"
		"                      [--sockets N] [--window W] [--names N]\n");
	exit(2);
}

static struct sockaddr_in parse_addr(const char *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		usage();
	memcpy(host, s, colon - s);
	host[colon - s] = 0;
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		usage();
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	return a;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------ serve */

/* The response to query q (len bytes) in r; its length, or 0 if q is not a
 * query we can answer (counted malformed). */
static size_t respond(const uint8_t *q, size_t len, uint8_t *r)
{
	if (len < 12 + 5 || (q[2] & 0x80)) /* too short, or not a query */
		return 0;
	if (q[4] != 0 || q[5] != 1) /* QDCOUNT must be 1 */
		return 0;
	size_t off = 12;
	unsigned sum = 0;
	for (int labels = 0; labels < 128; labels++) {
		if (off >= len)
			return 0;
		uint8_t l = q[off];
		if (l == 0)
			break;
		if (l & 0xc0) /* no compression in a question we answer */
			return 0;
		for (size_t i = 1; i <= l && off + i < len; i++)
			sum = sum * 31 + q[off + i];
		off += 1 + l;
	}
	if (off >= len || q[off] != 0 || off + 5 > len)
		return 0;
	off += 5; /* root label, QTYPE, QCLASS */
	uint16_t qtype = (uint16_t)(q[off - 4] << 8 | q[off - 3]);
	memcpy(r, q, off);
	r[2] = (uint8_t)(0x80 | (q[2] & 0x01)); /* QR, opcode 0, RD copied */
	r[3] = 0x80; /* RA, NOERROR */
	r[6] = 0;
	r[7] = qtype == 1;
	r[8] = r[9] = r[10] = r[11] = 0; /* no authority, no EDNS */
	if (qtype != 1)
		return off;
	static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2 };
	memcpy(r + off, rr, sizeof(rr));
	r[off + sizeof(rr)] = (uint8_t)(1 + sum % 254);
	return off + sizeof(rr) + 1;
}

static int serve(int argc, char **argv)
{
	struct sockaddr_in bind_addr = { 0 };
	double seconds = 0;
	int have_bind = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--bind") && i + 1 < argc)
			bind_addr = parse_addr(argv[++i]), have_bind = 1;
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else
			usage();
	}
	if (!have_bind || seconds <= 0 || seconds > 86400)
		usage();
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		die("socket");
	int one = 1, buf = 8 << 20;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	struct timeval tv = { 0, 100000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&bind_addr, sizeof(bind_addr)))
		die("bind");
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready\n");
	fflush(stdout);

	static uint8_t in[BATCH][MSG_MAX], out[BATCH][MSG_MAX + 32];
	static struct sockaddr_in from[BATCH];
	static struct iovec iin[BATCH], iout[BATCH];
	static struct mmsghdr rm[BATCH], sm[BATCH];
	uint64_t received = 0, answered = 0, malformed = 0, send_errors = 0;
	uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9);
	while (!stop && now_ns() < deadline) {
		for (int i = 0; i < BATCH; i++) {
			iin[i] = (struct iovec){ in[i], MSG_MAX };
			rm[i].msg_hdr = (struct msghdr){ .msg_name = &from[i],
							 .msg_namelen = sizeof(from[i]),
							 .msg_iov = &iin[i],
							 .msg_iovlen = 1 };
		}
		int n = recvmmsg(fd, rm, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			die("recvmmsg");
		}
		received += n;
		int k = 0;
		for (int i = 0; i < n; i++) {
			size_t len = respond(in[i], rm[i].msg_len, out[k]);
			if (!len) {
				malformed++;
				continue;
			}
			iout[k] = (struct iovec){ out[k], len };
			sm[k].msg_hdr = (struct msghdr){ .msg_name = &from[i],
							 .msg_namelen = rm[i].msg_hdr.msg_namelen,
							 .msg_iov = &iout[k],
							 .msg_iovlen = 1 };
			k++;
		}
		int sent = 0;
		while (sent < k) {
			int m = sendmmsg(fd, sm + sent, k - sent, 0);
			if (m < 0) {
				if (errno == EINTR)
					continue;
				/* e.g. the client's socket closed: skip that one */
				send_errors++;
				sent++;
				continue;
			}
			sent += m;
			answered += m;
		}
	}
	printf("{\"role\":\"serve\",\"pid\":%d,\"received\":%llu,\"answered\":%llu,"
	       "\"malformed\":%llu,\"send_errors\":%llu}\n",
	       getpid(), (unsigned long long)received, (unsigned long long)answered,
	       (unsigned long long)malformed, (unsigned long long)send_errors);
	return 0;
}

/* ----------------------------------------------------------------- client */

struct inflight {
	uint32_t seq; /* 0 = free */
	int fd;       /* fresh mode */
	uint16_t id;  /* fresh mode */
	uint64_t t;   /* sent at, ns */
};

struct fifo_ent {
	uint32_t seq;
	uint16_t sock, id;
	uint64_t t;
};

static size_t build_query(uint8_t *q, uint16_t id, unsigned name)
{
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	q[2] = 0x01; /* RD */
	q[3] = 0;
	q[4] = 0, q[5] = 1;
	memset(q + 6, 0, 6);
	size_t off = 12;
	char label[16];
	int l = snprintf(label, sizeof(label), "h%u", name);
	q[off++] = (uint8_t)l;
	memcpy(q + off, label, l);
	off += l;
	static const char rest[] = "\5bench\2np\4test";
	memcpy(q + off, rest, sizeof(rest)); /* includes the root label */
	off += sizeof(rest);
	q[off++] = 0, q[off++] = 1; /* A */
	q[off++] = 0, q[off++] = 1; /* IN */
	return off;
}

static int client(int argc, char **argv)
{
	struct sockaddr_in server = { 0 };
	int have_server = 0, fresh = 0;
	double rate = -1, seconds = 0;
	long nsock = 4, window = 0, names = 1000;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--server") && i + 1 < argc)
			server = parse_addr(argv[++i]), have_server = 1;
		else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
			rate = atof(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "fresh"))
				fresh = 1;
			else if (strcmp(argv[i], "reuse"))
				usage();
		} else if (!strcmp(argv[i], "--sockets") && i + 1 < argc)
			nsock = atol(argv[++i]);
		else if (!strcmp(argv[i], "--window") && i + 1 < argc)
			window = atol(argv[++i]);
		else if (!strcmp(argv[i], "--names") && i + 1 < argc)
			names = atol(argv[++i]);
		else
			usage();
	}
	if (!have_server || rate < 0 || rate > 10e6 || seconds <= 0 || seconds > 3600 ||
	    nsock < 1 || nsock > MAX_SOCKETS || names < 1 || names > 1000000 || window < 0 ||
	    window > MAX_WINDOW)
		usage();
	if (!window)
		window = rate > 0 ? 4096 : 64;
	if (fresh)
		nsock = window; /* one slot per in-flight socket */
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	int ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	int socks[MAX_SOCKETS];
	uint16_t next_id[MAX_SOCKETS] = { 0 };
	/* reuse: table[sock][id]; fresh: table[slot] with its fd */
	struct inflight *table = calloc(fresh ? (size_t)window : (size_t)nsock * 65536,
					sizeof(*table));
	int *free_slots = fresh ? malloc(window * sizeof(int)) : NULL;
	struct fifo_ent *fifo = malloc(FIFO_CAP * sizeof(*fifo));
	if (!table || !fifo || (fresh && !free_slots))
		die("malloc");
	long nfree = 0;
	if (fresh)
		for (long i = window - 1; i >= 0; i--)
			free_slots[nfree++] = (int)i;
	else
		for (int s = 0; s < nsock; s++) {
			socks[s] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
			if (socks[s] < 0)
				die("socket");
			int buf = 4 << 20;
			if (setsockopt(socks[s], SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
				setsockopt(socks[s], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
			if (connect(socks[s], (struct sockaddr *)&server, sizeof(server)))
				die("connect");
			struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)s };
			if (epoll_ctl(ep, EPOLL_CTL_ADD, socks[s], &ev))
				die("epoll_ctl");
			next_id[s] = (uint16_t)(rand() & 0xffff);
		}

	uint64_t sent = 0, answered = 0, expired = 0, bad = 0, send_errors = 0, window_full = 0;
	uint64_t fresh_sockets = 0, socket_errors = 0;
	uint32_t seq = 0;
	size_t fhead = 0, ftail = 0; /* fifo: [fhead, ftail) */
	long inflight = 0;
	unsigned rr = 0;
	uint8_t q[MSG_MAX], r[MSG_MAX];
	uint32_t *hist = calloc(HIST_US + 1, sizeof(*hist));
	if (!hist)
		die("calloc");
	double cpu0 = cpu_seconds();
	uint64_t t0 = now_ns();
	uint64_t end = t0 + (uint64_t)(seconds * 1e9);
	uint64_t t_last_send = t0;

	for (;;) {
		uint64_t now = now_ns();
		int sending = !stop && now < end;
		if (!sending && (inflight == 0 || now >= end + DRAIN_NS || stop))
			break;
		/* expire */
		while (fhead != ftail) {
			struct fifo_ent *f = &fifo[fhead % FIFO_CAP];
			struct inflight *e = fresh ? &table[f->sock] : &table[(size_t)f->sock * 65536 + f->id];
			if (e->seq != f->seq) {
				fhead++;
				continue;
			}
			if (f->t + EXPIRE_NS > now)
				break;
			if (fresh) {
				close(e->fd);
				free_slots[nfree++] = f->sock;
			}
			e->seq = 0;
			expired++;
			inflight--;
			fhead++;
		}
		/* send what is due */
		if (sending) {
			uint64_t due = rate > 0 ? (uint64_t)((double)(now - t0) * rate / 1e9) + 1
						: sent + (uint64_t)(window - inflight);
			uint64_t n_due = due > sent ? due - sent : 0;
			int batch = 0;
			while (n_due > 0 && batch < 256) {
				if (inflight >= window || ftail - fhead >= FIFO_CAP) {
					if (rate > 0)
						window_full++;
					break;
				}
				unsigned name = (unsigned)(sent % (uint64_t)names);
				uint16_t s, id;
				int fd;
				if (fresh) {
					fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
					if (fd < 0) {
						socket_errors++;
						break;
					}
					if (connect(fd, (struct sockaddr *)&server, sizeof(server))) {
						close(fd);
						socket_errors++;
						break;
					}
					fresh_sockets++;
					s = (uint16_t)free_slots[--nfree];
					id = (uint16_t)(rand() & 0xffff);
				} else {
					s = (uint16_t)(rr++ % nsock);
					fd = socks[s];
					id = next_id[s]++;
				}
				size_t len = build_query(q, id, name);
				struct inflight *e = fresh ? &table[s] : &table[(size_t)s * 65536 + id];
				if (!fresh && e->seq) { /* id reused while still in flight */
					e->seq = 0;
					expired++;
					inflight--;
				}
				uint64_t ts = now_ns();
				if (send(fd, q, len, 0) != (ssize_t)len) {
					send_errors++;
					if (fresh) {
						close(fd);
						free_slots[nfree++] = s;
					}
					break;
				}
				if (++seq == 0)
					seq = 1;
				e->seq = seq;
				e->fd = fd;
				e->id = id;
				e->t = ts;
				fifo[ftail % FIFO_CAP] = (struct fifo_ent){ seq, s, id, ts };
				ftail++;
				if (fresh) {
					struct epoll_event ev = { .events = EPOLLIN,
								  .data.u64 = (uint64_t)s };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
						die("epoll_ctl");
				}
				sent++;
				inflight++;
				n_due--;
				batch++;
				t_last_send = ts;
			}
		}
		/* receive until the next query is due (ns timeout: at 1k q/s and
		 * more, the wait is under a millisecond) */
		int64_t wait_ns = 0;
		if (!sending)
			wait_ns = 10000000;
		else if (inflight >= window)
			wait_ns = 1000000; /* full: wait for answers or expiry */
		else if (rate > 0) {
			double next = (double)sent / rate * 1e9; /* ns since t0 */
			wait_ns = (int64_t)(next - (double)(now_ns() - t0));
		}
		if (wait_ns < 0)
			wait_ns = 0;
		if (wait_ns > 10000000)
			wait_ns = 10000000;
		struct timespec to = { 0, wait_ns };
		struct epoll_event evs[256];
		int n = epoll_pwait2(ep, evs, 256, &to, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_pwait2");
		}
		for (int i = 0; i < n; i++) {
			uint16_t s = (uint16_t)evs[i].data.u64;
			int fd = fresh ? table[s].fd : socks[s];
			if (fresh && !table[s].seq)
				continue;
			for (int k = 0; k < 64; k++) {
				ssize_t len = recv(fd, r, sizeof(r), 0);
				if (len < 0)
					break;
				if (len < 12 || !(r[2] & 0x80) || (r[3] & 0x0f) || r[7] != 1) {
					bad++;
					continue;
				}
				uint16_t id = (uint16_t)(r[0] << 8 | r[1]);
				struct inflight *e = fresh ? &table[s] : &table[(size_t)s * 65536 + id];
				if (!e->seq || (fresh && e->id != id)) {
					bad++;
					continue;
				}
				e->seq = 0;
				answered++;
				uint64_t us = (now_ns() - e->t) / 1000;
				hist[us < HIST_US ? us : HIST_US]++;
				inflight--;
				if (fresh) {
					close(e->fd);
					free_slots[nfree++] = s;
					break;
				}
			}
		}
	}
	uint64_t t1 = now_ns();
	double cpu = cpu_seconds() - cpu0;
	/* close what is left */
	if (fresh)
		for (long i = 0; i < window; i++)
			if (table[i].seq)
				close(table[i].fd);
	double elapsed = (t1 - t0) / 1e9;
	double pct[2] = { -1, -1 };
	const double at[2] = { 0.5, 0.99 };
	for (int k = 0; k < 2 && answered; k++) {
		uint64_t want = (uint64_t)(at[k] * (double)answered), acc = 0;
		for (uint64_t us = 0; us <= HIST_US; us++) {
			acc += hist[us];
			if (acc > want) {
				pct[k] = (double)us / 1000.0;
				break;
			}
		}
	}
	double send_window = (t_last_send - t0) / 1e9;
	printf("{\"role\":\"client\",\"pid\":%d,\"mode\":\"%s\",\"rate\":%.0f,\"seconds\":%.3f,"
	       "\"sockets\":%ld,\"window\":%ld,\"sent\":%llu,\"answered\":%llu,"
	       "\"unanswered\":%llu,\"expired\":%llu,\"bad_responses\":%llu,\"send_errors\":%llu,"
	       "\"socket_errors\":%llu,\"window_full\":%llu,\"fresh_sockets\":%llu,"
	       "\"send_window_s\":%.3f,\"elapsed_s\":%.3f,\"sent_qps\":%.1f,\"cpu_s\":%.3f,"
	       "\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
	       getpid(), fresh ? "fresh" : "reuse", rate, seconds, fresh ? 0 : nsock, window,
	       (unsigned long long)sent, (unsigned long long)answered,
	       (unsigned long long)(sent - answered), (unsigned long long)expired,
	       (unsigned long long)bad,
	       (unsigned long long)send_errors, (unsigned long long)socket_errors,
	       (unsigned long long)window_full, (unsigned long long)fresh_sockets, send_window,
	       elapsed, send_window > 0 ? sent / send_window : 0.0, cpu, pct[0], pct[1]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "serve"))
		return serve(argc - 2, argv + 2);
	if (!strcmp(argv[1], "client"))
		return client(argc - 2, argv + 2);
	usage();
}
