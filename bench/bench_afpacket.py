#!/usr/bin/env python3
"""AF_PACKET capture benchmark for netoproc (run by scripts/bench-afpacket.sh).

Three measurements, each with netoproc started before the traffic (after its
`first complete read` line) and stopped with SIGINT after it:

1. UDP over veth: iperf3 in namespace npb-a sends 64-byte datagrams to npb-b
   at rising target rates (pps); netoproc captures in both namespaces (each
   packet is seen twice: sent on veth-a, received on veth-b). Reported per
   rate: the rate achieved, packets netoproc counted, kernel ring drops
   (meta.lost.capture_drops) and netoproc's CPU. The answer is the highest
   achieved rate with zero drops. Rate 0 means unpaced, two streams: the
   most this machine's iperf3 can send.
2. TCP over veth: one iperf3 stream for the same window; same columns.
3. Loopback iperf3 throughput with and without netoproc (afpacket), in
   interleaved, shuffled rounds, for 128 KiB and 1 KiB writes; the median
   per-round ratio. Both iperf3 processes are pinned to the last CPU,
   netoproc and everything else keep the others.

For every netoproc run: its peak RSS (VmHWM just before SIGINT) and where the
resident memory is at that moment (/proc/PID/smaps: the packet rings, the heap
and other anonymous memory, the binary), and the rings it opened.

Standard library only. Whatever happens, the namespaces, iperf3 servers and
netoproc are cleaned up.
"""

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time

from benchlib import proc_cpu_ticks

NS_A, NS_B = "npb-a", "npb-b"
IP_A, IP_B = "10.250.0.1", "10.250.0.2"
CLK_TCK = os.sysconf("SC_CLK_TCK")
children = []


