// The waypoint's L7 config as istiod translates it (istiod/waypoint/*.h): protocol selection,
// every route feature landing in the proto, parentRef attachment, unresolvable backends,
// AuthorizationPolicy attachment and compilation, the keyed set per waypoint, and the index's
// incremental output (one edited route = one key). Whatever istiod produces must also compile in
// the waypoint's own code (waypoint/l7), which these tests check for every translated resource.
#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <set>

#include "istiod/ambient/index.h"
#include "istiod/config/yaml_parser.h"
#include "istiod/waypoint/l7_config.h"
#include "istiod/waypoint/listeners.h"
#include "istiod/waypoint/policies.h"
#include "istiod/waypoint/routes.h"
#include "waypoint/l7/authz.h"
#include "waypoint/l7/resource_key.h"
#include "waypoint/l7/route_table.h"

using namespace ambit;
using namespace ambit::istiod;
using namespace ambit::istiod::waypoint;
namespace pb = ::ambit::waypoint::v1;
namespace l7 = ::ambit::waypoint::l7;

namespace {

std::vector<ObjectPtr> objs(const std::string& yaml) {
  auto r = parse_yaml(yaml, "t.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  for (const auto& rej : r->rejections) FAIL("unexpected rejection: ", rej.to_string());
  return r->objects;
}

// Waypoint app/wp (allowedRoutes Same) serving app/echo; app/api and other/far exist too.
const char* kBase = R"(apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: app}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: app}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80}, {name: grpc, port: 9090, appProtocol: grpc}, {name: dns, port: 53, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: app}
spec:
  clusterIP: 10.96.0.11
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: far, namespace: other}
spec:
  clusterIP: 10.96.0.12
  ports: [{name: http, port: 80}]
)";

// The scope of waypoint app/wp over kBase plus `extra`, serving `served`.
struct World {
  std::vector<ObjectPtr> all;
  WaypointScope scope;

  explicit World(const std::string& extra = "",
                 std::set<std::pair<std::string, std::string>> served = {{"app", "echo"}}) {
    all = objs(extra.empty() ? std::string(kBase) : std::string(kBase) + "---\n" + extra);
    scope.waypoint = {"app", "wp"};
    scope.gateway = find(Kind::kGateway, "app", "wp");
    REQUIRE(scope.gateway);
    scope.services = std::move(served);
    scope.find_service = [this](const std::string& ns, const std::string& name) {
      return find(Kind::kService, ns, name);
    };
    scope.namespace_labels = [this](const std::string& ns) -> const Labels* {
      const ConfigObject* o = find(Kind::kNamespace, "", ns);
      return o ? &o->meta.labels : nullptr;
    };
  }
  const ConfigObject* find(Kind k, const std::string& ns, const std::string& name) const {
    for (const auto& o : all) {
      if (o->kind == k && o->meta.ns == ns && o->meta.name == name) return o.get();
    }
    return nullptr;
  }
  std::vector<const ConfigObject*> of(Kind k) const {
    std::vector<const ConfigObject*> out;
    for (const auto& o : all) {
      if (o->kind == k) out.push_back(o.get());
    }
    return out;
  }
};

std::string http_route(const std::string& spec, const std::string& ns = "app", const std::string& name = "r") {
  return "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: " + name + ", namespace: " + ns +
         "}\nspec:\n" + spec;
}
const char* kToEcho = "  parentRefs: [{group: \"\", kind: Service, name: echo}]\n";

// The route translated in World(extra), which must attach; compiled by the waypoint too.
TranslatedRoute route_of(const std::string& yaml, const std::string& name = "r") {
  World w(yaml);
  const ConfigObject* r = w.find(Kind::kHTTPRoute, "app", name);
  if (!r) r = w.find(Kind::kGRPCRoute, "app", name);
  REQUIRE(r);
  TranslatedRoute t = translate_route(*r, w.scope);
  REQUIRE_MESSAGE(t.attached, "route did not attach");
  auto compiled = l7::compile_route(t.route);
  CHECK_MESSAGE(compiled.ok(), "the waypoint refuses what istiod sent: ", compiled.status().ToString());
  return t;
}

std::string ip4(const char* s) {
  unsigned char b[4];
  REQUIRE(inet_pton(AF_INET, s, b) == 1);
  return std::string(reinterpret_cast<char*>(b), 4);
}

}  // namespace

