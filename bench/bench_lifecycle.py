#!/usr/bin/env python3
"""Cost of TCP lifecycle tracking (issues 18, 22), run through scripts/bench-lifecycle.sh as root.

A connect/close loop on loopback in a network namespace of its own
(bench/lifecycle/connloop.py: one server process accepting and closing, one
client process connecting and closing), in two or three arms, shuffled within
every round:

  none      no monitor
  netoproc  netoproc in snapshot mode (eBPF, --hooks auto: the counter path
            where the kernel allows it, every lifecycle hook attached),
            started before the arm's windows and stopped (SIGINT) after them
  control   (with --control PATH and/or --control-args "ARGS") another
            netoproc, or the same one with extra arguments (e.g.
            --control-args "--hooks calls": the per-call path)

Every arm runs the loop twice, S seconds each:
  unpaced   as fast as it goes: throughput (conn/s), ratio to no monitor
  paced     at most RATE conn/s (default 5,000): the rate achieved, the CPU
            time of the loop's own processes (client and server, all their
            threads, schedstat ns; on loopback the softirq work of both ends
            runs in them) per connection, and the monitor's CPU over the
            window (schedstat of its threads; utime+stime of /proc/PID/stat,
            in 10 ms ticks, as before, in the log lines only)
The goal of issue 22: at the paced rate, the loop's CPU per connection with
netoproc within 3 % of no monitor (ratio <= 1.03) and the achieved rate
within 3 % (ratio >= 0.97). Ratios are taken within a round, medians over
rounds. From the monitor's JSON: ring-buffer losses, lifecycle steps dropped,
and the connections its rollup counted for each client pid against what the
client made. The report: bench_lifecycle_report.py. Standard library only.
"""
import argparse
import json
import os
import platform
import random
import re
import shlex
import signal
import subprocess
import sys
import time

from benchlib import proc_cpu_ticks, proc_sched_ns
import bench_lifecycle_report as report

HERE = os.path.dirname(os.path.abspath(__file__))
LOOP = os.path.join(HERE, "lifecycle", "connloop.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")
HOOKS_RE = re.compile(r"byte hooks: (\S+)")


def log(*a):
    print("bench-lifecycle:", *a, file=sys.stderr, flush=True)


def cpu_s(pid):
    return proc_cpu_ticks(pid) / CLK_TCK


