#!/usr/bin/python3
"""An independent istiod client: Debian's python3-grpcio + python3-protobuf, with message and stub
modules generated from the project's own .proto files (the istiod_pyapi CMake target).

It starts the istiod binary itself (temp dirs, free ports), gets a node token with
`istiod node-token`, then speaks delta ADS (subscribe, receive, ACK, decode a Workload from its
Any, NACK) and CreateCertificate (a CSR made by the openssl CLI, impersonating a pod on the node;
the returned chain is checked with `openssl verify`). A second implementation of gRPC, protobuf
and X.509 checks that the wire format is right, not just self-consistent.

Exits 0 on success; on any mismatch prints "FAIL: <what>" (and istiod's log) and exits 1.

  /usr/bin/python3 test/istiod/python_client.py --istiod build/test/bin/istiod --pyapi build/test/test/pyapi
"""

import argparse
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

DEADLINE_S = 20.0
ADDRESS_TYPE = "type.googleapis.com/istio.workload.Address"
AUTHZ_TYPE = "type.googleapis.com/istio.security.Authorization"
NODE_ID = "ztunnel~10.0.0.1~ztunnel-py.istio-system~istio-system.svc.cluster.local"
SLEEP_UID = "Kubernetes//Pod/demo/sleep-1"
SLEEP_ID = "spiffe://cluster.local/ns/demo/sa/sleep"
REMOTE_ID = "spiffe://cluster.local/ns/demo/sa/remote"


class Mismatch(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Mismatch(what)


def pod(name, sa, node, ip):
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: demo
  labels: {{app: {sa}}}
spec:
  nodeName: {node}
  serviceAccountName: {sa}
status:
  phase: Running
  podIP: {ip}
  conditions: [{{type: Ready, status: "True"}}]
"""


CONFIG = {
    "ns.yaml": """apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}
""",
    "sleep.yaml": pod("sleep-1", "sleep", "node1", "10.10.1.5"),
    "remote.yaml": pod("remote-1", "remote", "node2", "10.10.2.5"),
    "policy.yaml": """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-sleep, namespace: demo}
spec:
  selector: {matchLabels: {app: remote}}
  action: ALLOW
  rules: [{from: [{source: {principals: ["cluster.local/ns/demo/sa/sleep"]}}]}]
