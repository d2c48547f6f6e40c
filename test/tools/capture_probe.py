#!/usr/bin/python3
"""Stand-ins for the capture tests (no ztunnel needed).

  capture_probe.py listen PORT [PORT...]
      A ztunnel stand-in: accepts on each port and, per connection, prints one line
      "accept port=<listen port> local=<ip:port> peer=<ip:port> orig=<ip:port|none>"
      (orig = SO_ORIGINAL_DST if answered), then echoes until EOF. A port written v6:PORT
      listens on [::]:PORT (IPv6 only) instead of 0.0.0.0:PORT; IPv6 addresses print as
      [addr]:port, and orig is read with IP6T_SO_ORIGINAL_DST (SOL_IPV6) on IPv6 sockets.
  capture_probe.py connect IP:PORT [--count N]       (IP may be [v6addr])
      An app: connects, prints "connected peer=<getpeername> local=<getsockname>", sends a line,
      reads the echo, closes. With --count, does it N times and prints only a summary line
      "done ok=<n> failed=<m>".
  capture_probe.py hold IP:PORT N
      An app that opens N connections and holds them all at once (each says "ping" and reads the
      echo), prints "held ok=<n> failed=<m>", then closes them all and prints "closed".
"""
import socket
import struct
import sys
import threading

SO_ORIGINAL_DST = 80


def fmt(addr):
    if ":" in addr[0]:
        return f"[{addr[0]}]:{addr[1]}"
    return f"{addr[0]}:{addr[1]}"


def orig_dst(c):
    try:
        if c.family == socket.AF_INET6:
            raw = c.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)  # SOL_IPV6
        else:
            raw = c.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        family, = struct.unpack("=H", raw[0:2])
        port, = struct.unpack("!H", raw[2:4])
        if family == socket.AF_INET6:
            return fmt((socket.inet_ntop(socket.AF_INET6, raw[8:24]), port))
        return f"{socket.inet_ntoa(raw[4:8])}:{port}"
    except OSError:
        return "none"


def serve(spec):
    v6 = spec.startswith("v6:")
    port = int(spec[3:] if v6 else spec)
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(("::" if v6 else "0.0.0.0", port))
    s.listen(4096)
    while True:
        c, _ = s.accept()
        line = f"accept port={port} local={fmt(c.getsockname())} peer={fmt(c.getpeername())} orig={orig_dst(c)}"
        print(line, flush=True)

        def echo(c=c):
            try:
                while True:
                    d = c.recv(4096)
                    if not d:
                        break
                    c.sendall(d)
            except OSError:
                pass
            c.close()

        threading.Thread(target=echo, daemon=True).start()


def connect(target, count):
    host, port = target.rsplit(":", 1)
    host = host.strip("[]")
    ok = failed = 0
    for i in range(count):
        try:
            c = socket.create_connection((host, int(port)), timeout=5)
            if count == 1:
                print(f"connected peer={fmt(c.getpeername())} local={fmt(c.getsockname())}", flush=True)
            c.sendall(b"ping\n")
            if c.recv(16) == b"ping\n":
                ok += 1
            else:
                failed += 1
            c.close()
        except OSError as e:
            failed += 1
            if count == 1:
                print(f"error {e}", flush=True)
    if count > 1:
        print(f"done ok={ok} failed={failed}", flush=True)
    return 0 if failed == 0 else 1


def hold(target, n):
    host, port = target.rsplit(":", 1)
    conns = []
    failed = 0
    for _ in range(n):
        try:
            c = socket.create_connection((host, int(port)), timeout=10)
            c.sendall(b"ping\n")
            if c.recv(16) == b"ping\n":
                conns.append(c)
            else:
                failed += 1
                c.close()
        except OSError:
            failed += 1
    print(f"held ok={len(conns)} failed={failed}", flush=True)
    for c in conns:
        c.close()
    print("closed", flush=True)
    return 0


if sys.argv[1] == "hold":
    sys.exit(hold(sys.argv[2], int(sys.argv[3])))
elif sys.argv[1] == "listen":
    for p in sys.argv[2:]:
        threading.Thread(target=serve, args=(p,), daemon=True).start()
    print("listening", flush=True)
    threading.Event().wait()
else:
    count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 1
    sys.exit(connect(sys.argv[2], count))
