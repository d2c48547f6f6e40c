#!/usr/bin/python3
"""A test double of the node agent's ZDS server (Istio's istio-cni ztunnelserver), speaking the
real protocol from the project's own zds.proto: SOCK_SEQPACKET, one raw protobuf per packet,
AddWorkload with the pod netns fd in SCM_RIGHTS, SnapshotSent, waits for each Ack.

  zds_agent_double.py --socket PATH --pyapi DIR [--pod uid,name,ns,sa,/run/netns/x ...]

Pods given with --pod form the snapshot sent on every ztunnel (re)connect. Lines on stdin add
or remove pods at run time:  add uid,name,ns,sa,netns_path   |   del uid
Every ack is printed as `ack <kind> <uid> <error>` so a test can wait for it.
"""
import argparse
import array
import os
import socket
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--pyapi", required=True)
    ap.add_argument("--pod", action="append", default=[])
    args = ap.parse_args()
    sys.path.insert(0, args.pyapi)
    from istio.workload.zds import zds_pb2

    pods = {}
    for p in args.pod:
        uid, name, ns, sa, path = p.split(",")
        pods[uid] = (name, ns, sa, path)
    lock = threading.Lock()
    current = {"conn": None}

    def send_add(conn, uid, name, ns, sa, path):
        req = zds_pb2.WorkloadRequest()
        req.add.uid = uid
        req.add.workload_info.name = name
        req.add.workload_info.namespace = ns
        req.add.workload_info.service_account = sa
        fd = os.open(path, os.O_RDONLY)
        try:
            conn.sendmsg([req.SerializeToString()],
                         [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
        finally:
            os.close(fd)
        return wait_ack(conn, "add", uid)

    def send(conn, req, kind, uid):
        conn.send(req.SerializeToString())
        return wait_ack(conn, kind, uid)

    def wait_ack(conn, kind, uid):
        data = conn.recv(1024)
        if not data:
            raise ConnectionError("ztunnel closed")
        resp = zds_pb2.WorkloadResponse()
        resp.ParseFromString(data)
        print(f"ack {kind} {uid} {resp.ack.error}", flush=True)
        return resp.ack.error

    def serve(conn):
        hello = zds_pb2.ZdsHello()
        hello.ParseFromString(conn.recv(1024))
        print(f"hello version={hello.version}", flush=True)
        with lock:
            for uid, (name, ns, sa, path) in pods.items():
                send_add(conn, uid, name, ns, sa, path)
            snap = zds_pb2.WorkloadRequest()
            snap.snapshot_sent.SetInParent()
            send(conn, snap, "snapshot", "-")
            current["conn"] = conn
        # Liveness: block until ztunnel goes away.
        try:
            # ztunnel never sends unprompted; a read returning b"" means it went away.
            while conn.recv(1024, socket.MSG_PEEK):
                threading.Event().wait(0.05)
        except OSError:
            pass
        with lock:
            if current["conn"] is conn:
                current["conn"] = None
        print("ztunnel disconnected", flush=True)

    def commands():
        for line in sys.stdin:
            parts = line.split()
            if not parts:
                continue
            with lock:
                conn = current["conn"]
                if parts[0] == "add":
                    uid, name, ns, sa, path = parts[1].split(",")
                    pods[uid] = (name, ns, sa, path)
                    if conn:
                        send_add(conn, uid, name, ns, sa, path)
                elif parts[0] == "del":
                    uid = parts[1]
                    pods.pop(uid, None)
                    if conn:
                        req = zds_pb2.WorkloadRequest()
                        getattr(req, "del").uid = uid
                        send(conn, req, "del", uid)

    if os.path.exists(args.socket):
        os.unlink(args.socket)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(args.socket)
    srv.listen(4)
    print("listening", flush=True)
    threading.Thread(target=commands, daemon=True).start()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
