// Tests for waypoint/l7/route_table: Gateway API precedence, GAMMA parent semantics (routes of
// the Service, of the waypoint, 404, default), each match kind, GRPCRoute, weighted backends and
// compile errors. Routes are written as the text-format protos istiod would send.
#include "waypoint/l7/route_table.h"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "test/waypoint/l7_test_util.h"

namespace {

namespace pb = ambit::waypoint::v1;
using ambit::waypoint::l7::compile_route;
using ambit::waypoint::l7::HeaderMap;
using ambit::waypoint::l7::hostname_matches;
using ambit::waypoint::l7::pick_backend;
using ambit::waypoint::l7::RouteDecision;
using ambit::waypoint::l7::RouteRequest;
using ambit::waypoint::l7::RouteTable;
using ambit::waypoint::l7::ServiceKey;
using ambit::waypoint::l7::testing::parse;
using Kind = RouteDecision::Kind;

const ServiceKey kReviews{"default", "reviews.default.svc.cluster.local"};
const ServiceKey kRatings{"default", "ratings.default.svc.cluster.local"};
const char* kReviewsParent =
    R"(parents { service { namespace: "default" hostname: "reviews.default.svc.cluster.local" } })";

pb::Route route(const std::string& name, const std::string& body,
                const std::string& parents = kReviewsParent) {
  return parse<pb::Route>("namespace: \"default\" name: \"" + name + "\" " + parents + " " + body);
}

std::shared_ptr<const RouteTable> table(const std::vector<pb::Route>& routes,
                                        std::vector<std::string>* errors = nullptr) {
  std::vector<const pb::Route*> ptrs;
  for (const auto& r : routes) ptrs.push_back(&r);
  std::vector<std::string> local;
  auto t = RouteTable::build(ptrs, errors ? errors : &local);
  if (!errors) {
    for (const auto& e : local) FAIL_CHECK(e);
  }
  return t;
}

struct Req {
  std::string path = "/";
  std::string query;
  std::string method = "GET";
  std::string host = "reviews:9080";
  HeaderMap headers;
  uint16_t port = 9080;
  ServiceKey svc = kReviews;
};

// "<route>/<rule name>" of the decision, or "404" / "default".
std::string which(const RouteTable& t, const Req& r) {
  RouteDecision d = t.match(r.svc, r.port,
                            RouteRequest{r.host, r.path, r.query, r.method, &r.headers});
  switch (d.kind) {
    case Kind::kDefault:
      return "default";
    case Kind::kNotFound:
      return "404";
    case Kind::kRoute:
      return d.route->name + "/" + d.rule->name;
  }
  return "?";
}

Req path(const char* p) {
  Req r;
  r.path = p;
  return r;
}

}  // namespace

