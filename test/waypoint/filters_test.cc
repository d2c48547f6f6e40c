// Tests for waypoint/l7/filters: header modifiers, redirects (Location per the Gateway API port
// rules), URL rewrites (the spec's ReplacePrefixMatch table), mirror fractions, retry and
// timeout data; plus resource keys.
#include "waypoint/l7/filters.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "test/waypoint/l7_test_util.h"
#include "waypoint/l7/resource_key.h"

namespace {

namespace pb = ambit::waypoint::v1;
using namespace ambit::waypoint::l7;
using ambit::waypoint::l7::testing::parse;

CompiledFilter filter(const std::string& text, bool prefix_ok = true) {
  auto f = compile_filter(parse<pb::Filter>(text), prefix_ok, "f");
  REQUIRE_MESSAGE(f.ok(), f.status().message());
  return *f;
}

}  // namespace

TEST_CASE("filters: RequestHeaderModifier removes, then sets, then adds") {
  auto f = filter(R"(request_header_modifier {
    set { name: "X-Set" value: "new" }
    add { name: "X-Add" value: "two" }
    remove: "X-Remove"
    remove: "x-set"
  })");
  auto& m = std::get<RequestHeaderModifier>(f).mod;
  HeaderMap h{{"x-set", "old"}, {"x-set", "old2"}, {"x-add", "one"}, {"X-Remove", "gone"},
              {"x-keep", "k"}};
  apply_header_modifier(m, &h);
  CHECK(h.get_all("x-set") == std::vector<std::string_view>{"new"});
  CHECK(h.get_all("x-add") == std::vector<std::string_view>{"one", "two"});
  CHECK_FALSE(h.has("x-remove"));
  CHECK(h.get("x-keep") == "k");
}

TEST_CASE("filters: ResponseHeaderModifier is its own kind") {
  auto f = filter(R"(response_header_modifier { add { name: "x-served-by" value: "waypoint" } })");
  REQUIRE(std::holds_alternative<ResponseHeaderModifier>(f));
  Response resp;
  apply_header_modifier(std::get<ResponseHeaderModifier>(f).mod, &resp.headers);
  CHECK(resp.headers.get("x-served-by") == "waypoint");
}

TEST_CASE("filters: ReplacePrefixMatch follows the Gateway API table") {
  struct Row {
    const char* path;
    const char* prefix;
    const char* replacement;
    const char* want;
  };
  // HTTPPathModifier.ReplacePrefixMatch, Gateway API httproute_types.go.
  for (const Row& r : std::vector<Row>{{"/foo/bar", "/foo", "/xyz", "/xyz/bar"},
                                       {"/foo/bar", "/foo", "/xyz/", "/xyz/bar"},
                                       {"/foo/bar", "/foo/", "/xyz", "/xyz/bar"},
                                       {"/foo/bar", "/foo/", "/xyz/", "/xyz/bar"},
                                       {"/foo", "/foo", "/xyz", "/xyz"},
                                       {"/foo/", "/foo", "/xyz", "/xyz/"},
                                       {"/foo/bar", "/foo", "", "/bar"},
                                       {"/foo/", "/foo", "", "/"},
                                       {"/foo", "/foo", "", "/"},
                                       {"/foo/", "/foo", "/", "/"},
                                       {"/foo", "/foo", "/", "/"},
                                       {"/a/b", "/", "/x", "/x/a/b"},
                                       {"/a/b", "", "/x", "/x/a/b"}}) {
    CAPTURE(r.path);
    CAPTURE(r.prefix);
    CAPTURE(r.replacement);
    CHECK(replace_prefix_match(r.path, r.prefix, r.replacement) == r.want);
  }
}

