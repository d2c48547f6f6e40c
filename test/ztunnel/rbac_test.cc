// Tests for ztunnel/rbac: the cases of ztunnel's src/rbac.rs tests plus assert_rbac's
// DENY/ALLOW/dry-run combination, Istio's STRICT PeerAuthentication policy, and CIDR edges.
#include "ztunnel/rbac/rbac.h"

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace {

using ambit::SpiffeId;
using ambit::net::IpAddr;
using ambit::ztunnel::evaluate_rbac;
using ambit::ztunnel::match_matches;
using ambit::wds::Policy;
using ambit::ztunnel::policy_matches;
using ambit::wds::PolicyPtr;
using ambit::ztunnel::RbacConnection;
using ambit::ztunnel::RbacResult;
using ambit::ztunnel::string_matches;
using istio::security::Address;
using istio::security::Authorization;
using istio::security::Match;
using istio::security::StringMatch;

using Rules = std::vector<std::vector<std::vector<Match>>>;  // rules -> clauses -> matches

IpAddr ip(const char* s) {
  auto a = IpAddr::parse(s);
  REQUIRE(a.has_value());
  return *a;
}

StringMatch exact(const std::string& s) {
  StringMatch m;
  m.set_exact(s);
  return m;
}
StringMatch prefix(const std::string& s) {
  StringMatch m;
  m.set_prefix(s);
  return m;
}
StringMatch suffix(const std::string& s) {
  StringMatch m;
  m.set_suffix(s);
  return m;
}
StringMatch presence() {
  StringMatch m;
  m.mutable_presence();
  return m;
}

Address cidr(const char* addr, uint32_t len) {
  Address a;
  a.set_address(ip(addr).bytes());
  a.set_length(len);
  return a;
}

Authorization make_policy(const std::string& name, istio::security::Action action,
                          const Rules& rules, bool dry_run = false) {
  Authorization p;
  p.set_name(name);
  p.set_namespace_("ns1");
  p.set_scope(istio::security::GLOBAL);
  p.set_action(action);
  p.set_dry_run(dry_run);
  for (const auto& rule : rules) {
    auto* r = p.add_rules();
    for (const auto& clause : rule) {
      auto* c = r->add_clauses();
      for (const auto& m : clause) *c->add_matches() = m;
    }
  }
  return p;
}

Authorization allow(const Rules& rules) {
  return make_policy("allow", istio::security::ALLOW, rules);
}

PolicyPtr ptr(const Authorization& a) {
  return std::make_shared<const Policy>(Policy{a, a.namespace_() + "/" + a.name()});
}

RbacConnection conn(const char* src, const char* identity, const char* dst, uint16_t port) {
  RbacConnection c;
  c.src_ip = ip(src);
  if (identity) {
    auto id = SpiffeId::parse(identity);
    REQUIRE(id.ok());
    c.src_identity = *id;
  }
  c.dst_ip = ip(dst);
  c.dst_port = port;
  return c;
}

// The three connections of ztunnel's rbac.rs tests.
RbacConnection plaintext() { return conn("127.0.0.1", nullptr, "127.0.0.2", 8080); }
RbacConnection tls() {
  return conn("127.0.0.1", "spiffe://td/ns/namespace/sa/account", "127.0.0.2", 8080);
}
RbacConnection tls_alt() {
  return conn("127.0.0.3", "spiffe://td-alt/ns/ns-alt/sa/sa-alt", "127.0.0.4", 9090);
}

// A single-Match ALLOW policy against the three connections.
struct FieldCase {
  const char* name;
  std::function<void(Match*)> fill;
  bool plaintext, tls, tls_alt;
};

}  // namespace

