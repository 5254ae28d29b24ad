#!/usr/bin/env python3
"""Steady traffic from many processes, for the agent benchmark
(scripts/bench-agent.sh): N child processes, each with its own name
(np-load-<i>), exchange one small UDP datagram a second with an echo
server, all on loopback, until the deadline. Bounded: N processes, one
datagram per second each, stops at the deadline or when killed.

    agent_load.py PROCESSES SECONDS
"""
import os
import socket
import sys
import time


def echo_server(sock, deadline):
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            data, addr = sock.recvfrom(2048)
        except socket.timeout:
            continue
        sock.sendto(data, addr)


def client(i, port, deadline):
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(f"np-load-{i}")
    except OSError:
        pass
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    payload = b"x" * 200
    while time.monotonic() < deadline:
        s.sendto(payload, ("127.0.0.1", port))
        try:
            s.recvfrom(2048)
        except socket.timeout:
            pass
        time.sleep(1.0)


def main():
    n, seconds = int(sys.argv[1]), float(sys.argv[2])
    deadline = time.monotonic() + seconds
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    kids = []
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            srv.close()
            client(i, port, deadline)
            os._exit(0)
        kids.append(pid)
    echo_server(srv, deadline + 1.0)
    for pid in kids:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
