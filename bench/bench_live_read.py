#!/usr/bin/env python3
"""Cost of netoproc's live-read paths (run through scripts/bench-live-read.sh, as root).

For each socket count (default 10k and 100k open sockets, held by
bench/live/sockhold.py in a network namespace of their own) and each live-read
path this kernel allows (`--live-read map-iter|socket-iter|walk`), netoproc runs
in two arms, in shuffled order within every round:

  fast  --read-interval-ms 100 (default): a read of every live socket each 100 ms
  idle  --read-interval-ms 60000: no read during the measurement window

Each run: start netoproc, wait for its `first complete read` line, make every
held socket send and receive 8 bytes (so each has a record: records are made by
traffic), wait 1 s, then measure over a window of S seconds netoproc's CPU
(utime+stime of /proc/PID/stat, and the threads' schedstat run time in ns) and
count its reads exactly with a uprobe on its `read_sockets` (perf stat). Then
VmHWM (peak RSS) and SIGINT; the JSON report gives meta.live_read, the
losses, and the sockets netoproc saw for the holder's pid.

CPU per read = (CPU_fast - CPU_idle) / reads_fast, per round (the idle arm of
the same round and path: the fixed cost of polling the ring buffer and the
proc connector), median over rounds. Standard library only.
"""
import argparse
import csv
import datetime as dt
import json
import os
import random
import re
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time

import benchlib
from benchlib import machine_busy, proc_cpu_ticks, proc_sched_ns, proc_status_kib, spawn, stop

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
UPROBE_GROUP = "npbench_live"
UPROBE_EVENTS = "/sys/kernel/tracing/uprobe_events"
IDLE_INTERVAL_MS = 60000

