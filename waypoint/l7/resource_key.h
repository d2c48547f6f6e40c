// Keys of the waypoint's config resources (api/ambit/waypoint/v1/resource.proto). The delta
// xDS resource name of a Resource must equal resource_key(resource): istiod names resources
// with it, the waypoint checks it on ingest, so a name can never point at other content.
//
//   listener       "listener/<service namespace>/<service hostname>:<port>"
//   route          "route/<HTTPRoute|GRPCRoute>/<namespace>/<name>"
//   authorization  "authorization/<namespace>/<name>"
//   mesh           "mesh"
#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ambit/waypoint/v1/resource.pb.h"

namespace ambit::waypoint::l7 {

inline constexpr std::string_view kResourceTypeUrl =
    "type.googleapis.com/ambit.waypoint.v1.Resource";

// A WDS Service key: namespace + hostname (NamespacedHostname).
struct ServiceKey {
  std::string ns;
  std::string hostname;
  std::string to_string() const { return ns + "/" + hostname; }
  auto operator<=>(const ServiceKey&) const = default;
};

ServiceKey service_key(const ::istio::workload::NamespacedHostname& h);

// The key, or why the resource cannot have one (a missing name, namespace, service or port).
absl::StatusOr<std::string> resource_key(const ::ambit::waypoint::v1::Resource& r);

}  // namespace ambit::waypoint::l7
