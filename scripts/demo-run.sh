#!/usr/bin/env bash
# The local mesh demo: two simulated nodes (network namespaces), istiod, an agent with eBPF
# capture and a ztunnel per node; a client on node1 calls a Service whose pods run on node2.
# Shows: the request succeeding, proof that it crossed the underlay as mutual TLS, an
# AuthorizationPolicy denying the client, and plaintext once the namespace leaves the mesh.
# Leaves the mesh running; `ambitctl local down` removes it. Re-runnable.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
export PATH="$top/build/release/bin:$PATH"
export AMBIT_LOCAL_DIR=${AMBIT_LOCAL_DIR:-/var/lib/ambit/local}
py=/usr/bin/python3
tools=$top/test/tools
vip=10.96.0.10

step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# Watches node1's underlay link to node2 for the client's payload ("ambit-ambit...").
sniff_start() { ambitctl local exec --node node1 -- "$py" "$tools/sniff.py" u1 ambit-ambit 4 > /tmp/ambit-demo-sniff.txt & sniffer=$!; sleep 0.5; }
sniff_result() { wait "$sniffer" || true; grep -o 'marker_seen [a-z]*' /tmp/ambit-demo-sniff.txt | sed 's/marker_seen yes/payload visible on the underlay: YES (plaintext)/; s/marker_seen no/payload visible on the underlay: no (encrypted)/'; }
inbound_count() { ambitctl local logs --component ztunnel --node node2 | grep -c 'direction=inbound' || true; }
enrolled_count() { ambitctl -n demo local status | awk '$NF=="yes"' | wc -l; }

step "1. Start the local mesh (2 nodes; state in $AMBIT_LOCAL_DIR)"
run ambitctl local up --nodes 2

step "2. Deploy the examples: namespace demo (ambient), echo on node2, client on node1, Service echo"
run ambitctl local apply -f examples/ --wait
run ambitctl local status

step "3. A request from the client pod on node1 to the echo Service ($vip) on node2"
run ambitctl -n demo local exec client -- ambit-echo client "http://$vip/hello" --count 10 --show-body

step "4. Proof that it crossed the underlay as mutual TLS"
echo "TCP with a recognizable payload while a sniffer watches the link between node1 and node2:"
sniff_start
ambitctl -n demo local exec client -- "$py" "$tools/tcp_client.py" "$vip:9000" --count 3 --size 2048 | sort | uniq -c || true
sniff_result
echo
echo "node2's ztunnel metrics (reporter=destination):"
ambitctl local exec --node node2 -- curl -s localhost:15020/metrics \
  | grep '^istio_tcp_connections_opened_total{reporter="destination"' \
  | grep -o 'source_principal="[^"]*"\|destination_principal="[^"]*"\|connection_security_policy="[^"]*"\|} [0-9]*' \
  | paste -sd' ' | sed 's/ source_principal/\nsource_principal/g' || true
echo
echo "node2's ztunnel access log:"
ambitctl local logs --component ztunnel --node node2 | grep 'connection complete' | grep 'direction=inbound' | tail -1 \
  | grep -o 'src.identity=[^ ]*\|dst.identity=[^ ]*\|security=[^ ]*' | paste -sd' ' || true
echo
run ambitctl ztunnel-config workload -n demo
run ambitctl ztunnel-config certificate --node node2

step "5. An AuthorizationPolicy that denies the client"
run ambitctl local apply -f examples/policies/deny-client.yaml
sleep 1
run ambitctl -n demo local exec client -- ambit-echo client "http://$vip/hello" --count 3 || echo "(denied, as intended)"
ambitctl local logs --component ztunnel --node node2 | grep 'policy=demo/deny-client' | tail -1 \
  | grep -o 'src.identity=[^ ]*\|policy=[^ ]*\|error="[^"]*"' | paste -sd' ' || true
run ambitctl local delete -f examples/policies/deny-client.yaml

step "6. Release the namespace from the mesh: traffic flows in plaintext"
run ambitctl dataplane release -n demo
for _ in $(seq 100); do [ "$(enrolled_count)" = 0 ] && break; sleep 0.1; done
run ambitctl -n demo local status
# Outside the mesh nothing resolves the Service VIP (the local mesh has no kube-proxy): call a pod.
echo_ip=$(ambitctl -n demo local status -o json | "$py" -c 'import json,sys; print([p["ip"] for p in json.load(sys.stdin)["pods"] if p["name"]=="echo-0"][0])')
inbound_before=$(inbound_count)
run ambitctl -n demo local exec client -- ambit-echo client "http://$echo_ip:8080/hello" --count 5
sniff_start
ambitctl -n demo local exec client -- "$py" "$tools/tcp_client.py" "$echo_ip:9000" --count 3 --size 2048 | sort | uniq -c || true
sniff_result
echo "connections node2's ztunnel handled meanwhile: $(( $(inbound_count) - inbound_before ))"
run ambitctl dataplane enroll -n demo
for _ in $(seq 100); do [ "$(enrolled_count)" = 3 ] && break; sleep 0.1; done

step "Explore"
cat <<MSG
The mesh keeps running (the namespace is enrolled again). Try:
  export PATH=$top/build/release/bin:\$PATH AMBIT_LOCAL_DIR=$AMBIT_LOCAL_DIR
  ambitctl local status                                  nodes, pods, components
  ambitctl ztunnel-config all --node node2               what a ztunnel knows (workload|service|policy|certificate|connections)
  ambitctl -n demo local exec client -- curl -s http://$vip/
  ambitctl local exec --node node2 -- curl -s localhost:15020/metrics | grep istio_tcp
  ambitctl local logs --component ztunnel --node node2   (also: agent, istiod; or a pod: ambitctl -n demo local logs client)
  ambitctl local apply -f examples/policies/allow-client-only.yaml
Tear down (removes every namespace, cgroup, BPF pin and process):
  ambitctl local down
MSG
