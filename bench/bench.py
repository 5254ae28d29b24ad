#!/usr/bin/env python3
"""netoproc overhead benchmark (run through scripts/bench.sh, as root).

Loopback TCP with iperf3, interleaved rounds of three arms per write size:
  base     nothing attached
  netoproc the release binary running (started before, stopped after the run)
  floor    an EMPTY tp_btf program pair on sock_send_length/sock_recv_length
Then a separate cost phase with kernel.bpf_stats_enabled=1 measures ns per
program run (stats add two clock reads per run, so they stay off while
throughput is measured). See BENCHMARKS.md for the method and the goals.

Standard library only.
"""
import argparse
import csv
import datetime as dt
import json
import math
import os
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

import benchlib
from benchlib import proc_cpu_ticks, proc_sched_ns, proc_status_kib, spawn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FLOOR_PIN = "/sys/fs/bpf/np_floor"
FLOOR_PROGS = ("np_floor_send", "np_floor_recv")
STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BYTE_TPS = ("sock_send_length", "sock_recv_length")
# netoproc's per-socket byte hooks and their empty-program counterpart
FLOOR_OF = {"np_tp_send": "np_floor_send", "np_tp_recv": "np_floor_recv"}

GOALS = {
    "ratio_128k": 0.98,
    "ratio_1k": 0.95,
    "ratio_1k_vs_floor": -0.02,
    "cpu_pct": 1.0,
    "rss_mib": 30.0,
    "first_read_ms": 300.0,
    "excess_ns": 40.0,
}

def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def stop(p, sig=signal.SIGTERM, timeout=10):
    benchlib.stop(p, sig, timeout)


# ---------------------------------------------------------------- kernel bits

def read_sysctl(path):
    with open(path) as f:
        return f.read().strip()


