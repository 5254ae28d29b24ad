#!/usr/bin/env python3
"""netoproc overhead benchmark (run through scripts/bench.sh, as root).

Loopback TCP with iperf3, interleaved rounds of four arms per write size:
  base     nothing attached
  netoproc the release binary running (started before, stopped after the run),
           `--hooks` as given in --netoproc-args, else auto, which must pick
           the counter path (no program per send/receive call)
  calls    the same binary with `--hooks calls` (a program on every call)
  floor    an EMPTY tp_btf program pair on sock_send_length/sock_recv_length
Then a separate cost phase with kernel.bpf_stats_enabled=1 measures ns per
program run for every program of the netoproc, calls and floor arms (stats
add two clock reads per run, so they stay off while throughput is measured).
The report is bench_report.py's. See BENCHMARKS.md for the method and the goals.

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
from bench_report import ARMS, NP_ARMS, report

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FLOOR_PIN = "/sys/fs/bpf/np_floor"
FLOOR_PROGS = ("np_floor_send", "np_floor_recv")
STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BYTE_TPS = ("sock_send_length", "sock_recv_length")
COST_ARMS = ("netoproc", "calls", "floor")
# The rungs `--hooks calls` tries, and every rung `meta.hooks` can name for eBPF.
CALL_RUNGS = ("tracepoint", "fentry", "kprobe")
RUNGS = ("counters",) + CALL_RUNGS
HOOKS_RE = re.compile(r"byte hooks: (\S+)")
# Seconds a measurement takes beyond iperf3's -t (start-up, settling, teardown; about 0.7
# measured), for the estimate.
SETUP_S = 1

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
    """netoproc until its first complete read (30 s at most); `hooks` are the
    byte hooks it says it chose (its -v line, printed before that read);
    `stop` also returns its peak RSS."""

    @property
    def hooks(self):
        for line in self.lines:
            m = HOOKS_RE.search(line)
            if m:
                return m.group(1)
        return None

    def stop(self):
        hwm = proc_status_kib(self.p.pid, "VmHWM")
        return hwm, super().stop(timeout=30)


# ---------------------------------------------------------------- which hooks each arm runs

class HooksError(RuntimeError):
    """A netoproc arm did not run with the byte hooks the run is meant to measure."""


def hooks_arg(extra):
    """The value of --hooks in netoproc's extra arguments, or None."""
    for i, a in enumerate(extra):
        if a == "--hooks" and i + 1 < len(extra):
            return extra[i + 1]
        if a.startswith("--hooks="):
            return a.split("=", 1)[1]
    return None


def without_hooks(extra):
    out, skip = [], False
    for a in extra:
        if skip:
            skip = False
        elif a == "--hooks":
            skip = True
        elif not a.startswith("--hooks="):
            out.append(a)
    return out


def arm_setup(extra):
    """(arm -> netoproc's extra arguments, arm -> the byte hooks it must report, or
    None: any). Without --hooks the netoproc arm must be on the counter path (what
    auto picks on a kernel that can); with --hooks it is what was asked for."""
    given = hooks_arg(extra)
    if given is None:
        want = {"counters"}
    elif given == "calls":
        want = set(CALL_RUNGS)
    elif given in RUNGS:
        want = {given}
    else:  # auto: whatever it picks
        want = None
    return ({"netoproc": list(extra), "calls": without_hooks(extra) + ["--hooks", "calls"]},
            {"netoproc": want, "calls": set(CALL_RUNGS)})


def check_hooks(arm, hooks, want):
    if want is None or hooks in want:
        return
    if arm == "netoproc" and want == {"counters"}:
        raise HooksError(
            f"the netoproc arm ran with byte hooks {hooks}, not counters; this "
            "benchmark is meant to measure the counter path. `netoproc -v` and `netoproc doctor` "
            "say why it did not attach; to benchmark another path on purpose, pass it: "
            f"--netoproc-args \"--hooks {hooks}\"")
    raise HooksError(f"the {arm} arm ran with byte hooks {hooks}, expected "
                     f"{' or '.join(sorted(want))}")


def expected_links(arm, hooks):
    """(sock_*_length raw tracepoint links, cgroup skb links) an arm attaches."""
    if arm in NP_ARMS:
        return (2 if hooks == "tracepoint" else 0, 2)
    return {"base": (0, 0), "floor": (2, 0)}[arm]


def preflight(args):
    """Starts each netoproc arm once and checks its byte hooks, before any round."""
    hooks = {}
    for arm in NP_ARMS:
        np_ = Netoproc(args.netoproc, os.path.join(args.tmpdir, "netoproc.json"), args.arm_args[arm])
        try:
            hooks[arm] = np_.hooks
            check_hooks(arm, np_.hooks, args.want_hooks[arm])
        finally:
            np_.stop()
    return hooks


def counted(snap, pid, key):
    if not snap:
        return None
    return sum(p.get(key, 0) for p in snap.get("processes", []) if p.get("pid") == pid)


