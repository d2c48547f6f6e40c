#include "istiod/ambient/waypoints.h"

#include <algorithm>

#include "common/base/strings.h"
#include "istiod/ambient/authorization.h"
#include "istiod/ambient/workload_builder.h"

namespace ambit::istiod::ambient {
namespace {

const std::string* label(const Labels& l, const char* key) {
  auto it = l.find(key);
  return it == l.end() ? nullptr : &it->second;
}

bool serves(TrafficType t, BindKind kind) {
  if (t == TrafficType::kAll) return true;
  return kind == BindKind::kService ? t == TrafficType::kService : t == TrafficType::kWorkload;
}

}  // namespace

bool namespace_allowed(const Gateway::Listener& l, const std::string& gw_ns, const std::string& ns,
                       const Labels* ns_labels, std::string* why) {
  using From = Gateway::AllowedRoutes::From;
  switch (l.allowed_routes.from) {
    case From::kAll: return true;
    case From::kSame:
      if (ns == gw_ns) return true;
      *why = str_cat("its listener ", l.name, " admits only its own namespace (allowedRoutes.namespaces.from: Same)");
      return false;
    case From::kSelector: {
      static const Labels kNone;
      if (l.allowed_routes.selector && l.allowed_routes.selector->matches(ns_labels ? *ns_labels : kNone)) return true;
      *why = str_cat("its listener ", l.name, " admits only namespaces matching allowedRoutes.namespaces.selector, and ",
                     ns, " does not match");
      return false;
    }
  }
  return false;
}

std::optional<WaypointRef> waypoint_ref(const ObjectMeta& meta, const Labels* ns_labels) {
  // The object's own label wins, including "none" which opts it out of a namespace waypoint.
  const Labels* src = nullptr;
  if (label(meta.labels, kUseWaypointLabel)) {
    src = &meta.labels;
  } else if (ns_labels && label(*ns_labels, kUseWaypointLabel)) {
    src = ns_labels;
  }
  if (!src) return std::nullopt;
  const std::string& name = *label(*src, kUseWaypointLabel);
  if (name.empty() || name == "none") return std::nullopt;
  const std::string* wns = label(*src, kUseWaypointNamespaceLabel);
  return WaypointRef{wns && !wns->empty() ? *wns : meta.ns, name};
}

bool is_waypoint_member(const ObjectMeta& meta) { return label(meta.labels, kGatewayNameLabel) != nullptr; }

const char* traffic_type_name(TrafficType t) {
  switch (t) {
    case TrafficType::kService: return "service";
    case TrafficType::kWorkload: return "workload";
    case TrafficType::kAll: return "all";
    case TrafficType::kNone: return "none";
  }
  return "service";
}

TrafficType waypoint_traffic_type(const ObjectMeta& gateway, const ConfigObject* gateway_class) {
  const std::string* v = label(gateway.labels, kWaypointForLabel);
  if (!v && gateway_class) v = label(gateway_class->meta.labels, kWaypointForLabel);
  if (!v) return TrafficType::kService;
  if (*v == "workload") return TrafficType::kWorkload;
  if (*v == "all") return TrafficType::kAll;
  if (*v == "none") return TrafficType::kNone;
  return TrafficType::kService;
}

const Gateway::Listener* waypoint_listener(const Gateway& g) {
  for (const auto& l : g.listeners) {
    if (l.port == kHboneMtlsPort && l.protocol == "HBONE") return &l;
  }
  return nullptr;
}

bool is_waypoint(const Gateway& g) {
  return g.gateway_class == kWaypointGatewayClass && waypoint_listener(g) != nullptr;
}

bool waypoint_ready(const WaypointFacts& f, std::string* why) {
  std::string sink;
  if (!why) why = &sink;
  if (!f.gateway || !is_waypoint(f.gateway->as<Gateway>())) {
    *why = "not a waypoint";
    return false;
  }
  if (f.gateway->meta.deleting) {
    *why = "it is being deleted";
    return false;
  }
  if (!f.has_address) {
    *why = "it has no address yet (its Service does not exist)";
    return false;
  }
  if (f.ready_pods < 1) {
    *why = "no pod of its Deployment is ready";
    return false;
  }
  return true;
}

istio::workload::GatewayAddress waypoint_address(const WaypointRef& ref, const WaypointFacts& f,
                                                 const MeshConfig& mesh) {
  istio::workload::GatewayAddress ga;
  ga.set_hbone_mtls_port(kHboneMtlsPort);
  // Istio uses the status hostname when there is one, else the IP. A Gateway whose status lists
  // only IPs (Kubernetes mode with an IP-only controller) is addressed by that IP.
  if (f.gateway) {
    const auto& st = f.gateway->as<Gateway>().status_addresses;
    bool any_hostname = std::any_of(st.begin(), st.end(), [](const Gateway::Address& a) { return a.type == "Hostname"; });
    if (!st.empty() && !any_hostname && st.front().type == "IPAddress") {
      auto* a = ga.mutable_address();
      a->set_network(mesh.network);
      a->set_address(ip_bytes(st.front().value));
      return ga;
    }
  }
  ga.mutable_hostname()->set_namespace_(ref.ns);
  ga.mutable_hostname()->set_hostname(str_cat(ref.name, ".", ref.ns, ".svc.", mesh.domain_suffix));
  return ga;
}

Binding bind_waypoint(const ObjectMeta& obj, const Labels* ns_labels, BindKind kind, const WaypointLookup& lookup,
                      const MeshConfig& mesh) {
  Binding b;
  if (is_waypoint_member(obj)) return b;  // a waypoint never sends through a waypoint
  b.ref = waypoint_ref(obj, ns_labels);
  if (!b.ref) return b;
  bool own_label = label(obj.labels, kUseWaypointLabel) != nullptr;
  b.report = kind == BindKind::kService || own_label;
  const std::string who = b.ref->to_string();
  WaypointFacts f = lookup(b.ref->ns, b.ref->name);
  auto fail = [&](const char* reason, std::string msg) {
    b.reason = reason;
    b.message = std::move(msg);
    return b;
  };
  if (!f.gateway) return fail(kReasonNoSuchWaypoint, str_cat("waypoint ", who, " does not exist"));
  const Gateway& gw = f.gateway->as<Gateway>();
  if (gw.gateway_class != kWaypointGatewayClass) {
    return fail(kReasonNotAWaypoint, str_cat("Gateway ", who, " is of class ", gw.gateway_class, ", not ",
                                             kWaypointGatewayClass));
  }
  const Gateway::Listener* l = waypoint_listener(gw);
  if (!l) {
    return fail(kReasonNotAWaypoint, str_cat("Gateway ", who, " has no HBONE listener on port ", kHboneMtlsPort));
  }
  TrafficType t = waypoint_traffic_type(f.gateway->meta, f.gateway_class);
  if (!serves(t, kind)) {
    if (kind == BindKind::kWorkload && (t == TrafficType::kService || t == TrafficType::kNone) && !own_label) {
      b.report = false;
    }
    const char* want = kind == BindKind::kService ? "service" : "workload";
    return fail(kReasonWrongTrafficType, str_cat("waypoint ", who, " does not take ", want,
                                                 " traffic (istio.io/waypoint-for: ", traffic_type_name(t), ")"));
  }
  b.report = true;
  std::string why;
  if (!namespace_allowed(*l, b.ref->ns, obj.ns, ns_labels, &why)) {
    return fail(kReasonNotAllowed, str_cat("waypoint ", who, " does not allow namespace ", obj.ns, ": ", why));
  }
  if (!waypoint_ready(f, &why)) return fail(kReasonNotReady, str_cat("waypoint ", who, " is not ready: ", why));
  b.address = waypoint_address(*b.ref, f, mesh);
  b.reason = kReasonBound;
  b.message = str_cat("bound to ", who);
  return b;
}

std::string implicit_waypoint_policy_name(const WaypointRef& wp) {
  // '_' is illegal in Kubernetes names, so it cannot collide with a user's policy.
  return str_cat("istio_allow_waypoint_", wp.ns, "_", wp.name);
}

istio::security::Authorization implicit_waypoint_policy(const WaypointRef& wp, const std::string& service_account,
                                                        const MeshConfig& mesh) {
  istio::security::Authorization a;
  a.set_name(implicit_waypoint_policy_name(wp));
  a.set_namespace_(wp.ns);
  a.set_scope(istio::security::WORKLOAD_SELECTOR);
  a.set_action(istio::security::ALLOW);
  auto* m = a.add_rules()->add_clauses()->add_matches();
  m->add_principals()->set_exact(str_cat(mesh.trust_domain, "/ns/", wp.ns, "/sa/", service_account));
  return a;
}

bool allow_policy_applies(const std::string& ns, const Labels& labels, const std::vector<WaypointRef>& waypoints,
                          const std::vector<std::string>& services,
                          std::span<const ConfigObject* const> namespace_aps,
                          std::span<const ConfigObject* const> root_aps,
                          std::span<const ConfigObject* const> waypoint_aps, const MeshConfig& mesh) {
  auto is_allow = [](const ConfigObject* p) {
    return p && p->kind == Kind::kAuthorizationPolicy &&
           p->as<AuthorizationPolicy>().action == AuthorizationPolicy::Action::kAllow;
  };
  // Enforced by ztunnel: selector policies that select the workload, namespace-wide ones of its
  // namespace, mesh-wide ones of the root namespace.
  auto ztunnel_allow = [&](const ConfigObject* p) {
    if (!is_allow(p) || !is_ztunnel_authorization_policy(*p)) return false;
    const auto& sel = p->as<AuthorizationPolicy>().selector;
    if (!sel) return true;  // namespace-wide, or mesh-wide from the root namespace
    return !sel->empty() && sel->matches(labels);
  };
  // Enforced by the waypoint: targetRefs to the workload's waypoint or Services.
  auto waypoint_allow = [&](const ConfigObject* p) {
    if (!is_allow(p)) return false;
    for (const auto& t : p->as<AuthorizationPolicy>().target_refs) {
      std::string tns = t.ns.empty() ? p->meta.ns : t.ns;
      if (t.kind == "Gateway") {
        for (const auto& w : waypoints) {
          if (w.ns == tns && w.name == t.name) return true;
        }
      } else if (t.kind == "Service") {
        if (tns == ns && std::find(services.begin(), services.end(), t.name) != services.end()) return true;
      } else if (t.kind == "GatewayClass") {
        if (p->meta.ns == mesh.root_namespace && t.name == kWaypointGatewayClass && !waypoints.empty()) return true;
      }
    }
    return false;
  };
  for (const ConfigObject* p : namespace_aps) {
    if (p && p->meta.ns == ns && (ztunnel_allow(p) || waypoint_allow(p))) return true;
  }
  for (const ConfigObject* p : root_aps) {
    if (p && p->meta.ns == mesh.root_namespace && (ztunnel_allow(p) || waypoint_allow(p))) return true;
  }
  for (const ConfigObject* p : waypoint_aps) {
    if (waypoint_allow(p)) return true;
  }
  return false;
}

}  // namespace ambit::istiod::ambient
