#!/usr/bin/env python3
"""Cost of netoproc's DNS capture: run by scripts/bench-dns.sh (see BENCHMARKS.md).

For each client mode (reuse: 4 connected UDP sockets; fresh: one socket per
query) and each rate (open loop, plus 0 = closed loop, as fast as the
responder answers), in every round, three arms in shuffled order:

  baseline  responder + client, nothing else
  netoproc  the same with `netoproc -v --format json --view dns` running
  nodns     the same with `netoproc --dns-ports none` (byte counting only),
            to tell the cost of DNS capture from the cost of the rest

all inside a network namespace the shell script created (loopback only).
The client counts what it sent and what was answered; netoproc's JSON says
what it recorded. Zero loss = netoproc recorded every query the client sent
(resolver row: queries + pending), matched every answer the client got
(answered), saw every message at the responder (served_messages = received +
answered by the responder), with no unmatched response and no ring buffer
or backlog loss. netoproc's CPU = Δ(utime+stime) of /proc/PID/stat and
Δ(schedstat run time) over the client's run, as % of one core.

Standard library only.
"""

import argparse
import csv
import datetime
import json
import shutil
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import note_pid as track, stop  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVER = "127.0.0.1:53"


def log(*a):
    print("bench-dns:", *a, file=sys.stderr, flush=True)


def proc_cpu(pid):
    """(utime+stime seconds, schedstat run ns summed over threads, voluntary ctxsw)"""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    run_ns = 0
    vcs = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                run_ns += int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{t}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vcs += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return ticks / TICK, run_ns, vcs


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def machine_busy():
    """(busy jiffies, total jiffies) of all CPUs."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def foreign_netoprocs(ours):
    n = 0
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) in ours:
            continue
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() == "netoproc":
                    n += 1
        except OSError:
            pass
    return n


def wait_line(proc, want, timeout):
    """Reads proc's stdout (text) until a line containing `want`."""
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.readline()
        if not line:
            break
        lines.append(line)
        if want in line:
            return True, lines
    return False, lines


def measure(a, mode, rate, arm, tmp):
    ns = ["ip", "netns", "exec", a.netns]
    srv = subprocess.Popen(
        ns + [a.dnsload, "serve", "--bind", SERVER, "--seconds", str(a.seconds + 60)],
        stdout=subprocess.PIPE, text=True)
    track(srv.pid)
    np_proc = None
    out_path = os.path.join(tmp, "np.json")
    try:
        ok, _ = wait_line(srv.stdout, "ready", 10)
        if not ok:
            raise RuntimeError("the responder did not start")
        if arm in ("netoproc", "nodns"):
            cmd = [a.netoproc, "-v", "--format", "json", "--view", "dns"] + a.netoproc_arg
            if arm == "nodns":
                cmd += ["--dns-ports", "none"]
            with open(out_path, "w") as out:
                np_proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
            track(np_proc.pid)
            ok, lines = wait_line(np_proc.stderr, "first complete read", 30)
            if not ok:
                stop(np_proc, signal.SIGKILL)
                raise RuntimeError("netoproc did not start: " + "".join(lines)
                                   + (np_proc.stderr.read() or ""))
            time.sleep(0.2)
        ours = {srv.pid} | ({np_proc.pid} if np_proc else set())
        foreign0 = foreign_netoprocs(ours)
        busy0 = machine_busy()
        c0 = proc_cpu(np_proc.pid) if np_proc else None
        t0 = time.monotonic()
        cl = subprocess.run(
            ns + [a.dnsload, "client", "--server", SERVER, "--rate", str(rate),
                  "--seconds", str(a.seconds), "--mode", mode],
            stdout=subprocess.PIPE, text=True, timeout=a.seconds + 30, check=True)
        wall = time.monotonic() - t0
        c1 = proc_cpu(np_proc.pid) if np_proc else None
        busy1 = machine_busy()
        foreign = max(foreign0, foreign_netoprocs(ours))
        client = json.loads(cl.stdout.strip().splitlines()[-1])
        row = {
            "mode": mode, "rate": rate, "arm": arm,
            "sent": client["sent"], "answered": client["answered"],
            "sent_qps": client["sent_qps"], "client_cpu_s": client["cpu_s"],
            "client_p50_ms": client["p50_ms"], "client_p99_ms": client["p99_ms"],
            "client_wall_s": round(wall, 3), "client_pid": client["pid"],
            "machine_busy_pct": round(100.0 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 1),
            "foreign_netoproc": foreign,
        }
        if np_proc:
            row["np_cpu_pct"] = round(100.0 * (c1[0] - c0[0]) / wall, 2)
            row["np_sched_pct"] = round(100.0 * (c1[1] - c0[1]) / 1e9 / wall, 2)
            row["np_wakeups_per_s"] = round((c1[2] - c0[2]) / wall)
            time.sleep(0.3)
            row["np_hwm_mib"] = round(vm_hwm_kib(np_proc.pid) / 1024, 1)
            np_proc.send_signal(signal.SIGINT)
            try:
                np_proc.wait(120)
            except subprocess.TimeoutExpired:
                stop(np_proc, signal.SIGKILL)
                raise RuntimeError("netoproc did not exit after SIGINT")
            if np_proc.returncode != 0:
                raise RuntimeError(f"netoproc exited {np_proc.returncode}: {np_proc.stderr.read()}")
            with open(out_path) as f:
                snap = json.load(f)
            if os.environ.get("BENCH_KEEP_JSON"):
                # For a closer look: netoproc's report of the last run.
                shutil.copy(out_path, os.environ["BENCH_KEEP_JSON"])
            if arm == "netoproc":
                row.update(netoproc_side(snap, client))
        stop(srv)
        srv_out = srv.stdout.read().strip().splitlines()
        server = json.loads(srv_out[-1]) if srv_out else {}
        row["server_received"] = server.get("received", -1)
        row["server_answered"] = server.get("answered", -1)
        if arm == "netoproc":
            row["served_expected"] = row["server_received"] + row["server_answered"]
            row["zero_loss"] = int(
                row["np_queries"] == client["sent"]
                and row["np_answered"] == client["answered"]
                and row["served_messages"] == row["served_expected"]
                and row["unmatched_responses"] == 0
                and row["ringbuf_events"] == 0
                and row["capture_drops"] == 0
                and row["dns_packets_dropped"] == 0
                and row["malformed"] == 0)
        return row
    finally:
        if np_proc:
            stop(np_proc, signal.SIGKILL)
        stop(srv)


