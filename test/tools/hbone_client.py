#!/usr/bin/python3
"""An independent HBONE peer (python3-h2, not Ambit code): TLS 1.3 with a client certificate,
ALPN h2, one CONNECT stream, then an echo through the tunnel.
  hbone_client.py --connect IP:PORT --authority IP:PORT --ca ROOT [--cert C --key K]
                  [--mode connect|path|http1] [--message TEXT]
Prints "status <code>" and, after a 200, "echo ok" or "echo <what came back>".
Exit 0 after a 200 with a correct echo; 1 otherwise (refusals print "refused <reason>").
--mode path sends a CONNECT with :path/:scheme (must be refused); http1 sends an HTTP/1.1
CONNECT over the same TLS (must be refused).
"""
import argparse
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events


def main():
    try:
        return run()
    except (ssl.SSLError, OSError) as e:
        # TLS 1.3: a server that rejects our certificate tells us after the handshake returned.
        print(f"refused {e}")
        return 1


def run():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connect", required=True)
    ap.add_argument("--authority", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--mode", default="connect")
    ap.add_argument("--message", default="hello over HBONE")
    a = ap.parse_args()
    host, port = a.connect.rsplit(":", 1)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # SPIFFE identities are URI SANs; HBONE uses no SNI
    ctx.load_verify_locations(a.ca)
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["h2"] if a.mode != "http1" else ["http/1.1", "h2"])
    raw = socket.create_connection((host, int(port)), timeout=5)
    try:
        tls = ctx.wrap_socket(raw)
    except (ssl.SSLError, OSError) as e:
        print(f"refused tls {e}")
        return 1

    if a.mode == "http1":
        try:
            tls.sendall(f"CONNECT {a.authority} HTTP/1.1\r\nHost: {a.authority}\r\n\r\n".encode())
            resp = tls.recv(4096)
            print("refused http1 " + (repr(resp.split(b"\r\n")[0][:40]) if resp else "closed"))
            return 1 if not resp.startswith(b"HTTP/1.1 200") else 0
        except (ssl.SSLError, OSError) as e:
            print(f"refused http1 {e}")
            return 1

    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8", validate_outbound_headers=False))
    conn.initiate_connection()
    tls.sendall(conn.data_to_send())
    sid = conn.get_next_available_stream_id()
    headers = [(":method", "CONNECT"), (":authority", a.authority)]
    if a.mode == "path":
        headers += [(":scheme", "https"), (":path", "/")]
    try:
        conn.send_headers(sid, headers)
    except Exception as e:  # h2 itself may refuse to build an invalid request
        print(f"refused client-side {e}")
        return 1
    tls.sendall(conn.data_to_send())

    status = None
    echoed = b""
    msg = a.message.encode()
    sent = False
    try:
        while True:
            data = tls.recv(65536)
            if not data:
                print("refused connection closed" if status is None else "eof")
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    status = int(dict(ev.headers)[":status"])
                    print(f"status {status}", flush=True)
                    if status == 200 and not sent:
                        conn.send_data(sid, msg)
                        sent = True
                elif isinstance(ev, h2.events.DataReceived):
                    echoed += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamReset):
                    print(f"refused stream reset {ev.error_code}")
                    return 1
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    print(f"refused goaway {ev.error_code}")
                    return 1
            tls.sendall(conn.data_to_send())
            if status is not None and status != 200:
                return 1
            if len(echoed) >= len(msg):
                break
    except (ssl.SSLError, OSError) as e:
        print(f"refused {e}")
        return 1
    if status == 200:
        print("echo ok" if echoed == msg else f"echo {echoed!r}")
        return 0 if echoed == msg else 1
    return 1


sys.exit(main())
