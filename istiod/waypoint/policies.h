// AuthorizationPolicy → ambit.waypoint.v1.Authorization for one waypoint
// (docs/waypoint-config.md "Authorization").
//
// Attachment, as Istio pilot/pkg/model/policyattachment.go has it for waypoints: `targetRefs`
// only — a policy with a `selector` (or neither) is ztunnel's, never a waypoint's. A targetRef
// attaches when it is
//  - group gateway.networking.k8s.io kind Gateway naming this waypoint, from the waypoint's
//    namespace → target `waypoint`;
//  - group "" kind Service naming a Service this waypoint serves, from the Service's namespace
//    → target `service`;
//  - group gateway.networking.k8s.io kind GatewayClass `istio-waypoint`, from the root
//    namespace (mesh-wide) → target `waypoint`.
// targetRef.namespace, when given, must be the policy's own (no cross-namespace references).
// A policy with no attaching targetRef is not this waypoint's (nullopt).
//
// Compilation of Istio's strings (authorization.go stringToMatch and its path variant):
// "*" → presence, "*x" → suffix, "x*" → prefix, a path containing {*} or {**} → path_template,
// else exact. Ports, CIDRs and service accounts go through the same helpers as ztunnel's policy
// (ambient/authorization.h), so an L4 key means the same thing at both. `when` keys become the
// Condition enum: request.headers[<name>], source.ip, remote.ip, source.namespace,
// source.principal, destination.ip, destination.port, connection.sni, request.auth.principal,
// request.auth.audiences, request.auth.presenter, request.auth.claims[<name>].
//
// Fail closed, never open: a rule with a `when` key the waypoint does not know (Istio's
// validation refuses those at admission; here the config may carry anything) is dropped from an
// ALLOW (it then matches nothing) and, in a DENY or AUDIT, replaced by a rule that matches every
// request. CUSTOM has no ext_authz provider here: the policy is sent as a DENY of its own rules,
// as Istio's builder does for a CUSTOM policy whose provider it cannot find. `istio.io/dry-run`
// sets dry_run (the waypoint evaluates and reports, never enforces).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ambit/waypoint/v1/authorization.pb.h"
#include "istiod/model/objects.h"
#include "istiod/waypoint/scope.h"

namespace ambit::istiod::waypoint {

struct TranslatedPolicy {
  ::ambit::waypoint::v1::Authorization policy;
  // What was changed to fail closed, one line each: "rules[1].when[0]: unknown key 'foo.bar' ...".
  std::vector<std::string> problems;
};

std::optional<TranslatedPolicy> translate_policy(const ConfigObject& ap, const WaypointScope& scope);

}  // namespace ambit::istiod::waypoint
