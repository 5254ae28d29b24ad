#!/usr/bin/env python3
"""A connect/close loop for the lifecycle benchmark (bench/bench_lifecycle.py).

  connloop.py server PORT            accept and close, until killed
  connloop.py client PORT SECS RATE  connect and close for SECS seconds, at most
                                     RATE connections/s (0: as fast as it can);
                                     prints {"connections": N, "seconds": T,
                                     "cpu_ns": C}, C the CPU time of its
                                     threads over those T seconds (schedstat)

Loopback only (127.0.0.1). Standard library only.
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import proc_sched_ns  # noqa: E402  (bench/, one level up)


def cpu_ns():
    """CPU time of this process's threads in ns (benchlib.proc_sched_ns:
    schedstat, system time and softirqs run on its behalf included)."""
    return proc_sched_ns(os.getpid())


def server(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(4096)
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        c.close()


def client(port, secs, rate):
    n = 0
    c0 = cpu_ns()
    t0 = time.monotonic()
    end = t0 + secs
    gap = 1.0 / rate if rate > 0 else 0.0
    nxt = t0
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if gap:
            if now < nxt:
                time.sleep(min(nxt - now, 0.001))
                continue
            nxt += gap
        c = socket.create_connection(("127.0.0.1", port))
        # RST-free close on the client: the server closes its side too.
        c.close()
        n += 1
    t = time.monotonic() - t0
    print(json.dumps({"connections": n, "seconds": t, "cpu_ns": cpu_ns() - c0}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]))
    else:
        client(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
