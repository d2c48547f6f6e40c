// Gateway API kinds: typed parsing with the CRD's defaults, and one rejection per invalid object
// naming the field, for every validation rule the parser enforces.
#include <doctest/doctest.h>

#include "istiod/config/gateway_api_parser.h"
#include "istiod/config/yaml_parser.h"

using namespace ambit::istiod;
using std::chrono::milliseconds;

namespace {

ParseResult parse_text(const std::string& text) {
  auto r = parse_yaml(text, "t.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}

std::string route(const std::string& kind, const std::string& spec) {
  return "apiVersion: gateway.networking.k8s.io/v1\nkind: " + kind + "\nmetadata: {name: r, namespace: demo}\nspec:\n" + spec;
}

const ConfigObject& only_object(const std::string& text) {
  static ParseResult keep;
  keep = parse_text(text);
  for (const auto& rej : keep.rejections) FAIL("unexpected rejection: ", rej.to_string());
  REQUIRE(keep.objects.size() == 1);
  return *keep.objects[0];
}

}  // namespace

TEST_CASE("HTTPRoute: every field is typed, with the CRD's defaults") {
  const auto& o = only_object(route("HTTPRoute", R"(
  parentRefs:
  - {group: "", kind: Service, name: echo, port: 80}
  - {name: waypoint, sectionName: mesh}
  hostnames: [echo.demo.svc.cluster.local, "*.example.com"]
  rules:
  - name: split
    matches:
    - path: {type: PathPrefix, value: /api}
      headers: [{name: X-Env, value: canary}, {type: RegularExpression, name: x-user, value: "^a.*z$"}]
      queryParams: [{name: debug, value: "1"}]
      method: GET
    - path: {type: Exact, value: /exact}
    - path: {type: RegularExpression, value: "/v[0-9]+/.*"}
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-a, value: "1"}], add: [{name: x-b, value: "2"}], remove: [x-c]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-r, value: "3"}]}
    - type: RequestMirror
      requestMirror: {backendRef: {name: shadow, port: 8080}, percent: 10}
    - type: RequestMirror
      requestMirror: {backendRef: {name: shadow2, port: 8080}, fraction: {numerator: 1, denominator: 3}}
    backendRefs:
    - {name: echo-v1, port: 8080, weight: 90}
    - {name: echo-v2, port: 8080, weight: 10}
    timeouts: {request: 10s, backendRequest: 1500ms}
    retry: {codes: [502, 503], attempts: 3, backoff: 100ms}
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, hostname: new.example.com, port: 8443, statusCode: 308,
                        path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}
  - matches: [{path: {type: PathPrefix, value: /rw}}]
    filters:
    - type: URLRewrite
      urlRewrite: {hostname: internal.example.com, path: {type: ReplaceFullPath, replaceFullPath: /x}}
    backendRefs: [{name: echo, port: 80}]
  - backendRefs: [{name: echo, port: 80}]
)"));
  const auto& r = o.as<HTTPRoute>();
  REQUIRE(r.parent_refs.size() == 2);
  CHECK(r.parent_refs[0].group == "");
  CHECK(r.parent_refs[0].kind == "Service");
  CHECK(r.parent_refs[0].port == 80);
  CHECK(r.parent_refs[1].group == "gateway.networking.k8s.io");
  CHECK(r.parent_refs[1].kind == "Gateway");
  CHECK(r.parent_refs[1].section_name == "mesh");
  CHECK(r.hostnames == std::vector<std::string>{"echo.demo.svc.cluster.local", "*.example.com"});
  REQUIRE(r.rules.size() == 4);
  const auto& r0 = r.rules[0];
  CHECK(r0.name == "split");
  REQUIRE(r0.matches.size() == 3);
  CHECK(r0.matches[0].path.type == PathMatch::Type::kPathPrefix);
  CHECK(r0.matches[0].path.value == "/api");
  CHECK(r0.matches[0].headers.at(1).type == HeaderMatch::Type::kRegularExpression);
  CHECK(r0.matches[0].query_params.at(0).name == "debug");
  CHECK(r0.matches[0].method == "GET");
  CHECK(r0.matches[1].path.type == PathMatch::Type::kExact);
  CHECK(r0.matches[2].path.type == PathMatch::Type::kRegularExpression);
  REQUIRE(r0.filters.size() == 4);
  CHECK(r0.filters[0].header_modifier.set.at(0) == std::pair<std::string, std::string>{"x-a", "1"});
  CHECK(r0.filters[0].header_modifier.remove == std::vector<std::string>{"x-c"});
  CHECK(r0.filters[1].type == RouteFilter::Type::kResponseHeaderModifier);
  CHECK(r0.filters[2].mirror.percent == 10);
  CHECK(r0.filters[2].mirror.backend.port == 8080);
  CHECK(r0.filters[3].mirror.fraction == std::pair<int, int>{1, 3});
  CHECK(r0.backend_refs.at(0).weight == 90);
  CHECK(r0.backend_refs.at(1).name == "echo-v2");
  CHECK(r0.timeouts.request == milliseconds(10000));
  CHECK(r0.timeouts.backend_request == milliseconds(1500));
  REQUIRE(r0.retry.has_value());
  CHECK(r0.retry->codes == std::vector<int>{502, 503});
  CHECK(r0.retry->attempts == 3);
  CHECK(r0.retry->backoff == milliseconds(100));
  const auto& redirect = r.rules[1].filters.at(0).redirect;
  CHECK(redirect.status_code == 308);
  CHECK(redirect.scheme == "https");
  CHECK(redirect.port == 8443);
  CHECK(redirect.path->type == PathModifier::Type::kReplacePrefixMatch);
  CHECK(redirect.path->value == "/new");
  CHECK(r.rules[2].filters.at(0).rewrite.hostname == "internal.example.com");
  // A rule without matches gets the default one: PathPrefix "/".
  REQUIRE(r.rules[3].matches.size() == 1);
  CHECK(r.rules[3].matches[0].path.type == PathMatch::Type::kPathPrefix);
  CHECK(r.rules[3].matches[0].path.value == "/");
  CHECK(r.rules[3].backend_refs.at(0).weight == 1);  // default weight
}

