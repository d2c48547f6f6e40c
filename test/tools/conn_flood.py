#!/usr/bin/env python3
"""A bounded flood of connections that never finish a TLS handshake, for overload tests.

    conn_flood.py HOST:PORT COUNT [--partial] [--early SECONDS] [--hold SECONDS]

Opens COUNT TCP connections to HOST:PORT, one after another (each connect bounded by 3 s). With
--partial every other connection sends the first bytes of a TLS ClientHello and then nothing; the
rest send nothing at all. Then it watches every socket:

  - at --early seconds (default 1): how many were already reset or closed by the server
    ("refused" at accept, before any handshake deadline could have fired);
  - until --hold seconds (default 10) or until all are closed: how many the server closed in all.

Prints, one per line:  connected N / failed N / early_closed N / closed N / open N
and exits 0. Every socket is closed on exit; nothing runs longer than --hold plus the connects.
"""
import argparse
import select
import socket
import sys
import time

# A TLS record header announcing a 512-byte handshake record, then the start of a ClientHello:
# a server must wait for the rest.
PARTIAL_HELLO = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]) + b"\x00" * 16


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("count", type=int)
    ap.add_argument("--partial", action="store_true")
    ap.add_argument("--early", type=float, default=1.0)
    ap.add_argument("--hold", type=float, default=10.0)
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    count = min(a.count, 5000)
    socks, failed = [], 0
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect((host, int(port)))
            if a.partial and i % 2 == 1:
                s.sendall(PARTIAL_HELLO)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            failed += 1
            s.close()
    start = time.monotonic()
    open_socks = set(socks)
    early_closed = None

    def reap(timeout):
        if not open_socks:
            return
        r, _, _ = select.select(list(open_socks), [], [], timeout)
        for s in r:
            try:
                data = s.recv(4096)
                if data:
                    continue  # the server said something (an alert): not closed yet
            except BlockingIOError:
                continue
            except OSError:
                pass  # reset
            open_socks.discard(s)
            s.close()

    while time.monotonic() - start < a.hold and open_socks:
        if early_closed is None and time.monotonic() - start >= a.early:
            early_closed = len(socks) - len(open_socks)
        reap(0.05)
    if early_closed is None:
        early_closed = len(socks) - len(open_socks)
    print(f"connected {len(socks)}")
    print(f"failed {failed}")
    print(f"early_closed {early_closed}")
    print(f"closed {len(socks) - len(open_socks)}")
    print(f"open {len(open_socks)}")
    for s in open_socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
