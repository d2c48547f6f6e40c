// L4 authorization regressions named after Istio CVEs/issues that concern ztunnel: each goes from
// the policy YAML an operator writes, through istiod's conversion (istiod/ambient/authorization),
// to ztunnel's decision (ztunnel/rbac) for a TCP connection — the path on which those bugs lived.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/base/strings.h"
#include "istiod/ambient/authorization.h"
#include "istiod/config/yaml_parser.h"
#include "ztunnel/rbac/rbac.h"

namespace {

using ambit::SpiffeId;
using ambit::str_cat;
using ambit::istiod::ConfigObject;
using ambit::istiod::ObjectPtr;
using ambit::istiod::ambient::MeshConfig;
using ambit::net::IpAddr;
using ambit::ztunnel::evaluate_rbac;
using ambit::ztunnel::RbacConnection;
using istio::security::Authorization;

const MeshConfig kMesh;  // root namespace istio-system

ObjectPtr parse_one(const std::string& yaml) {
  auto r = ambit::istiod::parse_yaml(yaml, "test.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  for (const auto& rej : r->rejections) FAIL(rej.to_string());
  REQUIRE(r->objects.size() == 1);
  return r->objects[0];
}

// An AuthorizationPolicy in ns1 selecting every workload there, converted as istiod sends it.
Authorization policy(const std::string& action, const std::string& rules) {
  ObjectPtr o = parse_one(str_cat(
      "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: pol\n"
      "  namespace: ns1\nspec:\n  action: ", action, "\n  rules:\n", rules, "\n"));
  auto a = ambit::istiod::ambient::convert_authorization_policy(*o, kMesh);
  REQUIRE(a.has_value());
  return *a;
}

// A TCP connection to 10.0.0.2:`port` from `who` (nullptr: plaintext).
RbacConnection conn(const char* who, uint16_t port = 8080) {
  RbacConnection c;
  c.src_ip = *IpAddr::parse("10.0.0.1");
  if (who) c.src_identity = *SpiffeId::parse(who);
  c.dst_ip = *IpAddr::parse("10.0.0.2");
  c.dst_port = port;
  return c;
}

bool allowed(const Authorization& p, const RbacConnection& c) {
  return evaluate_rbac(std::vector<const Authorization*>{&p}, c).allowed;
}
bool allowed(const std::vector<Authorization>& ps, const RbacConnection& c) {
  std::vector<const Authorization*> ptrs;
  for (const auto& p : ps) ptrs.push_back(&p);
  return evaluate_rbac(ptrs, c).allowed;
}

}  // namespace

// CVE-2020-16844: DENY policies whose principals or namespaces used a wildcard prefix or suffix
// ("*-evil", "cluster.local/ns/evil/*") were dropped for TCP, so they never denied. Each form must
// deny exactly the peers it names, over plain TCP (the only kind of connection ztunnel sees).
TEST_CASE("CVE-2020-16844: DENY with suffix/prefix principal and namespace matchers denies on TCP") {
  struct Case {
    const char* name;
    const char* source;
    const char* denied;
    const char* spared;
  };
  const Case cases[] = {
      {"principal suffix", R"(principals: ["*/sa/attacker"])",
       "spiffe://cluster.local/ns/any/sa/attacker", "spiffe://cluster.local/ns/any/sa/friend"},
      {"principal prefix", R"(principals: ["cluster.local/ns/evil/*"])",
       "spiffe://cluster.local/ns/evil/sa/x", "spiffe://cluster.local/ns/evilish/sa/x"},
      {"namespace suffix", R"(namespaces: ["*-evil"])",
       "spiffe://cluster.local/ns/very-evil/sa/x", "spiffe://cluster.local/ns/evil/sa/x"},
      {"namespace prefix", R"(namespaces: ["evil-*"])",
       "spiffe://cluster.local/ns/evil-1/sa/x", "spiffe://cluster.local/ns/good-1/sa/x"},
      {"notPrincipals prefix", R"(notPrincipals: ["cluster.local/ns/good/*"])",
       "spiffe://cluster.local/ns/bad/sa/x", "spiffe://cluster.local/ns/good/sa/x"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    // With and without a TCP port in `to`: the port-scoped form was the TCP filter chain.
    for (const char* to : {"", "    to:\n    - operation: {ports: [\"8080\"]}\n"}) {
      Authorization p = policy("DENY", str_cat("  - from:\n    - source: {", c.source, "}\n", to));
      REQUIRE(p.action() == istio::security::DENY);
      CHECK_FALSE(allowed(p, conn(c.denied)));
      CHECK(allowed(p, conn(c.spared)));
    }
  }
}

// CVE-2026-39350: serviceAccounts (and principals) containing '.' were compiled into a regular
// expression, so `cert-manager.io` also matched `cert-managerXio`. A '.' is a literal dot.
TEST_CASE("CVE-2026-39350: a dot in serviceAccounts or principals is literal, not a regex wildcard") {
  const char* good = "spiffe://cluster.local/ns/ns1/sa/cert-manager.io";
  const char* lookalike = "spiffe://cluster.local/ns/ns1/sa/cert-managerXio";
  SUBCASE("ALLOW serviceAccounts") {
    Authorization p = policy("ALLOW", R"(  - from:
    - source: {serviceAccounts: ["cert-manager.io"]})");
    CHECK(allowed(p, conn(good)));
    CHECK_FALSE(allowed(p, conn(lookalike)));
  }
  SUBCASE("ALLOW serviceAccounts with a namespace") {
    Authorization p = policy("ALLOW", R"(  - from:
    - source: {serviceAccounts: ["ns1/cert-manager.io"]})");
    CHECK(allowed(p, conn(good)));
    CHECK_FALSE(allowed(p, conn(lookalike)));
    // Nor does the '.' or '/' let another namespace in.
    CHECK_FALSE(allowed(p, conn("spiffe://cluster.local/ns/ns1X/sa/cert-manager.io")));
  }
  SUBCASE("ALLOW principals, exact and prefix") {
    Authorization p = policy("ALLOW", R"(  - from:
    - source: {principals: ["cluster.local/ns/ns1/sa/cert-manager.io", "cluster.local/ns/ns1/sa/web.*"]})");
    CHECK(allowed(p, conn(good)));
    CHECK_FALSE(allowed(p, conn(lookalike)));
    CHECK(allowed(p, conn("spiffe://cluster.local/ns/ns1/sa/web.v2")));
    CHECK_FALSE(allowed(p, conn("spiffe://cluster.local/ns/ns1/sa/webXv2")));
  }
  SUBCASE("DENY serviceAccounts does not catch the lookalike either way round") {
    Authorization p = policy("DENY", R"(  - from:
    - source: {serviceAccounts: ["cert-manager.io"]})");
    CHECK_FALSE(allowed(p, conn(good)));
    CHECK(allowed(p, conn(lookalike)));
  }
}

// istio#54146 (fixed in Istio 1.23.5): a workload PeerAuthentication with several port-level
// STRICT entries combined them with AND, so a plaintext connection was refused only if it was to
// every port at once — i.e. never. Each STRICT port must refuse plaintext on its own; the other
// ports stay PERMISSIVE; mTLS is accepted everywhere.
TEST_CASE("istio#54146: several port-level STRICT PeerAuthentication rules each refuse plaintext") {
  for (const char* mode : {"PERMISSIVE", "UNSET", "DISABLE"}) {
    CAPTURE(mode);
    ObjectPtr pa = parse_one(str_cat(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: w\n"
        "  namespace: ns1\nspec:\n  selector:\n    matchLabels: {app: a}\n  mtls: {mode: ", mode,
        "}\n  portLevelMtls: {7070: {mode: STRICT}, 8080: {mode: STRICT}, 9090: {mode: STRICT}, "
        "5000: {mode: PERMISSIVE}}\n"));
    auto converted = ambit::istiod::ambient::convert_peer_authentication(*pa, nullptr, nullptr, kMesh);
    REQUIRE(converted.has_value());
    std::vector<Authorization> ps = {*converted};
    for (uint16_t port : {7070, 8080, 9090}) {
      CAPTURE(port);
      CHECK_FALSE(allowed(ps, conn(nullptr, port)));
      CHECK(allowed(ps, conn("spiffe://cluster.local/ns/x/sa/y", port)));
    }
    for (uint16_t port : {5000, 6060}) {
      CAPTURE(port);
      CHECK(allowed(ps, conn(nullptr, port)));
    }
  }
}
