// Tests for waypoint/l7/authz: Istio AuthorizationPolicy semantics at the waypoint, every key
// and its not_ form, the CVEs that apply to an L7 policy engine (named after them), fail-closed
// handling of policies that do not compile, and agreement with ztunnel on the L4 keys.
#include "waypoint/l7/authz.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "test/waypoint/l7_test_util.h"
#include "waypoint/l7/http_message.h"
#include "waypoint/l7/path_normalize.h"
#include "ztunnel/rbac/rbac.h"

namespace {

namespace pb = ambit::waypoint::v1;
using ambit::SpiffeId;
using ambit::waypoint::l7::AuthzDecision;
using ambit::waypoint::l7::AuthzRequest;
using ambit::waypoint::l7::CompiledPolicy;
using ambit::waypoint::l7::HeaderMap;
using ambit::waypoint::l7::normalize_path;
using ambit::waypoint::l7::PathNormalization;
using ambit::waypoint::l7::PolicySet;
using ambit::waypoint::l7::ServiceKey;
using ambit::waypoint::l7::testing::cidr;
using ambit::waypoint::l7::testing::id;
using ambit::waypoint::l7::testing::ip;
using ambit::waypoint::l7::testing::mapped_cidr;
using ambit::waypoint::l7::testing::parse;

const ServiceKey kSvc{"default", "reviews.default.svc.cluster.local"};

// A request from sleep (default/sleep, 10.0.0.5) to reviews:9080.
struct Req {
  std::string method = "GET";
  std::string host = "reviews.default.svc.cluster.local:9080";
  std::string path = "/";
  HeaderMap headers;
  std::optional<SpiffeId> peer = id("default", "sleep");
  const char* source = "10.0.0.5";
  const char* remote = nullptr;
  uint16_t port = 9080;

  AuthzRequest view() const {
    AuthzRequest r;
    r.source_ip = ip(source);
    if (remote) r.remote_ip = ip(remote);
    r.peer = peer;
    r.destination_ip = ip("10.96.0.10");
    r.destination_port = port;
    r.host = host;
    r.method = method;
    r.path = path;
    r.headers = &headers;
    return r;
  }
};

pb::Authorization policy(const std::string& name, const std::string& action,
                         const std::string& rules, const std::string& target = "waypoint {}") {
  return parse<pb::Authorization>("namespace: \"default\" name: \"" + name + "\" action: " +
                                  action + " targets { " + target + " } " + rules);
}

AuthzDecision eval(const std::vector<pb::Authorization>& policies, const Req& req,
                   std::vector<std::string>* errors = nullptr) {
  std::vector<const pb::Authorization*> ptrs;
  for (const auto& p : policies) ptrs.push_back(&p);
  std::vector<std::string> local;
  PolicySet set = PolicySet::build(ptrs, errors ? errors : &local);
  return set.evaluate(kSvc, req.view());
}

bool matches(const std::string& rules, const Req& req) {
  auto c = CompiledPolicy::compile(policy("p", "ALLOW", rules));
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  return c->matches(req.view());
}

}  // namespace

TEST_CASE("authz: no policy allows, an ALLOW that matches nothing denies") {
  Req r;
  AuthzDecision d = eval({}, r);
  CHECK(d.allowed);
  CHECK(d.reason == "no allow policies, allow");

  d = eval({policy("only-admin", "ALLOW", R"(rules { to { paths { exact: "/admin" } } })")}, r);
  CHECK_FALSE(d.allowed);
  CHECK(d.policy.empty());
  CHECK(d.reason == "allow policies exist, but none allowed");

  // No rules: an ALLOW allows nothing, a DENY denies nothing.
  CHECK_FALSE(eval({policy("allow-nothing", "ALLOW", "")}, r).allowed);
  CHECK(eval({policy("deny-nothing", "DENY", "")}, r).allowed);
  // One empty rule matches everything.
  CHECK(eval({policy("allow-all", "ALLOW", "rules {}")}, r).allowed);
  CHECK_FALSE(eval({policy("deny-all", "DENY", "rules {}")}, r).allowed);
}

