// Reply routing inside an enrolled pod, which keeps the client's address on inbound connections.
// ztunnel connects to the app from the client's own IP (an IP_TRANSPARENT socket marked
// AMBIT_DELIVERY_MARK), so the app logs and allow-lists real clients. The app's replies go to
// that non-local address; without help they would leave the pod through its default route.
// Three settings in the pod's network namespace bring them back to ztunnel, with no conntrack:
//   net.ipv4.tcp_fwmark_accept=1                    the app's accepted socket takes the SYN's mark
//   ip rule add fwmark 0x111/0xfff pref 32764 lookup 100
//   ip route add local 0.0.0.0/0 dev lo table 100   everything so marked is delivered locally
// Both capture modes install them (iptables mode routes by the same rule and table as Istio).
#pragma once

#include <string>

#include "absl/status/status.h"

namespace ambit::agent {

// Installs the three in the namespace at `netns_path` (/run/netns/<x>, /proc/<pid>/ns/net);
// idempotent. An error names the setting that failed. Nothing removes them: releasing a pod
// leaves them for the connections delivered before (only those carry the mark), and the pod's
// namespace takes them along when it goes.
absl::Status apply_reply_routing(const std::string& netns_path);
}  // namespace ambit::agent