def log(*a):
    print("bench-live-read:", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- read counter (uprobe)

def write_tracefs(line):
    """Appends one line to uprobe_events (no seek: tracefs refuses Python's "a" mode)."""
    fd = os.open(UPROBE_EVENTS, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class ReadCounter:
    """A uprobe on the binary's `read_sockets` (the eBPF backend's), counted per
    process with perf stat. Falls back to None when anything is missing."""

    def __init__(self, binary):
        self.event = None
        try:
            self.event = self._install(binary)
        except Exception as e:  # noqa: BLE001 - the benchmark still runs without it
            log(f"no read counter ({e}); reads are estimated from the interval")

    @staticmethod
    def _install(binary):
        if not os.path.exists(UPROBE_EVENTS):
            raise RuntimeError("tracefs not mounted")
        syms = subprocess.run(["nm", "--defined-only", binary], check=True,
                              capture_output=True, text=True).stdout
        # the eBPF backend's CaptureBackend::read_sockets (called through the
        # trait object, so never inlined away)
        cands = [l.split() for l in syms.splitlines()
                 if "read_sockets" in l and "EbpfCapture" in l and "CaptureBackend" in l]
        if len(cands) != 1:
            raise RuntimeError(f"{len(cands)} read_sockets symbols")
        vaddr = int(cands[0][0], 16)
        hdr = subprocess.run(["readelf", "-lW", binary], check=True, capture_output=True,
                             text=True).stdout
        off = None
        for line in hdr.splitlines():
            f = line.split()
            if f and f[0] == "LOAD" and "E" in f[6:-1]:
                seg_off, seg_vaddr, seg_filesz = int(f[1], 16), int(f[2], 16), int(f[4], 16)
                if seg_vaddr <= vaddr < seg_vaddr + seg_filesz:
                    off = vaddr - seg_vaddr + seg_off
        if off is None:
            raise RuntimeError("symbol not in an executable segment")
        write_tracefs(f"p:{UPROBE_GROUP}/read_sockets {binary}:0x{off:x}\n")
        return f"{UPROBE_GROUP}:read_sockets"

    def start(self, pid, seconds):
        if not self.event:
            return None
        return spawn(["perf", "stat", "-x,", "-e", self.event, "-p", str(pid), "--",
                      "sleep", str(seconds)], stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, text=True)

    @staticmethod
    def result(p):
        if p is None:
            return None
        _, err = p.communicate(timeout=60)
        benchlib.children.remove(p)
        for line in err.splitlines():
            f = line.split(",")
            if len(f) > 2 and f[2].startswith(UPROBE_GROUP):
                try:
                    return int(f[0])
                except ValueError:
                    return None
        return None

    def remove(self):
        if self.event:
            try:
                write_tracefs(f"-:{UPROBE_GROUP}/read_sockets\n")
            except OSError as e:
                log(f"could not remove the uprobe: {e}")
            self.event = None


# ---------------------------------------------------------------- the socket holder

class Holder:
    """N sockets held by as many sockhold.py processes as RLIMIT_NOFILE needs
    (each at most PER_HOLDER sockets, on its own loopback address)."""

    PER_HOLDER = 16000

    def __init__(self, netns, sockets):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        per = min(self.PER_HOLDER, (hard - 100) // 4 * 4) if hard != resource.RLIM_INFINITY \
            else self.PER_HOLDER
        self.procs = []
        left = sockets
        i = 0
        while left > 0:
            n = min(per, left)
            self.procs.append(spawn(
                ["ip", "netns", "exec", netns, sys.executable,
                 os.path.join(HERE, "live", "sockhold.py"), "--sockets", str(n),
                 "--addr", f"127.0.{i + 1}.1"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            left -= n
            i += 1
        self.sockets = 0
        for p in self.procs:
            line = self._line(p, 600)
            if not line.startswith("ready"):
                raise RuntimeError(f"socket holder: {line!r}")
            self.sockets += int(line.split()[1])
        self.pids = {p.pid for p in self.procs}  # ip netns exec execs the interpreter

    @staticmethod
    def _line(p, timeout):
        box = []
        t = threading.Thread(target=lambda: box.append(p.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not box:
            raise RuntimeError("socket holder did not answer in time")
        return box[0].strip()

    def poke(self):
        t0 = time.monotonic()
        for p in self.procs:
            p.stdin.write("poke\n")
            p.stdin.flush()
        for p in self.procs:
            line = self._line(p, 300)
            if not line.startswith("poked"):
                raise RuntimeError(f"socket holder: {line!r}")
        return round(time.monotonic() - t0, 2)

    def close(self):
        for p in self.procs:
            try:
                p.stdin.write("quit\n")
                p.stdin.flush()
            except OSError:
                pass
        for p in self.procs:
            stop(p, timeout=30)


# ---------------------------------------------------------------- netoproc

class Netoproc(benchlib.Netoproc):
    """netoproc until its first complete read (60 s at most; 120 s to stop)."""

    def __init__(self, binary, outfile, extra):
        super().__init__(binary, outfile, extra, start_within=60)

    def stop(self):
        return super().stop(timeout=120)


def measure(binary, path, arm, interval_ms, holder, seconds, counter, tmpdir):
    row = {"path": path, "arm": arm, "sockets": holder.sockets,
           "interval_ms": IDLE_INTERVAL_MS if arm == "idle" else interval_ms}
    extra = ["--live-read", path, "--read-interval-ms", str(row["interval_ms"])]
    np_ = Netoproc(binary, os.path.join(tmpdir, "netoproc.json"), extra)
    try:
        row["first_read_ms"] = np_.reported_ms
        row["poke_s"] = holder.poke()
        time.sleep(1.0)
        pid = np_.p.pid
        perf = counter.start(pid, seconds)
        b0 = machine_busy()
        c0, s0, t0 = proc_cpu_ticks(pid), proc_sched_ns(pid), time.monotonic()
        time.sleep(seconds)
        c1, s1, t1 = proc_cpu_ticks(pid), proc_sched_ns(pid), time.monotonic()
        b1 = machine_busy()
        row["reads"] = ReadCounter.result(perf)
        row["window_s"] = round(t1 - t0, 3)
        row["cpu_ticks"] = c1 - c0
        row["cpu_ms"] = round((c1 - c0) * 1000 / CLK_TCK, 1)
        row["sched_ms"] = round((s1 - s0) / 1e6, 2)
        row["cpu_pct"] = round((s1 - s0) / 1e9 / (t1 - t0) * 100, 2)
        row["machine_busy_pct"] = round(100 * (b1[0] - b0[0]) / max(1, b1[1] - b0[1]), 1)
        row["hwm_kib"] = proc_status_kib(pid, "VmHWM")
        row["rss_kib"] = proc_status_kib(pid, "VmRSS")
    finally:
        snap = np_.stop()
    if snap:
        meta = snap.get("meta", {})
        row["live_read"] = meta.get("live_read")
        lost = meta.get("lost", {})
        # no_owner_* are bytes of the host's other traffic without an owner, not losses
        row["lost"] = ";".join(f"{k}={v}" for k, v in sorted(lost.items())
                               if isinstance(v, (int, float)) and v
                               and not k.startswith("no_owner")) or ""
        row["no_owner_bytes"] = lost.get("no_owner_wire_bytes", 0)
        row["degraded"] = " | ".join(meta.get("degraded", []))
        procs = [p for p in snap.get("processes", []) if p.get("pid") in holder.pids]
        row["holder_sockets"] = sum(p.get("sockets", 0) for p in procs)
        row["holder_tx_bytes"] = sum(p.get("tx_bytes", 0) for p in procs)
        row["holder_rx_bytes"] = sum(p.get("rx_bytes", 0) for p in procs)
    return row


# ---------------------------------------------------------------- doctor

def available_paths(binary):
    """socket-iter and walk always (they are forced and fail loudly if refused);
    map-iter when doctor says iter/bpf_sk_storage_map attached."""
    paths = ["socket-iter", "walk"]
    note = ""
    try:
        out = subprocess.run([binary, "doctor", "--format", "json"], capture_output=True,
                             text=True, timeout=120).stdout
        d = json.loads(out)
        readers = d.get("hooks", {}).get("readers", [])
        mi = [r for r in readers if r.get("attach_point") == "iter/bpf_sk_storage_map"]
        if mi and mi[0].get("attached"):
            paths.insert(0, "map-iter")
        elif mi:
            note = f"map-iter refused by this kernel: {mi[0].get('error') or mi[0]}"
        else:
            note = "doctor lists no iter/bpf_sk_storage_map reader"
    except Exception as e:  # noqa: BLE001
        note = f"doctor failed ({e}); map-iter not tried"
    return paths, note


# ---------------------------------------------------------------- report

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, d=2):
    return "–" if x is None else f"{x:,.{d}f}"


def report(rows, args, info, note, started, finished):
    out = []
    w = out.append
    w(f"## Live-read paths: CPU per read and peak RSS ({started:%Y-%m-%d %H:%M}–{finished:%H:%M} UTC)")
    w("")
    w(f"Machine: {info['nproc']} CPUs ({info['cpu']}), Linux {info['kernel']}, {info['mem_gib']} GiB. "
      f"netoproc: {info['np_version']}, {info['commit']}.")
    w(f"{args.rounds} rounds; per round and socket count, every path × arm in shuffled order; "
      f"window {args.seconds} s; fast arm `--read-interval-ms {args.interval_ms}`, idle arm "
      f"`--read-interval-ms {IDLE_INTERVAL_MS}`. {note}")
    w("")
    w("CPU per read = (CPU_fast − CPU_idle) / reads, per round (same path, same round), median over "
      "rounds; reads counted with a uprobe on `read_sockets`. ms from schedstat (ns resolution); "
      "utime+stime (10 ms ticks) beside it.")
    w("")
    w("| sockets | path | reads in window (median) | fast CPU % of a core | idle CPU % | CPU per read, ms (schedstat) | CPU per read, ms (utime+stime) | µs per record read | peak RSS MiB, fast / idle arm | holder sockets seen | losses (fast) | machine busy % |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    keys = sorted({(r["sockets"], r["path"]) for r in rows}, key=lambda k: (k[0], k[1]))
    summary = []
    for n, path in keys:
        by_round = {}
        for r in rows:
            if r["sockets"] == n and r["path"] == path:
                by_round.setdefault(r["round"], {})[r["arm"]] = r
        per_read_ns, per_read_tick, reads, fast_pct, idle_pct = [], [], [], [], []
        hwm_f, hwm_i, seen, losses, busy = [], [], [], set(), []
        for rnd, arms in by_round.items():
            f, i = arms.get("fast"), arms.get("idle")
            if not f or not i:
                continue
            nread = f.get("reads")
            if nread is None:
                nread = f["window_s"] * 1000 / f["interval_ms"]
            reads.append(nread)
            fast_pct.append(f["cpu_pct"])
            idle_pct.append(i["cpu_pct"])
            if nread:
                per_read_ns.append((f["sched_ms"] - i["sched_ms"] * f["window_s"] / i["window_s"]) / nread)
                per_read_tick.append((f["cpu_ms"] - i["cpu_ms"] * f["window_s"] / i["window_s"]) / nread)
            hwm_f.append(f["hwm_kib"] / 1024)
            hwm_i.append(i["hwm_kib"] / 1024)
            seen.append(f.get("holder_sockets"))
            if f.get("lost"):
                losses.update(x for x in f["lost"].split(";") if not x.startswith("no_owner"))
            busy.append(f["machine_busy_pct"])
        pr = med(per_read_ns)
        summary.append((n, path, pr))
        w(f"| {n:,} | {path} | {fmt(med(reads), 0)} | {fmt(med(fast_pct))} | {fmt(med(idle_pct))} | "
          f"**{fmt(pr)}** ({fmt(min(per_read_ns) if per_read_ns else None)}–{fmt(max(per_read_ns) if per_read_ns else None)}) | "
          f"{fmt(med(per_read_tick))} | {fmt(pr * 1000 / med(seen) if pr is not None and med(seen) else None)} | "
          f"{fmt(max(hwm_f) if hwm_f else None, 1)} / {fmt(max(hwm_i) if hwm_i else None, 1)} | "
          f"{fmt(med(seen), 0)} | {'; '.join(sorted(losses)) or '0'} | {fmt(med(busy), 0)} |")
    w("")
    w("Brackets: min–max over rounds. `holder sockets seen`: the sockets netoproc's report gives "
      "the holders' pids (fast arm); µs per record read = CPU per read / that count (the host's "
      "other sockets, a few hundred, are read too). Peak RSS: VmHWM at the end of the window; the "
      "idle arm's only read came before the holders' traffic, so it never held their records. "
      "Losses: non-zero `meta.lost` counters of the fast arm (`no_owner_*`, bytes of the "
      "host's other traffic, left out). Reads in window: below 100 when a read took longer than "
      "the interval in wall time (CPU per read plus waiting for a CPU on the busy machine).")
    return "\n".join(out), summary


CSV_FIELDS = ["round", "seq", "time", "sockets", "path", "arm", "interval_ms", "reads", "window_s",
              "cpu_ticks", "cpu_ms", "sched_ms", "cpu_pct", "hwm_kib", "rss_kib", "first_read_ms",
              "poke_s", "live_read", "holder_sockets",
              "holder_tx_bytes", "holder_rx_bytes", "lost", "degraded", "machine_busy_pct"]


def rerender(args):
    rows = []
    with open(args.report) as f:
        for r in csv.DictReader(f):
            for k, v in r.items():
                if k in ("path", "arm", "time", "live_read", "lost", "degraded"):
                    continue
                try:
                    r[k] = None if v == "" else (int(v) if re.fullmatch(r"-?\d+", v) else float(v))
                except ValueError:
                    pass
            rows.append(r)
    args.rounds = max(r["round"] for r in rows)
    args.interval_ms = min(r["interval_ms"] for r in rows)
    args.seconds = round(rows[0]["window_s"])
    m = re.search(r"live-read-(\d{4}-\d\d-\d\d)-(\d\d)(\d\d)-(.*)\.csv$", args.report)
    started = dt.datetime.strptime(f"{m.group(1)} {m.group(2)}:{m.group(3)}", "%Y-%m-%d %H:%M") \
        if m else dt.datetime.now()
    info = {"nproc": "?", "cpu": "?", "kernel": m.group(4) if m else "?", "mem_gib": "?",
            "np_version": "?", "commit": "re-rendered from " + os.path.basename(args.report)}
    md, _ = report(rows, args, info, "", started, started)
    print(md)


def machine_info(binary):
    info = benchlib.machine_info(ROOT)
    info["commit"] = info["commit"] or "?"
    info["np_version"] = subprocess.run([binary, "--version"], capture_output=True,
                                        text=True).stdout.strip()
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--netoproc", default=None)
    ap.add_argument("--netns", default=None, help="namespace the sockets live in (made by the script)")
    ap.add_argument("--sockets", default="10000,100000")
    ap.add_argument("--paths", default="auto", help="comma-separated, or auto (doctor decides map-iter)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--interval-ms", type=int, default=100)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--report", metavar="CSV", help="only re-render the table of an earlier run "
                    "from its .csv and print it")
    args = ap.parse_args()
    if args.report:
        return rerender(args)
    if args.seconds + 20 >= IDLE_INTERVAL_MS / 1000:
        sys.exit("bench-live-read: --seconds must stay well below the idle arm's 60 s interval")
    rng = random.Random(args.seed)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    if args.paths == "auto":
        paths, note = available_paths(args.netoproc)
    else:
        paths, note = args.paths.split(","), "paths given with --paths."
    log(f"paths: {', '.join(paths)}. {note}")
    info = machine_info(args.netoproc)
    started = dt.datetime.now(dt.timezone.utc)
    tmpdir = os.path.join(HERE, "results", ".tmp-live")
    os.makedirs(tmpdir, exist_ok=True)
    counter = ReadCounter(args.netoproc)
    rows = []
    seq = 0
    sizes = [int(s) for s in args.sockets.split(",")]
    total = len(sizes) * args.rounds * len(paths) * 2
    try:
        for n in sizes:
            t0 = time.monotonic()
            holder = Holder(args.netns, n)
            log(f"{holder.sockets} sockets open in {time.monotonic() - t0:.1f} s "
                f"({len(holder.pids)} holder processes)")
            try:
                for rnd in range(1, args.rounds + 1):
                    combos = [(p, a) for p in paths for a in ("fast", "idle")]
                    rng.shuffle(combos)
                    for path, arm in combos:
                        seq += 1
                        t = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
                        row = measure(args.netoproc, path, arm, args.interval_ms, holder,
                                      args.seconds, counter, tmpdir)
                        row.update(round=rnd, seq=seq, time=t)
                        rows.append(row)
                        log(f"[{seq}/{total}] {n} {path:<11} {arm:<4} reads {row.get('reads')} "
                            f"cpu {row['cpu_pct']:.1f}% ({row['sched_ms']:.0f} ms) hwm "
                            f"{row['hwm_kib'] / 1024:.1f} MiB seen {row.get('holder_sockets')} "
                            f"live_read {row.get('live_read')} lost {row.get('lost') or 0} "
                            f"busy {row['machine_busy_pct']}%")
            finally:
                holder.close()
    finally:
        for p in list(benchlib.children):
            stop(p, signal.SIGKILL)
        counter.remove()
        for f in os.listdir(tmpdir):
            os.unlink(os.path.join(tmpdir, f))
        os.rmdir(tmpdir)
        # what was measured is kept, also when a later step failed
        if rows:
            write_results(rows, args, info, note, started)


def write_results(rows, args, info, note, started):
    finished = dt.datetime.now(dt.timezone.utc)
    md, _ = report(rows, args, info, note, started, finished)
    print(md)
    os.makedirs(args.out_dir, exist_ok=True)
    base = os.path.join(args.out_dir, f"live-read-{started:%Y-%m-%d-%H%M}-{info['kernel']}")
    with open(base + ".md", "w") as f:
        f.write(md + "\n")
    with open(base + ".csv", "w", newline="") as f:
        wr = csv.DictWriter(f, CSV_FIELDS, extrasaction="ignore")
        wr.writeheader()
        for r in rows:
            wr.writerow(r)
    log(f"results: {base}.md, {base}.csv")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as e:
        sys.exit(f"bench-live-read: interrupted ({e})")
