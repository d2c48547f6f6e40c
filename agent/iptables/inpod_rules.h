// Istio's in-pod redirection rules (istio/istio cni/pkg/iptables/iptables.go AppendInpodRules),
// the fallback capture when the kernel lacks what Ambit's eBPF mode needs — and the
// capture the ztunnel tests use, so ztunnel is proven against exactly what Istio installs.
// Marks: 0x539 (ztunnel's own sockets), 0x111 (routes replies to ztunnel's transparent sockets
// through table 100: as a connmark, Istio's way, and as the mark of ztunnel's delivery sockets
// that the app's socket inherits — agent/inpod_routing.h).
#pragma once

#include <string>

#include "absl/status/status.h"

namespace ambit::agent {

struct InpodPorts {
  int outbound = 15001;
  int inbound_plaintext = 15006;
  int inbound_hbone = 15008;
};

// iptables-restore input for IPv4 / IPv6 (loopback ::1, probe source fd16:9254:7127:1337:ffff:...).
std::string inpod_iptables_rules(bool ipv6, const InpodPorts& ports = {});

// Applies the rules and the reply routing (agent/inpod_routing.h) inside a network namespace, given by
// name (/run/netns/<name>) or by path (/proc/<pid>/ns/net, any bind mount). Idempotent: a
// namespace that already has the ISTIO_OUTPUT chain is left as it is.
absl::Status apply_inpod_rules(const std::string& netns, const InpodPorts& ports = {});
// Removes every ISTIO_* chain from the namespace; OK if absent. The reply routing stays for the
// connections still open (agent/inpod_routing.h).
absl::Status remove_inpod_rules(const std::string& netns);
// True if the namespace has Istio's in-pod chains.
bool has_inpod_rules(const std::string& netns);

}  // namespace ambit::agent
