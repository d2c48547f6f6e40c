// The full L7 configuration of one waypoint: every ambit.waypoint.v1.Resource it needs, keyed
// by resource_key (waypoint/l7/resource_key.h), which is also its delta xDS resource name.
//
//   - a Listener per port of every Service the waypoint serves (listeners.h);
//   - a Route per HTTPRoute / GRPCRoute attached to one of those Services or to the waypoint
//     Gateway (routes.h);
//   - an Authorization per AuthorizationPolicy attached with targetRefs to the waypoint, one of
//     its Services, or GatewayClass istio-waypoint mesh-wide (policies.h);
//   - MeshSettings (path normalization from the mesh config).
//
// Pure: the ambient index calls it for each waypoint when its inputs change and pushes only the
// keys whose encoded bytes changed (and the keys that disappeared).
//
//   WaypointConfig c = translate_waypoint(scope, routes, policies);
//   for (auto& [key, resource] : c.resources) ...
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "ambit/waypoint/v1/resource.pb.h"
#include "istiod/model/objects.h"
#include "istiod/waypoint/scope.h"

namespace ambit::istiod::waypoint {

struct WaypointConfig {
  std::map<std::string, ::ambit::waypoint::v1::Resource> resources;  // resource_key → resource
  // Unresolved references, refused attachments and fail-closed rewrites, one line each, prefixed
  // with the object: "HTTPRoute demo/r: rules[0].backendRefs[0]: Service demo/x not found ...".
  std::vector<std::string> problems;
};

// `routes`: HTTPRoutes and GRPCRoutes, `policies`: AuthorizationPolicies, of any namespace (the
// ones that do not attach to this waypoint are skipped).
WaypointConfig translate_waypoint(const WaypointScope& scope, std::span<const ConfigObject* const> routes,
                                  std::span<const ConfigObject* const> policies);

::ambit::waypoint::v1::MeshSettings::PathNormalization path_normalization(ambient::PathNormalization p);

}  // namespace ambit::istiod::waypoint
