"""DNS over TCP the way the reassembly tests need it, against a real
server: two length-prefixed queries written in one segment, then one query
whose 2-byte length prefix is sent alone before the rest (TCP_NODELAY and a
pause, so they leave as separate segments). Used by capture.sh."""
import socket, struct, sys, time

def query(qid, name, qtype=1):
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", qtype, 1)
    return struct.pack(">H", len(msg)) + msg

def read_replies(s, n):
    buf = b""
    s.settimeout(2)
    got = 0
    while got < n:
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
            buf = buf[2 + struct.unpack(">H", buf[:2])[0]:]
            got += 1
        if got >= n:
            break
        data = s.recv(65535)
        if not data:
            break
        buf += data

host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(query(0x1111, "www.np.test") + query(0x2222, "nx.np.test"))
read_replies(s, 2)
split = query(0x3333, "mail.np.test")
s.sendall(split[:1])
time.sleep(0.2)
s.sendall(split[1:])
read_replies(s, 1)
s.close()
