// SPDX-License-Identifier: GPL-2.0
// The benchmark's control arm ("floor"): an EMPTY tp_btf program pair on the
// same tracepoints as netoproc's byte hooks. Attaching it costs what any
// tp_btf program on sock_send_length/sock_recv_length costs (trampoline-less
// raw tracepoint dispatch + a call); netoproc's excess over this is its own.
// Build (scripts/bench.sh does it): clang -target bpf -D__TARGET_ARCH_x86
//   -I/usr/include/$(gcc -dumpmachine) -O2 -g -c floor.bpf.c -o floor.bpf.o
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct sock;

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sock_send_length")
int BPF_PROG(np_floor_send, struct sock *sk, __u16 family, __u16 protocol, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(np_floor_recv, struct sock *sk, __u16 family, __u16 protocol, int ret, int flags)
{
	return 0;
}