TEST_CASE("authz: AUDIT, then DENY, then ALLOW, and the decision names the policy") {
  Req r;
  r.path = "/admin";
  const auto audit = policy("audit-admin", "AUDIT", R"(rules { to { paths { prefix: "/adm" } } })");
  const auto deny = policy("deny-admin", "DENY", R"(rules { to { paths { exact: "/admin" } } })");
  const auto allow = policy("allow-all", "ALLOW", "rules {}");

  AuthzDecision d = eval({allow, deny, audit}, r);
  CHECK_FALSE(d.allowed);
  CHECK(d.policy == "default/deny-admin");
  CHECK(d.reason == "explicitly denied by: default/deny-admin");
  CHECK(d.audited == std::vector<std::string>{"default/audit-admin"});

  r.path = "/public";
  d = eval({allow, deny, audit}, r);
  CHECK(d.allowed);
  CHECK(d.policy == "default/allow-all");
  CHECK(d.reason == "allowed by: default/allow-all");
  CHECK(d.audited.empty());

  // AUDIT alone never changes the decision and does not count as an ALLOW.
  r.path = "/admin";
  d = eval({audit}, r);
  CHECK(d.allowed);
  CHECK(d.audited.size() == 1);
}

TEST_CASE("authz: policies apply by target") {
  Req r;
  const auto other = policy("deny-other-svc", "DENY", "rules {}",
                            R"(service { namespace: "default" hostname: "ratings.default.svc.cluster.local" })");
  const auto mine = policy("deny-reviews", "DENY", "rules {}",
                           R"(service { namespace: "default" hostname: "reviews.default.svc.cluster.local" })");
  CHECK(eval({other}, r).allowed);
  CHECK_FALSE(eval({other, mine}, r).allowed);
  CHECK(eval({other, mine}, r).policy == "default/deny-reviews");
}

TEST_CASE("authz: dry-run policies are reported, never enforced") {
  Req r;
  auto deny = policy("deny-all", "DENY", "rules {}");
  deny.set_dry_run(true);
  AuthzDecision d = eval({deny}, r);
  CHECK(d.allowed);
  REQUIRE(d.dry_run.has_value());
  CHECK_FALSE(d.dry_run->allowed);
  CHECK(d.dry_run->policy == "default/deny-all");
}

TEST_CASE("authz: paths, methods, hosts, ports and their not_ forms") {
  struct Row {
    const char* rules;
    Req req;
    bool match;
  };
  auto req = [](const char* method, const char* host, const char* path, uint16_t port = 9080) {
    Req r;
    r.method = method;
    r.host = host;
    r.path = path;
    r.port = port;
    return r;
  };
  const char* h = "reviews:9080";
  const std::vector<Row> rows = {
      {R"(rules { to { paths { exact: "/a" } } })", req("GET", h, "/a"), true},
      {R"(rules { to { paths { exact: "/a" } } })", req("GET", h, "/a/"), false},
      {R"(rules { to { paths { prefix: "/api/" } } })", req("GET", h, "/api/v1"), true},
      {R"(rules { to { paths { prefix: "/api/" } } })", req("GET", h, "/api"), false},
      {R"(rules { to { paths { suffix: ".js" } } })", req("GET", h, "/x/app.js"), true},
      {R"(rules { to { paths { presence {} } } })", req("GET", h, "/"), true},
      {R"(rules { to { paths { path_template: "/foo/{*}" } } })", req("GET", h, "/foo/bar"), true},
      {R"(rules { to { paths { path_template: "/foo/{*}" } } })", req("GET", h, "/foo/bar/baz"), false},
      {R"(rules { to { paths { path_template: "/foo/{*}" } } })", req("GET", h, "/foo/"), false},
      {R"(rules { to { paths { path_template: "/foo/{**}" } } })", req("GET", h, "/foo/a/b/c"), true},
      {R"(rules { to { paths { path_template: "/foo/{**}" } } })", req("GET", h, "/foo/"), true},
      {R"(rules { to { paths { path_template: "/foo/{**}/" } } })", req("GET", h, "/foo/bar/"), true},
      {R"(rules { to { paths { path_template: "/foo/{**}/" } } })", req("GET", h, "/foo/bar"), false},
      {R"(rules { to { paths { path_template: "/foo/{*}/bar/{**}" } } })", req("GET", h, "/foo/x/bar/y/z"), true},
      {R"(rules { to { paths { path_template: "/foo/{*}/bar/{**}" } } })", req("GET", h, "/foo/x/y/bar/z"), false},
      {R"(rules { to { paths { path_template: "/a.b/{*}" } } })", req("GET", h, "/aXb/c"), false},
      {R"(rules { to { not_paths { exact: "/healthz" } } })", req("GET", h, "/healthz"), false},
      {R"(rules { to { not_paths { exact: "/healthz" } } })", req("GET", h, "/x"), true},
      {R"(rules { to { methods { exact: "GET" } methods { exact: "HEAD" } } })", req("HEAD", h, "/"), true},
      {R"(rules { to { methods { exact: "GET" } } })", req("POST", h, "/"), false},
      {R"(rules { to { not_methods { exact: "DELETE" } } })", req("DELETE", h, "/"), false},
      {R"(rules { to { hosts { exact: "reviews" } } })", req("GET", "reviews:9080", "/"), true},
      {R"(rules { to { hosts { exact: "reviews" } } })", req("GET", "reviews", "/"), true},
      {R"(rules { to { hosts { exact: "reviews:9080" } } })", req("GET", "reviews:9080", "/"), true},
      {R"(rules { to { hosts { exact: "reviews:9080" } } })", req("GET", "reviews:80", "/"), false},
      {R"(rules { to { hosts { suffix: ".svc.cluster.local" } } })", req("GET", "a.NS.svc.cluster.local:80", "/"), true},
      {R"(rules { to { hosts { prefix: "reviews." } } })", req("GET", "Reviews.default", "/"), true},
      {R"(rules { to { not_hosts { exact: "evil.com" } } })", req("GET", "EVIL.com:443", "/"), false},
      {R"(rules { to { ports: 9080 } })", req("GET", h, "/", 9080), true},
      {R"(rules { to { ports: 9080 } })", req("GET", h, "/", 9090), false},
      {R"(rules { to { not_ports: 9080 } })", req("GET", h, "/", 9080), false},
      // fields AND-ed, values OR-ed, operations OR-ed
      {R"(rules { to { methods { exact: "GET" } paths { exact: "/a" } } })", req("GET", h, "/b"), false},
      {R"(rules { to { methods { exact: "POST" } } to { paths { exact: "/b" } } })", req("GET", h, "/b"), true},
  };
  for (const Row& row : rows) {
    CAPTURE(row.rules);
    CAPTURE(row.req.method);
    CAPTURE(row.req.host);
    CAPTURE(row.req.path);
    CHECK(matches(row.rules, row.req) == row.match);
  }
}