TEST_CASE("filters: RequestRedirect builds the Location header") {
  struct Row {
    const char* filter;
    const char* authority;
    const char* path;
    const char* query;
    const char* prefix;
    uint16_t status;
    const char* location;
  };
  const std::vector<Row> rows = {
      {R"(request_redirect { hostname: "example.com" })", "reviews:9080", "/a", nullptr, "", 302, "http://example.com:9080/a"},
      {R"(request_redirect { scheme: "https" })", "reviews:9080", "/a", "x=1", "", 302, "https://reviews/a?x=1"},
      {R"(request_redirect { scheme: "http" })", "reviews:9080", "/a", nullptr, "", 302, "http://reviews/a"},
      {R"(request_redirect { scheme: "https" port: 8443 status_code: 301 })", "reviews:9080", "/a", nullptr, "", 301, "https://reviews:8443/a"},
      {R"(request_redirect { port: 80 status_code: 308 })", "reviews:9080", "/", nullptr, "", 308, "http://reviews/"},
      {R"(request_redirect { path { replace_full_path: "/new" } status_code: 303 })", "Reviews:9080", "/old/x", "q", "", 303, "http://reviews:9080/new?q"},
      {R"(request_redirect { path { replace_prefix_match: "/v2" } status_code: 307 })", "reviews:9080", "/v1/items", nullptr, "/v1", 307, "http://reviews:9080/v2/items"},
      {R"(request_redirect { hostname: "a.example" })", "[fd00::1]:9080", "/", nullptr, "", 302, "http://a.example:9080/"},
      {R"(request_redirect { scheme: "https" })", "[fd00::1]:9080", "/", nullptr, "", 302, "https://[fd00::1]/"},
  };
  for (const Row& r : rows) {
    CAPTURE(r.filter);
    auto f = filter(r.filter);
    RequestContext ctx;
    ctx.authority = r.authority;
    ctx.path = r.path;
    ctx.has_query = r.query != nullptr;
    ctx.query = r.query ? r.query : "";
    ctx.matched_prefix = r.prefix;
    ctx.listener_port = 9080;
    Redirect out = redirect_response(std::get<RequestRedirect>(f), ctx);
    CHECK(out.status == r.status);
    CHECK(out.location == r.location);
  }
}

TEST_CASE("filters: URLRewrite replaces host and path, keeps the query") {
  auto f = filter(R"(url_rewrite { hostname: "backend.internal" path { replace_prefix_match: "/api/v2" } })");
  Request req;
  req.authority = "reviews:9080";
  req.path = "/api/v1/items?page=2";
  RequestContext ctx;
  ctx.authority = req.authority;
  ctx.path = "/api/v1/items";
  ctx.query = "page=2";
  ctx.has_query = true;
  ctx.matched_prefix = "/api/v1";
  ctx.listener_port = 9080;
  apply_url_rewrite(std::get<UrlRewrite>(f), ctx, &req);
  CHECK(req.authority == "backend.internal");
  CHECK(req.path == "/api/v2/items?page=2");

  auto full = filter(R"(url_rewrite { path { replace_full_path: "/static" } })", false);
  Request r2;
  r2.authority = "reviews:9080";
  r2.path = "/anything";
  RequestContext c2;
  c2.authority = r2.authority;
  c2.path = "/anything";
  apply_url_rewrite(std::get<UrlRewrite>(full), c2, &r2);
  CHECK(r2.authority == "reviews:9080");
  CHECK(r2.path == "/static");
}

TEST_CASE("filters: RequestMirror fraction given a draw") {
  struct Row {
    const char* text;
    int mirrored_of_1000;
  };
  for (const Row& r : std::vector<Row>{
           {R"(request_mirror { backend { workload_uid: "w" port: 80 } })", 1000},
           {R"(request_mirror { backend { workload_uid: "w" port: 80 } numerator: 25 })", 250},
           {R"(request_mirror { backend { workload_uid: "w" port: 80 } numerator: 1 denominator: 8 })", 125},
           {R"(request_mirror { backend { workload_uid: "w" port: 80 } numerator: 0 denominator: 5 })", 0}}) {
    CAPTURE(r.text);
    auto f = filter(r.text);
    int n = 0;
    for (uint64_t draw = 0; draw < 1000; ++draw) n += mirror_selected(std::get<RequestMirror>(f), draw);
    CHECK(n == r.mirrored_of_1000);
  }
}