TEST_CASE("listener protocol: appProtocol, then the port name, as Istio, and UDP gets none") {
  struct Case {
    const char* name;
    const char* app_protocol;
    const char* protocol;
    std::optional<pb::Listener::Protocol> want;
  };
  const Case cases[] = {
      {"http", "", "TCP", pb::Listener::HTTP},
      {"http-web", "", "TCP", pb::Listener::HTTP},
      {"HTTP2", "", "TCP", pb::Listener::HTTP2},
      {"http2-api", "", "TCP", pb::Listener::HTTP2},
      {"grpc", "", "TCP", pb::Listener::GRPC},
      {"grpc-api", "", "TCP", pb::Listener::GRPC},
      {"grpc-web", "", "TCP", pb::Listener::HTTP},
      {"tcp-db", "", "TCP", pb::Listener::TCP},
      {"https", "", "TCP", pb::Listener::TCP},
      {"tls-x", "", "TCP", pb::Listener::TCP},
      {"mongo", "", "TCP", pb::Listener::TCP},
      {"redis-cache", "", "TCP", pb::Listener::TCP},
      {"", "", "TCP", pb::Listener::HTTP},          // unnamed: sniffed
      {"web", "", "TCP", pb::Listener::HTTP},       // unknown prefix: sniffed
      {"http", "tcp", "TCP", pb::Listener::TCP},    // appProtocol wins over the name
      {"tcp", "http", "TCP", pb::Listener::HTTP},
      {"x", "kubernetes.io/h2c", "TCP", pb::Listener::HTTP2},
      {"x", "kubernetes.io/ws", "TCP", pb::Listener::HTTP},
      {"x", "kubernetes.io/wss", "TCP", pb::Listener::TCP},
      {"x", "GRPC", "TCP", pb::Listener::GRPC},
      {"http", "", "UDP", std::nullopt},
      {"http", "", "SCTP", std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.app_protocol);
    ServicePort p;
    p.name = c.name;
    p.app_protocol = c.app_protocol;
    p.protocol = c.protocol;
    p.port = 80;
    CHECK(listener_protocol(p) == c.want);
  }
}

TEST_CASE("listeners: one per TCP port of a served Service, with its WDS key and VIPs") {
  World w;
  auto ls = service_listeners(*w.find(Kind::kService, "app", "echo"), w.scope);
  REQUIRE(ls.size() == 2);  // the UDP port has none
  CHECK(ls[0].service().namespace_() == "app");
  CHECK(ls[0].service().hostname() == "echo.app.svc.cluster.local");
  REQUIRE(ls[0].addresses_size() == 1);
  CHECK(ls[0].addresses(0).address() == ip4("10.96.0.10"));
  CHECK(ls[0].port() == 80);
  CHECK(ls[0].protocol() == pb::Listener::HTTP);
  CHECK(ls[1].port() == 9090);
  CHECK(ls[1].protocol() == pb::Listener::GRPC);
}

