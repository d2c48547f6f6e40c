#include "istiod/waypoint/routes.h"

#include <algorithm>
#include <cctype>

#include "common/base/strings.h"

namespace ambit::istiod::waypoint {

namespace pb = ::ambit::waypoint::v1;

namespace {

constexpr int kDefaultRetryAttempts = 2;  // Istio's, for a retry block without attempts

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void set_duration(std::chrono::milliseconds d, google::protobuf::Duration* out) {
  out->set_seconds(d.count() / 1000);
  out->set_nanos(static_cast<int32_t>((d.count() % 1000) * 1000000));
}

bool service_has_port(const ConfigObject& svc, uint16_t port) {
  const auto& ports = svc.as<Service>().ports;
  return std::any_of(ports.begin(), ports.end(), [&](const ServicePort& p) { return p.port == port; });
}

class RouteTranslator {
 public:
  RouteTranslator(const ConfigObject& route, const WaypointScope& scope) : obj_(route), scope_(scope) {}

  TranslatedRoute run() {
    const bool grpc = obj_.kind == Kind::kGRPCRoute;
    out_.route.set_kind(grpc ? pb::Route::GRPC_ROUTE : pb::Route::HTTP_ROUTE);
    out_.route.set_namespace_(obj_.meta.ns);
    out_.route.set_name(obj_.meta.name);
    if (grpc) {
      const GRPCRoute& r = obj_.as<GRPCRoute>();
      if (!parents(r.parent_refs)) return std::move(out_);
      hostnames(r.hostnames);
      for (size_t i = 0; i < r.rules.size(); ++i) grpc_rule(r.rules[i], str_cat("rules[", i, "]"));
    } else {
      const HTTPRoute& r = obj_.as<HTTPRoute>();
      if (!parents(r.parent_refs)) return std::move(out_);
      hostnames(r.hostnames);
      for (size_t i = 0; i < r.rules.size(); ++i) http_rule(r.rules[i], str_cat("rules[", i, "]"));
    }
    out_.attached = true;
    return std::move(out_);
  }

 private:
  void problem(std::string p) { out_.problems.push_back(std::move(p)); }

  // ---- parentRefs ----------------------------------------------------------------------------

  bool parents(const std::vector<ParentRef>& refs) {
    for (size_t i = 0; i < refs.size(); ++i) {
      const ParentRef& p = refs[i];
      const std::string where = str_cat("parentRefs[", i, "]");
      const std::string pns = p.ns.empty() ? obj_.meta.ns : p.ns;
      if (p.group.empty() && p.kind == "Service") {
        if (!scope_.serves(pns, p.name)) continue;  // another waypoint's, or no waypoint's
        if (pns != obj_.meta.ns) {
          problem(str_cat(where, ": Service ", pns, "/", p.name,
                          " is in another namespace: a consumer route, which waypoints do not apply"));
          continue;
        }
        if (p.port) {
          const ConfigObject* svc = scope_.find_service(pns, p.name);
          if (!svc || !service_has_port(*svc, *p.port)) {
            problem(str_cat(where, ": Service ", pns, "/", p.name, " has no port ", *p.port));
            continue;
          }
        }
        pb::ParentRef* out = out_.route.add_parents();
        *out->mutable_service() = scope_.service_key(pns, p.name);
        out->set_port(p.port.value_or(0));
      } else if (p.group == kGatewayApiGroup && p.kind == "Gateway") {
        if (pns != scope_.waypoint.ns || p.name != scope_.waypoint.name) continue;
        std::string why;
        if (!gateway_admits(p, &why)) {
          problem(str_cat(where, ": waypoint ", scope_.waypoint.to_string(), " does not accept it: ", why));
          continue;
        }
        pb::ParentRef* out = out_.route.add_parents();
        out->mutable_waypoint();
        out->set_port(0);
      }
    }
    return out_.route.parents_size() > 0;
  }

  bool gateway_admits(const ParentRef& p, std::string* why) const {
    const Gateway::Listener* l = ambient::waypoint_listener(scope_.gateway->as<Gateway>());
    if (!l) {
      *why = "it has no HBONE listener";
      return false;
    }
    if (!p.section_name.empty() && p.section_name != l->name) {
      *why = str_cat("sectionName ", p.section_name, " is not its listener ", l->name);
      return false;
    }
    if (p.port && *p.port != l->port) {
      *why = str_cat("port ", *p.port, " is not its listener's port ", l->port);
      return false;
    }
    const char* kind = obj_.kind == Kind::kGRPCRoute ? "GRPCRoute" : "HTTPRoute";
    const auto& kinds = l->allowed_routes.kinds;
    if (!kinds.empty() && std::none_of(kinds.begin(), kinds.end(), [&](const Gateway::RouteGroupKind& k) {
          return k.group == kGatewayApiGroup && k.kind == kind;
        })) {
      *why = str_cat("its listener ", l->name, " does not allow ", kind, " (allowedRoutes.kinds)");
      return false;
    }
    return ambient::namespace_allowed(*l, scope_.waypoint.ns, obj_.meta.ns, scope_.namespace_labels(obj_.meta.ns),
                                      why);
  }