TEST_CASE("authz: principals, namespaces, service accounts, source and remote IPs") {
  struct Row {
    std::string rules;
    std::optional<SpiffeId> peer;
    const char* source;
    const char* remote;
    bool match;
  };
  const auto sleep = id("default", "sleep");
  const auto prod = id("prod", "api");
  const std::vector<Row> rows = {
      {R"(rules { from { principals { exact: "cluster.local/ns/default/sa/sleep" } } })", sleep, "10.0.0.5", nullptr, true},
      {R"(rules { from { principals { exact: "spiffe://cluster.local/ns/default/sa/sleep" } } })", sleep, "10.0.0.5", nullptr, false},
      {R"(rules { from { principals { prefix: "cluster.local/ns/prod/" } } })", prod, "10.0.0.5", nullptr, true},
      {R"(rules { from { principals { suffix: "/sa/sleep" } } })", sleep, "10.0.0.5", nullptr, true},
      {R"(rules { from { principals { presence {} } } })", sleep, "10.0.0.5", nullptr, true},
      {R"(rules { from { principals { presence {} } } })", std::nullopt, "10.0.0.5", nullptr, false},
      {R"(rules { from { not_principals { presence {} } } })", std::nullopt, "10.0.0.5", nullptr, true},
      {R"(rules { from { not_principals { suffix: "/sa/sleep" } } })", sleep, "10.0.0.5", nullptr, false},
      {R"(rules { from { namespaces { exact: "prod" } } })", prod, "10.0.0.5", nullptr, true},
      {R"(rules { from { namespaces { exact: "prod" } } })", sleep, "10.0.0.5", nullptr, false},
      {R"(rules { from { namespaces { prefix: "pro" } } })", prod, "10.0.0.5", nullptr, true},
      {R"(rules { from { not_namespaces { exact: "default" } } })", sleep, "10.0.0.5", nullptr, false},
      {R"(rules { from { service_accounts { namespace: "default" serviceAccount: "sleep" } } })", sleep, "10.0.0.5", nullptr, true},
      {R"(rules { from { service_accounts { namespace: "prod" serviceAccount: "sleep" } } })", sleep, "10.0.0.5", nullptr, false},
      {R"(rules { from { not_service_accounts { namespace: "default" serviceAccount: "sleep" } } })", sleep, "10.0.0.5", nullptr, false},
      // request principals: no JWT at the waypoint, so never present
      {R"(rules { from { request_principals { presence {} } } })", sleep, "10.0.0.5", nullptr, false},
      {R"(rules { from { not_request_principals { presence {} } } })", sleep, "10.0.0.5", nullptr, true},
  };
  for (const Row& row : rows) {
    Req r;
    r.peer = row.peer;
    r.source = row.source;
    r.remote = row.remote;
    CAPTURE(row.rules);
    CHECK(matches(row.rules, r) == row.match);
  }

  // CIDRs are bytes in the proto: built in code.
  auto with_blocks = [](auto add) {
    auto p = policy("ips", "ALLOW", "rules { from { } }");
    add(p.mutable_rules(0)->mutable_from(0));
    auto c = CompiledPolicy::compile(p);
    REQUIRE_MESSAGE(c.ok(), c.status().message());
    return *c;
  };
  Req r;
  CHECK(with_blocks([](pb::Source* s) { *s->add_ip_blocks() = cidr("10.0.0.0", 24); }).matches(r.view()));
  CHECK_FALSE(with_blocks([](pb::Source* s) { *s->add_ip_blocks() = cidr("10.0.1.0", 24); }).matches(r.view()));
  CHECK_FALSE(with_blocks([](pb::Source* s) { *s->add_not_ip_blocks() = cidr("10.0.0.5", 32); }).matches(r.view()));
  // an IPv6 network never holds an IPv4 address, not even as ::ffff:0:0/96
  CHECK_FALSE(with_blocks([](pb::Source* s) { *s->add_ip_blocks() = mapped_cidr("10.0.0.0", 120); }).matches(r.view()));
  // remote.ip defaults to the source; when given, remote_ip_blocks use it and ip_blocks do not
  CHECK(with_blocks([](pb::Source* s) { *s->add_remote_ip_blocks() = cidr("10.0.0.5", 32); }).matches(r.view()));
  r.remote = "192.0.2.7";
  CHECK(with_blocks([](pb::Source* s) { *s->add_remote_ip_blocks() = cidr("192.0.2.0", 24); }).matches(r.view()));
  CHECK(with_blocks([](pb::Source* s) { *s->add_ip_blocks() = cidr("10.0.0.5", 32); }).matches(r.view()));
  CHECK_FALSE(with_blocks([](pb::Source* s) { *s->add_not_remote_ip_blocks() = cidr("192.0.2.0", 24); }).matches(r.view()));
}

TEST_CASE("authz: when conditions on L4 keys and absent keys") {
  Req r;
  auto cond = [&](const std::string& c) { return matches("rules { when { " + c + " } }", r); };
  CHECK(cond(R"(key: SOURCE_NAMESPACE values { exact: "default" })"));
  CHECK_FALSE(cond(R"(key: SOURCE_NAMESPACE not_values { exact: "default" })"));
  CHECK(cond(R"(key: SOURCE_PRINCIPAL values { suffix: "/sa/sleep" })"));
  CHECK(cond(R"(key: DESTINATION_PORT port_values: 9080)"));
  CHECK_FALSE(cond(R"(key: DESTINATION_PORT not_port_values: 9080)"));
  // request.auth.* and connection.sni are never present: values never match, not_values do
  CHECK_FALSE(cond(R"(key: REQUEST_AUTH_CLAIM name: "groups" values { exact: "admin" })"));
  CHECK(cond(R"(key: REQUEST_AUTH_CLAIM name: "groups" not_values { exact: "admin" })"));
  CHECK_FALSE(cond(R"(key: CONNECTION_SNI values { presence {} })"));
  // several conditions are AND-ed
  CHECK_FALSE(matches(R"(rules { when { key: SOURCE_NAMESPACE values { exact: "default" } }
                                 when { key: DESTINATION_PORT port_values: 1 } })",
                      r));
}

