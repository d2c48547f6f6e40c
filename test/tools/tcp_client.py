#!/usr/bin/python3
"""TCP client for tests. Connects, sends a message, expects it echoed back.
  tcp_client.py HOST:PORT [--count N] [--interval S] [--hold S] [--size BYTES]
Prints one line per attempt: "ok", "reset", "eof", "refused", "timeout" or "error <msg>";
exits 0 only if every attempt was ok. --hold keeps each connection open (echoing once per
second) for S seconds before closing.
"""
import argparse
import socket
import time


def attempt(host, port, msg, hold):
    try:
        s = socket.create_connection((host, port), timeout=5)
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return f"error {e}"
    try:
        deadline = time.time() + hold
        while True:
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                d = s.recv(len(msg) - len(got))
                if not d:
                    return "eof"
                got += d
            if got != msg:
                return "error mismatch"
            if time.time() >= deadline:
                return "ok"
            time.sleep(min(1.0, max(0.0, deadline - time.time())))
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return f"error {e}"
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.0)
    ap.add_argument("--hold", type=float, default=0.0)
    ap.add_argument("--size", type=int, default=32)
    a = ap.parse_args()
    host, port = a.addr.rsplit(":", 1)
    msg = (b"ambit-" * (a.size // 6 + 1))[: a.size]
    all_ok = True
    for i in range(a.count):
        r = attempt(host, int(port), msg, a.hold)
        print(r, flush=True)
        all_ok &= r == "ok"
        if a.interval:
            time.sleep(a.interval)
    raise SystemExit(0 if all_ok else 1)


main()