  void hostnames(const std::vector<std::string>& hs) {
    for (const auto& h : hs) out_.route.add_hostnames(lower(h));
  }

  // ---- references ----------------------------------------------------------------------------

  // backendRefs and mirror targets: group/kind/name/namespace/port.
  template <typename Ref>
  void resolve(const Ref& ref, const std::string& where, pb::BackendRef* out) {
    auto invalid = [&](std::string reason) {
      problem(str_cat(where, ": ", reason));
      out->set_invalid(std::move(reason));
    };
    if (!ref.group.empty() || ref.kind != "Service") {
      return invalid(str_cat("kind ", ref.group.empty() ? "" : ref.group + "/", ref.kind,
                             " is not supported; only core Services are (InvalidKind)"));
    }
    const std::string ns = ref.ns.empty() ? obj_.meta.ns : ref.ns;
    if (ns != obj_.meta.ns) {
      return invalid(str_cat("Service ", ns, "/", ref.name, " is in another namespace; that needs a ReferenceGrant, ",
                             "which Ambit does not support yet (RefNotPermitted)"));
    }
    const ConfigObject* svc = scope_.find_service(ns, ref.name);
    if (!svc || svc->as<Service>().type == "ExternalName") {
      return invalid(str_cat("Service ", ns, "/", ref.name, " not found (BackendNotFound)"));
    }
    if (!ref.port) return invalid(str_cat("Service ", ns, "/", ref.name, ": port is required (BackendNotFound)"));
    if (!service_has_port(*svc, *ref.port)) {
      return invalid(str_cat("Service ", ns, "/", ref.name, " has no port ", *ref.port, " (BackendNotFound)"));
    }
    *out->mutable_service() = scope_.service_key(ns, ref.name);
    out->set_port(*ref.port);
  }

  // ---- filters -------------------------------------------------------------------------------

  static void header_modifier(const HeaderModifier& in, pb::HeaderModifier* out) {
    for (const auto& [n, v] : in.set) {
      pb::Header* h = out->add_set();
      h->set_name(n);
      h->set_value(v);
    }
    for (const auto& [n, v] : in.add) {
      pb::Header* h = out->add_add();
      h->set_name(n);
      h->set_value(v);
    }
    for (const auto& n : in.remove) out->add_remove(n);
  }

  static void path_modifier(const PathModifier& in, pb::PathModifier* out) {
    if (in.type == PathModifier::Type::kReplaceFullPath) {
      out->set_replace_full_path(in.value);
    } else {
      out->set_replace_prefix_match(in.value);
    }
  }

  void filter(const RouteFilter& f, const std::string& where, pb::Filter* out) {
    switch (f.type) {
      case RouteFilter::Type::kRequestHeaderModifier:
        header_modifier(f.header_modifier, out->mutable_request_header_modifier());
        break;
      case RouteFilter::Type::kResponseHeaderModifier:
        header_modifier(f.header_modifier, out->mutable_response_header_modifier());
        break;
      case RouteFilter::Type::kRequestRedirect: {
        pb::RequestRedirect* r = out->mutable_request_redirect();
        r->set_scheme(f.redirect.scheme);
        r->set_hostname(f.redirect.hostname);
        r->set_port(f.redirect.port.value_or(0));
        if (f.redirect.path) path_modifier(*f.redirect.path, r->mutable_path());
        r->set_status_code(static_cast<uint32_t>(f.redirect.status_code));
        break;
      }
      case RouteFilter::Type::kURLRewrite: {
        pb::UrlRewrite* r = out->mutable_url_rewrite();
        r->set_hostname(f.rewrite.hostname);
        if (f.rewrite.path) path_modifier(*f.rewrite.path, r->mutable_path());
        break;
      }
      case RouteFilter::Type::kRequestMirror: {
        pb::RequestMirror* m = out->mutable_request_mirror();
        resolve(f.mirror.backend, where + ".requestMirror.backendRef", m->mutable_backend());
        // Neither percent nor fraction: 0/0 = every request (route.proto).
        if (f.mirror.percent) {
          m->set_numerator(static_cast<uint32_t>(*f.mirror.percent));
          m->set_denominator(100);
        } else if (f.mirror.fraction) {
          m->set_numerator(static_cast<uint32_t>(f.mirror.fraction->first));
          m->set_denominator(static_cast<uint32_t>(f.mirror.fraction->second));
        }
        break;
      }
    }
  }