TEST_CASE("GRPCRoute, Gateway and GatewayClass parse into typed objects") {
  const auto& g = only_object(route("GRPCRoute", R"(
  parentRefs: [{group: "", kind: Service, name: grpc}]
  rules:
  - matches:
    - method: {service: helloworld.Greeter, method: SayHello}
      headers: [{name: x-tenant, value: a}]
    - method: {type: RegularExpression, service: "helloworld\\..*"}
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {add: [{name: x-via, value: wp}]}}]
    backendRefs: [{name: grpc, port: 9090}]
)"));
  const auto& gr = g.as<GRPCRoute>();
  REQUIRE(gr.rules.size() == 1);
  CHECK(gr.rules[0].matches.at(0).method->service == "helloworld.Greeter");
  CHECK(gr.rules[0].matches.at(0).method->method == "SayHello");
  CHECK(gr.rules[0].matches.at(1).method->type == GRPCMethodMatch::Type::kRegularExpression);

  const auto& gw = only_object(R"(
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: demo, labels: {istio.io/waypoint-for: all}}
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - name: mesh
    port: 15008
    protocol: HBONE
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: a}}}}
status:
  addresses: [{type: Hostname, value: wp.demo.svc.cluster.local}]
)");
  const auto& l = gw.as<Gateway>().listeners.at(0);
  CHECK(l.allowed_routes.from == Gateway::AllowedRoutes::From::kSelector);
  CHECK(l.allowed_routes.selector->match_labels.at("team") == "a");
  CHECK(gw.as<Gateway>().status_addresses.at(0).value == "wp.demo.svc.cluster.local");

  const auto& gc = only_object(R"(
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio-waypoint, labels: {istio.io/waypoint-for: workload}}
spec: {controllerName: istio.io/mesh-controller}
)");
  CHECK(gc.meta.ns.empty());
  CHECK(gc.as<GatewayClass>().controller_name == "istio.io/mesh-controller");
}

