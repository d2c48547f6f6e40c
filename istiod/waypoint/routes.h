// HTTPRoute / GRPCRoute → ambit.waypoint.v1.Route for one waypoint (docs/waypoint-config.md "Route").
//
// Which routes a waypoint gets (GAMMA, as Istio's ambient waypoints implement it):
//  - a parentRef of group "" kind Service attaches the route to that Service when the waypoint
//    serves it and the route lives in the Service's namespace. A route in another namespace is a
//    *consumer* route; waypoints are producer-side and Istio ambient ignores those, so here too
//    (Gateway API's MeshConsumerRoute). A `port` must be one of the Service's ports.
//  - a parentRef of kind Gateway naming this waypoint attaches the route to every service it
//    serves, filtered by the route's hostnames: the HBONE listener's allowedRoutes must admit the
//    route's namespace (and its kinds, if listed), and sectionName/port, if set, must name that
//    listener.
// A route none of whose parentRefs attaches is not this waypoint's (attached = false); its
// problems then say why, if a parentRef named this waypoint or one of its Services.
//
// What the waypoint gets is already resolved: defaults filled (the model applies the CRD's),
// hostnames lower-cased, backendRefs resolved to WDS Service keys (`<name>.<ns>.svc.<domain>`)
// plus port. A backendRef that cannot be resolved becomes `invalid` with the reason, and the
// waypoint answers 500 for it, as Gateway API requires:
//  - a kind other than core Service (InvalidKind);
//  - another namespace: Gateway API allows it only through a ReferenceGrant, which Ambit does not
//    model yet, so it is refused (RefNotPermitted) rather than allowed silently;
//  - no such Service, or no such port on it (BackendNotFound).
// RequestMirror targets resolve the same way. Retries: a `retry` block without `attempts`
// retries twice (Istio's default for Gateway API routes), and connection errors are retried
// whenever a retry block exists (GEP-1731).
//
// metadata.creationTimestamp is not in the config model yet, so creation_timestamp stays 0
// ("unknown": ties fall back to namespace/name).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ambit/waypoint/v1/route.pb.h"
#include "istiod/model/objects.h"
#include "istiod/waypoint/scope.h"

namespace ambit::istiod::waypoint {

struct TranslatedRoute {
  bool attached = false;
  ::ambit::waypoint::v1::Route route;  // complete only when attached
  // One line per unresolved reference or parentRef that does not attach, for logs and status:
  // "rules[0].backendRefs[1]: Service demo/ghost not found (BackendNotFound)".
  std::vector<std::string> problems;
};

// `route` is an HTTPRoute or GRPCRoute object (anything else: not attached).
TranslatedRoute translate_route(const ConfigObject& route, const WaypointScope& scope);

}  // namespace ambit::istiod::waypoint