def time_wait(pid):
    """TIME_WAIT sockets in the network namespace of `pid` (/proc/PID/net/sockstat)."""
    with open(f"/proc/{pid}/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                v = line.split()[1:]
                return int(dict(zip(v[::2], v[1::2])).get("tw", 0))
    return None


def loop(netns, port, secs, rate, srv_pid):
    """One window of the client; returns its pid, connections, seconds and
    the loop's CPU (client over its window + server over the whole run) in ns."""
    s0 = proc_sched_ns(srv_pid)
    p = subprocess.Popen(
        ["ip", "netns", "exec", netns, "python3", LOOP, "client", str(port), str(secs), str(rate)],
        stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate(timeout=secs + 60)
    srv_ns = proc_sched_ns(srv_pid) - s0
    if p.returncode != 0:
        raise SystemExit(f"connloop client exited {p.returncode}")
    r = json.loads(out)
    return p.pid, r["connections"], r["seconds"], r["cpu_ns"] + srv_ns


def start_netoproc(binary, extra):
    """Starts netoproc; returns the process and its byte hooks (from the -v line)."""
    p = subprocess.Popen([binary, "-v", "--format", "json", "--read-interval-ms", "1000", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    hooks = None
    for line in p.stderr:
        m = HOOKS_RE.search(line)
        if m:
            hooks = m.group(1)
        if "first complete read" in line:
            return p, hooks
    p.wait()
    raise SystemExit(f"netoproc {binary} {shlex.join(extra)} did not start: " + (p.stderr.read() or ""))


def stop_netoproc(p):
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    if p.returncode != 0:
        raise SystemExit(f"netoproc exited {p.returncode}: {err[-2000:]}")
    return json.loads(out)


def run_arm(a, cmd, srv, port):
    """The unpaced then the paced window, under `cmd` ((binary, extra args))
    or no monitor (None)."""
    res = {}
    np = None
    if cmd:
        np, res["hooks"] = start_netoproc(*cmd)
    time.sleep(0.5)
    pid, n, secs, cpu = loop(a.netns, port, a.seconds, 0, srv.pid)
    res["fast_conn_s"] = n / secs
    res["fast_loop_us"] = cpu / 1000 / n
    res["tw"] = time_wait(srv.pid)
    if np:
        c0, n0, t0 = cpu_s(np.pid), proc_sched_ns(np.pid), time.monotonic()
    ppid, pn, psecs, pcpu = loop(a.netns, port, a.seconds, a.rate, srv.pid)
    res["paced_conn_s"] = pn / psecs
    res["paced_loop_us"] = pcpu / 1000 / pn
    res["paced_loop_pct"] = 100 * pcpu / 1e9 / psecs
    if not np:
        return res
    mon, ticks = (proc_sched_ns(np.pid) - n0) / 1e9, cpu_s(np.pid) - c0
    wall = time.monotonic() - t0
    res["mon_cpu_pct"] = 100 * mon / wall
    res["mon_cpu_pct_ticks"] = 100 * ticks / wall  # utime+stime, as before issue 22
    res["mon_us_conn"] = 1e6 * mon / pn
    time.sleep(1.5)
    rep = stop_netoproc(np)
    res["hooks"] = res["hooks"] or rep.get("meta", {}).get("hooks")
    res["lost_ringbuf"] = rep.get("meta", {}).get("lost", {}).get("ringbuf_events", 0)
    life = rep.get("lifecycle")
    if life is not None:
        counted = {p["pid"]: p["connections_opened"] for p in life.get("processes", [])}
        res["steps_dropped"] = life.get("steps_dropped", 0)
        res["missed_fast"] = n - counted.get(pid, 0)
        res["missed_paced"] = pn - counted.get(ppid, 0)
    return res


def label(arm, hooks, a):
    h = "/".join(sorted({h or "?" for h in hooks}))
    if arm == "none":
        return "no monitor"
    if arm == "netoproc":
        return f"netoproc ({h})"
    what = []
    if a.control != a.netoproc:
        what.append(os.path.basename(a.control))
    if a.control_args:
        what.append(a.control_args)
    return f"control ({' '.join(what)}: {h})" if what else f"control ({h})"


def parse_args():
    # "--control-args '--verbose'" would read as an option: glue it to its flag.
    argv = sys.argv[1:]
    for i, x in enumerate(argv[:-1]):
        if x == "--control-args":
            argv[i:i + 2] = [f"--control-args={argv[i + 1]}"]
            break
    ap = argparse.ArgumentParser()
    ap.add_argument("--netoproc", required=True)
    ap.add_argument("--netns", required=True)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=5000.0)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--out", default="")
    ap.add_argument("--desc", default="", help="what the netoproc binary is")
    ap.add_argument("--control", default="", help="another netoproc binary as a third arm")
    ap.add_argument("--control-args", default="",
                    help="extra netoproc arguments for the control arm, one string "
                         "(the control is --netoproc unless --control is given)")
    a = ap.parse_args(argv)
    if a.control_args and not a.control:
        a.control = a.netoproc
    return a


def main():
    a = parse_args()
    rng = random.Random(a.seed)
    cmds = {"none": None, "netoproc": (a.netoproc, [])}
    if a.control:
        cmds["control"] = (a.control, shlex.split(a.control_args))
    port = 7000
    t_start = time.monotonic()
    srv = subprocess.Popen(["ip", "netns", "exec", a.netns, "python3", LOOP, "server", str(port)],
                           stdout=subprocess.PIPE, text=True)
    assert srv.stdout.readline().strip() == "ready"
    rows = []
    try:
        for r in range(a.rounds):
            arms = list(cmds)
            rng.shuffle(arms)
            res = {"round": r + 1, "order": arms}
            for arm in arms:
                res[arm] = run_arm(a, cmds[arm], srv, port)
            log(json.dumps({k: ({kk: (round(vv, 3) if isinstance(vv, float) else vv)
                                 for kk, vv in v.items()} if isinstance(v, dict) else v)
                            for k, v in res.items()}))
            rows.append(res)
    finally:
        srv.kill()
        srv.wait()
    labels = {arm: label(arm, [x[arm].get("hooks") for x in rows], a) for arm in cmds}
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "rounds": a.rounds,
        "seconds": a.seconds,
        "rate": a.rate,
        "seed": a.seed,
        "desc": a.desc,
        "control": a.control and shlex.join([a.control, *shlex.split(a.control_args)]),
        "minutes": (time.monotonic() - t_start) / 60,
    }
    text = report.render(rows, list(cmds), labels, meta)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