TEST_CASE("Gateway API durations (GEP-2257)") {
  using parse::parse_gateway_duration;
  CHECK(parse_gateway_duration("0s") == milliseconds(0));
  CHECK(parse_gateway_duration("1h30m") == milliseconds(5400000));
  CHECK(parse_gateway_duration("500ms") == milliseconds(500));
  CHECK(parse_gateway_duration("1h2m3s4ms") == milliseconds(3723004));
  CHECK(parse_gateway_duration("99999s") == milliseconds(99999000));
  for (const char* bad : {"", "10", "1.5s", "-1s", "s", "100000s", "1d", "1h1m1s1ms1h", "10 s", "1m "}) {
    CHECK_MESSAGE(!parse_gateway_duration(bad).has_value(), bad);
  }
}

TEST_CASE("invalid Gateway API objects are rejected one by one, naming the field") {
  struct Case {
    const char* what;
    std::string yaml;
    const char* want;  // in Rejection::to_string()
  };
  auto http = [](const std::string& rules) { return route("HTTPRoute", "  rules:\n" + rules); };
  std::string many_matches;
  for (int i = 0; i < 65; ++i) many_matches += "    - path: {value: /m" + std::to_string(i) + "}\n";
  std::string many_rules_matches;
  for (int r = 0; r < 3; ++r) {
    many_rules_matches += "  - matches:\n";
    for (int i = 0; i < 50; ++i) many_rules_matches += "    - path: {value: /m" + std::to_string(i) + "}\n";
  }
  std::string seventeen_rules;
  for (int i = 0; i < 17; ++i) seventeen_rules += "  - {}\n";
  const Case cases[] = {
      {"path without leading slash", http("  - matches: [{path: {type: PathPrefix, value: api}}]\n"),
       "spec.rules[0].matches[0].path.value: must be an absolute path"},
      {"path with //", http("  - matches: [{path: {type: Exact, value: /a//b}}]\n"),
       "spec.rules[0].matches[0].path.value: must not contain '//'"},
      {"path with /../", http("  - matches: [{path: {value: /a/../b}}]\n"), "must not contain '/../'"},
      {"path with %2F", http("  - matches: [{path: {value: /a%2Fb}}]\n"), "must not contain '%2F'"},
      {"path with #", http("  - matches: [{path: {value: /a#b}}]\n"), "must not contain '#'"},
      {"path ending /..", http("  - matches: [{path: {value: /a/..}}]\n"), "must not end with"},
      {"unknown path type", http("  - matches: [{path: {type: Prefix, value: /}}]\n"),
       "spec.rules[0].matches[0].path.type: unknown path match type 'Prefix'"},
      {"regex that does not compile", http("  - matches: [{path: {type: RegularExpression, value: \"/a(\"}}]\n"),
       "spec.rules[0].matches[0].path.value: invalid regular expression"},
      {"header regex that does not compile",
       http("  - matches: [{headers: [{type: RegularExpression, name: x, value: \"[\"}]}]\n"),
       "spec.rules[0].matches[0].headers[0].value: invalid regular expression"},
      {"bad header name", http("  - matches: [{headers: [{name: \"x y\", value: v}]}]\n"),
       "spec.rules[0].matches[0].headers[0].name: 'x y' is not a valid header name"},
      {"duplicate header match (case-insensitive)",
       http("  - matches: [{headers: [{name: X-A, value: v}, {name: x-a, value: w}]}]\n"),
       "spec.rules[0].matches[0].headers[1].name: duplicate name"},
      {"bad method", http("  - matches: [{method: FETCH}]\n"), "spec.rules[0].matches[0].method: 'FETCH' is not one of"},
      {"65 matches in a rule", http("  - matches:\n" + many_matches), "spec.rules[0].matches: at most 64 entries"},
      {"more than 128 matches in a route", route("HTTPRoute", "  rules:\n" + many_rules_matches),
       "spec.rules: at most 128 matches are allowed across all rules, got 150"},
      {"weight above 1,000,000", http("  - backendRefs: [{name: a, port: 80, weight: 1000001}]\n"),
       "spec.rules[0].backendRefs[0].weight: 1000001 is out of range 0-1000000"},
      {"negative weight", http("  - backendRefs: [{name: a, port: 80, weight: -1}]\n"), "weight: -1 is out of range"},
      {"Service backend without port", http("  - backendRefs: [{name: a}]\n"),
       "spec.rules[0].backendRefs[0].port: required for a Service"},
      {"redirect status 304",
       http("  - filters: [{type: RequestRedirect, requestRedirect: {statusCode: 304}}]\n"),
       "spec.rules[0].filters[0].requestRedirect.statusCode: 304 is not a redirect status"},
      {"redirect scheme ftp", http("  - filters: [{type: RequestRedirect, requestRedirect: {scheme: ftp}}]\n"),
       "requestRedirect.scheme: 'ftp' is not http or https"},
      {"redirect to a wildcard host",
       http("  - filters: [{type: RequestRedirect, requestRedirect: {hostname: \"*.x.com\"}}]\n"),
       "requestRedirect.hostname: '*.x.com' is not a precise hostname"},
      {"ReplacePrefixMatch with an Exact match",
       http("  - matches: [{path: {type: Exact, value: /a}}]\n    filters: [{type: URLRewrite, urlRewrite: {path: "
            "{type: ReplacePrefixMatch, replacePrefixMatch: /b}}}]\n"),
       "spec.rules[0].filters: ReplacePrefixMatch requires exactly one match, with a PathPrefix path"},
      {"ReplacePrefixMatch with two matches",
       http("  - matches: [{path: {value: /a}}, {path: {value: /c}}]\n    filters: [{type: RequestRedirect, "
            "requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}]\n"),
       "ReplacePrefixMatch requires exactly one match"},
      {"path modifier field not matching its type",
       http("  - filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replacePrefixMatch: /b}}}]\n"),
       "spec.rules[0].filters[0].urlRewrite.path.replaceFullPath: required when type is ReplaceFullPath"},
      {"redirect and rewrite together",
       http("  - filters: [{type: RequestRedirect, requestRedirect: {}}, {type: URLRewrite, urlRewrite: {}}]\n"),
       "spec.rules[0].filters: RequestRedirect and URLRewrite cannot be used together"},
      {"two RequestHeaderModifiers",
       http("  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {}}, {type: RequestHeaderModifier, "
            "requestHeaderModifier: {}}]\n"),
       "RequestHeaderModifier may be used at most once"},
      {"filter config for another type",
       http("  - filters: [{type: RequestHeaderModifier, responseHeaderModifier: {}}]\n"),
       "spec.rules[0].filters[0].requestHeaderModifier: required when type is RequestHeaderModifier"},
      {"ExtensionRef", http("  - filters: [{type: ExtensionRef, extensionRef: {group: x, kind: Y, name: z}}]\n"),
       "filter type ExtensionRef is not supported"},
      {"mirror percent and fraction",
       http("  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: s, port: 1}, percent: 5, "
            "fraction: {numerator: 1}}}]\n"),
       "spec.rules[0].filters[0].requestMirror: only one of percent and fraction"},
      {"mirror percent 101",
       http("  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: s, port: 1}, percent: 101}}]\n"),
       "requestMirror.percent: 101 is out of range 0-100"},
      {"mirror fraction above 1",
       http("  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: s, port: 1}, fraction: "
            "{numerator: 3, denominator: 2}}}]\n"),
       "requestMirror.fraction: numerator 3 is greater than denominator 2"},
      {"duplicate header in a modifier",
       http("  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: a, value: "
            "\"1\"}, {name: A, value: \"2\"}]}}]\n"),
       "requestHeaderModifier.set[1].name: duplicate header 'A'"},
      {"bad timeout", http("  - timeouts: {request: 10}\n"),
       "spec.rules[0].timeouts.request: '10' is not a Gateway API duration"},
      {"backendRequest longer than request", http("  - timeouts: {request: 1s, backendRequest: 2s}\n"),
       "spec.rules[0].timeouts.backendRequest: must not be longer than the request timeout"},
      {"retry code 200", http("  - retry: {codes: [200]}\n"), "spec.rules[0].retry.codes[0]: 200 is out of range 400-599"},
      {"duplicate rule names", http("  - name: a\n  - name: a\n"), "spec.rules[1].name: duplicate rule name 'a'"},
      {"unknown rule field (a dropped constraint)", http("  - matchs: []\n"), "spec.rules[0].matchs: unknown field"},
      {"17 rules", route("HTTPRoute", "  rules:\n" + seventeen_rules), "spec.rules: at most 16 entries"},
      {"wildcard in the middle of a hostname", route("HTTPRoute", "  hostnames: [\"a.*.com\"]\n"),
       "spec.hostnames[0]: 'a.*.com' is not a hostname"},
      {"IP as hostname", route("HTTPRoute", "  hostnames: [\"10.0.0.1\"]\n"), "is an IP address"},
      {"duplicate parentRef", route("HTTPRoute", "  parentRefs: [{name: wp}, {name: wp}]\n"),
       "spec.parentRefs[1]: duplicate parentRef"},
      {"parentRef port out of range", route("HTTPRoute", "  parentRefs: [{name: wp, port: 70000}]\n"),
       "spec.parentRefs[0].port: 70000 is out of range 1-65535"},
      {"gRPC match with neither service nor method",
       route("GRPCRoute", "  rules:\n  - matches: [{method: {type: Exact}}]\n"),
       "spec.rules[0].matches[0].method: one or both of service and method must be set"},
      {"gRPC service name", route("GRPCRoute", "  rules:\n  - matches: [{method: {service: \"foo/bar\"}}]\n"),
       "spec.rules[0].matches[0].method.service: 'foo/bar' is not a gRPC service name"},
      {"gRPC method regex", route("GRPCRoute", "  rules:\n  - matches: [{method: {type: RegularExpression, method: \"(\"}}]\n"),
       "spec.rules[0].matches[0].method.method: invalid regular expression"},
      {"gRPC RequestRedirect", route("GRPCRoute", "  rules:\n  - filters: [{type: RequestRedirect, requestRedirect: {}}]\n"),
       "spec.rules[0].filters[0].type: unknown filter type 'RequestRedirect'"},
      {"Gateway without listeners",
       "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: x}\n",
       "spec.listeners: at least one listener is required"},
      {"Gateway duplicate listener name",
       "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: x, "
       "listeners: [{name: a, port: 1, protocol: HTTP}, {name: a, port: 2, protocol: HTTP}]}\n",
       "spec.listeners[1].name: duplicate listener name 'a'"},
      {"Gateway allowedRoutes Selector without selector",
       "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: x, "
       "listeners: [{name: a, port: 1, protocol: HBONE, allowedRoutes: {namespaces: {from: Selector}}}]}\n",
       "spec.listeners[0].allowedRoutes.namespaces.selector: required when from is Selector"},
      {"Gateway allowedRoutes from Other",
       "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: x, "
       "listeners: [{name: a, port: 1, protocol: HBONE, allowedRoutes: {namespaces: {from: Other}}}]}\n",
       "spec.listeners[0].allowedRoutes.namespaces.from: unknown value 'Other'"},
      {"Gateway address not an IP",
       "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: x, "
       "listeners: [{name: a, port: 1, protocol: HBONE}], addresses: [{value: not-an-ip}]}\n",
       "spec.addresses[0].value: 'not-an-ip' is not an IP address"},
      {"GatewayClass with a namespace",
       "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: c, namespace: x}\nspec: "
       "{controllerName: istio.io/mesh-controller}\n",
       "GatewayClass is cluster-scoped"},
      {"GatewayClass controllerName without a domain",
       "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: c}\nspec: {controllerName: mine}\n",
       "spec.controllerName: 'mine' is not a controller name"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    ParseResult r = parse_text(c.yaml + "\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n");
    CHECK(r.objects.size() == 1);  // the neighbour survives
    REQUIRE(r.rejections.size() == 1);
    CHECK_MESSAGE(r.rejections[0].to_string().find(c.want) != std::string::npos, r.rejections[0].to_string());
  }
}