def netoproc_side(snap, client):
    lost = snap["meta"]["lost"]
    dns = snap.get("dns") or {}
    st = dns.get("stats", {})
    res = [r for r in dns.get("resolvers", []) if r["resolver"] == SERVER]
    procs = dns.get("processes", [])
    mine = [p for p in procs if p["pid"] == client["pid"]]
    nobody = [p for p in procs if p["pid"] == 0]
    q = lambda rows: sum(r["queries"] + r["pending"] for r in rows)
    return {
        "np_queries": q(res),
        "np_answered": sum(r["answered"] for r in res),
        "np_attributed": q(mine),
        "np_pid0": q(nobody),
        "np_p50_ms": res[0]["p50_ms"] if res else None,
        "np_p99_ms": res[0]["p99_ms"] if res else None,
        "ringbuf_events": lost.get("ringbuf_events", 0),
        # AF_PACKET mode: packets the capture rings dropped.
        "capture_drops": lost.get("capture_drops", 0),
        "dns_packets_dropped": lost.get("dns_packets_dropped", 0),
        "dns_truncated": lost.get("dns_truncated", 0),
        "packets": st.get("packets", 0),
        "malformed": st.get("malformed", 0),
        "unmatched_responses": st.get("unmatched_responses", 0),
        "served_messages": st.get("served_messages", 0),
        "queries_evicted": st.get("queries_evicted", 0),
        "pending_evicted": st.get("pending_evicted", 0),
    }


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=1):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return f"{x:,}"


def rows_of(rows, mode, rate, arm):
    return [r for r in rows if r["mode"] == mode and r["rate"] == rate and r["arm"] == arm]


def ratio(rows, mode, rate, arm, key="sent_qps"):
    """Median over rounds of arm / baseline, within each round."""
    out = []
    for rnd in sorted({r["round"] for r in rows}):
        x = [r for r in rows_of(rows, mode, rate, arm) if r["round"] == rnd]
        y = [r for r in rows_of(rows, mode, rate, "baseline") if r["round"] == rnd]
        if x and y and y[0][key] > 0:
            out.append(x[0][key] / y[0][key])
    return med(out)