TEST_CASE("authz: request.headers values and not_values") {
  struct Row {
    const char* cond;
    std::vector<std::pair<const char*, const char*>> headers;
    bool match;
  };
  const std::vector<Row> rows = {
      {R"(values { exact: "admin" })", {{"x-role", "admin"}}, true},
      {R"(values { exact: "admin" })", {{"X-Role", "admin"}}, true},
      {R"(values { exact: "admin" })", {{"x-role", "Admin"}}, false},
      {R"(values { exact: "admin" })", {}, false},
      {R"(values { prefix: "adm" })", {{"x-role", "admin"}}, true},
      {R"(values { presence {} })", {{"x-role", ""}}, true},  // present, even empty
      {R"(values { presence {} })", {}, false},
      {R"(not_values { exact: "admin" })", {}, true},
      {R"(not_values { exact: "admin" })", {{"x-role", "user"}}, true},
      {R"(not_values { exact: "admin" })", {{"x-role", "admin"}}, false},
  };
  for (const Row& row : rows) {
    Req r;
    for (const auto& [n, v] : row.headers) r.headers.add(n, v);
    CAPTURE(row.cond);
    CHECK(matches(std::string("rules { when { key: REQUEST_HEADER name: \"X-Role\" ") + row.cond +
                      " } }",
                  r) == row.match);
  }
}

