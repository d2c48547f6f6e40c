// Per-request load balancing: a backend (a WDS Service and port, or a workload) resolved to one
// healthy endpoint — its pod address and target port, and the identity its ztunnel must prove.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/identity/spiffe.h"
#include "common/net/ip_addr.h"
#include "common/wds/state.h"
#include "waypoint/l7/filters.h"

namespace ambit::waypoint {

struct Endpoint {
  net::SocketAddr target;   // podIP:targetPort — the HBONE :authority
  SpiffeId identity;        // the pod's identity (the upstream ztunnel's certificate is for it)
  wds::WorkloadPtr workload;
  std::string service;      // destination service hostname ("" for a workload backend)
};

// Unavailable (→ 503 "no healthy upstream") when the service is unknown or has no healthy
// endpoint with that port; `draw` picks among the healthy ones.
absl::StatusOr<Endpoint> pick_endpoint(const wds::State& wds, const l7::BackendTarget& backend, uint64_t draw);

}  // namespace ambit::waypoint