# ---------------------------------------------------------------- one measurement

def measure(arm, size, iperf, args, with_stats=False):
    row = {"arm": arm, "size": size}
    np_ = r = None
    before = None
    if arm == "floor":
        floor_attach(args.floor_obj)
    elif arm in NP_ARMS:
        np_ = Netoproc(args.netoproc, os.path.join(args.tmpdir, "netoproc.json"), args.arm_args[arm])
        row["hooks"] = np_.hooks
        row["first_read_reported_ms"] = np_.reported_ms
        row["first_read_wall_ms"] = round(np_.wall_ms, 1)
    try:
        if np_:
            check_hooks(arm, np_.hooks, args.want_hooks[arm])
        row["links_tp"], row["links_skb"] = link_census()
        expect = expected_links(arm, row.get("hooks"))
        row["foreign_links"] = int((row["links_tp"], row["links_skb"]) != expect)
        if row["foreign_links"]:
            log(f"WARNING: {arm}: found {row['links_tp']} sock_*_length and "
                f"{row['links_skb']} cgroup skb links, expected {expect}: something else is attached")
        time.sleep(0.5)  # let attach/first-read settle
        if with_stats:
            before = prog_stats()
        if np_:
            c0, s0, t0 = proc_cpu_ticks(np_.p.pid), proc_sched_ns(np_.p.pid), time.monotonic()
        ct0, w0 = cpu_times(), time.monotonic()
        r = iperf.client(args.seconds, size)
        ct1 = cpu_times()
        row["window_s"] = round(time.monotonic() - w0, 3)
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
            said = ((snap or {}).get("meta") or {}).get("hooks")
            if said and said != row["hooks"]:
                log(f"WARNING: {arm}: -v said byte hooks {row['hooks']}, meta.hooks says {said}")
            tx = counted(snap, r["client_pid"], "tx_bytes") if r else None
            if tx:
                # client's data + control bytes vs what iperf3 says it sent
                row["np_tx_count_ratio"] = round(tx / row["sent_bytes"], 6)
        if arm == "floor":
            floor_detach()
    return row


# ---------------------------------------------------------------- what the report names

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


# ---------------------------------------------------------------- main

def rerender(args):
    """Rebuild rows from a run's CSV files and print the report (for reading old runs)."""
    num = lambda v: None if v in ("", None) else (float(v) if "." in v or "e" in v else int(v))
    rows, cost_rows = [], []
    with open(args.report) as f:
        for r in csv.DictReader(f):
            d = {k: (v if k in ("phase", "time", "size", "arm", "hooks") else num(v))
                 for k, v in r.items()}
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
    args.clk_tck = CLK_TCK
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
              "first_read_wall_ms", "np_tx_count_ratio", "hooks", "links_tp", "links_skb", "foreign_links",
              "other_cpus_busy_pct", "window_s"]


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
    args.arm_args, args.want_hooks = arm_setup(args.extra)
    args.clk_tck = CLK_TCK
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
    args.tmpdir = os.path.join(HERE, "results", ".tmp")
    os.makedirs(args.tmpdir, exist_ok=True)
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
        hooks = preflight(args)
        log("byte hooks: " + ", ".join(f"{a} arm {h}" for a, h in hooks.items()))
        iperf = Iperf(args.port, server_cpus, client_cpus)
        total = args.rounds * len(args.sizes) * len(ARMS)
        n_cost = args.cost_rounds * len(args.sizes) * len(COST_ARMS)
        log(f"{total} throughput and {n_cost} cost measurements of {args.seconds} s, about "
            f"{(total + n_cost) * (args.seconds + SETUP_S) / 60:.0f} min")
        for rnd in range(1, args.rounds + 1):
            sizes = args.sizes[:]
            rng.shuffle(sizes)
            for size in sizes:
                arms = list(ARMS)
                rng.shuffle(arms)
                for arm in arms:
                    seq += 1
                    t = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
                    row = measure(arm, size, iperf, args)
                    row.update(phase="throughput", round=rnd, seq=seq, time=t)
                    rows.append(row)
                    log(f"[{seq}/{total}] round {rnd} {size:>4} {arm:<8} {row['gbps']:6.2f} Gbit/s"
                        + (f"  {row['hooks']}: np cpu {row['np_cpu_pct']:.2f}% rss "
                           f"{row['np_rss_kib'] / 1024:.1f} MiB first read {row['first_read_wall_ms']:.0f} ms"
                           if arm in NP_ARMS else ""))
        write_sysctl(STATS_SYSCTL, 1)
        for rnd in range(1, args.cost_rounds + 1):
            for size in args.sizes:
                arms = list(COST_ARMS)
                rng.shuffle(arms)
                for arm in arms:
                    seq += 1
                    t = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
                    row = measure(arm, size, iperf, args, with_stats=True)
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
        shutil.rmtree(args.tmpdir, ignore_errors=True)
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
    except HooksError as e:
        sys.exit(f"bench: stopped: {e}")