TEST_CASE("each Match field and its not_ form, against plaintext and mTLS connections") {
  const FieldCase cases[] = {
      {"namespaces", [](Match* m) { *m->add_namespaces() = exact("namespace"); }, false, true,
       false},
      {"not_namespaces", [](Match* m) { *m->add_not_namespaces() = exact("namespace"); }, true,
       false, true},
      {"service_accounts",
       [](Match* m) {
         auto* sa = m->add_service_accounts();
         sa->set_namespace_("namespace");
         sa->set_serviceaccount("account");
       },
       false, true, false},
      {"not_service_accounts",
       [](Match* m) {
         auto* sa = m->add_not_service_accounts();
         sa->set_namespace_("namespace");
         sa->set_serviceaccount("account");
       },
       true, false, true},
      {"principals", [](Match* m) { *m->add_principals() = exact("td/ns/namespace/sa/account"); },
       false, true, false},
      {"not_principals",
       [](Match* m) { *m->add_not_principals() = exact("td/ns/namespace/sa/account"); }, true,
       false, true},
      {"principal with spiffe:// is never equal",
       [](Match* m) { *m->add_principals() = exact("spiffe://td/ns/namespace/sa/account"); }, false,
       false, false},
      {"source_ips", [](Match* m) { *m->add_source_ips() = cidr("127.0.0.1", 32); }, true, true,
       false},
      {"not_source_ips", [](Match* m) { *m->add_not_source_ips() = cidr("127.0.0.1", 32); }, false,
       false, true},
      {"destination_ips", [](Match* m) { *m->add_destination_ips() = cidr("127.0.0.2", 32); }, true,
       true, false},
      {"not_destination_ips",
       [](Match* m) { *m->add_not_destination_ips() = cidr("127.0.0.2", 32); }, false, false, true},
      {"cidr range", [](Match* m) { *m->add_destination_ips() = cidr("127.0.0.1", 24); }, true,
       true, true},
      {"destination_ports", [](Match* m) { m->add_destination_ports(8080); }, true, true, false},
      {"not_destination_ports", [](Match* m) { m->add_not_destination_ports(8080); }, false, false,
       true},
      {"port above 65535 is not truncated",
       [](Match* m) { m->add_destination_ports(65536 + 8080); }, false, false, false},
      {"values of one kind are OR-ed",
       [](Match* m) {
         *m->add_namespaces() = exact("nope");
         *m->add_namespaces() = exact("ns-alt");
       },
       false, false, true},
      {"kinds are AND-ed",
       [](Match* m) {
         *m->add_namespaces() = exact("namespace");
         m->add_destination_ports(9090);
       },
       false, false, false},
      {"positive and negative of one kind",
       [](Match* m) {
         *m->add_namespaces() = prefix("n");
         *m->add_not_namespaces() = exact("ns-alt");
       },
       false, true, false},
      {"presence principal needs an identity", [](Match* m) { *m->add_principals() = presence(); },
       false, true, true},
      {"presence namespace needs an identity", [](Match* m) { *m->add_namespaces() = presence(); },
       false, true, true},
      {"empty-string namespace does not match plaintext",
       [](Match* m) { *m->add_namespaces() = exact(""); }, false, false, false},
      {"empty prefix principal matches any identity",
       [](Match* m) { *m->add_principals() = prefix(""); }, false, true, true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    Match m;
    c.fill(&m);
    Authorization p = allow({{{m}}});
    CHECK(policy_matches(p, plaintext()) == c.plaintext);
    CHECK(policy_matches(p, tls()) == c.tls);
    CHECK(policy_matches(p, tls_alt()) == c.tls_alt);
    CHECK(match_matches(m, tls()) == c.tls);
  }
}

TEST_CASE("StringMatch kinds") {
  struct Case {
    StringMatch m;
    const char* value;
    bool want;
  } cases[] = {
      {exact("foo"), "foo", true},      {exact("foo"), "not", false},
      {exact("foo"), "", false},        {prefix("foo"), "foobar", true},
      {prefix("foo"), "notfoo", false}, {prefix("foo"), "", false},
      {suffix("foo"), "barfoo", true},  {suffix("foo"), "foonot", false},
      {suffix("foo"), "", false},       {presence(), "foo", true},
      {presence(), "", false},          {StringMatch(), "foo", false},
      {StringMatch(), "", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.m.ShortDebugString());
    CAPTURE(c.value);
    CHECK(string_matches(c.m, c.value) == c.want);
  }
}

TEST_CASE("principal prefix and suffix match the identity without spiffe://") {
  Match m;
  *m.add_principals() = prefix("td/ns/namespace/");
  CHECK(match_matches(m, tls()));
  CHECK_FALSE(match_matches(m, tls_alt()));
  Match s;
  *s.add_principals() = suffix("/sa/sa-alt");
  CHECK(match_matches(s, tls_alt()));
  CHECK_FALSE(match_matches(s, tls()));
}

TEST_CASE("CIDRs: IPv4, IPv6, prefix lengths, families") {
  auto v6 = conn("2001:db8::5", "spiffe://td/ns/a/sa/b", "2001:db8:1::7", 443);
  struct Case {
    Address net;
    bool v4_src, v6_src;
  } cases[] = {
      {cidr("127.0.0.0", 8), true, false},
      {cidr("127.0.0.1", 32), true, false},
      {cidr("127.0.0.2", 32), false, false},
      {cidr("127.0.0.0", 31), true, false},
      {cidr("0.0.0.0", 0), true, false},
      {cidr("2001:db8::", 32), false, true},
      {cidr("2001:db8::5", 128), false, true},
      {cidr("2001:db8::4", 127), false, true},
      {cidr("2001:db8::6", 127), false, false},
      {cidr("::", 0), false, true},  // all IPv6, but not IPv4 connections
  };
  for (const auto& c : cases) {
    CAPTURE(c.net.ShortDebugString());
    Match m;
    *m.add_source_ips() = c.net;
    CHECK(match_matches(m, tls()) == c.v4_src);
    CHECK(match_matches(m, v6) == c.v6_src);
  }
  SUBCASE("an IPv4-mapped network is IPv6, as in ztunnel") {
    Address mapped;
    std::string raw(16, '\0');
    raw[10] = raw[11] = '\xff';
    raw[12] = 127, raw[15] = 1;
    mapped.set_address(raw);
    mapped.set_length(128);
    Match m;
    *m.add_source_ips() = mapped;
    CHECK_FALSE(match_matches(m, tls()));
  }
  SUBCASE("unrepresentable addresses are dropped, like ztunnel's conversion") {
    Address bad_len = cidr("127.0.0.1", 33);
    Address bad_bytes;
    bad_bytes.set_address("abc");
    Match only_bad;
    *only_bad.add_source_ips() = bad_len;
    *only_bad.add_not_destination_ips() = bad_bytes;
    CHECK_FALSE(match_matches(only_bad, tls()));  // nothing usable left: an empty Match
    Match with_port = only_bad;
    with_port.add_destination_ports(8080);
    CHECK(match_matches(with_port, tls()));  // the bad CIDR is not a constraint
  }
}

TEST_CASE("empty policies, rules, clauses and matches behave as in ztunnel") {
  CHECK_FALSE(policy_matches(allow({{{Match()}}}), plaintext()));  // empty Match: nothing
  CHECK(policy_matches(allow({{{}}}), plaintext()));               // clause without matches
  CHECK(policy_matches(allow({{}}), plaintext()));                 // rule without clauses
  CHECK_FALSE(policy_matches(allow({}), plaintext()));             // no rules
  Match unset_only;
  unset_only.add_principals();  // StringMatch with no match_type is dropped
  CHECK_FALSE(policy_matches(allow({{{unset_only}}}), tls()));
  Match empty_then_real;
  *empty_then_real.add_namespaces() = exact("namespace");
  CHECK(policy_matches(allow({{{Match(), empty_then_real}}}), tls()));
}

TEST_CASE("clauses of a rule are AND-ed, matches of a clause and rules are OR-ed") {
  Match ns_a, ns_b, port80;
  *ns_a.add_namespaces() = exact("a");
  *ns_b.add_namespaces() = exact("b");
  port80.add_destination_ports(80);
  Authorization nested = allow({{{ns_a, ns_b}, {port80}}});
  auto from = [](const char* ns, uint16_t port) {
    return conn("127.0.0.1", (std::string("spiffe://td/ns/") + ns + "/sa/account").c_str(),
                "127.0.0.2", port);
  };
  CHECK(policy_matches(nested, from("a", 80)));
  CHECK(policy_matches(nested, from("b", 80)));
  CHECK_FALSE(policy_matches(nested, from("bad", 80)));
  CHECK_FALSE(policy_matches(nested, from("b", 12345)));

  Authorization multi = allow({{{ns_a}}, {{ns_b}}});
  CHECK(policy_matches(multi, from("a", 1)));
  CHECK(policy_matches(multi, from("b", 1)));
  CHECK_FALSE(policy_matches(multi, from("bad", 1)));
}

TEST_CASE("evaluation: no policies, DENY precedence, ALLOW default-deny") {
  Match from_ns, port8080, any_principal;
  *from_ns.add_namespaces() = exact("namespace");
  port8080.add_destination_ports(8080);
  *any_principal.add_principals() = presence();
  auto deny_port = ptr(make_policy("deny-8080", istio::security::DENY, {{{port8080}}}));
  auto allow_ns = ptr(make_policy("allow-ns", istio::security::ALLOW, {{{from_ns}}}));
  auto allow_none = ptr(make_policy("allow-nothing", istio::security::ALLOW, {}));
  auto deny_none = ptr(make_policy("deny-nothing", istio::security::DENY, {}));

  SUBCASE("no policies: allow") {
    RbacResult r = evaluate_rbac(std::vector<PolicyPtr>{}, plaintext());
    CHECK(r.allowed);
    CHECK(r.policy.empty());
    CHECK(r.reason == "no allow policies, allow");
    CHECK_FALSE(r.dry_run.has_value());
  }
  SUBCASE("a matching DENY wins over a matching ALLOW, and is named") {
    RbacResult r = evaluate_rbac({allow_ns, deny_port}, tls());
    CHECK_FALSE(r.allowed);
    CHECK(r.policy == "ns1/deny-8080");
    CHECK(r.reason == "explicitly denied by: ns1/deny-8080");
  }
  SUBCASE("a non-matching DENY alone allows") {
    RbacResult r = evaluate_rbac({deny_port, deny_none}, tls_alt());
    CHECK(r.allowed);
    CHECK(r.reason == "no allow policies, allow");
  }
  SUBCASE("ALLOW policies exist and one matches") {
    RbacResult r = evaluate_rbac({deny_none, allow_none, allow_ns}, tls());
    CHECK(r.allowed);
    CHECK(r.policy == "ns1/allow-ns");
    CHECK(r.reason == "allowed by: ns1/allow-ns");
  }
  SUBCASE("ALLOW policies exist and none matches: deny") {
    RbacResult r = evaluate_rbac({allow_ns}, tls_alt());
    CHECK_FALSE(r.allowed);
    CHECK(r.policy.empty());
    CHECK(r.reason == "allow policies exist, but none allowed");
    CHECK_FALSE(evaluate_rbac({allow_none}, tls()).allowed);  // allow-nothing
  }
  SUBCASE("the first matching DENY in order is reported") {
    auto deny_any = ptr(make_policy("deny-any", istio::security::DENY, {{}}));
    CHECK(evaluate_rbac({deny_any, deny_port}, tls()).policy == "ns1/deny-any");
    CHECK(evaluate_rbac({deny_port, deny_any}, tls()).policy == "ns1/deny-8080");
  }
  SUBCASE("null entries are ignored") { CHECK(evaluate_rbac({nullptr, allow_ns}, tls()).allowed); }
}

TEST_CASE("dry-run policies are reported, never enforced") {
  Match port8080;
  port8080.add_destination_ports(8080);
  auto dry_deny =
      ptr(make_policy("dry-deny", istio::security::DENY, {{{port8080}}}, /*dry_run=*/true));
  auto dry_allow = ptr(make_policy("dry-allow", istio::security::ALLOW, {}, /*dry_run=*/true));

  RbacResult r = evaluate_rbac({dry_deny}, tls());
  CHECK(r.allowed);
  CHECK(r.reason == "no allow policies, allow");
  REQUIRE(r.dry_run.has_value());
  CHECK_FALSE(r.dry_run->allowed);
  CHECK(r.dry_run->policy == "ns1/dry-deny");
  CHECK(r.dry_run->reason == "explicitly denied by: ns1/dry-deny");

  // A dry-run ALLOW does not turn on default-deny.
  r = evaluate_rbac({dry_allow}, tls());
  CHECK(r.allowed);
  REQUIRE(r.dry_run.has_value());
  CHECK_FALSE(r.dry_run->allowed);
  CHECK(r.dry_run->reason == "allow policies exist, but none allowed");

  // An enforced DENY still denies; the dry-run view agrees.
  auto deny = ptr(make_policy("deny", istio::security::DENY, {{{port8080}}}));
  r = evaluate_rbac({dry_allow, deny}, tls());
  CHECK_FALSE(r.allowed);
  CHECK(r.policy == "ns1/deny");
  REQUIRE(r.dry_run.has_value());
  CHECK(r.dry_run->policy == "ns1/deny");
}

TEST_CASE("Istio's STRICT policy (DENY not_principals: [presence]) rejects only plaintext") {
  Match m;
  *m.add_not_principals() = presence();
  Authorization strict =
      make_policy("istio_converted_static_strict", istio::security::DENY, {{{m}}});
  strict.set_namespace_("istio-system");
  auto p = ptr(strict);

  RbacResult r = evaluate_rbac({p}, plaintext());
  CHECK_FALSE(r.allowed);
  CHECK(r.policy == "istio-system/istio_converted_static_strict");
  CHECK(r.reason == "explicitly denied by: istio-system/istio_converted_static_strict");
  CHECK(evaluate_rbac({p}, tls()).allowed);
  CHECK(evaluate_rbac({p}, tls_alt()).allowed);
}

TEST_CASE("connections format like ztunnel logs them") {
  CHECK(ambit::ztunnel::to_string(tls()) ==
        "127.0.0.1(spiffe://td/ns/namespace/sa/account)->127.0.0.2:8080");
  CHECK(ambit::ztunnel::to_string(conn("::1", nullptr, "2001:db8::1", 80)) ==
        "::1(None)->[2001:db8::1]:80");
}
