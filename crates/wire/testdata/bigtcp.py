#!/usr/bin/env python3
"""Raises lo's IPv4 GSO/GRO limits (BIG TCP) over rtnetlink, for iproute2
versions older than 6.3 that lack `gso_ipv4_max_size`. Usage: bigtcp.py SIZE"""
import socket, struct, sys

size = int(sys.argv[1])
IFLA_GSO_IPV4_MAX_SIZE, IFLA_GRO_IPV4_MAX_SIZE = 63, 64
RTM_NEWLINK, NLM_F_REQUEST, NLM_F_ACK = 16, 1, 4
attrs = b"".join(struct.pack("=HHI", 8, t, size) for t in (IFLA_GSO_IPV4_MAX_SIZE, IFLA_GRO_IPV4_MAX_SIZE))
ifinfo = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, socket.if_nametoindex("lo"), 0, 0)
body = ifinfo + attrs
msg = struct.pack("=IHHII", 16 + len(body), RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.send(msg)
err = struct.unpack("=i", s.recv(4096)[16:20])[0]
sys.exit(f"rtnetlink error {err}" if err else 0)
