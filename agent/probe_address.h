// The node-side half of the probe exemption: the probe address (AMBIT_PROBE_SRC4, Istio's
// 169.254.7.127) must be a local address of the node's network namespace so that the connect
// hook can bind the node's connects to enrolled pods to it, and the pods' replies to it are
// delivered back to the node. It goes on `lo` as a /32 of host scope: never chosen as a source
// by the routing code, never announced, removed again by `ambit-agent uninstall`. The IPv6 one
// (AMBIT_PROBE_SRC6) goes there as a deprecated /128 for the same reasons.
#pragma once

#include "absl/status/status.h"

namespace ambit::agent {

// Adds the probe address to `lo` in the calling thread's network namespace; OK if present.
absl::Status ensure_probe_address();
// Removes it; OK if absent.
absl::Status remove_probe_address();
// The IPv6 probe address (AMBIT_PROBE_SRC6/128), likewise. Separate calls: a node without IPv6
// fails these, and that must not cost the IPv4 exemption.
absl::Status ensure_probe_address6();
absl::Status remove_probe_address6();

}  // namespace ambit::agent
