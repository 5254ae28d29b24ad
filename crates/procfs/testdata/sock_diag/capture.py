#!/usr/bin/env python3
"""Captures real NETLINK_SOCK_DIAG answers for the parser's tests and the
fuzz corpus. Run as root inside a fresh network namespace, so the answers
hold only the sockets opened here:

    unshare -n python3 capture.py

Writes <protocol><family>-<n>.bin: every datagram of a dump answer (the
last one holds NLMSG_DONE), requested with sequence number 7, and
lookup-tcp4.bin, the answer to a single-socket request (sequence 8)."""
import socket
import struct
import subprocess

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_DONE = 3

# What the dumps will show: a listener with an accepted connection, and a
# connected UDP socket, in both families.
lo = [("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)]
keep = []
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
for addr, fam in lo:
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.bind((addr, 0))
    srv.listen()
    cli = socket.create_connection(srv.getsockname()[:2])
    conn, _ = srv.accept()
    udp = socket.socket(fam, socket.SOCK_DGRAM)
    udp.bind((addr, 0))
    udp.connect((addr, 53))
    keep += [srv, cli, conn, udp]


def request(family, protocol, seq, flags, sockid=b"\0" * 48):
    body = struct.pack("=BBBBI", family, protocol, 0, 0, 0xFFFFFFFF) + sockid
    return struct.pack("=IHHII", 16 + len(body), SOCK_DIAG_BY_FAMILY, flags, seq, 0) + body


def answer(nl, done_when_one=False):
    """Every datagram up to the one holding NLMSG_DONE (or just one)."""
    out = []
    while True:
        data = nl.recv(65536)
        out.append(data)
        if done_when_one:
            return out
        off = 0
        while off < len(data):
            length, kind = struct.unpack_from("=IH", data, off)
            if kind == NLMSG_DONE:
                return out
            off += (length + 3) & ~3


nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
for proto, pname in [(socket.IPPROTO_TCP, "tcp"), (socket.IPPROTO_UDP, "udp")]:
    for fam, fname in [(socket.AF_INET, "4"), (socket.AF_INET6, "6")]:
        nl.send(request(fam, proto, 7, NLM_F_REQUEST | NLM_F_DUMP))
        for n, data in enumerate(answer(nl)):
            open(f"{pname}{fname}-{n}.bin", "wb").write(data)

# A single-socket lookup of the IPv4 client connection, by its tuple.
cli = keep[1]
(sa, sp), (da, dp) = cli.getsockname(), cli.getpeername()
sockid = struct.pack("!HH", sp, dp) + socket.inet_aton(sa) + b"\0" * 12 + socket.inet_aton(da) + b"\0" * 12
sockid += struct.pack("=I", 0) + struct.pack("=II", 0xFFFFFFFF, 0xFFFFFFFF)
nl.send(request(socket.AF_INET, socket.IPPROTO_TCP, 8, NLM_F_REQUEST, sockid))
open("lookup-tcp4.bin", "wb").write(answer(nl, done_when_one=True)[0])
