#include "waypoint/l7/resource_key.h"

#include "common/base/strings.h"

namespace ambit::waypoint::l7 {

namespace pb = ::ambit::waypoint::v1;

ServiceKey service_key(const ::istio::workload::NamespacedHostname& h) {
  return ServiceKey{h.namespace_(), h.hostname()};
}

absl::StatusOr<std::string> resource_key(const pb::Resource& r) {
  auto named = [](std::string_view kind, const std::string& ns,
                  const std::string& name) -> absl::Status {
    if (ns.empty()) return absl::InvalidArgumentError(str_cat(kind, ": empty namespace"));
    if (name.empty()) return absl::InvalidArgumentError(str_cat(kind, " ", ns, "/: empty name"));
    if (ns.find('/') != std::string::npos || name.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(str_cat(kind, " ", ns, "/", name, ": '/' in a name"));
    }
    return absl::OkStatus();
  };
  switch (r.kind_case()) {
    case pb::Resource::kListener: {
      const pb::Listener& l = r.listener();
      if (!l.has_service() || l.service().hostname().empty() || l.service().namespace_().empty()) {
        return absl::InvalidArgumentError("listener: service namespace and hostname required");
      }
      if (l.port() == 0 || l.port() > 65535) {
        return absl::InvalidArgumentError(str_cat("listener ", l.service().namespace_(), "/",
                                                  l.service().hostname(), ": port ", l.port(),
                                                  " is not 1..65535"));
      }
      return str_cat("listener/", l.service().namespace_(), "/", l.service().hostname(), ":",
                     l.port());
    }
    case pb::Resource::kRoute: {
      const pb::Route& rt = r.route();
      const char* kind = rt.kind() == pb::Route::GRPC_ROUTE ? "GRPCRoute" : "HTTPRoute";
      if (auto st = named(kind, rt.namespace_(), rt.name()); !st.ok()) return st;
      return str_cat("route/", kind, "/", rt.namespace_(), "/", rt.name());
    }
    case pb::Resource::kAuthorization: {
      const pb::Authorization& a = r.authorization();
      if (auto st = named("authorization", a.namespace_(), a.name()); !st.ok()) return st;
      return str_cat("authorization/", a.namespace_(), "/", a.name());
    }
    case pb::Resource::kMesh:
      return std::string("mesh");
    case pb::Resource::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("resource: no kind set");
}

}  // namespace ambit::waypoint::l7