TEST_CASE("CVE-2026-26308: x-role user plus x-role admin neither evades a DENY nor passes an ALLOW") {
  Req r;
  r.headers.add("x-role", "user");
  r.headers.add("x-role", "admin");
  // DENY exact admin: the second value is admin → denied (the joined "user,admin" is never
  // what is compared).
  AuthzDecision d = eval(
      {policy("deny-admin", "DENY",
              R"(rules { when { key: REQUEST_HEADER name: "x-role" values { exact: "admin" } } })")},
      r);
  CHECK_FALSE(d.allowed);
  CHECK(d.policy == "default/deny-admin");
  // ALLOW everyone but admins: one value is admin → not allowed.
  d = eval({policy("allow-non-admin", "ALLOW",
                   R"(rules { when { key: REQUEST_HEADER name: "x-role" not_values { exact: "admin" } } })")},
           r);
  CHECK_FALSE(d.allowed);
  // Each value on its own: "user,admin" as one value is not "admin".
  Req joined;
  joined.headers.add("x-role", "user,admin");
  CHECK(eval({policy("deny-admin", "DENY",
                     R"(rules { when { key: REQUEST_HEADER name: "x-role" values { exact: "admin" } } })")},
             joined)
            .allowed);
}

TEST_CASE("CVE-2020-25017: a DENY on a repeated header sees every value, not only the first") {
  Req r;
  r.headers.add("x-debug", "off");
  r.headers.add("x-debug", "on");
  CHECK_FALSE(eval({policy("no-debug", "DENY",
                           R"(rules { when { key: REQUEST_HEADER name: "x-debug" values { exact: "on" } } })")},
                   r)
                  .allowed);
}

TEST_CASE("CVE-2019-9900: a NUL in a header value is refused before authorization") {
  using ambit::waypoint::l7::validate_header;
  auto st = validate_header("x-role", std::string_view("admin\0evil", 10));
  REQUIRE_FALSE(st.ok());
  CHECK(std::string(st.message()) == "header \"x-role\": value has NUL at offset 5");
  CHECK_FALSE(validate_header("x-role", "a\r\nx-injected: 1").ok());
  CHECK(validate_header("x-role", "admin").ok());
  // And were it to get through, an exact match compares the whole value.
  Req r;
  r.headers.add("x-role", std::string_view("admin\0evil", 10));
  CHECK_FALSE(matches(R"(rules { when { key: REQUEST_HEADER name: "x-role" values { exact: "admin" } } })", r));
}

TEST_CASE("GHSA-w44g-8m76-8gc5: a lower-case method is refused, never compared") {
  using ambit::waypoint::l7::validate_method;
  CHECK_FALSE(validate_method("get").ok());
  CHECK_FALSE(validate_method("Get").ok());
  CHECK_FALSE(validate_method("GET /").ok());
  CHECK_FALSE(validate_method("").ok());
  CHECK(validate_method("GET").ok());
  CHECK(validate_method("PROPFIND").ok());
}

TEST_CASE("CVE-2021-39155: hosts are compared case-insensitively") {
  const auto deny = policy("deny-httpbin", "DENY", R"(rules { to { hosts { exact: "httpbin.foo" } } })");
  for (const char* host : {"httpbin.foo", "Httpbin.Foo", "HTTPBIN.FOO:8000", "httpbin.foo:80"}) {
    Req r;
    r.host = host;
    CAPTURE(host);
    CHECK_FALSE(eval({deny}, r).allowed);
  }
  Req other;
  other.host = "httpbin.foo.evil";
  CHECK(eval({deny}, other).allowed);
}

