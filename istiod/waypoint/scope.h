// What one waypoint's L7 translation may look at: the waypoint Gateway, the Services it serves
// (ambient/waypoints.h decides that), and lookups into the rest of the config. Filled by the
// ambient index, or by hand in tests; the translation functions (listeners.h, routes.h,
// policies.h, l7_config.h) are pure functions of it.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <utility>

#include "istio/workload/workload.pb.h"
#include "istiod/ambient/mesh_config.h"
#include "istiod/ambient/waypoints.h"
#include "istiod/model/objects.h"

namespace ambit::istiod::waypoint {

struct WaypointScope {
  ambient::WaypointRef waypoint;
  const ConfigObject* gateway = nullptr;  // the waypoint Gateway (is_waypoint), never null
  // (namespace, name) of every Service this waypoint serves.
  std::set<std::pair<std::string, std::string>> services;
  // Any Service in the config (backendRefs may name Services the waypoint does not serve).
  std::function<const ConfigObject*(const std::string& ns, const std::string& name)> find_service;
  // A namespace's labels, nullptr if the Namespace object does not exist (allowedRoutes).
  std::function<const Labels*(const std::string& ns)> namespace_labels;
  ambient::MeshConfig mesh;

  bool serves(const std::string& ns, const std::string& name) const { return services.count({ns, name}) > 0; }
  // The WDS key of a Service: {namespace, "<name>.<ns>.svc.<domain>"}.
  istio::workload::NamespacedHostname service_key(const std::string& ns, const std::string& name) const;
};

}  // namespace ambit::istiod::waypoint
