#!/usr/bin/env python3
"""Cost of TCP lifecycle tracking (issue 18), run through scripts/bench-lifecycle.sh as root.

A connect/close loop on loopback in a network namespace of its own
(bench/lifecycle/connloop.py: one server process accepting and closing, one
client process connecting and closing), in two arms, shuffled within every
round:

  none      no monitor
  netoproc  netoproc in snapshot mode (eBPF, every lifecycle hook attached),
            started before the window and stopped (SIGINT) after it
  control   (with --control PATH) the same with a netoproc built without the
            lifecycle programs (the commit before them): what the byte,
            close and wire programs cost on their own

Each arm runs the loop as fast as it goes for S seconds (throughput, conn/s);
the netoproc arm then runs it paced at RATE conn/s (default 5,000) for S
seconds and measures netoproc's CPU over that window (utime+stime of
/proc/PID/stat). From netoproc's JSON: ring-buffer losses, lifecycle steps
dropped, and the connections its rollup counted for each client pid against
what the client made. Ratio = netoproc throughput / no-monitor throughput of
the same round; medians over rounds. Standard library only.
"""
import argparse
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import time

from benchlib import proc_cpu_ticks

HERE = os.path.dirname(os.path.abspath(__file__))
LOOP = os.path.join(HERE, "lifecycle", "connloop.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print("bench-lifecycle:", *a, file=sys.stderr, flush=True)


def cpu_s(pid):
    return proc_cpu_ticks(pid) / CLK_TCK


def loop(netns, port, secs, rate):
    p = subprocess.Popen(
        ["ip", "netns", "exec", netns, "python3", LOOP, "client", str(port), str(secs), str(rate)],
        stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate(timeout=secs + 60)
    r = json.loads(out)
    return p.pid, r["connections"], r["seconds"]


def start_netoproc(binary):
    p = subprocess.Popen([binary, "-v", "--format", "json", "--read-interval-ms", "1000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "first complete read" in line:
            return p
    raise SystemExit("netoproc did not start: " + (p.stderr.read() or ""))


def stop_netoproc(p):
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    if p.returncode != 0:
        raise SystemExit(f"netoproc exited {p.returncode}: {err[-2000:]}")
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--netoproc", required=True)
    ap.add_argument("--netns", required=True)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=5000.0)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--out", default="")
    ap.add_argument("--control", default="", help="a netoproc without lifecycle tracking")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    port = 7000
    srv = subprocess.Popen(["ip", "netns", "exec", a.netns, "python3", LOOP, "server", str(port)],
                           stdout=subprocess.PIPE, text=True)
    assert srv.stdout.readline().strip() == "ready"
    rows = []
    try:
        for r in range(a.rounds):
            arms = ["none", "netoproc"] + (["control"] if a.control else [])
            rng.shuffle(arms)
            res = {"round": r + 1}
            for arm in arms:
                binary = {"netoproc": a.netoproc, "control": a.control}.get(arm)
                np = start_netoproc(binary) if binary else None
                time.sleep(0.5)
                pid, n, secs = loop(a.netns, port, a.seconds, 0)
                res[f"{arm}_conn_s"] = n / secs
                if np and arm == "control":
                    c0, t0 = cpu_s(np.pid), time.monotonic()
                    loop(a.netns, port, a.seconds, a.rate)
                    res["control_cpu_pct"] = 100 * (cpu_s(np.pid) - c0) / (time.monotonic() - t0)
                    stop_netoproc(np)
                elif np:
                    c0, t0 = cpu_s(np.pid), time.monotonic()
                    ppid, pn, psecs = loop(a.netns, port, a.seconds, a.rate)
                    res["paced_conn_s"] = pn / psecs
                    res["netoproc_cpu_pct"] = 100 * (cpu_s(np.pid) - c0) / (time.monotonic() - t0)
                    time.sleep(1.5)
                    rep = stop_netoproc(np)
                    life = rep.get("lifecycle", {})
                    counted = {p["pid"]: p["connections_opened"] for p in life.get("processes", [])}
                    res["lost_ringbuf"] = rep["meta"]["lost"].get("ringbuf_events", 0)
                    res["steps_dropped"] = life.get("steps_dropped", 0)
                    res["missed_fast"] = n - counted.get(pid, 0)
                    res["missed_paced"] = pn - counted.get(ppid, 0)
            res["ratio"] = res["netoproc_conn_s"] / res["none_conn_s"]
            if a.control:
                res["control_ratio"] = res["control_conn_s"] / res["none_conn_s"]
                res["life_ratio"] = res["netoproc_conn_s"] / res["control_conn_s"]
            log(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in res.items()}))
            rows.append(res)
    finally:
        srv.kill()
        srv.wait()
    med = lambda k: statistics.median(x[k] for x in rows)
    lines = [
        f"Lifecycle benchmark, {time.strftime('%Y-%m-%d')}, kernel {platform.release()}, "
        f"{os.cpu_count()} CPUs, {a.rounds} rounds x {a.seconds:g} s, paced at {a.rate:g} conn/s",
        "",
        "| round | none conn/s | netoproc conn/s | ratio | paced conn/s | netoproc CPU % (paced) | ring lost | steps dropped | missed (fast/paced) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for x in rows:
        lines.append(
            f"| {x['round']} | {x['none_conn_s']:.0f} | {x['netoproc_conn_s']:.0f} | {x['ratio']:.3f} | "
            f"{x['paced_conn_s']:.0f} | {x['netoproc_cpu_pct']:.1f} | {x['lost_ringbuf']} | "
            f"{x['steps_dropped']} | {x['missed_fast']}/{x['missed_paced']} |")
    lines.append(
        f"| **median** | {med('none_conn_s'):.0f} | {med('netoproc_conn_s'):.0f} | **{med('ratio'):.3f}** | "
        f"{med('paced_conn_s'):.0f} | **{med('netoproc_cpu_pct'):.1f}** | "
        f"{sum(x['lost_ringbuf'] for x in rows)} (sum) | {sum(x['steps_dropped'] for x in rows)} (sum) | "
        f"{sum(x['missed_fast'] for x in rows)}/{sum(x['missed_paced'] for x in rows)} (sum) |")
    if a.control:
        lines += [
            "",
            "| | median |",
            "|---|---|",
            f"| control (no lifecycle) conn/s | {med('control_conn_s'):.0f} |",
            f"| control / none | {med('control_ratio'):.3f} |",
            f"| netoproc / control (the lifecycle programs' own cost) | **{med('life_ratio'):.3f}** |",
            f"| control CPU % at the paced rate | {med('control_cpu_pct'):.1f} |",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