TEST_CASE("routes: path kinds and the element-wise PathPrefix") {
  auto t = table({route("r", R"(
    rules { name: "exact" matches { path { exact: "/a/b" } } }
    rules { name: "prefix" matches { path { prefix: "/a/" } } }
    rules { name: "regex" matches { path { regex: "/v[0-9]+/.*" } } }
  )")});
  struct Row {
    const char* path;
    const char* want;
  };
  for (const Row& row : std::vector<Row>{{"/a/b", "r/exact"},
                                         {"/a", "r/prefix"},
                                         {"/a/", "r/prefix"},
                                         {"/a/bc", "r/prefix"},
                                         {"/ab", "404"},
                                         {"/v2/x", "r/regex"},
                                         {"/v2", "404"},
                                         {"/xv2/y", "404"}}) {
    CAPTURE(row.path);
    CHECK(which(*t, path(row.path)) == row.want);
  }
}

TEST_CASE("routes: Gateway API precedence across rules and routes") {
  // Listed worst-first so that list order alone would get every case wrong.
  auto t = table({
      route("z-regex", R"(rules { name: "re" matches { path { regex: "/api/.*" } } })"),
      route("y-short", R"(rules { name: "short" matches { path { prefix: "/api" } } })"),
      route("x-long", R"(rules { name: "long" matches { path { prefix: "/api/v1" } } })"),
      route("w-method", R"(rules { name: "post" matches { path { prefix: "/api/v1" } method: "POST" } })"),
      route("v-headers", R"(rules { name: "h1" matches { path { prefix: "/api/v1" } headers { name: "a" exact: "1" } } }
                           rules { name: "h2" matches { path { prefix: "/api/v1" } headers { name: "a" exact: "1" } headers { name: "b" exact: "2" } } })"),
      route("u-query", R"(rules { name: "q" matches { path { prefix: "/api/v1" } headers { name: "a" exact: "1" } query_params { name: "x" exact: "y" } } })"),
      route("t-exact", R"(rules { name: "exact" matches { path { exact: "/api/v1/items" } } })"),
  });
  struct Row {
    const char* path;
    const char* query;
    const char* method;
    std::vector<std::pair<const char*, const char*>> headers;
    const char* want;
  };
  const std::vector<Row> rows = {
      {"/api/v1/items", "", "GET", {}, "t-exact/exact"},       // Exact beats every prefix
      {"/api/v1/items", "", "POST", {{"a", "1"}}, "t-exact/exact"},
      {"/api/v1/other", "", "GET", {}, "x-long/long"},         // longest prefix
      {"/api/v2", "", "GET", {}, "y-short/short"},             // prefix beats regex
      {"/api/v1/other", "", "POST", {}, "w-method/post"},      // method beats headers
      {"/api/v1/o", "", "GET", {{"a", "1"}}, "v-headers/h1"},
      {"/api/v1/o", "", "GET", {{"a", "1"}, {"b", "2"}}, "v-headers/h2"},  // more headers
      {"/api/v1/o", "x=y", "GET", {{"a", "1"}}, "u-query/q"},  // equal headers, more query
      {"/api/v1/o", "x=y", "GET", {{"a", "1"}, {"b", "2"}}, "v-headers/h2"},  // headers first
  };
  for (const Row& row : rows) {
    Req r;
    r.path = row.path;
    r.query = row.query;
    r.method = row.method;
    for (const auto& [n, v] : row.headers) r.headers.add(n, v);
    CAPTURE(row.path);
    CAPTURE(row.method);
    CAPTURE(row.headers.size());
    CHECK(which(*t, r) == row.want);
  }
}

TEST_CASE("routes: ties go to the oldest route, then namespace/name, then rule order") {
  const char* body = R"(rules { name: "first" matches { path { prefix: "/" } } }
                        rules { name: "second" matches { path { prefix: "/" } } })";
  auto at = [&](const char* name, int64_t ts) {
    pb::Route r = route(name, body);
    r.set_creation_timestamp(ts);
    return r;
  };
  CHECK(which(*table({at("b", 100), at("a", 200)}), path("/x")) == "b/first");
  CHECK(which(*table({at("a", 200), at("b", 100)}), path("/x")) == "b/first");
  CHECK(which(*table({at("b", 100), at("a", 100)}), path("/x")) == "a/first");
  CHECK(which(*table({at("a", 0), at("b", 100)}), path("/x")) == "b/first");  // unknown = newest
  CHECK(which(*table({at("b", 0), at("a", 0)}), path("/x")) == "a/first");
}

TEST_CASE("routes: header, query and method matches") {
  auto t = table({route("r", R"(
    rules { name: "hdr" matches { headers { name: "X-Version" exact: "v2" } } }
    rules { name: "hdr-re" matches { headers { name: "x-user" regex: "test-[0-9]+" } } }
    rules { name: "query" matches { query_params { name: "debug" exact: "on" } } }
    rules { name: "query-re" matches { query_params { name: "q" regex: "a b" } } }
    rules { name: "delete" matches { method: "DELETE" } }
  )")});
  auto req = [](std::vector<std::pair<const char*, const char*>> h, const char* q = "",
                const char* method = "GET") {
    Req r;
    for (const auto& [n, v] : h) r.headers.add(n, v);
    r.query = q;
    r.method = method;
    return r;
  };
  CHECK(which(*t, req({{"x-version", "v2"}})) == "r/hdr");
  CHECK(which(*t, req({{"X-VERSION", "v2"}})) == "r/hdr");
  CHECK(which(*t, req({{"x-version", "V2"}})) == "404");  // values are case-sensitive
  // a repeated header: any value may match
  CHECK(which(*t, req({{"x-version", "v1"}, {"x-version", "v2"}})) == "r/hdr");
  CHECK(which(*t, req({{"x-user", "test-42"}})) == "r/hdr-re");
  CHECK(which(*t, req({{"x-user", "xtest-42"}})) == "404");  // full match
  CHECK(which(*t, req({}, "a=1&debug=on")) == "r/query");
  CHECK(which(*t, req({}, "debug=ON")) == "404");
  CHECK(which(*t, req({}, "Debug=on")) == "404");  // names are exact
  CHECK(which(*t, req({}, "q=a%20b")) == "r/query-re");  // percent-decoded values
  CHECK(which(*t, req({}, "", "DELETE")) == "r/delete");
  CHECK(which(*t, req({}, "", "GET")) == "404");
}

TEST_CASE("routes: GAMMA parents — the Service's routes, the waypoint's, 404 and default") {
  const char* waypoint_parent = "parents { waypoint {} }";
  auto t = table({
      route("reviews-v2", R"(rules { name: "v2" matches { path { prefix: "/v2" } } })"),
      route("reviews-port", R"(rules { name: "p" matches { path { prefix: "/p" } } })",
            R"(parents { service { namespace: "default" hostname: "reviews.default.svc.cluster.local" } port: 9090 })"),
      route("wp-all", R"(rules { name: "all" matches { path { prefix: "/wp" } } })", waypoint_parent),
      route("wp-ratings",
            R"(hostnames: "ratings.default.svc.cluster.local" rules { name: "r" matches { path { prefix: "/r" } } })",
            waypoint_parent),
  });
  Req r = path("/v2/x");
  CHECK(which(*t, r) == "reviews-v2/v2");
  // The Service has routes on this port, none matches: 404 — the waypoint's are not consulted.
  r.path = "/wp";
  CHECK(which(*t, r) == "404");
  // Port-scoped parent: only on 9090.
  r.path = "/p";
  CHECK(which(*t, r) == "404");
  r.port = 9090;
  CHECK(which(*t, r) == "reviews-port/p");
  r.path = "/v2";
  CHECK(which(*t, r) == "reviews-v2/v2");  // port 0 = every port
  // ratings has no routes of its own: the waypoint's apply, filtered by hostnames (matched
  // against the Host or the service hostname).
  Req q;
  q.svc = kRatings;
  q.host = "ratings:9080";
  q.path = "/r";
  CHECK(which(*t, q) == "wp-ratings/r");
  q.path = "/wp";
  CHECK(which(*t, q) == "wp-all/all");
  q.path = "/none";
  CHECK(which(*t, q) == "404");
  // A service with no route anywhere (no waypoint route without hostnames either) → default.
  auto t2 = table({route("reviews-v2", R"(rules { name: "v2" matches { path { prefix: "/v2" } } })")});
  CHECK(which(*t2, q) == "default");
  CHECK(which(*table({}), q) == "default");
}

TEST_CASE("routes: a rule without matches matches everything") {
  auto t = table({route("r", R"(rules { name: "all" })")});
  CHECK(which(*t, path("/anything/at/all")) == "r/all");
}

TEST_CASE("routes: GRPCRoute service and method matches") {
  pb::Route g = route("grpc", R"(
    kind: GRPC_ROUTE
    rules { name: "exact" matches { grpc { service: "helloworld.Greeter" method: "SayHello" } } }
    rules { name: "service" matches { grpc { service: "helloworld.Greeter" } } }
    rules { name: "method" matches { grpc { method: "Check" } } }
    rules { name: "regex" matches { grpc { regex: true service: "pkg\\.v[0-9]+\\.Svc" } } }
    rules { name: "hdr" matches { grpc { service: "other.Svc" } headers { name: "x-canary" exact: "1" } } }
  )");
  auto t = table({g});
  struct Row {
    const char* path;
    const char* want;
  };
  for (const Row& row : std::vector<Row>{{"/helloworld.Greeter/SayHello", "grpc/exact"},
                                         {"/helloworld.Greeter/SayBye", "grpc/service"},
                                         {"/grpc.health.v1.Health/Check", "grpc/method"},
                                         {"/pkg.v3.Svc/Anything", "grpc/regex"},
                                         {"/pkgXv3.Svc/Anything", "404"},
                                         {"/other.Svc/M", "404"},
                                         {"/helloworld.GreeterX/SayHello", "404"}}) {
    CAPTURE(row.path);
    Req r = path(row.path);
    r.method = "POST";
    CHECK(which(*t, r) == row.want);
  }
  Req canary = path("/other.Svc/M");
  canary.headers.add("x-canary", "1");
  CHECK(which(*t, canary) == "grpc/hdr");
}

TEST_CASE("routes: weighted backend selection is proportional to the draw") {
  auto t = table({route("split", R"(rules {
    name: "split"
    backends { ref { service { namespace: "default" hostname: "reviews-v1.default.svc.cluster.local" } port: 9080 } weight: 90 }
    backends { ref { service { namespace: "default" hostname: "reviews-v2.default.svc.cluster.local" } port: 9080 } weight: 10 }
    backends { ref { service { namespace: "default" hostname: "reviews-v3.default.svc.cluster.local" } port: 9080 } weight: 0 }
  })")});
  RouteDecision d = t->match(kReviews, 9080, RouteRequest{"reviews", "/", "", "GET", nullptr});
  REQUIRE(d.kind == Kind::kRoute);
  REQUIRE(d.rule->total_weight == 100);
  std::map<std::string, int> counts;
  for (uint64_t draw = 0; draw < 1000; ++draw) {
    const auto* b = pick_backend(*d.rule, draw * 7919 + 3);
    REQUIRE(b != nullptr);
    counts[b->target.service->hostname]++;
  }
  CHECK(counts["reviews-v1.default.svc.cluster.local"] == 900);
  CHECK(counts["reviews-v2.default.svc.cluster.local"] == 100);
  CHECK(counts.count("reviews-v3.default.svc.cluster.local") == 0);
  // Edges of the draw.
  CHECK(pick_backend(*d.rule, 89)->target.service->hostname == "reviews-v1.default.svc.cluster.local");
  CHECK(pick_backend(*d.rule, 90)->target.service->hostname == "reviews-v2.default.svc.cluster.local");
  CHECK(pick_backend(*d.rule, 99)->target.service->hostname == "reviews-v2.default.svc.cluster.local");
}

TEST_CASE("routes: no weight means 1, all-zero or no backends means 500, invalid refs stay invalid") {
  auto t = table({route("r", R"(
    rules { name: "default-weight" matches { path { exact: "/a" } }
      backends { ref { workload_uid: "Kubernetes//Pod/default/a" port: 8080 } }
      backends { ref { workload_uid: "Kubernetes//Pod/default/b" port: 8080 } } }
    rules { name: "zero" matches { path { exact: "/z" } }
      backends { ref { workload_uid: "Kubernetes//Pod/default/a" port: 8080 } weight: 0 } }
    rules { name: "none" matches { path { exact: "/n" } } }
    rules { name: "invalid" matches { path { exact: "/i" } }
      backends { ref { invalid: "Service default/missing not found" } } }
  )")});
  auto rule = [&](const char* p) {
    return t->match(kReviews, 9080, RouteRequest{"reviews", p, "", "GET", nullptr}).rule;
  };
  CHECK(rule("/a")->total_weight == 2);
  CHECK(pick_backend(*rule("/a"), 0)->target.workload_uid == "Kubernetes//Pod/default/a");
  CHECK(pick_backend(*rule("/a"), 1)->target.workload_uid == "Kubernetes//Pod/default/b");
  CHECK(pick_backend(*rule("/z"), 5) == nullptr);
  CHECK(pick_backend(*rule("/n"), 5) == nullptr);
  const auto* inv = pick_backend(*rule("/i"), 0);
  REQUIRE(inv != nullptr);
  CHECK_FALSE(inv->target.valid());
  CHECK(inv->target.invalid == "Service default/missing not found");
}

TEST_CASE("routes: compile errors name the route and the field, and leave the route out") {
  struct Row {
    const char* body;
    const char* error;
  };
  const std::vector<Row> rows = {
      {R"(rules { matches { path { regex: "(" } } })", "rules[0].matches[0].path: regex \"(\""},
      {R"(rules { matches { path { exact: "a" } } })", "rules[0].matches[0].path: \"a\" does not start with '/'"},
      {R"(rules { matches { method: "get" } })", "rules[0].matches[0].method: method \"get\": lower case"},
      {R"(rules { matches { headers { name: "" exact: "x" } } })", "rules[0].matches[0].headers[0]: empty name"},
      {R"(rules { matches { headers { name: "x" } } })", "headers[0]: no value (exact or regex)"},
      {R"(rules { matches { grpc { service: "a" } } })", "rules[0].matches[0]: grpc match on an HTTPRoute"},
      {R"(rules { matches { path { exact: "/a" } } filters { url_rewrite { path { replace_prefix_match: "/b" } } } })",
       "replace_prefix_match needs every match of the rule to be a PathPrefix"},
      {R"(rules { filters { request_redirect { status_code: 200 } } })", "status 200 is not 301, 302, 303, 307 or 308"},
      {R"(rules { filters { request_redirect { scheme: "ftp" } } })", "scheme \"ftp\" is not http or https"},
      {R"(rules { filters { request_redirect { hostname: "Evil/x" } } })", "is not a lower-case DNS name"},
      {R"(rules { filters { request_redirect {} } filters { url_rewrite {} } })", "RequestRedirect and URLRewrite cannot be combined"},
      {R"(rules { filters { request_header_modifier { set { name: "x" value: "a\nb" } } } })", "set[0]: header \"x\": value has LF"},
      {R"(rules { filters { request_mirror { backend { workload_uid: "w" port: 1 } numerator: 3 denominator: 2 } } })", "fraction 3/2 is above 1"},
      {R"(rules { backends { ref { port: 80 } } })", "rules[0].backends[0]: no target"},
      {R"(rules { backends { ref { workload_uid: "w" } } })", "rules[0].backends[0]: port 0 is not 1..65535"},
      {R"(rules { timeouts { request { seconds: 1 } backend_request { seconds: 2 } } })", "backend_request (2000 ms) is longer than request (1000 ms)"},
      {R"(rules { retry { codes: 200 } })", "code 200 is not 400..599"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.body);
    std::vector<std::string> errors;
    auto t = table({route("bad", row.body), route("good", R"(rules { name: "ok" })")}, &errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].starts_with("route HTTPRoute default/bad: "));
    CHECK_MESSAGE(errors[0].find(row.error) != std::string::npos, errors[0]);
    CHECK(t->route_count() == 1);
    CHECK(which(*t, path("/x")) == "good/ok");
  }
  // Parents are required.
  pb::Route orphan = parse<pb::Route>(R"(namespace: "default" name: "orphan")");
  auto c = compile_route(orphan);
  REQUIRE_FALSE(c.ok());
  CHECK(std::string(c.status().message()) == "route HTTPRoute default/orphan: no parents");
}

TEST_CASE("routes: Gateway API hostname wildcards") {
  CHECK(hostname_matches("*.example.com", "a.example.com"));
  CHECK(hostname_matches("*.example.com", "a.b.example.com"));
  CHECK_FALSE(hostname_matches("*.example.com", "example.com"));
  CHECK_FALSE(hostname_matches("*.example.com", "aexample.com"));
  CHECK(hostname_matches("example.com", "example.com"));
  CHECK_FALSE(hostname_matches("example.com", "www.example.com"));
}
