// Istio proxy node ids: "<type>~<ip>~<pod name>.<namespace>~<namespace>.svc.<domain>",
// e.g. ztunnel's "ztunnel~10.0.0.5~ztunnel-abc.istio-system~istio-system.svc.cluster.local"
// (pilot/pkg/model/context.go ParseServiceNodeWithMetadata). istiod uses the namespace to check
// the caller's identity and the pod name to find the proxy in debug views.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ambit::istiod::xds {

struct NodeId {
  std::string type;  // ztunnel, waypoint, sidecar, router
  std::string ip;
  std::string pod_name;
  std::string ns;
  std::string domain;
  std::string raw;
};

absl::StatusOr<NodeId> parse_node_id(std::string_view id);

}  // namespace ambit::istiod::xds
