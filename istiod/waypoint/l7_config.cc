#include "istiod/waypoint/l7_config.h"

#include "common/base/strings.h"
#include "istiod/ambient/resource.h"
#include "istiod/waypoint/listeners.h"
#include "istiod/waypoint/policies.h"
#include "istiod/waypoint/routes.h"
#include "waypoint/l7/resource_key.h"

namespace ambit::istiod::waypoint {

namespace pb = ::ambit::waypoint::v1;

static_assert(std::string_view(ambient::kWaypointResourceType) == ::ambit::waypoint::l7::kResourceTypeUrl,
              "istiod serves the type URL the waypoint expects");

pb::MeshSettings::PathNormalization path_normalization(ambient::PathNormalization p) {
  switch (p) {
    case ambient::PathNormalization::kBase: return pb::MeshSettings::BASE;
    case ambient::PathNormalization::kNone: return pb::MeshSettings::NONE;
    case ambient::PathNormalization::kMergeSlashes: return pb::MeshSettings::MERGE_SLASHES;
    case ambient::PathNormalization::kDecodeAndMergeSlashes: return pb::MeshSettings::DECODE_AND_MERGE_SLASHES;
  }
  return pb::MeshSettings::BASE;
}

namespace {

void put(pb::Resource r, const std::string& what, WaypointConfig* out) {
  auto key = ::ambit::waypoint::l7::resource_key(r);
  if (!key.ok()) {
    // Cannot happen for what the model accepts (names are non-empty DNS names); say so if it does.
    out->problems.push_back(str_cat(what, ": no resource key: ", key.status().message()));
    return;
  }
  out->resources[*key] = std::move(r);
}

}  // namespace

WaypointConfig translate_waypoint(const WaypointScope& scope, std::span<const ConfigObject* const> routes,
                                  std::span<const ConfigObject* const> policies) {
  WaypointConfig out;
  for (const auto& [ns, name] : scope.services) {
    const ConfigObject* svc = scope.find_service(ns, name);
    if (!svc) continue;
    for (auto& l : service_listeners(*svc, scope)) {
      pb::Resource r;
      *r.mutable_listener() = std::move(l);
      put(std::move(r), str_cat("Service ", ns, "/", name), &out);
    }
  }
  for (const ConfigObject* obj : routes) {
    TranslatedRoute t = translate_route(*obj, scope);
    std::string what = str_cat(kind_name(obj->kind), " ", obj->meta.ns, "/", obj->meta.name);
    for (const auto& p : t.problems) out.problems.push_back(str_cat(what, ": ", p));
    if (!t.attached) continue;
    pb::Resource r;
    *r.mutable_route() = std::move(t.route);
    put(std::move(r), what, &out);
  }
  for (const ConfigObject* obj : policies) {
    auto t = translate_policy(*obj, scope);
    if (!t) continue;
    std::string what = str_cat("AuthorizationPolicy ", obj->meta.ns, "/", obj->meta.name);
    for (const auto& p : t->problems) out.problems.push_back(str_cat(what, ": ", p));
    pb::Resource r;
    *r.mutable_authorization() = std::move(t->policy);
    put(std::move(r), what, &out);
  }
  pb::Resource mesh;
  mesh.mutable_mesh()->set_path_normalization(path_normalization(scope.mesh.path_normalization));
  put(std::move(mesh), "mesh", &out);
  return out;
}

}  // namespace ambit::istiod::waypoint
