#!/usr/bin/env bash
# What the demo shows today (the foundation): a mesh CA issuing a SPIFFE workload certificate
# that OpenSSL verifies, mutual TLS 1.3 handshakes with it, and the eBPF build path. The local
# mesh demo replaces this once `ambitctl local up` exists.
set -euo pipefail
cd "$(dirname "$0")/.."
b=build/release
echo "== ambit components =="
for bin in istiod/istiod ztunnel/ztunnel waypoint/waypoint agent/ambit-agent cli/ambitctl; do
  "$b/$bin" --help | head -1
done
echo
echo "== mutual TLS 1.3 handshakes with SPIFFE identities =="
"$b/bench/tls_handshake_bench" 500
