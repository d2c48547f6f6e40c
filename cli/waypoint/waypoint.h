// The pure side of `ambitctl waypoint`: the Gateway a waypoint is declared with, and the rows of
// `list` and `status` computed from Gateways as the object store returns them (with status).
// Shapes follow istioctl's waypoint command (istio/istio istioctl/pkg/waypoint/waypoint.go):
// the same Gateway, labels, columns and messages, so scripts written for istioctl keep working.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/local/manifest.h"

namespace ambit::cli::waypoint {

inline constexpr const char* kGatewayClass = "istio-waypoint";
inline constexpr const char* kWaypointForLabel = "istio.io/waypoint-for";
inline constexpr const char* kUseWaypointLabel = "istio.io/use-waypoint";
inline constexpr const char* kRevisionLabel = "istio.io/rev";
inline constexpr const char* kDataplaneModeLabel = "istio.io/dataplane-mode";

struct Spec {
  std::string name = "waypoint";
  std::string ns = "default";
  std::string traffic_for;  // "" = let istiod decide (the GatewayClass's label, else service)
  std::string revision;     // "" = no istio.io/rev label
};

// The Gateway: class istio-waypoint, one listener {mesh, 15008, HBONE}, labels from the spec.
// Errors: the reserved name "none", a name or namespace that is not a DNS-1123 label, an
// unknown traffic type.
absl::StatusOr<Manifest> make_gateway(const Spec& spec);

bool is_waypoint(const Manifest& gateway);

// metadata.labels[key], "" when absent.
std::string label(const Manifest& object, const std::string& key);

struct Condition {
  std::string type, status, reason, message;
};
std::optional<Condition> condition(const Manifest& object, const std::string& type);
bool programmed(const Manifest& gateway);

// What traffic the waypoint takes: its own label, else its GatewayClass's, else "service" —
// the value istiod binds with (istioctl prints "none" for an unlabeled Gateway, which is not what
// istiod does; this prints what is in force).
std::string traffic_type(const Manifest& gateway, const std::vector<Manifest>& gateway_classes);

// `waypoint list`: [NAMESPACE] NAME REVISION TRAFFIC TYPE PROGRAMMED, non-waypoint Gateways
// skipped; "No waypoints found." when there are none.
std::string list_table(const std::vector<Manifest>& gateways, const std::vector<Manifest>& gateway_classes,
                       bool all_namespaces);

// `waypoint status`: [NAMESPACE] NAME STATUS TYPE REASON MESSAGE, one row per waypoint with its
// Programmed condition (or, before istiod reports one, the last condition it reported).
std::string status_table(const std::vector<Manifest>& gateways, bool namespace_column);

}  // namespace ambit::cli::waypoint