TEST_CASE("HTTPRoute: every feature lands in the proto") {
  using Check = std::function<void(const pb::Route&)>;
  struct Case {
    const char* what;
    std::string rules;  // YAML under spec (after parentRefs to echo)
    Check check;
  };
  const Case cases[] = {
      {"defaults: one rule, PathPrefix /, backend weight 1",
       "  rules: [{backendRefs: [{name: echo, port: 80}]}]\n",
       [](const pb::Route& r) {
         REQUIRE(r.rules_size() == 1);
         REQUIRE(r.rules(0).matches_size() == 1);
         CHECK(r.rules(0).matches(0).path().prefix() == "/");
         REQUIRE(r.rules(0).backends_size() == 1);
         CHECK(r.rules(0).backends(0).ref().service().hostname() == "echo.app.svc.cluster.local");
         CHECK(r.rules(0).backends(0).ref().service().namespace_() == "app");
         CHECK(r.rules(0).backends(0).ref().port() == 80);
         CHECK(r.rules(0).backends(0).has_weight());
         CHECK(r.rules(0).backends(0).weight() == 1);
         CHECK_FALSE(r.rules(0).has_retry());
         CHECK_FALSE(r.rules(0).timeouts().has_request());
       }},
      {"path exact, prefix, regex; method; headers; query params",
       "  rules:\n  - name: first\n    matches:\n"
       "    - {path: {type: Exact, value: /a}, method: POST}\n"
       "    - {path: {type: PathPrefix, value: /b}, headers: [{name: X-Env, value: prod}, "
       "{type: RegularExpression, name: x-id, value: \"[0-9]+\"}]}\n"
       "    - {path: {type: RegularExpression, value: \"/c/.*\"}, queryParams: [{name: q, value: \"1\"}, "
       "{type: RegularExpression, name: r, value: \"a|b\"}]}\n",
       [](const pb::Route& r) {
         const auto& rule = r.rules(0);
         CHECK(rule.name() == "first");
         REQUIRE(rule.matches_size() == 3);
         CHECK(rule.matches(0).path().exact() == "/a");
         CHECK(rule.matches(0).method() == "POST");
         CHECK(rule.matches(1).path().prefix() == "/b");
         REQUIRE(rule.matches(1).headers_size() == 2);
         CHECK(rule.matches(1).headers(0).name() == "X-Env");
         CHECK(rule.matches(1).headers(0).exact() == "prod");
         CHECK(rule.matches(1).headers(1).regex() == "[0-9]+");
         CHECK(rule.matches(2).path().regex() == "/c/.*");
         REQUIRE(rule.matches(2).query_params_size() == 2);
         CHECK(rule.matches(2).query_params(0).exact() == "1");
         CHECK(rule.matches(2).query_params(1).name() == "r");
         CHECK(rule.matches(2).query_params(1).regex() == "a|b");
         CHECK(rule.backends_size() == 0);  // no backendRefs: the waypoint answers 500
       }},
      {"weighted backends, backend-level header filter",
       "  rules: [{backendRefs: [{name: echo, port: 80, weight: 90}, {name: api, port: 8080, weight: 10, "
       "filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-v, value: \"2\"}]}}]}, "
       "{name: api, port: 8080, weight: 0}]}]\n",
       [](const pb::Route& r) {
         const auto& b = r.rules(0).backends();
         REQUIRE(b.size() == 3);
         CHECK(b[0].weight() == 90);
         CHECK(b[1].weight() == 10);
         CHECK(b[1].ref().service().hostname() == "api.app.svc.cluster.local");
         CHECK(b[1].ref().port() == 8080);
         REQUIRE(b[1].filters_size() == 1);
         CHECK(b[1].filters(0).request_header_modifier().set(0).name() == "x-v");
         CHECK(b[2].has_weight());
         CHECK(b[2].weight() == 0);
       }},
      {"request and response header modifiers",
       "  rules: [{filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: a, value: \"1\"}], "
       "add: [{name: b, value: \"2\"}], remove: [c]}}, {type: ResponseHeaderModifier, responseHeaderModifier: "
       "{add: [{name: d, value: \"4\"}]}}], backendRefs: [{name: echo, port: 80}]}]\n",
       [](const pb::Route& r) {
         const auto& f = r.rules(0).filters();
         REQUIRE(f.size() == 2);
         const auto& req = f[0].request_header_modifier();
         CHECK(req.set(0).name() == "a");
         CHECK(req.set(0).value() == "1");
         CHECK(req.add(0).name() == "b");
         CHECK(req.remove(0) == "c");
         CHECK(f[1].response_header_modifier().add(0).value() == "4");
       }},
      {"redirect: scheme, hostname, port, full path, status",
       "  rules: [{filters: [{type: RequestRedirect, requestRedirect: {scheme: https, hostname: new.example, "
       "port: 8443, path: {type: ReplaceFullPath, replaceFullPath: /moved}, statusCode: 301}}]}]\n",
       [](const pb::Route& r) {
         const auto& rd = r.rules(0).filters(0).request_redirect();
         CHECK(rd.scheme() == "https");
         CHECK(rd.hostname() == "new.example");
         CHECK(rd.port() == 8443);
         CHECK(rd.path().replace_full_path() == "/moved");
         CHECK(rd.status_code() == 301);
       }},
      {"redirect defaults to 302, port 0",
       "  rules: [{filters: [{type: RequestRedirect, requestRedirect: {hostname: h}}]}]\n",
       [](const pb::Route& r) {
         const auto& rd = r.rules(0).filters(0).request_redirect();
         CHECK(rd.status_code() == 302);
         CHECK(rd.port() == 0);
         CHECK_FALSE(rd.has_path());
       }},
      {"URL rewrite: hostname and prefix",
       "  rules: [{matches: [{path: {type: PathPrefix, value: /v1}}], filters: [{type: URLRewrite, urlRewrite: "
       "{hostname: internal, path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}}], "
       "backendRefs: [{name: echo, port: 80}]}]\n",
       [](const pb::Route& r) {
         const auto& u = r.rules(0).filters(0).url_rewrite();
         CHECK(u.hostname() == "internal");
         CHECK(u.path().replace_prefix_match() == "/v2");
       }},
      {"mirrors: percent, fraction, everything",
       "  rules: [{filters: [{type: RequestMirror, requestMirror: {backendRef: {name: api, port: 8080}, percent: 10}}, "
       "{type: RequestMirror, requestMirror: {backendRef: {name: api, port: 8080}, fraction: {numerator: 1, "
       "denominator: 4}}}, {type: RequestMirror, requestMirror: {backendRef: {name: api, port: 8080}}}], "
       "backendRefs: [{name: echo, port: 80}]}]\n",
       [](const pb::Route& r) {
         const auto& f = r.rules(0).filters();
         REQUIRE(f.size() == 3);
         CHECK(f[0].request_mirror().backend().service().hostname() == "api.app.svc.cluster.local");
         CHECK(f[0].request_mirror().backend().port() == 8080);
         CHECK(f[0].request_mirror().numerator() == 10);
         CHECK(f[0].request_mirror().denominator() == 100);
         CHECK(f[1].request_mirror().numerator() == 1);
         CHECK(f[1].request_mirror().denominator() == 4);
         CHECK(f[2].request_mirror().numerator() == 0);
         CHECK(f[2].request_mirror().denominator() == 0);
       }},
      {"timeouts and retry",
       "  rules: [{timeouts: {request: 10s, backendRequest: 2500ms}, retry: {attempts: 3, codes: [503, 504], "
       "backoff: 100ms}, backendRefs: [{name: echo, port: 80}]}]\n",
       [](const pb::Route& r) {
         const auto& rule = r.rules(0);
         CHECK(rule.timeouts().request().seconds() == 10);
         CHECK(rule.timeouts().backend_request().seconds() == 2);
         CHECK(rule.timeouts().backend_request().nanos() == 500000000);
         CHECK(rule.retry().attempts() == 3);
         CHECK(std::vector<uint32_t>(rule.retry().codes().begin(), rule.retry().codes().end()) ==
               std::vector<uint32_t>{503, 504});
         CHECK(rule.retry().backoff().nanos() == 100000000);
         CHECK(rule.retry().connection_errors());
       }},
      {"retry without attempts: Istio's 2; attempts 0: none; timeout 0: none",
       "  rules: [{retry: {codes: [503]}, backendRefs: [{name: echo, port: 80}]}, {retry: {attempts: 0}, "
       "timeouts: {request: 0s}, backendRefs: [{name: echo, port: 80}]}]\n",
       [](const pb::Route& r) {
         CHECK(r.rules(0).retry().attempts() == 2);
         CHECK_FALSE(r.rules(1).has_retry());
         CHECK_FALSE(r.rules(1).timeouts().has_request());
       }},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    TranslatedRoute t = route_of(http_route(std::string(kToEcho) + c.rules));
    CHECK(t.route.kind() == pb::Route::HTTP_ROUTE);
    CHECK(t.route.namespace_() == "app");
    CHECK(t.route.name() == "r");
    CHECK(t.route.creation_timestamp() == 0);  // not in the model yet
    CHECK_MESSAGE(t.problems.empty(), t.problems.front());
    c.check(t.route);
  }
}