""",
}


def write_atomic(path, text):
    # A dotted temp name: the directory source ignores it until the rename.
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(port, series):
    _, body = http_get(port, "/metrics")
    for line in body.splitlines():
        if line.startswith(series + " "):
            return float(line[len(series) + 1:])
    return 0.0


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30, **kw)
    if r.returncode != 0:
        raise Mismatch(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


class Istiod:
    """The istiod binary on free ports, with its own temp config and CA directories."""

    def __init__(self, binary, work):
        self.binary = binary
        self.config_dir = os.path.join(work, "config")
        self.ca_dir = os.path.join(work, "ca")
        os.mkdir(self.config_dir)
        for name, text in CONFIG.items():
            write_atomic(os.path.join(self.config_dir, name), text)
        self.log_path = os.path.join(work, "istiod.log")
        self.proc = None

    def start(self):
        # A port picked free may be taken before istiod binds it; try a few sets.
        for _ in range(3):
            self.grpc_port, self.plain_port, self.http_port = free_ports(3)
            self.log = open(self.log_path, "w")
            self.proc = subprocess.Popen(
                [self.binary, "--config-dir", self.config_dir, "--ca-dir", self.ca_dir,
                 "--grpc-address", f"127.0.0.1:{self.grpc_port}",
                 "--plaintext-address", f"127.0.0.1:{self.plain_port}",
                 "--http-port", str(self.http_port), "--debounce-quiet-ms", "5"],
                stdout=self.log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if http_get(self.http_port, "/healthz/ready")[0] == 200:
                        return
                except OSError:
                    pass
                time.sleep(0.05)
            self.stop()
        raise Mismatch("istiod did not become ready")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()

    def log_text(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""


class AdsStream:
    """One DeltaAggregatedResources stream: requests from a queue, responses into a queue."""

    def __init__(self, pb, stub, token):
        self.pb = pb
        self.requests = queue.Queue()
        self.responses = queue.Queue()
        self.call = stub.DeltaAggregatedResources(
            iter(self.requests.get, None), metadata=[("authorization", "Bearer " + token)], timeout=120)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        try:
            for r in self.call:
                self.responses.put(r)
        except Exception as e:  # the stream's end (cancelled, or an error status)
            self.responses.put(e)

    def send(self, **fields):
        self.requests.put(self.pb.discovery.DeltaDiscoveryRequest(**fields))

    def subscribe(self, type_url, names=()):
        node = self.pb.base.Node(id=NODE_ID)
        node.metadata.update({"NODE_NAME": "node1"})
        self.send(node=node, type_url=type_url, resource_names_subscribe=list(names))

    def next(self, timeout=DEADLINE_S):
        try:
            r = self.responses.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(r, Exception):
            raise Mismatch(f"ADS stream ended: {r}")
        return r

    def expect(self, what):
        r = self.next()
        expect(r is not None, f"no delta ADS response ({what}) within {DEADLINE_S}s")
        return r

    def close(self):
        self.requests.put(None)
        self.call.cancel()
        self.reader.join(timeout=10)


class Api:
    """The generated modules (imported late: --pyapi decides where they are)."""

    def __init__(self, pyapi):
        sys.path.insert(0, pyapi)
        from envoy.config.core.v3 import base_pb2
        from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
        from google.rpc import status_pb2
        from istio.security import authorization_pb2
        from istio.v1.auth import ca_pb2, ca_pb2_grpc
        from istio.workload import workload_pb2
        self.base, self.discovery, self.ads_grpc = base_pb2, discovery_pb2, ads_pb2_grpc
        self.status, self.authz, self.workload = status_pb2, authorization_pb2, workload_pb2
        self.ca, self.ca_grpc = ca_pb2, ca_pb2_grpc


def check_ads(pb, grpc, channel, token, istiod):
    stream = AdsStream(pb, pb.ads_grpc.AggregatedDiscoveryServiceStub(channel), token)
    try:
        stream.subscribe(ADDRESS_TYPE)
        r = stream.expect("initial Address push")
        expect(r.type_url == ADDRESS_TYPE, f"first response type_url is {r.type_url!r}")
        expect(r.nonce, "response has no nonce")
        got = {res.name: res for res in r.resources}
        want = {SLEEP_UID, "Kubernetes//Pod/demo/remote-1"}
        expect(set(got) == want, f"initial Address resources {sorted(got)}, want {sorted(want)}")
        res = got[SLEEP_UID]
        expect(res.resource.type_url == ADDRESS_TYPE, f"Any type_url {res.resource.type_url!r}")
        expect(list(res.aliases) == ["/10.10.1.5"], f"aliases {list(res.aliases)}")
        expect(res.version, "resource has no version")
        addr = pb.workload.Address()
        expect(res.resource.Unpack(addr), "Any does not unpack as istio.workload.Address")
        expect(addr.WhichOneof("type") == "workload", "Address is not a workload")
        w = addr.workload
        checks = {
            "uid": (w.uid, SLEEP_UID), "name": (w.name, "sleep-1"), "namespace": (w.namespace, "demo"),
            "node": (w.node, "node1"), "service_account": (w.service_account, "sleep"),
            "addresses": (list(w.addresses), [socket.inet_aton("10.10.1.5")]),
            "tunnel_protocol": (w.tunnel_protocol, pb.workload.HBONE),
            "cluster_id": (w.cluster_id, "Kubernetes"),
        }
        for field, (have, want_v) in checks.items():
            expect(have == want_v, f"workload {field} = {have!r}, want {want_v!r}")
        stream.send(type_url=ADDRESS_TYPE, response_nonce=r.nonce)  # ACK

        stream.subscribe(AUTHZ_TYPE)
        a = stream.expect("initial Authorization push")
        expect(a.type_url == AUTHZ_TYPE, f"Authorization response type_url is {a.type_url!r}")
        names = [res.name for res in a.resources]
        expect(names == ["demo/allow-sleep"], f"policies {names}")
        pol = pb.authz.Authorization()
        expect(a.resources[0].resource.Unpack(pol), "Any does not unpack as istio.security.Authorization")
        expect(pol.name == "allow-sleep" and pol.namespace == "demo", f"policy {pol.namespace}/{pol.name}")
        expect(pol.action == pb.authz.ALLOW and pol.scope == pb.authz.WORKLOAD_SELECTOR,
               f"policy action/scope {pol.action}/{pol.scope}")
        principals = [m.exact for rule in pol.rules for cl in rule.clauses for mt in cl.matches for m in mt.principals]
        expect(principals == ["cluster.local/ns/demo/sa/sleep"], f"policy principals {principals}")
        stream.send(type_url=AUTHZ_TYPE, response_nonce=a.nonce)  # ACK

        # A change: only the changed workload arrives.
        write_atomic(os.path.join(istiod.config_dir, "sleep.yaml"), pod("sleep-1", "sleep", "node1", "10.10.1.55"))
        c = stream.expect("push after a config change")
        expect(c.type_url == ADDRESS_TYPE and [x.name for x in c.resources] == [SLEEP_UID] and
               not c.removed_resources, f"change push: {c}")
        expect(c.resources[0].version != res.version, "changed workload kept its version")

        # NACK it: no resend, and istiod counts the reject.
        before = metric(istiod.http_port, 'pilot_total_xds_rejects{type="wads"}')
        stream.send(type_url=ADDRESS_TYPE, response_nonce=c.nonce,
                    error_detail=pb.status.Status(code=3, message="rejected by python_client"))
        resend = stream.next(timeout=1.0)
        expect(resend is None, f"istiod answered a NACK with a response: {resend}")
        deadline = time.monotonic() + DEADLINE_S
        while metric(istiod.http_port, 'pilot_total_xds_rejects{type="wads"}') < before + 1:
            expect(time.monotonic() < deadline, "pilot_total_xds_rejects did not move after a NACK")
            time.sleep(0.02)
    finally:
        stream.close()


def check_ca(pb, grpc, channel, token, root_pem, work):
    key, csr = os.path.join(work, "key.pem"), os.path.join(work, "csr.pem")
    run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", csr, "-subj", "/", "-addext", f"subjectAltName=critical,URI:{SLEEP_ID}"])
    stub = pb.ca_grpc.IstioCertificateServiceStub(channel)
    md = [("authorization", "Bearer " + token)]

    def request(identity, ttl=3600):
        req = pb.ca.IstioCertificateRequest(csr=open(csr).read(), validity_duration=ttl)
        req.metadata.update({"ImpersonatedIdentity": identity})
        return req

    resp = stub.CreateCertificate(request(SLEEP_ID), metadata=md, timeout=DEADLINE_S)
    chain = list(resp.cert_chain)
    expect(len(chain) == 2, f"cert_chain has {len(chain)} elements, want [leaf, root]")
    expect(chain[-1] == root_pem, "last element of cert_chain is not the root")
    expect(all(c.endswith("\n") and c.startswith("-----BEGIN CERTIFICATE-----") for c in chain),
           "cert_chain elements are not one PEM certificate each")
    leaf = os.path.join(work, "leaf.pem")
    root = os.path.join(work, "root.pem")
    with open(leaf, "w") as f:
        f.write(chain[0])
    with open(root, "w") as f:
        f.write(root_pem)
    out = run(["openssl", "verify", "-CAfile", root, "-purpose", "sslclient", leaf])
    expect(out.strip().endswith("OK"), f"openssl verify: {out.strip()}")
    san = run(["openssl", "x509", "-in", leaf, "-noout", "-ext", "subjectAltName"])
    expect("critical" in san and f"URI:{SLEEP_ID}" in san and san.count("URI:") == 1, f"leaf SAN: {san.strip()}")
    leaf_pub = run(["openssl", "x509", "-in", leaf, "-noout", "-pubkey"])
    key_pub = run(["openssl", "pkey", "-in", key, "-pubout"])
    expect(leaf_pub == key_pub, "the leaf certifies a different key than the CSR's")
    dates = run(["openssl", "x509", "-in", leaf, "-noout", "-checkend", "3000"])
    expect("will not expire" in dates, f"leaf expires too soon: {dates.strip()}")
    dates = run_rc(["openssl", "x509", "-in", leaf, "-noout", "-checkend", "4000"])
    expect(dates != 0, "leaf outlives the requested 3600 s TTL")

    # Refusals carry the right gRPC codes.
    try:
        stub.CreateCertificate(request(REMOTE_ID), metadata=md, timeout=DEADLINE_S)
        raise Mismatch("impersonating a pod on another node was allowed")
    except grpc.RpcError as e:
        expect(e.code() == grpc.StatusCode.PERMISSION_DENIED, f"other-node impersonation: {e.code()} {e.details()}")
    try:
        stub.CreateCertificate(request(SLEEP_ID), timeout=DEADLINE_S)
        raise Mismatch("a call without a credential was allowed")
    except grpc.RpcError as e:
        expect(e.code() == grpc.StatusCode.UNAUTHENTICATED, f"no credential: {e.code()} {e.details()}")


def run_rc(argv):
    return subprocess.run(argv, capture_output=True, timeout=30).returncode


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--istiod", required=True, help="path to the istiod binary")
    p.add_argument("--pyapi", required=True, help="directory of the generated *_pb2.py modules")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args()

    import grpc  # Debian's python3-grpcio
    pb = Api(args.pyapi)
    work = tempfile.mkdtemp(prefix="ambit-pyclient-")
    istiod = Istiod(args.istiod, work)
    ok = False
    try:
        istiod.start()
        token = run([args.istiod, "node-token", "--ca-dir", istiod.ca_dir, "--node", "node1"]).strip()
        expect(token.startswith("ambit-node.v1.node1."), f"node-token printed {token!r}")
        root_pem = open(os.path.join(istiod.ca_dir, "root-cert.pem")).read()
        creds = grpc.ssl_channel_credentials(root_certificates=root_pem.encode())
        channel = grpc.secure_channel(f"127.0.0.1:{istiod.grpc_port}", creds,
                                      options=[("grpc.ssl_target_name_override", "istiod.istio-system.svc")])
        try:
            check_ads(pb, grpc, channel, token, istiod)
            check_ca(pb, grpc, channel, token, root_pem, work)
        finally:
            channel.close()
        ok = True
        print("python_client: delta ADS and CreateCertificate OK")
    except (Mismatch, grpc.RpcError) as e:
        msg = f"gRPC {e.code()}: {e.details()}" if isinstance(e, grpc.RpcError) else str(e)
        print(f"FAIL: {msg}", file=sys.stderr)
    except Exception:  # a bug in this script or an unexpected message shape: still a failure
        import traceback
        print("FAIL: unexpected error\n" + traceback.format_exc(), file=sys.stderr)
    finally:
        istiod.stop()
        if not ok:
            print("---- istiod log ----\n" + istiod.log_text()[-8000:], file=sys.stderr)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
