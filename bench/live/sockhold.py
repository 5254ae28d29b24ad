#!/usr/bin/env python3
"""Holds N open loopback sockets for scripts/bench-live-read.sh (run it in a
network namespace of its own: it widens nothing outside it, and its ports
collide with nobody's).

Half the sockets are TCP (N/4 connected pairs: client + accepted socket), half
UDP (N/4 pairs of sockets bound to 127.0.0.1 and connected to each other).
UDP pairs instead of one UDP socket per remote port: both ends are sockets
that moved bytes, so every socket costs one fd and has a record, like a TCP
pair, with no ICMP errors and no listener per port.

Protocol on stdin/stdout, one line each:
  -> "ready <sockets> <fds>"   once every socket is open
  <- "poke"                    every socket sends 8 bytes and receives its peer's
  -> "poked <seconds>"
  <- "quit" (or EOF)           close everything and exit
It exits by itself after --max-seconds (default 3600) whatever happens.
RLIMIT_NOFILE is raised to what the sockets need when the hard limit allows
(without CAP_SYS_RESOURCE it cannot go past the hard limit: then run several
holders, each with its own --addr, as bench_live_read.py does).
Standard library only.
"""
import argparse
import resource
import signal
import socket
import sys
import time

LISTEN_PORTS = (1000, 1001, 1002, 1003)  # below any ephemeral range


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sockets", type=int, required=True, help="total sockets (multiple of 4)")
    ap.add_argument("--addr", default="127.0.0.1",
                    help="loopback address of this holder's listeners and UDP sockets")
    ap.add_argument("--max-seconds", type=int, default=3600)
    args = ap.parse_args()
    signal.alarm(args.max_seconds)  # bounded: SIGALRM kills us
    quarter = args.sockets // 4
    need = args.sockets + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            print(f"error: {need} fds needed, hard limit {hard}", flush=True)
            return 1
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    listeners = []
    for port in LISTEN_PORTS:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((args.addr, port))
        s.listen(4096)
        listeners.append(s)

    tcp = []  # (client, accepted)
    for i in range(quarter):
        lst = listeners[i % len(listeners)]
        c = socket.create_connection(lst.getsockname())
        a, _ = lst.accept()
        tcp.append((c, a))
    udp = []
    for _ in range(quarter):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a.bind((args.addr, 0))
        b.bind((args.addr, 0))
        a.connect(b.getsockname())
        b.connect(a.getsockname())
        udp.append((a, b))
    for s in listeners:
        s.close()
    print(f"ready {4 * quarter} {4 * quarter}", flush=True)

    msg = b"netoproc"
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "poke":
            t0 = time.monotonic()
            for pairs in (tcp, udp):
                for x, y in pairs:
                    x.send(msg)
                    y.recv(64)
                    y.send(msg)
                    x.recv(64)
            print(f"poked {time.monotonic() - t0:.2f}", flush=True)
        elif cmd == "quit":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