TEST_CASE("CVE-2026-39350: a dot in serviceAccounts or principals is literal") {
  Req r;
  r.peer = id("cert-managerXio", "sa");
  CHECK_FALSE(matches(R"(rules { from { service_accounts { namespace: "cert-manager.io" serviceAccount: "sa" } } })", r));
  CHECK_FALSE(matches(R"(rules { from { principals { exact: "cluster.local/ns/cert-manager.io/sa/sa" } } })", r));
  r.peer = id("cert-manager.io", "sa");
  CHECK(matches(R"(rules { from { service_accounts { namespace: "cert-manager.io" serviceAccount: "sa" } } })", r));
}

// The path CVEs end to end through normalization: the path a DENY on /admin must see.
namespace {
bool denied_admin(const char* raw, PathNormalization mode) {
  auto p = normalize_path(raw, mode);
  if (!p.ok()) return true;  // refused with 400: never reaches the backend
  Req r;
  r.path = p->path;
  return !eval({policy("deny-admin", "DENY",
                       R"(rules { to { paths { exact: "/admin" } paths { prefix: "/admin/" } } })")},
               r)
              .allowed;
}
}  // namespace

TEST_CASE("CVE-2019-9901: /admin/../admin and /info/../admin hit a DENY on /admin") {
  CHECK(denied_admin("/admin/../admin", PathNormalization::kBase));
  CHECK(denied_admin("/info/../admin", PathNormalization::kBase));
  CHECK(denied_admin("/info/%2e%2e/admin", PathNormalization::kBase));
}

TEST_CASE("CVE-2021-31920: //admin, /admin%2F and /a%2F..%2Fadmin hit a DENY on /admin") {
  CHECK(denied_admin("//admin", PathNormalization::kMergeSlashes));
  CHECK(denied_admin("//admin", PathNormalization::kDecodeAndMergeSlashes));
  CHECK(denied_admin("/admin%2F", PathNormalization::kDecodeAndMergeSlashes));
  CHECK(denied_admin("/admin%2fx", PathNormalization::kDecodeAndMergeSlashes));
  CHECK(denied_admin("/a%2F..%2Fadmin", PathNormalization::kDecodeAndMergeSlashes));
  CHECK(denied_admin("/a%5C..%5Cadmin", PathNormalization::kDecodeAndMergeSlashes));
  CHECK(denied_admin("/a\\..\\admin", PathNormalization::kBase));
}

TEST_CASE("CVE-2021-31920: /%61dmin is /admin once unreserved escapes are decoded") {
  CHECK(denied_admin("/%61dmin", PathNormalization::kBase));
  CHECK(denied_admin("/%61%64%6D%69%6E", PathNormalization::kMergeSlashes));
}

TEST_CASE("CVE-2020-8595: /admin?x hits a DENY on /admin") {
  CHECK(denied_admin("/admin?x", PathNormalization::kBase));
  CHECK(denied_admin("/admin?", PathNormalization::kNone));
}

TEST_CASE("CVE-2021-39156: /admin#x hits a DENY on /admin") {
  CHECK(denied_admin("/admin#x", PathNormalization::kBase));
  CHECK(denied_admin("/admin#x", PathNormalization::kNone));
}

