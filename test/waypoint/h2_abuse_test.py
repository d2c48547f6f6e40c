#!/usr/bin/python3
"""The waypoint's HTTP codecs against an independent peer over a real loopback socket.

Runs waypoint_codec_server (the codecs driven from a socket, echoing requests) and talks to it
with python-h2 / hyperframe / hpack (Debian's python3-h2): a normal HTTP/2 exchange, then the
HTTP/2 abuse cases — each must end in GOAWAY ENHANCE_YOUR_CALM (or PROTOCOL_ERROR) within a
bounded number of frames — and HTTP/1 smuggling vectors over the wire (400 with a reason, then
close). Needs /usr/bin/python3 with python3-h2 (scripts/install-deps.sh installs it).

Usage: h2_abuse_test.py --server <path to waypoint_codec_server>
"""
import argparse
import socket
import subprocess
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, RstStreamFrame, SettingsFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ENHANCE_YOUR_CALM = 11
PROTOCOL_ERROR = 1
REQ = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "svc.ns:80")]

failures = []
passes = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    (passes if cond else failures).append(what)


def connect(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def read_frames(sock, until_goaway=True, limit=2_000_000):
    """Reads frames until a GOAWAY (returned) or EOF; bounded in frames read."""
    buf = b""
    n = 0
    while n < limit:
        while len(buf) < 9:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None, n
            buf += chunk
        f, length = Frame.parse_frame_header(memoryview(buf[:9]))
        while len(buf) < 9 + length:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None, n
            buf += chunk
        f.parse_body(memoryview(buf[9:9 + length]))
        buf = buf[9 + length:]
        n += 1
        if isinstance(f, GoAwayFrame) and until_goaway:
            return f, n
    return None, n


def flood(sock, data):
    """Sends in a thread: the server may stop reading once it gave up on us."""
    def run():
        try:
            sock.sendall(data)
        except OSError:
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def start(sock):
    sock.sendall(PREFACE + SettingsFrame(0).serialize())


def headers_frame(enc, sid, headers, flags=("END_HEADERS",), end_stream=False):
    f = HeadersFrame(sid)
    f.data = enc.encode(headers)
    for fl in flags:
        f.flags.add(fl)
    if end_stream:
        f.flags.add("END_STREAM")
    return f.serialize()


def test_normal_exchange(port):
    s = connect(port)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", "/echo"),
                            (":authority", "svc.ns:80")])
    conn.send_data(sid, b"hello waypoint", end_stream=True)
    s.sendall(conn.data_to_send())
    status, body, ended = None, b"", False
    deadline = time.time() + 10
    while not ended and time.time() < deadline:
        data = s.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers).get(b":status")
            elif isinstance(ev, h2.events.DataReceived):
                body += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                ended = True
        s.sendall(conn.data_to_send())
    check(status == b"200" and body == b"hello waypoint", f"python-h2 POST echoed (status {status}, body {body!r})")
    s.close()


def expect_goaway(sock, code, what):
    g, n = read_frames(sock)
    check(g is not None and g.error_code == code,
          f"{what}: GOAWAY {None if g is None else g.error_code} after {n} frames (want {code})")


def test_rapid_reset(port):
    s = connect(port)
    start(s)
    enc = hpack.Encoder()
    burst = b""
    for i in range(2000):
        sid = 1 + 2 * i
        burst += headers_frame(enc, sid, REQ) + RstStreamFrame(sid, error_code=8).serialize()
    t = flood(s, burst)
    expect_goaway(s, ENHANCE_YOUR_CALM, "rapid reset (CVE-2023-44487)")
    t.join(5)
    s.close()


def test_made_you_reset(port):
    s = connect(port)
    start(s)
    enc = hpack.Encoder()
    burst = b""
    for i in range(2000):
        # "connection" is forbidden in HTTP/2: the server resets each stream itself
        burst += headers_frame(enc, 1 + 2 * i, REQ + [("connection", "close")], end_stream=True)
    t = flood(s, burst)
    expect_goaway(s, ENHANCE_YOUR_CALM, "MadeYouReset (CVE-2025-8671)")
    t.join(5)
    s.close()


def test_continuation_flood(port):
    s = connect(port)
    start(s)
    enc = hpack.Encoder()
    burst = headers_frame(enc, 1, REQ, flags=())
    for i in range(1000):
        c = ContinuationFrame(1)
        c.data = enc.encode([(f"x-pad-{i}", "v")])
        burst += c.serialize()
    t = flood(s, burst)
    expect_goaway(s, ENHANCE_YOUR_CALM, "CONTINUATION flood (CVE-2024-27316)")
    t.join(5)
    s.close()


def test_ping_flood_not_reading(port):
    # A tiny receive buffer and no reading while flooding: the server's ACKs back up, its
    # bounded control queue overflows, and it ends the connection.
    s = connect(port, rcvbuf=4096)
    start(s)
    ping = PingFrame(0)
    ping.opaque_data = b"12345678"
    one = ping.serialize()
    t = flood(s, one * 200_000)  # 3.4 MB of PINGs
    t.join(3)  # the server stops reading once it gave up: the sender may never finish
    expect_goaway(s, ENHANCE_YOUR_CALM, "PING flood without reading the ACKs (CVE-2019-9512)")
    s.close()


def test_settings_flood_not_reading(port):
    s = connect(port, rcvbuf=4096)
    start(s)
    t = flood(s, SettingsFrame(0).serialize() * 300_000)
    t.join(3)  # the server stops reading once it gave up: the sender may never finish
    expect_goaway(s, ENHANCE_YOUR_CALM, "SETTINGS flood without reading the ACKs (CVE-2019-9515)")
    s.close()


def test_empty_data_flood(port):
    s = connect(port)
    start(s)
    enc = hpack.Encoder()
    burst = headers_frame(enc, 1, [(":method", "POST")] + REQ[1:])
    burst += DataFrame(1, data=b"").serialize() * 1000
    t = flood(s, burst)
    expect_goaway(s, ENHANCE_YOUR_CALM, "empty DATA flood (CVE-2019-9518)")
    t.join(5)
    s.close()


def test_http1_smuggling(port):
    cases = [
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         b"400", b"both Content-Length and Transfer-Encoding"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", b"400", b"bare LF"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n", b"400", b"obsolete line folding"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", b"501", b"websocket"),
    ]
    for req, status, reason in cases:
        s = connect(port)
        s.sendall(req)
        resp = b""
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                d = b""
            if not d:
                break
            resp += d
        s.close()
        check(resp.startswith(b"HTTP/1.1 " + status) and reason in resp and b"connection: close" in resp,
              f"HTTP/1 {reason.decode()}: {resp.splitlines()[0] if resp else b'no answer'!r}, then closed")
    # keep-alive and pipelining still work
    s = connect(port)
    s.sendall(b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nabGET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    resp = b""
    while True:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            break
        resp += d
    s.close()
    check(resp.count(b"HTTP/1.1 200 OK") == 2, "HTTP/1 pipelined keep-alive requests both answered")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    args = ap.parse_args()
    srv = subprocess.Popen([args.server], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        line = srv.stdout.readline().decode()
        port = int(line.split()[1])
        for t in (test_normal_exchange, test_rapid_reset, test_made_you_reset, test_continuation_flood,
                  test_ping_flood_not_reading, test_settings_flood_not_reading, test_empty_data_flood,
                  test_http1_smuggling, test_normal_exchange):
            t(port)
    finally:
        srv.stdin.close()
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()
    print(f"{len(passes)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
