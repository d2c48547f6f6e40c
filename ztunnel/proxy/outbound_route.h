// Where an outbound connection goes (ZT:src/proxy/outbound.rs build_request), as a pure function
// of the state: service VIP → a healthy endpoint (or the service's waypoint); pod IP → HBONE to
// the pod's ztunnel (or its waypoint) when the pod is in the mesh, plain TCP otherwise; anything
// else → plain TCP passthrough.
#pragma once

#include <string>
#include <vector>

#include "common/net/ip_addr.h"
#include "common/wds/state.h"

namespace ambit::ztunnel {

inline constexpr uint16_t kHbonePort = 15008;

struct Route {
  enum class Kind { kHbone, kTcp, kRefuse };
  Kind kind = Kind::kRefuse;
  net::SocketAddr connect_to;         // TCP destination (HBONE: <ip>:15008)
  std::string authority;              // HBONE :authority
  std::vector<SpiffeId> expected;     // HBONE: acceptable server identities
  wds::WorkloadPtr dst_workload;           // the final workload, when known
  wds::ServicePtr dst_service;             // when service-addressed
  bool via_waypoint = false;
  std::string error;                  // kRefuse: why
};

// `pick` chooses among candidates (round-robin in production, deterministic in tests).
Route resolve_outbound(const wds::State& state, const wds::WorkloadPtr& src, const net::SocketAddr& orig,
                       size_t pick = 0);

}  // namespace ambit::ztunnel