def report(a, rows, started, desc):
    out = []
    p = out.append
    p(f"# netoproc DNS capture benchmark — {started:%Y-%m-%d %H:%M} UTC")
    p("")
    p(f"Machine: `nproc` {os.cpu_count()}, kernel {platform.release()}. netoproc: {desc}. "
      f"{a.rounds} round(s) × {a.seconds} s per measurement, arms ({', '.join(a.arms)}) shuffled "
      f"within a round; extra netoproc args: `{' '.join(a.netoproc_arg) or '(none)'}`.")
    p("")
    p("Rate `max` = closed loop (64 queries in flight, as fast as the responder answers). "
      "`q/s` = what the client sent over its sending window. Numbers are medians over rounds "
      "(per-round values joined by `;`); `zero loss` must hold in every round. Each query is "
      "4 DNS packets for netoproc (client out, responder in, responder out, client in).")
    p("")
    rate_name = lambda r: "max" if r == 0 else f"{r:,}"
    for mode in a.modes:
        title = "4 connected UDP sockets, reused" if mode == "reuse" else "a fresh UDP socket per query"
        p(f"### {mode}: {title} — what netoproc recorded")
        p("")
        p("| target q/s | q/s sent | zero loss | recorded / sent | matched / answered | pid 0 | "
          "ringbuf lost | backlog dropped | unmatched | netoproc CPU % (stat / schedstat) | "
          "netoproc wakeups/s |")
        p("|" + "---|" * 11)
        for rate in a.rates:
            r = rows_of(rows, mode, rate, "netoproc")
            if not r:
                continue
            j = lambda k: " ; ".join(f"{x[k]:,}" for x in r)
            p("| " + " | ".join([
                rate_name(rate),
                fmt(med([x["sent_qps"] for x in r]), 0),
                "**yes**" if all(x["zero_loss"] for x in r) else "**no**",
                " ; ".join(f"{x['np_queries']:,}/{x['sent']:,}" for x in r),
                " ; ".join(f"{x['np_answered']:,}/{x['answered']:,}" for x in r),
                j("np_pid0"), j("ringbuf_events"), j("dns_packets_dropped"), j("unmatched_responses"),
                f"{fmt(med([x['np_cpu_pct'] for x in r]))} / {fmt(med([x['np_sched_pct'] for x in r]))}",
                fmt(med([x["np_wakeups_per_s"] for x in r]), 0),
            ]) + " |")
        p("")
        p(f"### {mode}: what the client got, with and without netoproc")
        p("")
        p("| target q/s | q/s: baseline / netoproc / DNS off | ratio netoproc / baseline | "
          "ratio DNS off / baseline | client CPU s: baseline / netoproc / DNS off | "
          "client p99 ms: baseline / netoproc / DNS off | netoproc CPU % with DNS off | machine busy % |")
        p("|" + "---|" * 8)
        for rate in a.rates:
            b, n, d = (rows_of(rows, mode, rate, x) for x in ("baseline", "netoproc", "nodns"))
            if not n:
                continue
            m = lambda rs, k, nd: fmt(med([x[k] for x in rs]), nd) if rs else "–"
            p("| " + " | ".join([
                rate_name(rate),
                " / ".join(m(x, "sent_qps", 0) for x in (b, n, d)),
                fmt(ratio(rows, mode, rate, "netoproc"), 3),
                fmt(ratio(rows, mode, rate, "nodns"), 3),
                " / ".join(m(x, "client_cpu_s", 2) for x in (b, n, d)),
                " / ".join(m(x, "client_p99_ms", 2) for x in (b, n, d)),
                m(d, "np_cpu_pct", 1),
                fmt(med([x["machine_busy_pct"] for x in b + n + d]), 0),
            ]) + " |")
        p("")
    p("### Summary")
    p("")
    for mode in a.modes:
        best = None
        for rate in sorted(a.rates, key=lambda r: (r == 0, r)):
            r = rows_of(rows, mode, rate, "netoproc")
            if not r:
                continue
            if not all(x["zero_loss"] for x in r):
                break
            best = max(best or 0, med([x["sent_qps"] for x in r]))
        p(f"- {mode}: highest rate with zero loss (and at every lower rate): "
          f"{fmt(best, 0) if best else 'none'} q/s")
        five = rows_of(rows, mode, 5000, "netoproc")
        if five:
            p(f"- {mode}: netoproc CPU at 5k q/s: {fmt(med([x['np_cpu_pct'] for x in five]))}% of a core "
              f"(utime+stime), {fmt(med([x['np_sched_pct'] for x in five]))}% (schedstat); "
              f"{fmt(med([x['np_wakeups_per_s'] for x in five]), 0)} wakeups/s")
        if 0 in a.rates:
            p(f"- {mode}: closed-loop throughput, netoproc / baseline: {fmt(ratio(rows, mode, 0, 'netoproc'), 3)}"
              + (f"; DNS capture off / baseline: {fmt(ratio(rows, mode, 0, 'nodns'), 3)}" if "nodns" in a.arms else ""))
    hwm = max((r.get("np_hwm_mib", 0) for r in rows), default=0)
    p(f"- netoproc peak RSS (VmHWM, max over runs): {hwm} MiB")
    pid0 = sum(r.get("np_pid0", 0) for r in rows)
    if pid0:
        p(f"- queries attributed to no process (pid 0): {pid0:,} over all runs")
    ev = sum(r.get("queries_evicted", 0) for r in rows)
    if ev:
        p(f"- query records evicted (cap 50,000; totals still count them): {ev:,} over all runs")
    f = sum(1 for r in rows if r["foreign_netoproc"])
    if f:
        p(f"- WARNING: {f} measurement(s) saw another netoproc process running")
    p(f"- machine busy (all CPUs, whole machine, during the client runs): median "
      f"{fmt(med([r['machine_busy_pct'] for r in rows]), 0)}%, max {fmt(max(r['machine_busy_pct'] for r in rows), 0)}%")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--netoproc", required=True)
    ap.add_argument("--netoproc-desc", default="")
    ap.add_argument("--dnsload", required=True)
    ap.add_argument("--netns", required=True)
    ap.add_argument("--rates", default="1000,5000,10000,20000,50000,100000,0")
    ap.add_argument("--modes", default="reuse,fresh")
    ap.add_argument("--arms", default="baseline,netoproc,nodns",
                    help="baseline (no netoproc), netoproc, nodns (netoproc --dns-ports none)")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--netoproc-arg", action="append", default=[],
                    help="extra argument for netoproc (repeat), e.g. --netoproc-arg=--ringbuf-kib=256")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "bench", "results"))
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.rounds = 2, 1
        if a.rates == ap.get_default("rates"):
            a.rates = "5000,50000,0"
    a.rates = [int(float(x)) for x in a.rates.split(",")]
    a.modes = a.modes.split(",")
    a.arms = a.arms.split(",")
    if "netoproc" not in a.arms or not set(a.arms) <= {"baseline", "netoproc", "nodns"}:
        ap.error("--arms: netoproc plus any of baseline, nodns")
    if not (0 < a.seconds <= 60 and 1 <= a.rounds <= 20 and len(a.rates) <= 20):
        ap.error("--seconds 0..60, --rounds 1..20, at most 20 rates")
    rng = random.Random(a.seed)
    started = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    plan = []
    for rnd in range(a.rounds):
        for mode in a.modes:
            for rate in a.rates:
                arms = list(a.arms)
                rng.shuffle(arms)
                plan.append((rnd, mode, rate, arms))
    n = sum(len(x[3]) for x in plan)
    log(f"{n} measurements of {a.seconds} s")
    i = 0
    with tempfile.TemporaryDirectory(prefix="np-bench-dns.") as tmp:
        for rnd, mode, rate, arms in plan:
            for arm in arms:
                i += 1
                row = measure(a, mode, rate, arm, tmp)
                row["round"] = rnd
                rows.append(row)
                extra = ""
                if arm == "nodns":
                    extra = f" cpu {row['np_cpu_pct']}%"
                if arm == "netoproc":
                    extra = (f" recorded {row['np_queries']}/{row['sent']} matched {row['np_answered']}"
                             f" pid0 {row['np_pid0']} ringbuf {row['ringbuf_events']}"
                             f" ring_drops {row['capture_drops']}"
                             f" dropped {row['dns_packets_dropped']} cpu {row['np_cpu_pct']}%"
                             f" zero_loss={row['zero_loss']}")
                log(f"[{i}/{n}] round {rnd} {mode} rate {rate} {arm}: "
                    f"{row['sent_qps']:.0f} q/s, answered {row['answered']}/{row['sent']}{extra}")
    text = report(a, rows, started, a.netoproc_desc)
    print(text)
    os.makedirs(a.out_dir, exist_ok=True)
    base = os.path.join(a.out_dir, f"dns-{started:%Y-%m-%d-%H%M}-{platform.release()}{'-quick' if a.quick else ''}")
    with open(base + ".md", "w") as f:
        f.write(text)
    keys = sorted({k for r in rows for k in r})
    with open(base + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    log(f"wrote {base}.md and .csv")


if __name__ == "__main__":
    main()