def write_sysctl(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def bpftool_json(*args):
    out = run(["bpftool", "--json", *args]).stdout
    return json.loads(out) if out.strip() else []


def prog_stats():
    """id -> (name, run_time_ns, run_cnt); bpftool omits zero counters."""
    return {p["id"]: (p.get("name", ""), p.get("run_time_ns", 0), p.get("run_cnt", 0))
            for p in bpftool_json("prog", "show")}


def link_census():
    """(raw tracepoint links on sock_send/recv_length, cgroup inet skb links)."""
    tp = skb = 0
    for link in bpftool_json("link", "show"):
        if link.get("type") == "raw_tracepoint" and link.get("tp_name") in BYTE_TPS:
            tp += 1
        if link.get("attach_type") in ("cgroup_inet_egress", "cgroup_inet_ingress"):
            skb += 1
    return tp, skb


def floor_attach(obj):
    floor_detach()
    run(["bpftool", "prog", "loadall", obj, FLOOR_PIN])
    args = []
    for name in FLOOR_PROGS:
        args += [f"{FLOOR_PIN}/{name}", f"{FLOOR_PIN}/link_{name}"]
    run([sys.executable, os.path.join(HERE, "tpbtf_attach.py"), *args])


def floor_detach():
    if os.path.exists(FLOOR_PIN):
        shutil.rmtree(FLOOR_PIN)


def floor_prog_ids():
    ids = {}
    for name in FLOOR_PROGS:
        p = bpftool_json("prog", "show", "pinned", f"{FLOOR_PIN}/{name}")
        ids[p["id"]] = name
    return ids


def prog_ids_of(pid):
    """Ids of the BPF programs a process holds (prog_id: in /proc/PID/fdinfo)."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def cpu_times():
    """cpu index -> (busy, total) jiffies from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *v = line.split()
                v = [int(x) for x in v[:8]]
                idle = v[3] + v[4]
                out[int(name[3:])] = (sum(v) - idle, sum(v))
    return out


# ---------------------------------------------------------------- iperf3

class Iperf:
    def __init__(self, port, server_cpus, client_cpus):
        self.port, self.client_cpus, self.server_cpus = port, client_cpus, server_cpus
        self.server = spawn(["iperf3", "-s", "-p", str(port)], cpus=server_cpus,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("iperf3 server did not start")
        time.sleep(0.3)

    def client(self, seconds, size):
        p = spawn(["iperf3", "-c", "127.0.0.1", "-p", str(self.port), "-t", str(seconds),
                   "-l", size, "-J"], cpus=self.client_cpus,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=seconds + 60)
        benchlib.children.remove(p)
        d = json.loads(out)
        if "error" in d:
            raise RuntimeError(f"iperf3: {d['error']}")
        end = d["end"]
        return {
            "client_pid": p.pid,
            "gbps": end["sum_received"]["bits_per_second"] / 1e9,
            "sent_bytes": end["sum_sent"]["bytes"],
            "recv_bytes": end["sum_received"]["bytes"],
            "client_cpu": end["cpu_utilization_percent"]["host_total"],
            "server_cpu": end["cpu_utilization_percent"]["remote_total"],
        }

    def close(self):
        stop(self.server)


# ---------------------------------------------------------------- netoproc

class Netoproc(benchlib.Netoproc):
    """netoproc until its first complete read (30 s at most); `stop` also
    returns its peak RSS."""

    def stop(self):
        hwm = proc_status_kib(self.p.pid, "VmHWM")
        return hwm, super().stop(timeout=30)


def counted(snap, pid, key):
    if not snap:
        return None
    return sum(p.get(key, 0) for p in snap.get("processes", []) if p.get("pid") == pid)


# ---------------------------------------------------------------- one measurement

def measure(arm, size, seconds, iperf, binary, floor_obj, tmpdir, with_stats=False, extra=()):
    row = {"arm": arm, "size": size}
    np_ = r = None
    before = None
    if arm == "floor":
        floor_attach(floor_obj)
    elif arm == "netoproc":
        np_ = Netoproc(binary, os.path.join(tmpdir, "netoproc.json"), extra)
        row["first_read_reported_ms"] = np_.reported_ms
        row["first_read_wall_ms"] = round(np_.wall_ms, 1)
    try:
        row["links_tp"], row["links_skb"] = link_census()
        expect = {"base": (0, 0), "floor": (2, 0), "netoproc": (2, 2)}[arm]
        row["foreign_links"] = int((row["links_tp"], row["links_skb"]) != expect)
        if row["foreign_links"]:
            log(f"WARNING: {arm}: found {row['links_tp']} sock_*_length and "
                f"{row['links_skb']} cgroup skb links, expected {expect}: something else is attached")
        time.sleep(0.5)  # let attach/first-read settle
        if with_stats:
            before = prog_stats()
        if np_:
            c0, s0, t0 = proc_cpu_ticks(np_.p.pid), proc_sched_ns(np_.p.pid), time.monotonic()
        ct0 = cpu_times()
        r = iperf.client(seconds, size)
        ct1 = cpu_times()
        if link_census() != expect:
            row["foreign_links"] = 1
            log(f"WARNING: {arm}: BPF links changed during the run: something else attached")
        others = [c for c in ct1 if iperf.client_cpus and c not in iperf.client_cpus
                  and c not in (iperf.server_cpus or ())]
        if others:
            busy = sum(ct1[c][0] - ct0[c][0] for c in others)
            tot = sum(ct1[c][1] - ct0[c][1] for c in others)
            row["other_cpus_busy_pct"] = round(100 * busy / tot, 1) if tot else None
        row.update({k: v for k, v in r.items() if k != "client_pid"})
        if np_:
            c1, s1, t1 = proc_cpu_ticks(np_.p.pid), proc_sched_ns(np_.p.pid), time.monotonic()
            row["np_cpu_pct"] = round((c1 - c0) / CLK_TCK / (t1 - t0) * 100, 3)
            row["np_cpu_pct_ns"] = round((s1 - s0) / 1e9 / (t1 - t0) * 100, 4)
        if with_stats:
            after = prog_stats()
            if arm == "floor":
                mine = floor_prog_ids()
            else:
                held = prog_ids_of(np_.p.pid)
                mine = {i: v[0] for i, v in after.items() if i in held}
            row["progs"] = {}
            for i, name in mine.items():
                b = before.get(i, (name, 0, 0))
                a = after[i]
                row["progs"][name] = (a[1] - b[1], a[2] - b[2])
    finally:
        if np_:
            hwm, snap = np_.stop()
            row["np_rss_kib"] = hwm
            tx = counted(snap, r["client_pid"], "tx_bytes") if r else None
            if tx:
                # client's data + control bytes vs what iperf3 says it sent
                row["np_tx_count_ratio"] = round(tx / row["sent_bytes"], 6)
        if arm == "floor":
            floor_detach()
    return row


# ---------------------------------------------------------------- statistics

def median_ci(xs, level=0.95):
    """Distribution-free order-statistic CI for the median: [x(k), x(n-k+1)]
    with the largest k whose coverage 1 - 2 P(Bin(n, 1/2) <= k-1) >= level.
    Returns (median, lo, hi, achieved coverage)."""
    xs = sorted(x for x in xs if x is not None)
    n = len(xs)
    if n == 0:
        return (None, None, None, 0.0)
    med = statistics.median(xs)

    def cover(k):
        return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n

    k = 1
    while k + 1 <= (n + 1) // 2 and cover(k + 1) >= level:
        k += 1
    return (med, xs[k - 1], xs[n - k], cover(k))


def fmt(x, d=3):
    return "–" if x is None else f"{x:.{d}f}"


def fmt_ci(t, d=3):
    med, lo, hi, _ = t
    if med is None:
        return "–"
    return f"{med:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"


# ---------------------------------------------------------------- report

def machine_info():
    info = benchlib.machine_info(ROOT)
    info["commit"] = info["commit"] or "tree at ?"
    info["iperf3"] = run(["iperf3", "--version"]).stdout.splitlines()[0]
    return info


def args_tag(extra):
    """A file-name suffix naming the extra netoproc arguments ("" without any), so
    that runs with different arguments on one day do not overwrite each other."""
    if not extra:
        return ""
    return "-" + re.sub(r"[^A-Za-z0-9.]+", "-", " ".join(extra)).strip("-")


def verdict(ok):
    return "met" if ok else "**not met**"


def report(rows, cost_rows, args, info, started, finished):
    sizes = args.sizes
    out = []
    w = out.append
    w(f"# netoproc benchmark — {started:%Y-%m-%d %H:%M} UTC, kernel {info['kernel']}")
    w("")
    w(f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['mem_gib']} GiB RAM, "
      f"kernel {info['kernel']}; {info['iperf3']}.")
    w(f"netoproc: {info['np_version']}, {info['commit']}."
      + (f" Extra arguments: `{shlex.join(args.extra)}`." if getattr(args, "extra", None) else ""))
    w(f"Run: {args.rounds} interleaved rounds × {args.seconds} s per measurement, "
      f"iperf3 pinning `{args.pin}`, cost phase {args.cost_rounds} round(s); "
      f"wall time {(finished - started).total_seconds() / 60:.1f} min.")
    w("")
    # ---- throughput
    w("## Throughput (loopback TCP, iperf3 receiver Gbit/s)")
    w("")
    w("Ratios are medians of per-round ratios (each round measures the three arms "
      "back to back in shuffled order); brackets: distribution-free order-statistic "
      "CI for the median (coverage in the last column).")
    w("")
    w("| write size | baseline | netoproc | empty tp_btf (floor) | netoproc / baseline | floor / baseline | netoproc − floor | CI coverage |")
    w("|---|---|---|---|---|---|---|---|")
    summary = {}
    for size in sizes:
        by = {}
        for r in rows:
            if r["size"] == size:
                by.setdefault(r["round"], {})[r["arm"]] = r["gbps"]
        dirty = {r["round"] for r in rows if r["size"] == size and r.get("foreign_links")}
        full = [v for k, v in by.items() if len(v) == 3 and k not in dirty]
        s_excl = len(dirty)
        rn = [v["netoproc"] / v["base"] for v in full]
        rf = [v["floor"] / v["base"] for v in full]
        d = [a - b for a, b in zip(rn, rf)]
        if not full:
            continue
        med = {arm: statistics.median(v[arm] for v in full) for arm in ("base", "netoproc", "floor")}
        s = {"rn": median_ci(rn), "rf": median_ci(rf), "d": median_ci(d), "med": med, "excl": s_excl}
        summary[size] = s
        w(f"| {size} | {med['base']:.2f} | {med['netoproc']:.2f} | {med['floor']:.2f} | "
          f"{fmt_ci(s['rn'])} | {fmt_ci(s['rf'])} | {fmt_ci(s['d'])} | {s['rn'][3] * 100:.1f}% (n={len(full)}) |")
    w("")
    excl = {sz: summary[sz]["excl"] for sz in summary if summary[sz]["excl"]}
    if excl:
        w("Rounds left out because a foreign BPF link (another netoproc or tool) was attached during one "
          "of their measurements: " + ", ".join(f"{sz}: {n}" for sz, n in excl.items()) + ".")
        w("")
    ob = [r["other_cpus_busy_pct"] for r in rows if r.get("other_cpus_busy_pct") is not None]
    if ob:
        w(f"Background load: the CPU(s) not running iperf3 were busy {statistics.median(ob):.0f}% (median), "
          f"{max(ob):.0f}% (max) during the measurements (netoproc runs there too; anything well above "
          "a few % means other work shared the machine).")
        w("")
    # ---- netoproc process
    w("## netoproc process (throughput rounds)")
    w("")
    w("| write size | CPU % of one core while saturated, utime+stime (median / max) | same from schedstat ns (median / max) | peak RSS VmHWM MiB (max) | first complete read, reported ms (median / max) | exec → that line, wall ms (median / max) | bytes counted / iperf3 sent (min) |")
    w("|---|---|---|---|---|---|---|")
    proc = {}
    for size in sizes:
        nr = [r for r in rows if r["size"] == size and r["arm"] == "netoproc"]
        cpu = [r["np_cpu_pct"] for r in nr if r.get("np_cpu_pct") is not None]
        cpu_ns = [r["np_cpu_pct_ns"] for r in nr if r.get("np_cpu_pct_ns") is not None]
        rss = [r["np_rss_kib"] / 1024 for r in nr if r.get("np_rss_kib")]
        rep = [r["first_read_reported_ms"] for r in nr if r.get("first_read_reported_ms") is not None]
        wall = [r["first_read_wall_ms"] for r in nr if r.get("first_read_wall_ms") is not None]
        cnt = [r["np_tx_count_ratio"] for r in nr if r.get("np_tx_count_ratio")]
        p = {"cpu_med": statistics.median(cpu) if cpu else None, "cpu_max": max(cpu, default=None),
             "cpun_med": statistics.median(cpu_ns) if cpu_ns else None,
             "cpun_max": max(cpu_ns, default=None),
             "rss_max": max(rss, default=None),
             "rep_med": statistics.median(rep) if rep else None, "rep_max": max(rep, default=None),
             "wall_med": statistics.median(wall) if wall else None, "wall_max": max(wall, default=None),
             "cnt_min": min(cnt, default=None)}
        proc[size] = p
        w(f"| {size} | {fmt(p['cpu_med'], 2)} / {fmt(p['cpu_max'], 2)} | "
          f"{fmt(p['cpun_med'], 3)} / {fmt(p['cpun_max'], 3)} | {fmt(p['rss_max'], 1)} | "
          f"{fmt(p['rep_med'], 1)} / {fmt(p['rep_max'], 1)} | {fmt(p['wall_med'], 0)} / {fmt(p['wall_max'], 0)} | "
          f"{fmt(p['cnt_min'], 5)} |")
    w("")
    w(f"CPU over the iperf3 window: /proc/PID/stat utime+stime ({CLK_TCK} ticks/s, so "
      f"{100 / CLK_TCK / args.seconds:.2f}% steps), and the sum of /proc/PID/task/*/schedstat "
      "run time (ns). Peak RSS: VmHWM just before SIGINT. Wall: exec → the -v line, read from its pipe.")
    w("")
    # ---- per-event cost
    w("## Per-program cost (kernel.bpf_stats_enabled=1, separate cost rounds)")
    w("")
    w("ns/run = Δrun_time_ns / Δrun_cnt summed over the cost rounds; `excess` = ns/run minus the "
      "empty tp_btf program on the same tracepoint in the same phase.")
    w("")
    hdr = "| program |" + "".join(f" runs ({s}) | ns/run ({s}) | excess ({s}) |" for s in sizes)
    w(hdr)
    w("|---|" + "---|---|---|" * len(sizes))
    cost = {}
    for size in sizes:
        agg = {}
        for r in cost_rows:
            if r["size"] == size and not r.get("foreign_links"):
                for name, (ns, cnt) in r.get("progs", {}).items():
                    a = agg.setdefault(name, [0, 0])
                    a[0] += ns
                    a[1] += cnt
        cost[size] = {n: (ns / cnt if cnt else None, cnt) for n, (ns, cnt) in agg.items()}
    names = sorted({n for c in cost.values() for n in c},
                   key=lambda n: (n.startswith("np_floor"), n))
    excess = {}
    for name in names:
        line = f"| {name} |"
        for size in sizes:
            nsr, cnt = cost[size].get(name, (None, 0))
            ex = None
            if name in FLOOR_OF and nsr is not None:
                fl = cost[size].get(FLOOR_OF[name], (None, 0))[0]
                if fl is not None:
                    ex = nsr - fl
                    excess[(name, size)] = ex
            line += f" {cnt} | {fmt(nsr, 1)} | {fmt(ex, 1) if name in FLOOR_OF else ''} |"
        w(line)
    dirty_cost = sum(1 for r in cost_rows if r.get("foreign_links"))
    if dirty_cost:
        w("")
        w(f"{dirty_cost} cost measurement(s) left out: a foreign BPF link was attached during them.")
    zero = [n for n in names if all(cost[s].get(n, (None, 0))[1] == 0 for s in sizes)]
    w("")
    if zero:
        w(f"run_cnt stayed 0 for: {', '.join(zero)} (no such events in a TCP iperf3 run).")
        w("")
    # ---- goals
    g = GOALS
    w("## Goals")
    w("")
    w("| goal | result | status |")
    w("|---|---|---|")

    def ci_note(t, thr):
        return " (CI includes the threshold)" if t[1] is not None and t[1] <= thr <= t[2] else ""
    s = summary.get("128K")
    if s:
        w(f"| 128K ratio ≥ {g['ratio_128k']} | {fmt_ci(s['rn'])} | "
          f"{verdict(s['rn'][0] >= g['ratio_128k'])}{ci_note(s['rn'], g['ratio_128k'])} |")
    s = summary.get("1K")
    if s:
        w(f"| 1K ratio ≥ {g['ratio_1k']} | {fmt_ci(s['rn'])} | "
          f"{verdict(s['rn'][0] >= g['ratio_1k'])}{ci_note(s['rn'], g['ratio_1k'])} |")
        w(f"| 1K ratio within 0.02 of the empty-program control (netoproc − floor ≥ −0.02) | "
          f"{fmt_ci(s['d'])} | {verdict(s['d'][0] >= g['ratio_1k_vs_floor'])}"
          f"{ci_note(s['d'], g['ratio_1k_vs_floor'])} |")
    cpu_worst = max((p["cpu_med"] for p in proc.values() if p["cpu_med"] is not None), default=None)
    if cpu_worst is not None:
        w(f"| netoproc CPU < {g['cpu_pct']}% of a core while saturated | worst per-size median "
          f"{cpu_worst:.2f}% | {verdict(cpu_worst < g['cpu_pct'])} |")
    rss = max((p["rss_max"] for p in proc.values() if p["rss_max"] is not None), default=None)
    if rss is not None:
        w(f"| peak RSS < {g['rss_mib']:.0f} MiB | max {rss:.1f} MiB | {verdict(rss < g['rss_mib'])} |")
    wall = max((p["wall_max"] for p in proc.values() if p["wall_max"] is not None), default=None)
    if wall is not None:
        w(f"| start → first complete read < {g['first_read_ms']:.0f} ms | max {wall:.0f} ms "
          f"(exec to line, wall) | {verdict(wall < g['first_read_ms'])} |")
    if excess:
        worst = max(excess.values())
        detail = ", ".join(f"{n} {sz} {v:+.1f}" for (n, sz), v in sorted(excess.items()))
        w(f"| per-event cost ≤ {g['excess_ns']:.0f} ns above the empty program | {detail} ns | "
          f"{verdict(worst <= g['excess_ns'])} |")
    w("")
    flagged = [r for r in rows + cost_rows if r.get("foreign_links")]
    if flagged:
        w(f"WARNING: {len(flagged)} measurement(s) saw BPF links that were not the benchmark's "
          "(another netoproc or tool attached); see the CSV column foreign_links.")
        w("")
    return "\n".join(out)


# ---------------------------------------------------------------- main

def rerender(args):
    """Rebuild rows from a run's CSV files and print the report (for reading old runs)."""
    num = lambda v: None if v in ("", None) else (float(v) if "." in v or "e" in v else int(v))
    rows, cost_rows = [], []
    with open(args.report) as f:
        for r in csv.DictReader(f):
            d = {k: (v if k in ("phase", "time", "size", "arm") else num(v)) for k, v in r.items()}
            (cost_rows if d["phase"] == "cost" else rows).append(d)
    progs = args.report[:-len(".csv")] + "-programs.csv"
    if os.path.exists(progs):
        with open(progs) as f:
            for p in csv.DictReader(f):
                for r in cost_rows:
                    if (str(r["round"]), r["size"], r["arm"]) == (p["round"], p["size"], p["arm"]):
                        r.setdefault("progs", {})[p["program"]] = (int(p["run_time_ns_delta"]),
                                                                   int(p["run_cnt_delta"]))
    seen = []
    for r in rows:
        if r["size"] not in seen:
            seen.append(r["size"])
    args.sizes = seen
    args.rounds = max(r["round"] for r in rows)
    args.cost_rounds = max((r["round"] for r in cost_rows), default=0)
    # --seconds must match the run (default 10); the header is kept from the run's .md
    info = {"kernel": "?", "nproc": "?", "cpu": "?", "mem_gib": "?", "iperf3": "?",
            "np_version": "?", "commit": "?"}
    now = dt.datetime.now(dt.timezone.utc)
    body = report(rows, cost_rows, args, info, now, now)
    body = body[body.index("\n## "):]
    md = args.report[:-len(".csv")] + ".md"
    head = ""
    if os.path.exists(md):
        with open(md) as f:
            old = f.read()
        head = old[:old.index("\n## ")] if "\n## " in old else ""
    print(head + body)


CSV_FIELDS = ["phase", "round", "seq", "time", "size", "arm", "gbps", "sent_bytes", "recv_bytes",
              "client_cpu", "server_cpu", "np_cpu_pct", "np_cpu_pct_ns", "np_rss_kib", "first_read_reported_ms",
              "first_read_wall_ms", "np_tx_count_ratio", "links_tp", "links_skb", "foreign_links",
              "other_cpus_busy_pct"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="3 rounds × 3 s (smoke run)")
    ap.add_argument("--cost-rounds", type=int, default=None,
                    help="rounds of the bpf_stats phase (default 2; 1 with --quick)")
    ap.add_argument("--sizes", default="128K,1K")
    ap.add_argument("--pin", choices=("same", "split", "none"), default="same",
                    help="iperf3 CPU pinning: same = client and server both on the last CPU "
                         "(default; netoproc and the rest keep the other CPUs); split = server "
                         "CPU 0, client CPU 1; none = the scheduler decides")
    ap.add_argument("--port", type=int, default=5217)
    ap.add_argument("--netoproc", default=os.path.join(ROOT, "target/release/netoproc"))
    ap.add_argument("--netoproc-args", default="",
                    help="extra arguments for netoproc, one shell-quoted string, e.g. "
                         "\"--live-read walk\" (also named in the report and the file names)")
    ap.add_argument("--netoproc-desc", default=None, help="where the binary came from (for the report)")
    ap.add_argument("--floor-obj", default=os.path.join(HERE, "floor.bpf.o"))
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--report", metavar="CSV", help="only re-render the report of an earlier "
                    "run from its .csv (and -programs.csv) and print it")
    args = ap.parse_args()
    if args.report:
        return rerender(args)
    if args.quick:
        args.rounds, args.seconds = 3, 3
    if args.cost_rounds is None:
        args.cost_rounds = 1 if args.quick else 2
    args.sizes = args.sizes.split(",")
    args.extra = shlex.split(args.netoproc_args)
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    ncpu = os.cpu_count()
    server_cpus = client_cpus = None
    if args.pin == "split" and ncpu >= 2:
        server_cpus, client_cpus = {0}, {1}
    elif args.pin == "same":
        server_cpus = client_cpus = {ncpu - 1}
    rng = random.Random(args.seed)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    stats_prev = read_sysctl(STATS_SYSCTL)
    started = dt.datetime.now(dt.timezone.utc)
    info = machine_info()
    if args.netoproc_desc:
        info["commit"] = args.netoproc_desc
    try:
        info["np_version"] = run([args.netoproc, "--version"]).stdout.strip()
    except Exception:
        info["np_version"] = "?"
    tmpdir = os.path.join(HERE, "results", ".tmp")
    os.makedirs(tmpdir, exist_ok=True)
    rows, cost_rows = [], []
    iperf = None
    seq = 0
    try:
        write_sysctl(STATS_SYSCTL, 0)
        floor_detach()
        tp, skb = link_census()
        if tp or skb:
            log(f"WARNING: before start, {tp} sock_*_length and {skb} cgroup skb links are attached "
                "by something else: the baseline is not clean")
        iperf = Iperf(args.port, server_cpus, client_cpus)
        total = args.rounds * len(args.sizes) * 3
        for rnd in range(1, args.rounds + 1):
            sizes = args.sizes[:]
            rng.shuffle(sizes)
            for size in sizes:
                arms = ["base", "netoproc", "floor"]
                rng.shuffle(arms)
                for arm in arms:
                    seq += 1
                    t = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
                    row = measure(arm, size, args.seconds, iperf, args.netoproc, args.floor_obj, tmpdir,
                                  extra=args.extra)
                    row.update(phase="throughput", round=rnd, seq=seq, time=t)
                    rows.append(row)
                    log(f"[{seq}/{total}] round {rnd} {size:>4} {arm:<8} {row['gbps']:6.2f} Gbit/s"
                        + (f"  np cpu {row['np_cpu_pct']:.2f}% rss {row['np_rss_kib'] / 1024:.1f} MiB"
                           f" first read {row['first_read_wall_ms']:.0f} ms" if arm == "netoproc" else ""))
        write_sysctl(STATS_SYSCTL, 1)
        for rnd in range(1, args.cost_rounds + 1):
            for size in args.sizes:
                arms = ["netoproc", "floor"]
                rng.shuffle(arms)
                for arm in arms:
                    seq += 1
                    t = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
                    row = measure(arm, size, args.seconds, iperf, args.netoproc, args.floor_obj,
                                  tmpdir, with_stats=True, extra=args.extra)
                    row.update(phase="cost", round=rnd, seq=seq, time=t)
                    cost_rows.append(row)
                    ns = ", ".join(f"{n} {a / b:.0f}" for n, (a, b) in sorted(row["progs"].items()) if b)
                    log(f"[cost {rnd}] {size:>4} {arm:<8} {row['gbps']:6.2f} Gbit/s  ns/run: {ns}")
    finally:
        for p in list(benchlib.children):
            stop(p, signal.SIGKILL if p.poll() is None else signal.SIGTERM)
        if iperf:
            iperf.close()
        floor_detach()
        write_sysctl(STATS_SYSCTL, stats_prev)
        shutil.rmtree(tmpdir, ignore_errors=True)
    finished = dt.datetime.now(dt.timezone.utc)

    md = report(rows, cost_rows, args, info, started, finished)
    print(md)
    os.makedirs(args.out_dir, exist_ok=True)
    base = os.path.join(args.out_dir, f"{started:%Y-%m-%d}-{info['kernel']}" + ("-quick" if args.quick else "")
                        + args_tag(args.extra))
    with open(base + ".md", "w") as f:
        f.write(md + "\n")
    with open(base + ".csv", "w", newline="") as f:
        wr = csv.DictWriter(f, CSV_FIELDS, extrasaction="ignore")
        wr.writeheader()
        for r in rows + cost_rows:
            wr.writerow(r)
    with open(base + "-programs.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["round", "size", "arm", "program", "run_time_ns_delta", "run_cnt_delta", "ns_per_run"])
        for r in cost_rows:
            for name, (ns, cnt) in sorted(r.get("progs", {}).items()):
                wr.writerow([r["round"], r["size"], r["arm"], name, ns, cnt,
                             f"{ns / cnt:.1f}" if cnt else ""])
    log(f"results: {base}.md, {base}.csv, {base}-programs.csv")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as e:
        sys.exit(f"bench: interrupted ({e})")
