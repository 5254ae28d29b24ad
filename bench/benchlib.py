"""What the benchmark drivers share (bench/*.py, bench/dns/bench_dns.py).

Children started with `spawn` are noted in the file named by $BENCH_PIDFILE
(the wrapper script kills what is left of them, by name, if the driver dies)
and in `children` (the driver stops what is left on its way out); `stop` ends
one; `Netoproc` runs netoproc for a JSON snapshot. The /proc readers: a process's CPU (ticks and scheduler ns over its
threads), a field of /proc/PID/status, and the machine's busy time; and
what a report says of the machine.

Standard library only.
"""

import json
import os
import platform
import re
import signal
import subprocess
import threading
import time

children = []  # Popen objects still to stop on exit

FIRST_READ_RE = re.compile(r"first complete read after ([0-9.]+) ?ms")


def note_pid(pid):
    """Appends `pid` to $BENCH_PIDFILE, if set."""
    f = os.environ.get("BENCH_PIDFILE")
    if f:
        with open(f, "a") as fh:
            fh.write(f"{pid}\n")


def spawn(cmd, cpus=None, **kw):
    """Popen with SIGINT at its default (the wrapper runs the driver in the
    background, where SIGINT is ignored and a child would inherit that;
    netoproc is stopped with SIGINT), on `cpus` if given; noted in
    `children` and the pid file."""
    def pre():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
    p = subprocess.Popen(cmd, preexec_fn=pre, **kw)
    children.append(p)
    note_pid(p.pid)
    return p


def stop(p, sig=signal.SIGTERM, timeout=30):
    """Sends `sig` to `p` if it still runs, kills it after `timeout` s, and
    forgets it."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in children:
        children.remove(p)


def proc_cpu_ticks(pid):
    """utime + stime of `pid` in clock ticks (/proc/PID/stat fields 14, 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def proc_sched_ns(pid):
    """CPU time of all live threads in ns (/proc/PID/task/*/schedstat, field 1)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def proc_status_kib(pid, key):
    """A kB field of /proc/PID/status (VmHWM, VmRSS, ...), or None."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def machine_busy():
    """(busy, total) jiffies over all CPUs (user to steal; guest time is
    inside user)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def machine_info(root):
    """CPU count and model, kernel, memory in GiB, and the commit of the tree
    at `root` ("tree at abc1234", plus " (crates/ modified)" when it is;
    None when git cannot tell)."""
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    git = ["git", "-C", root]
    try:
        commit = subprocess.run(git + ["rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--", "crates"],
                               capture_output=True, text=True, check=True).stdout.strip()
        commit = "tree at " + commit + (" (crates/ modified)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu,
            "mem_gib": round(mem_kib / 2 ** 20, 1), "commit": commit}


class Netoproc:
    """Starts `binary -v --format json EXTRA` (its JSON to `outfile`) and
    waits up to `start_within` s for its `first complete read` line: the
    time it reports (`reported_ms`) and the wall time from exec (`wall_ms`).
    `stop` ends it with SIGINT and returns its snapshot (None if it wrote
    none)."""

    def __init__(self, binary, outfile, extra=(), start_within=30):
        self.lines = []
        self.first = threading.Event()
        self.out = open(outfile, "w+")
        self.t0 = time.monotonic()
        self.p = spawn([binary, "-v", "--format", "json", *extra], stdout=self.out,
                       stderr=subprocess.PIPE, text=True)
        self.reported_ms = self.wall_ms = None
        threading.Thread(target=self._reader, daemon=True).start()
        if not self.first.wait(start_within):
            stop(self.p, signal.SIGKILL)
            raise RuntimeError(f"netoproc: no 'first complete read' line within {start_within} s:\n"
                               + "".join(self.lines))

    def _reader(self):
        for line in self.p.stderr:
            now = time.monotonic()
            self.lines.append(line)
            m = FIRST_READ_RE.search(line)
            if m and not self.first.is_set():
                self.reported_ms = float(m.group(1))
                self.wall_ms = (now - self.t0) * 1000
                self.first.set()

    def stop(self, timeout=30):
        stop(self.p, signal.SIGINT, timeout=timeout)
        self.out.seek(0)
        try:
            snap = json.load(self.out)
        except ValueError:
            snap = None
        self.out.close()
        return snap
