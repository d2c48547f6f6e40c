// Mesh-wide settings the ambient translation depends on (Istio's meshConfig subset).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ambit::istiod::ambient {

// meshConfig.pathNormalization.normalization (Istio's names): what path the waypoint's routes and
// L7 policies match, and forward. BASE is Istio's default.
enum class PathNormalization { kBase, kNone, kMergeSlashes, kDecodeAndMergeSlashes };
// "BASE", "NONE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES" (Istio's spelling; DEFAULT = BASE).
std::optional<PathNormalization> parse_path_normalization(std::string_view s);
const char* path_normalization_name(PathNormalization p);

struct MeshConfig {
  std::string root_namespace = "istio-system";  // GLOBAL policies live here
  std::string trust_domain = "cluster.local";
  std::string cluster_id = "Kubernetes";        // Workload.uid prefix, Workload.cluster_id
  std::string domain_suffix = "cluster.local";  // Service hostnames <name>.<ns>.svc.<suffix>
  std::string network;                          // default network ("" = unnamed)
  // Send `istio_allow_waypoint_*` to the destination ztunnels, attached to workloads behind a
  // waypoint that an ALLOW policy applies to (ambient/waypoints.h says exactly when). Istio's
  // PILOT_AUTO_ALLOW_WAYPOINT_POLICY, which defaults to off there; on here, because with it off
  // a client that connects to the pod directly skips every L7 policy of the waypoint.
  bool waypoint_bypass_protection = true;
  PathNormalization path_normalization = PathNormalization::kBase;
};

// Istio's labels and annotations (pkg/config/constants), in one place.
inline constexpr const char* kDataplaneModeLabel = "istio.io/dataplane-mode";
inline constexpr const char* kDataplaneModeAmbient = "ambient";
inline constexpr const char* kDataplaneModeNone = "none";
inline constexpr const char* kUseWaypointLabel = "istio.io/use-waypoint";
inline constexpr const char* kUseWaypointNamespaceLabel = "istio.io/use-waypoint-namespace";
inline constexpr const char* kWaypointForLabel = "istio.io/waypoint-for";
inline constexpr const char* kWaypointGatewayClass = "istio-waypoint";
inline constexpr const char* kCanonicalNameLabel = "service.istio.io/canonical-name";
inline constexpr const char* kCanonicalRevisionLabel = "service.istio.io/canonical-revision";
inline constexpr const char* kNetworkLabel = "topology.istio.io/network";
inline constexpr unsigned kHboneMtlsPort = 15008;

}  // namespace ambit::istiod::ambient
