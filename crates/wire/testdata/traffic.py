#!/usr/bin/env python3
"""Traffic generator for the pcap fixtures; run by capture.sh inside
network namespaces. Every size sent here is asserted in tests/pcap_fixtures.rs."""
import fcntl, os, socket, struct, sys, threading, time

def udp_sink(family, addr, port, echo=False):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((addr, port))
    def run():
        while True:
            data, peer = s.recvfrom(65535)
            if echo:
                s.sendto(data, peer)
    threading.Thread(target=run, daemon=True).start()

def tcp_server(family, addr, port, reply):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(4)
    def run():
        while True:
            c, _ = s.accept()
            while True:
                d = c.recv(65536)
                if not d:
                    break
            c.sendall(b"r" * reply); c.close()
    threading.Thread(target=run, daemon=True).start()

def tcp_client(family, addr, port, size):
    c = socket.create_connection((addr, port))
    c.sendall(b"q" * size); c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    c.close()

def udp_send(family, addr, port, sizes, opts=None):
    s = socket.socket(family, socket.SOCK_DGRAM)
    if opts:
        s.setsockopt(*opts)
    for n in sizes:
        s.sendto(b"u" * n, (addr, port)); time.sleep(0.01)
    s.close()

def lo():
    v4, v6 = socket.AF_INET, socket.AF_INET6
    udp_sink(v4, "127.0.0.1", 9000); udp_sink(v6, "::1", 9000)
    tcp_server(v4, "127.0.0.1", 9001, 1000); tcp_server(v6, "::1", 9001, 2000)
    udp_send(v4, "127.0.0.1", 9000, [0, 1, 100, 1400, 8000])
    # IPv4 options: NOP NOP NOP EOL (ihl 6)
    udp_send(v4, "127.0.0.1", 9000, [50], (socket.IPPROTO_IP, socket.IP_OPTIONS, b"\x01\x01\x01\x00"))
    tcp_client(v4, "127.0.0.1", 9001, 1000000)
    udp_send(v6, "::1", 9000, [10, 1200])
    # IPv6 hop-by-hop and destination options headers, each 8 bytes of PadN.
    padn = b"\x00\x00\x01\x04\x00\x00\x00\x00"
    udp_send(v6, "::1", 9000, [20], (socket.IPPROTO_IPV6, socket.IPV6_HOPOPTS, padn))
    udp_send(v6, "::1", 9000, [30], (socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, padn))
    tcp_client(v6, "::1", 9001, 1000000)
    time.sleep(0.3)

def veth_server():
    udp_sink(socket.AF_INET, "10.204.100.2", 9000, echo=True)
    udp_sink(socket.AF_INET6, "fd00:204:100::2", 9000, echo=True)
    tcp_server(socket.AF_INET, "10.204.100.2", 9001, 3000)
    time.sleep(float(sys.argv[2]))

def veth_client():
    udp_send(socket.AF_INET, "10.204.100.2", 9000, [100, 3000])
    udp_send(socket.AF_INET6, "fd00:204:100::2", 9000, [100, 3000])
    tcp_client(socket.AF_INET, "10.204.100.2", 9001, 5000)
    time.sleep(0.3)

def tun():
    TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"tun0", IFF_TUN | IFF_NO_PI))
    for cmd in ["ip link set tun0 up", "ip addr add 10.204.7.1/24 dev tun0",
                "ip addr add fd00:204:7::1/64 nodad dev tun0"]:
        os.system(cmd)
    threading.Thread(target=lambda: [os.read(fd, 65536) for _ in iter(int, 1)], daemon=True).start()
    open(sys.argv[2], "w").close()  # ready: start the capture
    time.sleep(1.0)
    udp_send(socket.AF_INET, "10.204.7.2", 9000, [5, 500])
    udp_send(socket.AF_INET6, "fd00:204:7::2", 9000, [7])
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM); c.setblocking(False)
    try:
        c.connect(("10.204.7.2", 9001))
    except BlockingIOError:
        pass
    time.sleep(0.3)
    open(sys.argv[2] + ".sent", "w").close()  # stop the capture before tun0 goes
    time.sleep(2.0)

{"lo": lo, "veth-server": veth_server, "veth-client": veth_client, "tun": tun}[sys.argv[1]]()
