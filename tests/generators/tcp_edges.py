#!/usr/bin/env python3
"""TCP connections that end every way, for tests/tests/tcp_edges.rs.

Every listener is made first, then "ready" is printed and the script waits
for "go" on stdin (so the listeners are older than a netoproc started in
between). Then, on 127.0.0.1, one connection per pattern:

  client_fin_first  client writes, half-closes; server reads to EOF, answers, closes
  server_fin_first  server writes and closes; client reads to EOF
  unread_at_close   server reads part and closes with data unread (the kernel resets)
  both_half_close   both write, both half-close, both read to EOF
  linger_reset      client closes with SO_LINGER 0 (a reset) after the server read all
  held_open         both write and read, and stay open until "end" on stdin
  older_than_go     connected before "ready" (older than netoproc); what moves after
                    "go" is reported; stays open until "end"
  spliced           client writes with splice(2) from a pipe, server reads with
                    splice(2) into a pipe (reported apart: "spliced_read")

It prints "done" and one JSON line: for every socket, its local and remote
address, the bytes the application wrote (send calls' return values) and
read (recv calls' return values). Every wait is bounded (10 s socket
timeouts). Standard library only.
"""
import json
import os
import select
import socket
import sys
import threading

HOST = "127.0.0.1"
TIMEOUT = 10.0
results = []
lock = threading.Lock()


class Counted:
    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.sent = 0
        self.read = 0
        self.spliced_read = 0
        self.local = "%s:%d" % sock.getsockname()
        self.remote = "%s:%d" % sock.getpeername()

    def send(self, n):
        data = b"e" * n
        while data:
            k = self.sock.send(data)
            self.sent += k
            data = data[k:]

    def recv_exact(self, n):
        while n > 0:
            d = self.sock.recv(min(n, 65536))
            if not d:
                raise EOFError("peer closed early")
            self.read += len(d)
            n -= len(d)

    def recv_to_eof(self):
        while True:
            try:
                d = self.sock.recv(65536)
            except ConnectionResetError:
                return
            if not d:
                return
            self.read += len(d)

    def report(self, pattern, side):
        with lock:
            results.append({"pattern": pattern, "side": side, "local": self.local,
                            "remote": self.remote, "sent": self.sent, "read": self.read,
                            "spliced_read": self.spliced_read})

    def splice_send(self, n):
        r, w = os.pipe()
        try:
            while n > 0:
                k = os.write(w, b"s" * min(n, 65536))
                while k > 0:
                    # The socket is non-blocking (its timeout): wait for room.
                    select.select([], [self.sock], [], TIMEOUT)
                    try:
                        m = os.splice(r, self.sock.fileno(), k)
                    except BlockingIOError:
                        continue
                    self.sent += m
                    k -= m
                    n -= m
        finally:
            os.close(r)
            os.close(w)

    def splice_recv_exact(self, n):
        r, w = os.pipe()
        try:
            while n > 0:
                if not select.select([self.sock], [], [], TIMEOUT)[0]:
                    raise TimeoutError("nothing to splice")
                try:
                    m = os.splice(self.sock.fileno(), w, min(n, 65536))
                except BlockingIOError:
                    continue
                if m == 0:
                    raise EOFError("peer closed early")
                os.read(r, m)
                self.read += m
                self.spliced_read += m
                n -= m
        finally:
            os.close(r)
            os.close(w)


def listener():
    s = socket.socket()
    s.bind((HOST, 0))
    s.listen(4)
    s.settimeout(TIMEOUT)
    return s


def pair(lst):
    c = socket.create_connection(lst.getsockname(), timeout=TIMEOUT)
    a, _ = lst.accept()
    return Counted(c), Counted(a)


def client_fin_first(lst):
    c, s = pair(lst)
    c.send(1_000_000)
    c.sock.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=lambda: (s.recv_to_eof(), s.send(5000), s.sock.close()))
    t.start()
    c.recv_to_eof()
    t.join(TIMEOUT)
    c.sock.close()
    return c, s


def server_fin_first(lst):
    c, s = pair(lst)
    s.send(300_000)
    s.sock.close()
    c.recv_to_eof()
    c.sock.close()
    return c, s


def unread_at_close(lst):
    c, s = pair(lst)
    c.send(60_000)
    s.recv_exact(1000)
    s.sock.close()  # 59,000 bytes unread: the kernel sends a reset
    c.recv_to_eof()
    c.sock.close()
    return c, s


def both_half_close(lst):
    c, s = pair(lst)
    c.send(50_000)
    s.send(70_000)
    c.sock.shutdown(socket.SHUT_WR)
    s.sock.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=s.recv_to_eof)
    t.start()
    c.recv_to_eof()
    t.join(TIMEOUT)
    c.sock.close()
    s.sock.close()
    return c, s


def linger_reset(lst):
    c, s = pair(lst)
    c.send(40_000)
    s.recv_exact(40_000)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.sock.close()
    s.recv_to_eof()
    s.sock.close()
    return c, s


def held_open(lst):
    c, s = pair(lst)
    c.send(70_000)
    s.recv_exact(70_000)
    s.send(9000)
    c.recv_exact(9000)
    return c, s


def spliced(lst):
    c, s = pair(lst)
    t = threading.Thread(target=lambda: s.splice_recv_exact(500_000))
    t.start()
    c.splice_send(500_000)
    t.join(TIMEOUT)
    c.sock.close()
    s.recv_to_eof()
    s.sock.close()
    return c, s


def older_than_go(lst, pair_made):
    c, s = pair_made
    c.send(33_000)
    s.recv_exact(33_000)
    s.send(4400)
    c.recv_exact(4400)
    return c, s


PATTERNS = [client_fin_first, server_fin_first, unread_at_close, both_half_close,
            linger_reset, held_open, spliced]


def main():
    listeners = [(p, listener()) for p in PATTERNS]
    early = listener()
    early_pair = pair(early)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit("expected go")
    held = []
    for pattern, lst in listeners:
        c, s = pattern(lst)
        c.report(pattern.__name__, "client")
        s.report(pattern.__name__, "server")
        if pattern is held_open:
            held += [c, s]
    c, s = older_than_go(early, early_pair)
    c.report("older_than_go", "client")
    s.report("older_than_go", "server")
    held += [c, s]
    print("done", flush=True)
    print(json.dumps(results), flush=True)
    sys.stdin.readline()  # "end"
    for h in held:
        h.sock.close()


if __name__ == "__main__":
    main()
