// Which waypoint an ADS stream speaks for, and whether it may read that waypoint's L7 config
// (type.googleapis.com/ambit.waypoint.v1.Resource). The contract a waypoint's xDS client follows
// (docs/waypoint-config.md "Connecting"):
//
//  - node.id     "waypoint~<pod IP>~<pod name>.<namespace>~<namespace>.svc.<domain>"
//  - metadata    "role": "<namespace>~<gateway name>" — agentgateway's convention for naming its
//                Gateway to istiod (agentgateway crates/xds/src/client.rs; Istio pkg/model/xds.go).
//                The namespace is the node's: a waypoint runs next to its Gateway.
//  - identity    a mesh client certificate for spiffe://<td>/ns/<namespace>/sa/<gateway name>:
//                the waypoint Deployment runs as the ServiceAccount named after its Gateway
//                (the deployment controller generates both, as Istio's waypoint template does).
//
// Anything else — a node token (ztunnel), an anonymous plaintext stream, another service
// account — is refused for this type: one waypoint must not read another waypoint's policies.
#pragma once

#include <google/protobuf/struct.pb.h>

#include "absl/status/statusor.h"
#include "istiod/ambient/waypoints.h"
#include "istiod/security/authenticator.h"
#include "istiod/xds/node_id.h"

namespace ambit::istiod::xds {

inline constexpr const char* kWaypointRoleKey = "role";

// The Gateway named by the node's metadata. InvalidArgument (with what is wrong) when the node
// is not a waypoint node, names no Gateway, or names one outside its own namespace.
absl::StatusOr<ambient::WaypointRef> waypoint_of(const NodeId& node, const google::protobuf::Struct& metadata);

// OK when `caller` is the waypoint's service account, proven by a client certificate;
// PermissionDenied naming both identities otherwise.
absl::Status authorize_waypoint(const security::Caller& caller, const ambient::WaypointRef& wp);

}  // namespace ambit::istiod::xds
