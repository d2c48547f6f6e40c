// The waypoint's Listeners: one per port of every Service it serves, carrying the Service's WDS
// key and VIPs (as WDS Service.addresses) and the port's protocol.
//
// Protocol selection follows Istio pilot/pkg/serviceregistry/kube/conversion.go ConvertProtocol
// and pkg/config/protocol: a UDP/SCTP port gets no listener (the mesh captures TCP only);
// `appProtocol` wins over the port name, with Kubernetes' kubernetes.io/h2c (HTTP2) and
// kubernetes.io/ws (HTTP); otherwise the port name up to its first '-' ("http-web" → http),
// case-insensitive. http, http2, grpc, grpc-web map to HTTP, HTTP2, GRPC, HTTP; tcp, https, tls,
// kubernetes.io/wss and the opaque protocols (mongo, mysql, redis) to TCP — the waypoint cannot
// route what it cannot read. Anything else, an unnamed port included, is HTTP: the waypoint
// sniffs HTTP/1.1 or h2c there (Istio sniffs HTTP or TCP; a server-first protocol on an unnamed
// port must be named tcp-* or given appProtocol: tcp).
#pragma once

#include <optional>
#include <vector>

#include "ambit/waypoint/v1/resource.pb.h"
#include "istiod/model/objects.h"
#include "istiod/waypoint/scope.h"

namespace ambit::istiod::waypoint {

// nullopt: no listener for this port (UDP, SCTP).
std::optional<::ambit::waypoint::v1::Listener::Protocol> listener_protocol(const ServicePort& port);

// The listeners of one Service (in port order). None for a Service istiod does not publish in WDS
// (ExternalName) or without ports.
std::vector<::ambit::waypoint::v1::Listener> service_listeners(const ConfigObject& svc,
                                                              const WaypointScope& scope);

}  // namespace ambit::istiod::waypoint