TEST_CASE("GRPCRoute: method matches exact and regex, headers, backends") {
  TranslatedRoute t = route_of(R"(apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g, namespace: app}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: 9090}]
  hostnames: [echo.example]
  rules:
  - matches:
    - method: {service: echo.Echo, method: Say}
      headers: [{name: x-user, value: a}]
    - method: {type: RegularExpression, service: "echo\\..*"}
    backendRefs: [{name: echo, port: 9090}]
)",
                               "g");
  const pb::Route& r = t.route;
  CHECK(r.kind() == pb::Route::GRPC_ROUTE);
  REQUIRE(r.parents_size() == 1);
  CHECK(r.parents(0).port() == 9090);
  CHECK(std::vector<std::string>(r.hostnames().begin(), r.hostnames().end()) ==
        std::vector<std::string>{"echo.example"});
  const auto& m = r.rules(0).matches();
  REQUIRE(m.size() == 2);
  CHECK_FALSE(m[0].grpc().regex());
  CHECK(m[0].grpc().service() == "echo.Echo");
  CHECK(m[0].grpc().method() == "Say");
  CHECK(m[0].headers(0).exact() == "a");
  CHECK(m[1].grpc().regex());
  CHECK(m[1].grpc().service() == "echo\\..*");
  CHECK_FALSE(m[1].has_path());
  CHECK(r.rules(0).backends(0).ref().port() == 9090);
}

