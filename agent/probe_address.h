// The node-side half of the probe exemption: the probe address (AMBIT_PROBE_SRC4, Istio's
// 169.254.7.127) must be a local address of the node's network namespace so that the connect
// hook can bind the node's connects to enrolled pods to it, and the pods' replies to it are
// delivered back to the node. It goes on `lo` as a /32 of host scope: never chosen as a source
// by the routing code, never announced, removed again by `ambit-agent uninstall`.
#pragma once

#include "absl/status/status.h"

namespace ambit::agent {

// Adds the probe address to `lo` in the calling thread's network namespace; OK if present.
absl::Status ensure_probe_address();
// Removes it; OK if absent.
absl::Status remove_probe_address();

}  // namespace ambit::agent