def run(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def setup_netns():
    teardown_netns()
    run("ip", "netns", "add", NS_A)
    run("ip", "netns", "add", NS_B)
    run("ip", "-n", NS_A, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b",
        "netns", NS_B)
    for ns, dev, ip in ((NS_A, "veth-a", IP_A), (NS_B, "veth-b", IP_B)):
        run("ip", "-n", ns, "addr", "add", ip + "/24", "dev", dev)
        run("ip", "-n", ns, "link", "set", dev, "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")


def teardown_netns():
    for ns in (NS_A, NS_B):
        run("ip", "netns", "del", ns, check=False)


class Netoproc:
    """netoproc --capture-mode afpacket, ready once it has read once."""

    def __init__(self, binary, extra=()):
        cmd = [binary, "--capture-mode", "afpacket", "-v", "--format", "json", *extra]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        children.append(self.p)
        self.stderr = []
        ready = threading.Event()

        def drain():
            for line in self.p.stderr:
                self.stderr.append(line.rstrip())
                if "first complete read" in line:
                    ready.set()
        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(30):
            self.p.kill()
            sys.exit("netoproc did not start:\n" + "\n".join(self.stderr))

    def window_start(self):
        self.t0, self.c0 = time.monotonic(), proc_cpu_ticks(self.p.pid)

    def window_end(self):
        """netoproc's CPU over the window, % of one core."""
        c1, t1 = proc_cpu_ticks(self.p.pid), time.monotonic()
        return 100.0 * (c1 - self.c0) / CLK_TCK / (t1 - self.t0)

    def memory(self):
        """Peak and current RSS and where the resident memory is (KiB)."""
        return memory_of(self.p.pid)

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        out, _ = self.p.communicate(timeout=60)
        if self.p.returncode != 0:
            sys.exit(f"netoproc exited with {self.p.returncode}:\n" + "\n".join(self.stderr))
        return json.loads(out)


def memory_of(pid):
    """VmHWM, VmRSS, RssAnon/RssFile/RssShmem, and resident KiB by kind of mapping:
    packet rings (mappings of a socket, `socket:[inode]`), heap ([heap] and
    anonymous: malloc arenas, thread stacks), the binary and libraries, the rest;
    how many ring mappings there are with their size; AnonHugePages (THP)."""
    m = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                m[k] = int(v.split()[0])
    kinds = {"rings": 0, "heap+anon": 0, "binary+libs": 0, "stack+other": 0, "thp": 0}
    rings, name, size = [], "", 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            if "-" in fields[0] and not fields[0].endswith(":"):
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                size = (hi - lo) // 1024
                name = fields[5] if len(fields) > 5 else ""
                if len(fields) > 6:
                    name = " ".join(fields[5:])
            elif fields[0] == "AnonHugePages:":
                kinds["thp"] = kinds.get("thp", 0) + int(fields[1])
            elif fields[0] == "Rss:":
                rss = int(fields[1])
                if name.startswith("socket:"):  # a packet ring is a mapping of its socket
                    kinds["rings"] += rss
                    rings.append((size, rss))
                elif name in ("", "[heap]"):
                    kinds["heap+anon"] += rss
                elif name.startswith("/"):
                    kinds["binary+libs"] += rss
                else:
                    kinds["stack+other"] += rss
    m.update(kinds)
    m["ring_maps"] = len(rings)
    m["ring_map_kib"] = sum(sz for sz, _ in rings)
    return m


def iperf_server(ns, port):
    cmd = ["iperf3", "-s", "-1", "-p", str(port)]
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children.append(p)
    time.sleep(0.3)
    return p


def iperf_client(ns, args, pin=None):
    """Runs an iperf3 client; returns its JSON result and its pid (`ip netns
    exec` and `taskset` exec in place, so the child's pid is iperf3's)."""
    cmd = ["iperf3", "--json", *args]
    if pin is not None:
        cmd = ["taskset", "-c", str(pin)] + cmd
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    if p.returncode != 0:
        sys.exit(f"iperf3 failed: {err}")
    return json.loads(out), p.pid


def packets_counted(report, pids):
    """Packets netoproc counted for these processes (the benchmark's own
    iperf3 client and server, not whatever else the host did meanwhile)."""
    rows = [p for p in report["processes"] if p["pid"] in pids]
    return sum(p["tx_packets"] + p["rx_packets"] for p in rows)


def veth_run(binary, seconds, client_args, label):
    srv = iperf_server(NS_B, 5201)
    np = Netoproc(binary)
    np.window_start()
    res, client = iperf_client(NS_A, ["-c", IP_B, "-p", "5201", "-t", str(seconds),
                                      *client_args])
    cpu = np.window_end()
    time.sleep(0.2)
    mem = np.memory()
    report = np.stop()
    srv.wait(timeout=10)
    end = res["end"]
    if "sum" in end and "packets" in end["sum"]:
        pps = end["sum"]["packets"] / end["sum"]["seconds"]
        lost = end["sum"].get("lost_percent", 0.0)
    else:
        pps, lost = None, 0.0
    return {
        "label": label,
        "pps": pps,
        "iperf_lost_percent": lost,
        "gbps": end.get("sum_received", end.get("sum", {})).get("bits_per_second", 0) / 1e9,
        "counted": packets_counted(report, {client, srv.pid}),
        "drops": report["meta"]["lost"]["capture_drops"],
        "unparsed": report["meta"]["lost"]["unparsed_packets"],
        "cpu": cpu,
        "seconds": seconds,
        "mem": mem,
    }


def loopback_round(binary, seconds, size, with_np, cpu):
    srv = iperf_server(None, 5202)
    np = Netoproc(binary) if with_np else None
    if np:
        np.window_start()
    res, _ = iperf_client(None, ["-c", "127.0.0.1", "-p", "5202", "-t", str(seconds),
                                 "-l", size], pin=cpu)
    used = np.window_end() if np else None
    mem = None
    if np:
        mem = np.memory()
        np.stop()
    srv.wait(timeout=10)
    return res["end"]["sum_received"]["bits_per_second"] / 1e9, used, mem


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--netoproc", required=True)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--rates", default="50000,100000,150000,200000,0",
                    help="UDP target packets/s, 0 = as fast as iperf3 can")
    ap.add_argument("--sizes", default="128K,1K")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--parts", default="veth,loopback",
                    help="which measurements: veth (UDP rates + TCP over veth), loopback (ratio); "
                         "replay is the shell script's")
    a = ap.parse_args()
    parts = set(a.parts.split(","))
    rng = random.Random(a.seed)
    last_cpu = os.cpu_count() - 1
    load_before = os.getloadavg()[0]

    udp, tcp = [], None
    if "veth" in parts:
        setup_netns()
    for rate in [int(r) for r in a.rates.split(",")] if "veth" in parts else []:
        bits = "0" if rate == 0 else str(rate * 64 * 8)
        label = "max" if rate == 0 else f"{rate // 1000}k"
        # Unpaced, two streams send more packets than one here.
        streams = ["-P", "2"] if rate == 0 else []
        udp.append(veth_run(a.netoproc, a.seconds,
                            ["-u", "-l", "64", "-b", bits, *streams], label))
        r = udp[-1]
        print(f"udp {label}: {r['pps']:.0f} pps sent, {r['counted']} counted, "
              f"{r['drops']} drops, netoproc {r['cpu']:.1f}% CPU", file=sys.stderr)
    if "veth" in parts:
        tcp = veth_run(a.netoproc, a.seconds, [], "tcp")
        print(f"tcp: {tcp['gbps']:.1f} Gbit/s, {tcp['counted']} counted, {tcp['drops']} drops, "
              f"netoproc {tcp['cpu']:.1f}% CPU", file=sys.stderr)
        teardown_netns()

    ratios = {s: [] for s in a.sizes.split(",")}
    cpus = {s: [] for s in ratios}
    mems = {s: [] for s in ratios}
    runs = []
    for rnd in range(a.rounds if "loopback" in parts else 0):
        sizes = list(ratios)
        rng.shuffle(sizes)
        for size in sizes:
            arms = [False, True]
            rng.shuffle(arms)
            got = {}
            for with_np in arms:
                got[with_np] = loopback_round(a.netoproc, a.seconds, size, with_np, last_cpu)
            ratios[size].append(got[True][0] / got[False][0])
            cpus[size].append(got[True][1])
            mems[size].append(got[True][2])
            m = got[True][2]
            runs.append((rnd + 1, size, got[False][0], got[True][0], got[True][1], m))
            print(f"round {rnd + 1} {size}: baseline {got[False][0]:.2f} Gbit/s, "
                  f"afpacket {got[True][0]:.2f} Gbit/s, netoproc {got[True][1]:.1f}% CPU, "
                  f"peak RSS {m['VmHWM'] / 1024:.1f} MiB (rings {m['rings'] / 1024:.1f} MiB in "
                  f"{m['ring_maps']} mappings, heap+anon {m['heap+anon'] / 1024:.1f} MiB)",
                  file=sys.stderr)

    zero = [r for r in udp if r["drops"] == 0 and r["pps"]]
    best = max(zero, key=lambda r: r["pps"]) if zero else None
    out = []
    out.append(f"netoproc AF_PACKET benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
               f"kernel {os.uname().release}, {os.cpu_count()} CPUs, {a.seconds} s windows, "
               f"{a.rounds} loopback rounds; 1-minute load average before the run "
               f"{load_before:.2f} (other work on the machine shows up as noise)")
    out.append("")
    if tcp:
        out.append("| traffic over veth | rate sent | packets netoproc counted for the two iperf3 | kernel drops | netoproc CPU | peak RSS |")
        out.append("|---|---|---|---|---|---|")
        for r in udp:
            out.append(f"| UDP 64 B, target {r['label']} pps | {r['pps']:,.0f} pps "
                       f"(iperf3 lost {r['iperf_lost_percent']:.1f}%) | {r['counted']:,} | "
                       f"{r['drops']:,} | {r['cpu']:.1f}% | {r['mem']['VmHWM'] / 1024:.1f} MiB |")
        out.append(f"| TCP, one stream | {tcp['gbps']:.1f} Gbit/s | {tcp['counted']:,} | "
                   f"{tcp['drops']:,} | {tcp['cpu']:.1f}% | {tcp['mem']['VmHWM'] / 1024:.1f} MiB |")
        out.append("")
    if best:
        out.append(f"Highest UDP rate with zero kernel drops: **{best['pps']:,.0f} packets/s** sent "
                   f"(each captured twice: sent in {NS_A}, received in {NS_B}), netoproc "
                   f"{best['cpu']:.1f}% CPU.")
    out.append("")
    if any(ratios.values()):
        out.append("| loopback iperf3 | median ratio afpacket/baseline | min | max | netoproc CPU (median / max) | peak RSS VmHWM (median / max) |")
        out.append("|---|---|---|---|---|---|")
        for size, rs in ratios.items():
            hwm = [m["VmHWM"] / 1024 for m in mems[size]]
            out.append(f"| `-l {size}` | {statistics.median(rs):.3f} | {min(rs):.3f} | {max(rs):.3f} | "
                       f"{statistics.median(cpus[size]):.1f}% / {max(cpus[size]):.1f}% | "
                       f"{statistics.median(hwm):.1f} / {max(hwm):.1f} MiB |")
        out.append("")
        out.append("Resident memory at the end of each loopback window (median over the runs, MiB): "
                   "where it is, from /proc/PID/smaps.")
        out.append("")
        out.append("| write size | VmRSS | packet rings (mappings, mapped MiB) | heap + anonymous (of which THP) | binary + libraries | other |")
        out.append("|---|---|---|---|---|---|")
        for size in ratios:
            ms = mems[size]

            def md(k, ms=ms):
                return statistics.median(m[k] for m in ms) / 1024
            out.append(f"| `-l {size}` | {md('VmRSS'):.1f} | {md('rings'):.1f} "
                       f"({statistics.median(m['ring_maps'] for m in ms):.0f}, {md('ring_map_kib'):.0f}) | "
                       f"{md('heap+anon'):.1f} ({md('thp'):.1f}) | {md('binary+libs'):.1f} | {md('stack+other'):.1f} |")
        out.append("")
        out.append("Every netoproc run (a ring per network namespace that existed at the end of the "
                   "window; other sessions' namespaces count too):")
        out.append("")
        out.append("| round | size | baseline Gbit/s | afpacket Gbit/s | netoproc CPU | peak RSS MiB | VmRSS | rings (count, MiB) | heap + anon MiB |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for rnd, size, base, np_, cpu, m in runs:
            out.append(f"| {rnd} | {size} | {base:.2f} | {np_:.2f} | {cpu:.1f}% | {m['VmHWM'] / 1024:.1f} | "
                       f"{m['VmRSS'] / 1024:.1f} | {m['ring_maps']}, {m['rings'] / 1024:.1f} | "
                       f"{m['heap+anon'] / 1024:.1f} |")
    print("\n".join(out))


def cleanup(*_):
    for p in children:
        if p.poll() is None:
            p.kill()
    teardown_netns()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    finally:
        cleanup()