TEST_CASE("retry and timeouts as data") {
  auto r = compile_retry(parse<pb::Retry>(R"(attempts: 2 codes: 503 codes: 502 backoff { nanos: 100000000 } connection_errors: true)"), "retry");
  REQUIRE(r.ok());
  CHECK(r->retriable_status(503));
  CHECK(r->retriable_status(502));
  CHECK_FALSE(r->retriable_status(500));
  CHECK(r->allows_retry(1));
  CHECK(r->allows_retry(2));
  CHECK_FALSE(r->allows_retry(3));
  CHECK(r->connection_errors);
  // back-off: [0, (2^n - 1) * 100 ms], capped at 1 s
  CHECK(r->backoff_before(1, 100) == std::chrono::milliseconds(100));
  CHECK(r->backoff_before(1, 101) == std::chrono::milliseconds(0));
  CHECK(r->backoff_before(2, 300) == std::chrono::milliseconds(300));
  CHECK(r->backoff_before(10, 1000) == std::chrono::milliseconds(1000));
  CHECK(r->backoff_before(10, 1001) == std::chrono::milliseconds(0));
  CHECK(r->backoff_before(64, ~uint64_t{0}) <= std::chrono::milliseconds(1000));
  auto defaults = compile_retry(pb::Retry(), "retry");
  REQUIRE(defaults.ok());
  CHECK(defaults->backoff == std::chrono::milliseconds(25));
  CHECK_FALSE(defaults->allows_retry(1));

  auto t = compile_timeouts(parse<pb::Timeouts>(R"(request { seconds: 10 } backend_request { seconds: 0 })"), "t");
  REQUIRE(t.ok());
  CHECK(t->request == std::chrono::milliseconds(10000));
  CHECK_FALSE(t->backend_request.has_value());  // 0s: no timeout
  auto sub_ms = compile_timeouts(parse<pb::Timeouts>(R"(request { nanos: 1 })"), "t");
  REQUIRE(sub_ms.ok());
  CHECK(sub_ms->request == std::chrono::milliseconds(1));  // rounded up, never "none"
  CHECK_FALSE(compile_timeouts(parse<pb::Timeouts>(R"(request { seconds: -1 })"), "t").ok());
}

TEST_CASE("resource type URL is the Resource message's") {
  CHECK(kResourceTypeUrl ==
        "type.googleapis.com/" + pb::Resource::descriptor()->full_name());
}

TEST_CASE("resource keys") {
  struct Row {
    const char* text;
    const char* key;  // nullptr: refused
  };
  for (const Row& r : std::vector<Row>{
           {R"(listener { service { namespace: "default" hostname: "reviews.default.svc.cluster.local" } port: 9080 })",
            "listener/default/reviews.default.svc.cluster.local:9080"},
           {R"(listener { service { namespace: "default" hostname: "r" } port: 0 })", nullptr},
           {R"(listener { port: 80 })", nullptr},
           {R"(route { namespace: "default" name: "reviews" })", "route/HTTPRoute/default/reviews"},
           {R"(route { kind: GRPC_ROUTE namespace: "default" name: "greeter" })", "route/GRPCRoute/default/greeter"},
           {R"(route { namespace: "default" })", nullptr},
           {R"(route { namespace: "a/b" name: "c" })", nullptr},
           {R"(authorization { namespace: "default" name: "deny-admin" })", "authorization/default/deny-admin"},
           {R"(authorization { name: "x" })", nullptr},
           {R"(mesh { path_normalization: MERGE_SLASHES })", "mesh"},
           {"", nullptr}}) {
    CAPTURE(r.text);
    auto k = resource_key(parse<pb::Resource>(r.text));
    if (r.key) {
      REQUIRE_MESSAGE(k.ok(), k.status().message());
      CHECK(*k == r.key);
    } else {
      CHECK_FALSE(k.ok());
    }
  }
}