TEST_CASE("authz: a policy that does not compile fails closed and says why") {
  struct Row {
    const char* action;
    const char* rules;
    const char* error;
  };
  const std::vector<Row> rows = {
      {"DENY", R"(rules { to { paths { path_template: "/a/{**}/b/{*}" } } })", "{**} must be the last operator"},
      {"DENY", R"(rules { to { paths { path_template: "/a/x{*}" } } })", "allowed only as a whole {*} or {**} segment"},
      {"DENY", R"(rules { to { hosts { path_template: "/a/{*}" } } })", "rules[0].to[0].hosts[0]: a path template outside paths"},
      {"DENY", R"(rules { from { } })", "rules[0].from[0]: empty source"},
      {"DENY", R"(rules { to { } })", "rules[0].to[0]: empty operation"},
      {"DENY", R"(rules { when { key: KEY_UNSPECIFIED values { exact: "x" } } })", "rules[0].when[0]: unknown key"},
      {"DENY", R"(rules { when { key: REQUEST_HEADER values { exact: "x" } } })", "REQUEST_HEADER needs a name"},
      {"DENY", R"(rules { when { key: SOURCE_IP values { exact: "x" } } })", "values of the wrong type for SOURCE_IP"},
      {"DENY", R"(rules { when { key: SOURCE_NAMESPACE } })", "no values or not_values"},
      {"DENY", R"(rules { to { ports: 70000 } })", "port 70000 is not 1..65535"},
      {"ALLOW", R"(rules { to { paths { exact: "" } } })", "rules[0].to[0].paths[0]: empty value"},
      {"ALLOW", R"(rules { to { paths { } } })", "no match kind set"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.rules);
    std::vector<std::string> errors;
    AuthzDecision d = eval({policy("broken", row.action, row.rules)}, Req{}, &errors);
    REQUIRE(errors.size() == 1);
    CHECK_MESSAGE(errors[0].find(row.error) != std::string::npos, errors[0]);
    CHECK(errors[0].starts_with("authorization default/broken: "));
    // DENY → denies everything; ALLOW → allows nothing. Either way: denied.
    CHECK_FALSE(d.allowed);
    if (std::string(row.action) == "DENY") {
      CHECK(d.reason.find("explicitly denied by: default/broken (policy rejected: ") == 0);
    }
  }
  // A broken DENY next to a good ALLOW still denies.
  std::vector<std::string> errors;
  CHECK_FALSE(eval({policy("allow-all", "ALLOW", "rules {}"),
                    policy("broken", "DENY", R"(rules { to { } })")},
                   Req{}, &errors)
                  .allowed);
  // A bad CIDR.
  auto p = policy("bad-cidr", "DENY", "rules { from { } }");
  auto* a = p.mutable_rules(0)->mutable_from(0)->add_ip_blocks();
  a->set_address("\x0a\x00\x00", 3);
  auto c = CompiledPolicy::compile(p);
  REQUIRE_FALSE(c.ok());
  CHECK(std::string(c.status().message()).find("ip_blocks[0]: address of 3 bytes") != std::string::npos);
}

// ---- agreement with ztunnel on L4 keys ---------------------------------------------------

namespace {

namespace sec = istio::security;

// The same L4 source as a waypoint Source and as a ztunnel Match.
struct L4 {
  using Strings = std::vector<std::string>;
  using Cidrs = std::vector<std::pair<const char*, uint32_t>>;
  using Sas = std::vector<std::pair<const char*, const char*>>;
  Strings principals = {};
  Strings not_principals = {};
  Strings namespaces = {};
  Strings not_namespaces = {};
  Cidrs ips = {};
  Cidrs not_ips = {};
  Sas sas = {};
  Sas not_sas = {};
  std::vector<uint32_t> ports = {};
  std::vector<uint32_t> not_ports = {};
};

void add_string(const std::string& v, pb::StringMatch* w, sec::StringMatch* z) {
  if (v == "*") {
    w->mutable_presence();
    z->mutable_presence();
  } else if (v.starts_with('*')) {
    w->set_suffix(v.substr(1));
    z->set_suffix(v.substr(1));
  } else if (v.ends_with('*')) {
    w->set_prefix(v.substr(0, v.size() - 1));
    z->set_prefix(v.substr(0, v.size() - 1));
  } else {
    w->set_exact(v);
    z->set_exact(v);
  }
}

// Builds both policies: rule = from (source fields) AND to (ports), as istiod's L4 conversion
// lays it out (a `to` clause, then a `from` clause).
std::pair<pb::Authorization, sec::Authorization> both(const L4& l4, bool deny) {
  pb::Authorization w = policy("l4", deny ? "DENY" : "ALLOW", "rules {}");
  sec::Authorization z;
  z.set_name("l4");
  z.set_namespace_("default");
  z.set_action(deny ? sec::DENY : sec::ALLOW);
  pb::Rule* wr = w.mutable_rules(0);
  sec::Rule* zr = z.add_rules();
  if (!l4.ports.empty() || !l4.not_ports.empty()) {
    pb::Operation* op = wr->add_to();
    sec::Match* m = zr->add_clauses()->add_matches();
    for (uint32_t p : l4.ports) op->add_ports(p), m->add_destination_ports(p);
    for (uint32_t p : l4.not_ports) op->add_not_ports(p), m->add_not_destination_ports(p);
  }
  bool any_source = !l4.principals.empty() || !l4.not_principals.empty() || !l4.namespaces.empty() ||
                    !l4.not_namespaces.empty() || !l4.ips.empty() || !l4.not_ips.empty() ||
                    !l4.sas.empty() || !l4.not_sas.empty();
  if (any_source) {
    pb::Source* s = wr->add_from();
    sec::Match* m = zr->add_clauses()->add_matches();
    for (const auto& v : l4.principals) add_string(v, s->add_principals(), m->add_principals());
    for (const auto& v : l4.not_principals) add_string(v, s->add_not_principals(), m->add_not_principals());
    for (const auto& v : l4.namespaces) add_string(v, s->add_namespaces(), m->add_namespaces());
    for (const auto& v : l4.not_namespaces) add_string(v, s->add_not_namespaces(), m->add_not_namespaces());
    for (const auto& [a, l] : l4.ips) {
      std::string_view text(a);
      auto c = text.starts_with("mapped:") ? mapped_cidr(a + 7, l) : cidr(a, l);
      *s->add_ip_blocks() = c;
      *m->add_source_ips() = c;
    }
    for (const auto& [a, l] : l4.not_ips) *s->add_not_ip_blocks() = cidr(a, l), *m->add_not_source_ips() = cidr(a, l);
    for (const auto& [n, sa] : l4.sas) {
      auto* x = s->add_service_accounts();
      x->set_namespace_(n), x->set_serviceaccount(sa);
      *m->add_service_accounts() = *x;
    }
    for (const auto& [n, sa] : l4.not_sas) {
      auto* x = s->add_not_service_accounts();
      x->set_namespace_(n), x->set_serviceaccount(sa);
      *m->add_not_service_accounts() = *x;
    }
  }
  return {w, z};
}

}  // namespace

