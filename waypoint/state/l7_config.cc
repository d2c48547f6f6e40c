#include "waypoint/state/l7_config.h"

#include "common/base/strings.h"
#include "waypoint/l7/http_message.h"

namespace ambit::waypoint {

namespace v1 = ::ambit::waypoint::v1;

namespace {

l7::PathNormalization normalization_of(v1::MeshSettings::PathNormalization p) {
  switch (p) {
    case v1::MeshSettings::NONE: return l7::PathNormalization::kNone;
    case v1::MeshSettings::MERGE_SLASHES: return l7::PathNormalization::kMergeSlashes;
    case v1::MeshSettings::DECODE_AND_MERGE_SLASHES: return l7::PathNormalization::kDecodeAndMergeSlashes;
    default: return l7::PathNormalization::kBase;
  }
}

}  // namespace

const Listener* L7Snapshot::listener_for(std::string_view authority) const {
  // VIP keys are built by SocketAddr::to_string, so an IP authority is matched in that canonical
  // form ("[v6]:port"); anything else is a hostname, compared lower case.
  std::string key;
  if (auto sa = net::SocketAddr::parse(authority)) {
    key = sa->to_string();
  } else {
    key = l7::ascii_lower(authority);
  }
  auto it = listeners.find(key);
  return it == listeners.end() ? nullptr : it->second.get();
}

L7ConfigStore::L7ConfigStore() {
  auto empty = std::make_shared<L7Snapshot>();
  empty->routes = l7::RouteTable::build({}, nullptr);
  empty->policies = std::make_shared<l7::PolicySet>(l7::PolicySet::build({}, nullptr));
  current_ = std::move(empty);
}

absl::Status L7ConfigStore::upsert(const std::string& name, const std::string& bytes) {
  v1::Resource r;
  if (!r.ParseFromString(bytes)) return absl::InvalidArgumentError(str_cat("resource ", name, ": not an ambit.waypoint.v1.Resource"));
  auto key = l7::resource_key(r);
  if (!key.ok()) return absl::InvalidArgumentError(str_cat("resource ", name, ": ", key.status().message()));
  if (*key != name) {
    return absl::InvalidArgumentError(str_cat("resource ", name, ": its content is keyed ", *key,
                                              " (a name must be the key of what it carries)"));
  }
  if (r.has_listener() && (r.listener().port() == 0 || r.listener().port() > 65535)) {
    return absl::InvalidArgumentError(str_cat("resource ", name, ": listener port ", r.listener().port(), " is not 1..65535"));
  }
  std::lock_guard lock(mu_);
  resources_[name] = std::move(r);
  return absl::OkStatus();
}

void L7ConfigStore::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  resources_.erase(name);
}

void L7ConfigStore::commit() {
  auto snap = std::make_shared<L7Snapshot>();
  std::lock_guard lock(mu_);
  std::vector<const v1::Route*> routes;
  std::vector<const v1::Authorization*> policies;
  for (const auto& [name, r] : resources_) {
    switch (r.kind_case()) {
      case v1::Resource::kListener: {
        auto l = std::make_shared<Listener>();
        l->service = l7::service_key(r.listener().service());
        l->port = static_cast<uint16_t>(r.listener().port());
        l->protocol = r.listener().protocol();
        for (const auto& a : r.listener().addresses()) {
          if (auto ip = net::IpAddr::from_bytes(a.address())) l->vips.push_back(*ip);
        }
        for (const auto& ip : l->vips) snap->listeners[net::SocketAddr{ip, l->port}.to_string()] = l;
        snap->listeners[str_cat(l7::ascii_lower(l->service.hostname), ":", l->port)] = l;
        break;
      }
      case v1::Resource::kRoute: routes.push_back(&r.route()); break;
      case v1::Resource::kAuthorization: policies.push_back(&r.authorization()); break;
      case v1::Resource::kMesh: snap->normalization = normalization_of(r.mesh().path_normalization()); break;
      default: break;
    }
  }
  snap->routes = l7::RouteTable::build(routes, &snap->errors);
  snap->policies = std::make_shared<l7::PolicySet>(l7::PolicySet::build(policies, &snap->errors));
  snap->version = ++version_;
  std::atomic_store(&current_, std::shared_ptr<const L7Snapshot>(std::move(snap)));
}

std::map<std::string, v1::Resource> L7ConfigStore::resources() const {
  std::lock_guard lock(mu_);
  return resources_;
}

}  // namespace ambit::waypoint
