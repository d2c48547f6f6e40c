#include "waypoint/proxy/endpoints.h"

#include "common/base/strings.h"

namespace ambit::waypoint {

namespace {

// The target port of `service_port` for this workload: its own mapping (WDS Workload.services),
// else the Service's, else the same number.
uint16_t target_port(const wds::Workload& w, const wds::Service* svc, const std::string& key, uint16_t service_port) {
  auto it = w.proto.services().find(key);
  if (it != w.proto.services().end()) {
    for (const auto& p : it->second.ports()) {
      if (p.service_port() == service_port) return static_cast<uint16_t>(p.target_port() ? p.target_port() : service_port);
    }
  }
  if (svc != nullptr) {
    for (const auto& p : svc->proto.ports()) {
      if (p.service_port() == service_port && p.target_port() != 0) return static_cast<uint16_t>(p.target_port());
    }
  }
  return service_port;
}

}  // namespace

absl::StatusOr<Endpoint> pick_endpoint(const wds::State& wds, const l7::BackendTarget& backend, uint64_t draw) {
  if (!backend.valid()) return absl::FailedPreconditionError(backend.invalid);
  if (!backend.service) {
    wds::WorkloadPtr w = wds.workload_by_uid(backend.workload_uid);
    if (!w || !w->healthy() || w->ips.empty()) {
      return absl::UnavailableError(str_cat("workload ", backend.workload_uid, " is unknown or not healthy"));
    }
    return Endpoint{net::SocketAddr{w->ips[0], backend.port}, w->identity, w, ""};
  }
  std::string key = str_cat(backend.service->ns, "/", backend.service->hostname);
  wds::ServicePtr svc = wds.service_by_host(key);
  if (!svc) return absl::UnavailableError(str_cat("service ", key, " is not known"));
  std::vector<wds::WorkloadPtr> healthy;
  for (auto& w : wds.endpoints(key)) {
    if (w->healthy() && !w->ips.empty()) healthy.push_back(w);
  }
  if (healthy.empty()) return absl::UnavailableError(str_cat("service ", key, " has no healthy endpoint"));
  const wds::WorkloadPtr& w = healthy[draw % healthy.size()];
  uint16_t port = target_port(*w, svc.get(), key, backend.port);
  return Endpoint{net::SocketAddr{w->ips[0], port}, w->identity, w, backend.service->hostname};
}

}  // namespace ambit::waypoint
