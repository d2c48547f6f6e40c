#include "istiod/waypoint/listeners.h"

#include <cctype>
#include <string>

#include "istiod/ambient/workload_builder.h"

namespace ambit::istiod::waypoint {

namespace pb = ::ambit::waypoint::v1;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// pkg/config/protocol Parse, folded into what the waypoint does with each protocol.
pb::Listener::Protocol from_name(const std::string& p) {
  if (p == "http2") return pb::Listener::HTTP2;
  if (p == "grpc") return pb::Listener::GRPC;
  if (p == "tcp" || p == "https" || p == "tls" || p == "mongo" || p == "mysql" || p == "redis") {
    return pb::Listener::TCP;
  }
  return pb::Listener::HTTP;  // http, grpc-web, and anything unrecognised (sniffed)
}

}  // namespace

istio::workload::NamespacedHostname WaypointScope::service_key(const std::string& ns, const std::string& name) const {
  istio::workload::NamespacedHostname h;
  h.set_namespace_(ns);
  h.set_hostname(ambient::service_hostname(ns, name, mesh));
  return h;
}

std::optional<pb::Listener::Protocol> listener_protocol(const ServicePort& port) {
  if (port.protocol == "UDP" || port.protocol == "SCTP") return std::nullopt;
  // appProtocol, when set, replaces the port name as the thing parsed.
  std::string name = lower(port.app_protocol.empty() ? port.name : port.app_protocol);
  if (!port.app_protocol.empty()) {
    // Kubernetes' own appProtocol names (core/v1 ServicePort.appProtocol).
    if (name == "kubernetes.io/h2c") return pb::Listener::HTTP2;
    if (name == "kubernetes.io/ws") return pb::Listener::HTTP;
    if (name == "kubernetes.io/wss") return pb::Listener::TCP;
  }
  if (name.starts_with("grpc-web")) return pb::Listener::HTTP;  // before the '-' split, as Istio
  return from_name(name.substr(0, name.find('-')));
}

std::vector<pb::Listener> service_listeners(const ConfigObject& svc, const WaypointScope& scope) {
  std::vector<pb::Listener> out;
  // The VIPs exactly as WDS publishes them for this Service.
  auto wds = ambient::build_service(svc, std::nullopt, scope.mesh);
  if (!wds) return out;
  for (const ServicePort& p : svc.as<Service>().ports) {
    auto proto = listener_protocol(p);
    if (!proto || p.port == 0) continue;
    pb::Listener& l = out.emplace_back();
    *l.mutable_service() = scope.service_key(svc.meta.ns, svc.meta.name);
    *l.mutable_addresses() = wds->addresses();
    l.set_port(p.port);
    l.set_protocol(*proto);
  }
  return out;
}

}  // namespace ambit::istiod::waypoint