  void filters(const std::vector<RouteFilter>& fs, const std::string& where,
               google::protobuf::RepeatedPtrField<pb::Filter>* out) {
    for (size_t i = 0; i < fs.size(); ++i) filter(fs[i], str_cat(where, ".filters[", i, "]"), out->Add());
  }

  void backends(const std::vector<BackendRef>& refs, const std::string& where, pb::RouteRule* rule) {
    for (size_t i = 0; i < refs.size(); ++i) {
      const std::string w = str_cat(where, ".backendRefs[", i, "]");
      pb::Backend* b = rule->add_backends();
      resolve(refs[i], w, b->mutable_ref());
      b->set_weight(static_cast<uint32_t>(refs[i].weight));
      filters(refs[i].filters, w, b->mutable_filters());
    }
  }

  // ---- matches -------------------------------------------------------------------------------

  template <typename Out>
  static void value_match(const HeaderMatch& in, Out* out) {
    out->set_name(in.name);
    if (in.type == HeaderMatch::Type::kExact) {
      out->set_exact(in.value);
    } else {
      out->set_regex(in.value);
    }
  }

  void http_rule(const HTTPRouteRule& in, const std::string& where) {
    pb::RouteRule* rule = out_.route.add_rules();
    rule->set_name(in.name);
    for (const HTTPRouteMatch& m : in.matches) {
      pb::RouteMatch* out = rule->add_matches();
      switch (m.path.type) {
        case PathMatch::Type::kExact: out->mutable_path()->set_exact(m.path.value); break;
        case PathMatch::Type::kPathPrefix: out->mutable_path()->set_prefix(m.path.value); break;
        case PathMatch::Type::kRegularExpression: out->mutable_path()->set_regex(m.path.value); break;
      }
      for (const auto& h : m.headers) value_match(h, out->add_headers());
      for (const auto& q : m.query_params) value_match(q, out->add_query_params());
      out->set_method(m.method);
    }
    filters(in.filters, where, rule->mutable_filters());
    backends(in.backend_refs, where, rule);
    // 0 = no timeout: left absent.
    if (in.timeouts.request && in.timeouts.request->count() > 0) {
      set_duration(*in.timeouts.request, rule->mutable_timeouts()->mutable_request());
    }
    if (in.timeouts.backend_request && in.timeouts.backend_request->count() > 0) {
      set_duration(*in.timeouts.backend_request, rule->mutable_timeouts()->mutable_backend_request());
    }
    if (in.retry) {
      int attempts = in.retry->attempts.value_or(kDefaultRetryAttempts);
      if (attempts > 0) {
        pb::Retry* r = rule->mutable_retry();
        r->set_attempts(static_cast<uint32_t>(attempts));
        for (int c : in.retry->codes) r->add_codes(static_cast<uint32_t>(c));
        if (in.retry->backoff) set_duration(*in.retry->backoff, r->mutable_backoff());
        r->set_connection_errors(true);
      }
    }
  }

  void grpc_rule(const GRPCRouteRule& in, const std::string& where) {
    pb::RouteRule* rule = out_.route.add_rules();
    rule->set_name(in.name);
    for (const GRPCRouteMatch& m : in.matches) {
      pb::RouteMatch* out = rule->add_matches();
      if (m.method) {
        pb::GrpcMethodMatch* g = out->mutable_grpc();
        g->set_regex(m.method->type == GRPCMethodMatch::Type::kRegularExpression);
        g->set_service(m.method->service);
        g->set_method(m.method->method);
      }
      for (const auto& h : m.headers) value_match(h, out->add_headers());
    }
    filters(in.filters, where, rule->mutable_filters());
    backends(in.backend_refs, where, rule);
  }

  const ConfigObject& obj_;
  const WaypointScope& scope_;
  TranslatedRoute out_;
};

}  // namespace

TranslatedRoute translate_route(const ConfigObject& route, const WaypointScope& scope) {
  if (route.kind != Kind::kHTTPRoute && route.kind != Kind::kGRPCRoute) return {};
  return RouteTranslator(route, scope).run();
}

}  // namespace ambit::istiod::waypoint