TEST_CASE("parentRefs: which routes attach to this waypoint") {
  struct Case {
    const char* what;
    std::string ns;
    std::string parents;
    bool attaches;
    const char* parent;  // "service:<port>" or "waypoint" for the first parent
    const char* problem;  // substring of the first problem, or ""
  };
  const Case cases[] = {
      {"Service it serves", "app", "[{group: \"\", kind: Service, name: echo}]", true, "service:0", ""},
      {"Service it serves, one port", "app", "[{group: \"\", kind: Service, name: echo, port: 80}]", true,
       "service:80", ""},
      {"a port the Service does not have", "app", "[{group: \"\", kind: Service, name: echo, port: 81}]", false, "",
       "has no port 81"},
      {"a Service it does not serve", "app", "[{group: \"\", kind: Service, name: api}]", false, "", ""},
      {"consumer route: the Service is in another namespace", "other",
       "[{group: \"\", kind: Service, name: echo, namespace: app}]", false, "", "consumer route"},
      {"the waypoint Gateway", "app", "[{name: wp}]", true, "waypoint", ""},
      {"the waypoint Gateway by its listener", "app", "[{name: wp, sectionName: mesh, port: 15008}]", true,
       "waypoint", ""},
      {"another listener name", "app", "[{name: wp, sectionName: http}]", false, "", "sectionName http"},
      {"another port", "app", "[{name: wp, port: 80}]", false, "", "port 80"},
      {"another Gateway", "app", "[{name: other-gw}]", false, "", ""},
      {"the Gateway from a namespace allowedRoutes Same refuses", "other", "[{name: wp, namespace: app}]", false, "",
       "admits only its own namespace"},
      {"one parent attaches, one does not: attaches", "app",
       "[{group: \"\", kind: Service, name: api}, {group: \"\", kind: Service, name: echo}]", true, "service:0", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    World w(http_route("  parentRefs: " + c.parents + "\n", c.ns));
    TranslatedRoute t = translate_route(*w.find(Kind::kHTTPRoute, c.ns, "r"), w.scope);
    CHECK(t.attached == c.attaches);
    if (c.attaches) {
      std::string p = c.parent;
      REQUIRE(t.route.parents_size() == 1);
      if (p == "waypoint") {
        CHECK(t.route.parents(0).has_waypoint());
      } else {
        CHECK(t.route.parents(0).service().hostname() == "echo.app.svc.cluster.local");
        CHECK(std::to_string(t.route.parents(0).port()) == p.substr(p.find(':') + 1));
      }
    }
    if (std::string(c.problem).empty()) {
      CHECK(t.problems.empty());  // parents naming someone else are not this waypoint's problem
    } else {
      REQUIRE(t.problems.size() == 1);
      CHECK_MESSAGE(t.problems[0].find(c.problem) != std::string::npos, t.problems[0]);
    }
  }
}

TEST_CASE("backendRefs that cannot be resolved are invalid with the reason") {
  struct Case {
    const char* what;
    std::string backend;
    const char* reason;  // substring
  };
  const Case cases[] = {
      {"no such Service", "{name: ghost, port: 80}", "Service app/ghost not found (BackendNotFound)"},
      {"no such port", "{name: api, port: 9999}", "has no port 9999"},
      {"another namespace without ReferenceGrant", "{name: far, namespace: other, port: 80}",
       "ReferenceGrant, which Ambit does not support yet (RefNotPermitted)"},
      {"a kind other than Service", "{group: networking.istio.io, kind: ServiceEntry, name: ext, port: 80}",
       "networking.istio.io/ServiceEntry is not supported"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    TranslatedRoute t = route_of(http_route(std::string(kToEcho) + "  rules: [{backendRefs: [" + c.backend +
                                            ", {name: echo, port: 80}]}]\n"));
    const auto& b = t.route.rules(0).backends();
    REQUIRE(b.size() == 2);
    CHECK_MESSAGE(b[0].ref().invalid().find(c.reason) != std::string::npos, b[0].ref().invalid());
    CHECK(b[1].ref().has_service());  // the valid one is untouched
    REQUIRE(t.problems.size() == 1);
    CHECK(t.problems[0].starts_with("rules[0].backendRefs[0]: "));
  }
  // A mirror to a missing Service is invalid the same way.
  TranslatedRoute t = route_of(http_route(std::string(kToEcho) +
                                          "  rules: [{filters: [{type: RequestMirror, requestMirror: {backendRef: "
                                          "{name: ghost, port: 80}}}], backendRefs: [{name: echo, port: 80}]}]\n"));
  CHECK(t.route.rules(0).filters(0).request_mirror().backend().invalid().find("not found") != std::string::npos);
  CHECK(t.problems.size() == 1);
}

namespace {

std::string policy(const std::string& ns, const std::string& spec,
                   const std::string& annotations = "") {
  return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: " + ns +
         (annotations.empty() ? "" : ", annotations: {" + annotations + "}") + "}\nspec:\n" + spec;
}

std::optional<TranslatedPolicy> policy_of(const std::string& ns, const std::string& spec,
                                          const std::string& annotations = "") {
  World w(policy(ns, spec, annotations));
  auto t = translate_policy(*w.find(Kind::kAuthorizationPolicy, ns, "p"), w.scope);
  if (t) {
    // The waypoint compiles it.
    auto c = l7::CompiledPolicy::compile(t->policy);
    CHECK_MESSAGE(c.ok(), "the waypoint refuses what istiod sent: ", c.status().ToString());
  }
  return t;
}

}  // namespace

TEST_CASE("AuthorizationPolicy attachment: Istio's targetRefs rules") {
  struct Case {
    const char* what;
    const char* ns;
    std::string target_refs;  // YAML
    bool attaches;
    bool waypoint;         // target waypoint expected
    const char* service;   // target service hostname expected, or ""
  };
  const Case cases[] = {
      {"the waypoint Gateway", "app", "[{group: gateway.networking.k8s.io, kind: Gateway, name: wp}]", true, true, ""},
      {"the Gateway from another namespace", "other",
       "[{group: gateway.networking.k8s.io, kind: Gateway, name: wp}]", false, false, ""},
      {"a cross-namespace targetRef", "other",
       "[{group: gateway.networking.k8s.io, kind: Gateway, name: wp, namespace: app}]", false, false, ""},
      {"another Gateway", "app", "[{group: gateway.networking.k8s.io, kind: Gateway, name: other}]", false, false, ""},
      {"a Service it serves", "app", "[{kind: Service, name: echo}]", true, false, "echo.app.svc.cluster.local"},
      {"a Service it does not serve", "app", "[{kind: Service, name: api}]", false, false, ""},
      {"GatewayClass istio-waypoint from the root namespace: mesh-wide", "istio-system",
       "[{group: gateway.networking.k8s.io, kind: GatewayClass, name: istio-waypoint}]", true, true, ""},
      {"GatewayClass istio-waypoint from another namespace", "app",
       "[{group: gateway.networking.k8s.io, kind: GatewayClass, name: istio-waypoint}]", false, false, ""},
      {"Gateway and Service: both targets", "app",
       "[{group: gateway.networking.k8s.io, kind: Gateway, name: wp}, {kind: Service, name: echo}]", true, true,
       "echo.app.svc.cluster.local"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto t = policy_of(c.ns, "  targetRefs: " + c.target_refs + "\n  action: DENY\n  rules: [{to: [{operation: "
                                                                 "{paths: [/admin]}}]}]\n");
    REQUIRE(t.has_value() == c.attaches);
    if (!t) continue;
    bool waypoint = false;
    std::string service;
    for (const auto& tg : t->policy.targets()) {
      if (tg.has_waypoint()) waypoint = true;
      if (tg.has_service()) service = tg.service().hostname();
    }
    CHECK(waypoint == c.waypoint);
    CHECK(service == c.service);
  }
  // A selector policy is ztunnel's, never the waypoint's.
  CHECK_FALSE(policy_of("app", "  selector: {matchLabels: {app: echo}}\n  action: DENY\n  rules: [{}]\n").has_value());
  CHECK_FALSE(policy_of("app", "  action: DENY\n  rules: [{}]\n").has_value());
}

TEST_CASE("AuthorizationPolicy compilation: Istio's strings into typed matchers") {
  auto t = policy_of("app", R"(  targetRefs: [{kind: Service, name: echo}]
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/app/sa/sleep", "*/sa/admin", "cluster.local/*", "*"]
        notNamespaces: [blocked]
        ipBlocks: [10.0.0.0/8, 192.168.1.1]
        remoteIpBlocks: [1.2.3.4/32]
        serviceAccounts: [sleep, team/bot]
        requestPrincipals: ["iss/sub"]
    to:
    - operation:
        hosts: [Echo.App, "*.example.com"]
        ports: ["80"]
        methods: [GET]
        paths: ["/api/*", "*.html", "/users/{*}/profile", "/files/{**}"]
        notPaths: [/admin]
    when:
    - {key: "request.headers[x-role]", values: [admin], notValues: ["guest*"]}
    - {key: source.ip, values: [10.1.0.0/16]}
    - {key: remote.ip, notValues: [9.9.9.9]}
    - {key: destination.port, values: ["80"]}
    - {key: source.namespace, values: [app]}
    - {key: source.principal, values: ["*"]}
    - {key: destination.ip, values: [10.96.0.10]}
    - {key: connection.sni, values: [x]}
    - {key: "request.auth.claims[groups]", values: [dev]}
    - {key: request.auth.principal, values: [a]}
)");
  REQUIRE(t.has_value());
  CHECK(t->problems.empty());
  const pb::Authorization& p = t->policy;
  CHECK(p.action() == pb::Authorization::ALLOW);
  CHECK_FALSE(p.dry_run());
  REQUIRE(p.rules_size() == 1);
  const pb::Source& s = p.rules(0).from(0);
  REQUIRE(s.principals_size() == 4);
  CHECK(s.principals(0).exact() == "cluster.local/ns/app/sa/sleep");
  CHECK(s.principals(1).suffix() == "/sa/admin");
  CHECK(s.principals(2).prefix() == "cluster.local/");
  CHECK(s.principals(3).has_presence());
  CHECK(s.not_namespaces(0).exact() == "blocked");
  REQUIRE(s.ip_blocks_size() == 2);
  CHECK(s.ip_blocks(0).address() == ip4("10.0.0.0"));
  CHECK(s.ip_blocks(0).length() == 8);
  CHECK(s.ip_blocks(1).length() == 32);
  CHECK(s.remote_ip_blocks(0).address() == ip4("1.2.3.4"));
  REQUIRE(s.service_accounts_size() == 2);
  CHECK(s.service_accounts(0).namespace_() == "app");  // a bare name is in the policy's namespace
  CHECK(s.service_accounts(0).serviceaccount() == "sleep");
  CHECK(s.service_accounts(1).namespace_() == "team");
  CHECK(s.request_principals(0).exact() == "iss/sub");
  const pb::Operation& o = p.rules(0).to(0);
  CHECK(o.hosts(0).exact() == "Echo.App");  // the waypoint folds case when matching
  CHECK(o.hosts(1).suffix() == ".example.com");
  CHECK(std::vector<uint32_t>(o.ports().begin(), o.ports().end()) == std::vector<uint32_t>{80});
  CHECK(o.methods(0).exact() == "GET");
  REQUIRE(o.paths_size() == 4);
  CHECK(o.paths(0).prefix() == "/api/");
  CHECK(o.paths(1).suffix() == ".html");
  CHECK(o.paths(2).path_template() == "/users/{*}/profile");
  CHECK(o.paths(3).path_template() == "/files/{**}");
  CHECK(o.not_paths(0).exact() == "/admin");
  const auto& w = p.rules(0).when();
  REQUIRE(w.size() == 10);
  CHECK(w[0].key() == pb::Condition::REQUEST_HEADER);
  CHECK(w[0].name() == "x-role");
  CHECK(w[0].values(0).exact() == "admin");
  CHECK(w[0].not_values(0).prefix() == "guest");
  CHECK(w[1].key() == pb::Condition::SOURCE_IP);
  CHECK(w[1].ip_values(0).address() == ip4("10.1.0.0"));
  CHECK(w[1].ip_values(0).length() == 16);
  CHECK(w[2].key() == pb::Condition::REMOTE_IP);
  CHECK(w[2].not_ip_values(0).length() == 32);
  CHECK(w[3].key() == pb::Condition::DESTINATION_PORT);
  CHECK(w[3].port_values(0) == 80);
  CHECK(w[4].key() == pb::Condition::SOURCE_NAMESPACE);
  CHECK(w[5].key() == pb::Condition::SOURCE_PRINCIPAL);
  CHECK(w[5].values(0).has_presence());
  CHECK(w[6].key() == pb::Condition::DESTINATION_IP);
  CHECK(w[7].key() == pb::Condition::CONNECTION_SNI);
  CHECK(w[8].key() == pb::Condition::REQUEST_AUTH_CLAIM);
  CHECK(w[8].name() == "groups");
  CHECK(w[9].key() == pb::Condition::REQUEST_AUTH_PRINCIPAL);
}

TEST_CASE("AuthorizationPolicy: actions, dry-run, and failing closed") {
  const std::string target = "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: wp}]\n";
  SUBCASE("AUDIT stays AUDIT; dry-run is carried") {
    auto t = policy_of("app", target + "  action: AUDIT\n  rules: [{to: [{operation: {methods: [GET]}}]}]\n",
                       "istio.io/dry-run: \"true\"");
    REQUIRE(t);
    CHECK(t->policy.action() == pb::Authorization::AUDIT);
    CHECK(t->policy.dry_run());
  }
  SUBCASE("CUSTOM has no provider here: a DENY of its rules, reported") {
    auto t = policy_of("app", target + "  action: CUSTOM\n  provider: {name: ext}\n  rules: [{to: [{operation: "
                                       "{paths: [/x]}}]}]\n");
    REQUIRE(t);
    CHECK(t->policy.action() == pb::Authorization::DENY);
    CHECK(t->policy.rules(0).to(0).paths(0).exact() == "/x");
    REQUIRE(t->problems.size() == 1);
    CHECK(t->problems[0].find("CUSTOM") != std::string::npos);
  }
  const std::string unknown = "  rules:\n  - when: [{key: experimental.envoy.filters.x, values: [a]}]\n"
                              "  - to: [{operation: {paths: [/ok]}}]\n";
  SUBCASE("an unknown when key in an ALLOW drops that rule") {
    auto t = policy_of("app", target + "  action: ALLOW\n" + unknown);
    REQUIRE(t);
    REQUIRE(t->policy.rules_size() == 1);
    CHECK(t->policy.rules(0).to(0).paths(0).exact() == "/ok");
    REQUIRE(t->problems.size() == 1);
    CHECK(t->problems[0].find("rules[0].when[0]: key 'experimental.envoy.filters.x'") != std::string::npos);
  }
  SUBCASE("an unknown when key in a DENY becomes match-everything") {
    auto t = policy_of("app", target + "  action: DENY\n" + unknown);
    REQUIRE(t);
    REQUIRE(t->policy.rules_size() == 2);
    CHECK(t->policy.rules(0).ByteSizeLong() == 0);  // no from/to/when: every request
    CHECK(t->problems[0].find("fail closed") != std::string::npos);
  }
}

TEST_CASE("L7 policy semantics carry over: istiod's DENY on /admin denies normalized /admin paths at the waypoint") {
  auto t = policy_of("app",
                     "  targetRefs: [{kind: Service, name: echo}]\n  action: DENY\n  rules: [{to: [{operation: "
                     "{paths: [\"/admin\", \"/admin/*\"]}}]}]\n");
  REQUIRE(t);
  std::vector<std::string> errors;
  l7::PolicySet set = l7::PolicySet::build({&t->policy}, &errors);
  CHECK(errors.empty());
  l7::ServiceKey echo{"app", "echo.app.svc.cluster.local"};
  l7::ServiceKey api{"app", "api.app.svc.cluster.local"};
  auto eval = [&](const l7::ServiceKey& svc, std::string_view path) {
    l7::AuthzRequest req;
    req.method = "GET";
    req.path = path;
    req.host = "echo";
    req.destination_port = 80;
    return set.evaluate(svc, req).allowed;
  };
  CHECK_FALSE(eval(echo, "/admin"));
  CHECK_FALSE(eval(echo, "/admin/users"));
  CHECK(eval(echo, "/public"));
  CHECK(eval(api, "/admin"));  // targets echo only
}

TEST_CASE("translate_waypoint: the keyed set, mesh settings, problems prefixed by object") {
  World w(http_route(std::string(kToEcho) + "  rules: [{backendRefs: [{name: ghost, port: 80}]}]\n") + "---\n" +
          policy("app", "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: wp}]\n  action: "
                        "ALLOW\n  rules: [{from: [{source: {namespaces: [app]}}]}]\n") +
          "---\n" + http_route("  parentRefs: [{group: \"\", kind: Service, name: api}]\n", "app", "unrelated"));
  std::vector<const ConfigObject*> routes = w.of(Kind::kHTTPRoute);
  std::vector<const ConfigObject*> policies = w.of(Kind::kAuthorizationPolicy);
  w.scope.mesh.path_normalization = ambient::PathNormalization::kMergeSlashes;
  WaypointConfig c = translate_waypoint(w.scope, routes, policies);
  std::set<std::string> keys;
  for (const auto& [k, r] : c.resources) {
    keys.insert(k);
    auto computed = l7::resource_key(r);
    REQUIRE(computed.ok());
    CHECK(*computed == k);
  }
  CHECK(keys == std::set<std::string>{"listener/app/echo.app.svc.cluster.local:80",
                                      "listener/app/echo.app.svc.cluster.local:9090", "route/HTTPRoute/app/r",
                                      "authorization/app/p", "mesh"});
  CHECK(c.resources.at("mesh").mesh().path_normalization() == pb::MeshSettings::MERGE_SLASHES);
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].starts_with("HTTPRoute app/r: rules[0].backendRefs[0]: Service app/ghost not found"));

  // Default: BASE.
  w.scope.mesh = ambient::MeshConfig{};
  CHECK(translate_waypoint(w.scope, routes, policies).resources.at("mesh").mesh().path_normalization() ==
        pb::MeshSettings::BASE);
}

// ---- the index: per-waypoint resources, pushed by changed bytes ---------------------------------

namespace {

// A ready waypoint app/wp (its Service and a ready pod) serving app/echo.
const char* kIndexBase = R"(apiVersion: v1
kind: Namespace
metadata: {name: app, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: app}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: wp, namespace: app, labels: {gateway.networking.k8s.io/gateway-name: wp}}
spec:
  selector: {gateway.networking.k8s.io/gateway-name: wp}
  clusterIP: 10.96.0.2
  ports: [{name: mesh, port: 15008}]
---
apiVersion: v1
kind: Pod
metadata: {name: wp-1, namespace: app, labels: {gateway.networking.k8s.io/gateway-name: wp}}
spec: {nodeName: n1, serviceAccountName: wp, containers: [{name: w}]}
status: {phase: Running, podIP: 10.10.0.2, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: app}
spec:
  selector: {app: echo}
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80}]
)";

std::vector<ConfigEvent> update(const std::string& yaml) {
  std::vector<ConfigEvent> out;
  for (const auto& o : objs(yaml)) out.push_back(ConfigEvent{EventType::kUpdate, o});
  return out;
}

}  // namespace

TEST_CASE("index: a waypoint's resources, and one changed route pushes exactly that route") {
  ambient::AmbientIndex idx{ambient::MeshConfig{}};
  const ambient::WaypointRef wp{"app", "wp"};
  auto route = [](const std::string& name, const std::string& path) {
    return http_route(std::string(kToEcho) + "  rules: [{matches: [{path: {type: PathPrefix, value: " + path +
                          "}}], backendRefs: [{name: echo, port: 80}]}]\n",
                      "app", name);
  };
  std::vector<ObjectPtr> all = objs(std::string(kIndexBase) + "---\n" + route("a", "/a") + "---\n" + route("b", "/b"));
  ambient::Changes first = idx.resync(all);
  CHECK(first.waypoints[wp] == std::set<std::string>{"listener/app/echo.app.svc.cluster.local:80",
                                                      "route/HTTPRoute/app/a", "route/HTTPRoute/app/b", "mesh"});
  CHECK(idx.waypoint_resources(wp).size() == 4);
  auto a_before = idx.find_waypoint_resource(wp, "route/HTTPRoute/app/a");
  REQUIRE(a_before);
  CHECK(a_before->type_url == ambient::kWaypointResourceType);
  pb::Resource decoded;
  REQUIRE(decoded.ParseFromString(a_before->bytes));
  CHECK(decoded.route().name() == "a");

  // Edit route b: only b.
  ambient::Changes c = idx.apply(update(route("b", "/b2")));
  CHECK(c.waypoints == std::map<ambient::WaypointRef, std::set<std::string>>{{wp, {"route/HTTPRoute/app/b"}}});
  CHECK(idx.find_waypoint_resource(wp, "route/HTTPRoute/app/a") == a_before);  // untouched

  // Re-applying identical content changes nothing.
  CHECK(idx.apply(update(route("b", "/b2"))).waypoints.empty());

  // A pod change does not touch the waypoint config.
  CHECK(idx.apply(update(R"(apiVersion: v1
kind: Pod
metadata: {name: echo-1, namespace: app, labels: {app: echo}}
spec: {nodeName: n1, containers: [{name: e}]}
status: {phase: Running, podIP: 10.10.0.9}
)")).waypoints.empty());

  // Deleting route a: its key, as a removal.
  ambient::Changes del = idx.apply({ConfigEvent{EventType::kDelete, all[all.size() - 2]}});
  CHECK(del.waypoints[wp] == std::set<std::string>{"route/HTTPRoute/app/a"});
  CHECK_FALSE(idx.find_waypoint_resource(wp, "route/HTTPRoute/app/a"));

  // The Gateway goes: every key of the waypoint is removed.
  const ConfigObject* gw = idx.object(Kind::kGateway, "app", "wp");
  REQUIRE(gw);
  ObjectPtr gwp;
  for (const auto& o : all) {
    if (o.get() == gw) gwp = o;
  }
  ambient::Changes gone = idx.apply({ConfigEvent{EventType::kDelete, gwp}});
  CHECK(gone.waypoints[wp].size() == 3);
  CHECK(idx.waypoint_resources(wp).empty());
}