TEST_CASE("authz: agrees with ztunnel's RBAC on every L4 key") {
  const std::vector<L4> policies = {
      {.principals = {"cluster.local/ns/default/sa/sleep"}},
      {.principals = {"*"}},
      {.principals = {"cluster.local/ns/prod/*"}},
      {.principals = {"*/sa/sleep"}},
      {.not_principals = {"*"}},
      {.not_principals = {"cluster.local/ns/default/sa/sleep"}},
      {.namespaces = {"default"}},
      {.namespaces = {"pro*"}},
      {.not_namespaces = {"default"}},
      {.ips = {{"10.0.0.0", 24}}},
      {.ips = {{"10.0.0.5", 32}, {"192.0.2.0", 24}}},
      {.not_ips = {{"10.0.0.0", 8}}},
      {.ips = {{"mapped:10.0.0.0", 120}}},
      {.ips = {{"2001:db8::", 32}}},
      {.sas = {{"default", "sleep"}}},
      {.sas = {{"cert-manager.io", "sa"}}},
      {.not_sas = {{"default", "sleep"}}},
      {.ports = {9080}},
      {.not_ports = {9080}},
      {.principals = {"*"}, .ips = {{"10.0.0.0", 24}}, .ports = {9080, 9090}},
      {.namespaces = {"default"}, .not_ips = {{"10.0.0.5", 32}}, .not_ports = {15000}},
  };
  struct Conn {
    std::optional<SpiffeId> peer;
    const char* src;
    uint16_t port;
  };
  const std::vector<Conn> conns = {
      {id("default", "sleep"), "10.0.0.5", 9080},
      {id("prod", "api"), "10.0.0.9", 9090},
      {id("cert-manager.io", "sa"), "192.0.2.7", 15000},
      {id("cert-managerXio", "sa"), "10.1.0.1", 9080},
      {std::nullopt, "10.0.0.5", 9080},
      {id("default", "sleep"), "2001:db8::1", 9080},
  };
  int compared = 0;
  for (size_t i = 0; i < policies.size(); ++i) {
    for (bool deny : {false, true}) {
      auto [w, z] = both(policies[i], deny);
      for (const Conn& c : conns) {
        Req r;
        r.peer = c.peer;
        r.source = c.src;
        r.port = c.port;
        ambit::ztunnel::RbacConnection zc{ip(c.src), c.peer, ip("10.96.0.10"), c.port};
        const bool wz = eval({w}, r).allowed;
        const bool zt = ambit::ztunnel::evaluate_rbac(
                            std::vector<const sec::Authorization*>{&z}, zc)
                            .allowed;
        CAPTURE(i);
        CAPTURE(deny);
        std::string src = c.src;
        CAPTURE(src);
        CAPTURE(c.port);
        CHECK(wz == zt);
        ++compared;
      }
    }
  }
  CHECK(compared == 21 * 2 * 6);
}
