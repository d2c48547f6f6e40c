// Tests for common/wds (the WDS State): WDS ingest (validation with the resource named in the error, so the
// xDS client can NACK it), every lookup index (uid, IP, info, service key, VIP, endpoints,
// policies), and that replacement and removal leave no stale entry in any index.
#include "common/wds/state.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

using ambit::net::IpAddr;
using ambit::wds::PolicyPtr;
using ambit::wds::State;
using ambit::wds::WorkloadPtr;
namespace wl = istio::workload;
namespace sec = istio::security;

IpAddr ip(const char* s) {
  auto a = IpAddr::parse(s);
  REQUIRE(a.has_value());
  return *a;
}

std::string msg(const absl::Status& st) { return std::string(st.message()); }

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A workload Address; `services` maps "ns/hostname" to {service_port, target_port} pairs.
wl::Address workload(
    const std::string& uid, const std::string& ns, const std::string& name,
    std::vector<const char*> ips,
    std::vector<std::pair<std::string, std::vector<std::pair<uint32_t, uint32_t>>>> services = {},
    const std::string& sa = "") {
  wl::Address a;
  auto* w = a.mutable_workload();
  w->set_uid(uid);
  w->set_namespace_(ns);
  w->set_name(name);
  w->set_service_account(sa);
  w->set_tunnel_protocol(wl::HBONE);
  for (const char* s : ips) w->add_addresses(ip(s).bytes());
  for (const auto& [key, ports] : services) {
    auto& pl = (*w->mutable_services())[key];
    for (auto [sp, tp] : ports) {
      auto* p = pl.add_ports();
      p->set_service_port(sp);
      p->set_target_port(tp);
    }
  }
  return a;
}

wl::Address service(const std::string& ns, const std::string& host, std::vector<const char*> vips,
                    std::vector<std::pair<uint32_t, uint32_t>> ports = {{80, 8080}}) {
  wl::Address a;
  auto* s = a.mutable_service();
  s->set_name(host.substr(0, host.find('.')));
  s->set_namespace_(ns);
  s->set_hostname(host);
  for (const char* v : vips) {
    auto* na = s->add_addresses();
    na->set_address(ip(v).bytes());
  }
  for (auto [sp, tp] : ports) {
    auto* p = s->add_ports();
    p->set_service_port(sp);
    p->set_target_port(tp);
  }
  return a;
}

sec::Authorization policy(const std::string& ns, const std::string& name, sec::Scope scope) {
  sec::Authorization p;
  p.set_name(name);
  p.set_namespace_(ns);
  p.set_scope(scope);
  p.set_action(sec::ALLOW);
  return p;
}

std::vector<std::string> uids(const std::vector<WorkloadPtr>& ws) {
  std::vector<std::string> out;
  for (const auto& w : ws) out.push_back(w->uid());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> keys(const std::vector<PolicyPtr>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p->key);
  std::sort(out.begin(), out.end());
  return out;
}

const std::string kSvc = "default/echo.default.svc.cluster.local";

}  // namespace

TEST_CASE("workload ingest: found by uid, by each IP, by info, with its SPIFFE identity") {
  State st("cluster.local");
  uint64_t g0 = st.generation();
  REQUIRE(st.upsert_address("c1//Pod/default/echo-1",
                            workload("c1//Pod/default/echo-1", "default", "echo-1",
                                     {"10.0.0.1", "fd00::1"}, {}, "echo-sa"))
              .ok());
  CHECK(st.generation() > g0);

  auto w = st.workload_by_uid("c1//Pod/default/echo-1");
  REQUIRE(w);
  CHECK(w->name() == "echo-1");
  CHECK(w->ns() == "default");
  CHECK(w->hbone());
  CHECK(w->healthy());
  REQUIRE(w->ips.size() == 2);
  CHECK(w->identity.to_string() == "spiffe://cluster.local/ns/default/sa/echo-sa");
  CHECK(st.workload_by_ip(ip("10.0.0.1")) == w);
  CHECK(st.workload_by_ip(ip("fd00::1")) == w);
  CHECK(st.workload_by_ip(ip("10.0.0.2")) == nullptr);

  CHECK(st.workload_by_info("default", "echo-1", "echo-sa") == w);
  CHECK(st.workload_by_info("default", "echo-1", "") == w);  // any service account
  CHECK(st.workload_by_info("default", "echo-1", "other") == nullptr);
  CHECK(st.workload_by_info("other", "echo-1", "echo-sa") == nullptr);
  CHECK(st.workload_by_uid("nope") == nullptr);
  CHECK(st.workloads().size() == 1);
}

TEST_CASE("identity defaults: the default trust domain and the 'default' service account") {
  State st("example.org");
  REQUIRE(st.upsert_address("u1", workload("u1", "ns1", "p1", {"10.0.0.1"})).ok());
  auto w = st.workload_by_uid("u1");
  REQUIRE(w);
  CHECK(w->identity.to_string() == "spiffe://example.org/ns/ns1/sa/default");
  CHECK(st.workload_by_info("ns1", "p1", "default") == w);

  auto a = workload("u2", "ns1", "p2", {"10.0.0.2"}, {}, "sa2");
  a.mutable_workload()->set_trust_domain("other.td");
  REQUIRE(st.upsert_address("u2", a).ok());
  CHECK(st.workload_by_uid("u2")->identity.to_string() == "spiffe://other.td/ns/ns1/sa/sa2");
}

TEST_CASE("service ingest: found by key and by every VIP, the endpoints index follows workloads") {
  State st;
  REQUIRE(st.upsert_address(kSvc, service("default", "echo.default.svc.cluster.local",
                                          {"10.96.0.10", "fd00:96::10"}))
              .ok());
  auto s = st.service_by_host(kSvc);
  REQUIRE(s);
  CHECK(s->key == kSvc);
  CHECK(st.service_by_vip(ip("10.96.0.10")) == s);
  CHECK(st.service_by_vip(ip("fd00:96::10")) == s);
  CHECK(st.service_by_vip(ip("10.96.0.11")) == nullptr);
  CHECK(st.service_by_host("default/other") == nullptr);
  CHECK(st.endpoints(kSvc).empty());

  REQUIRE(st.upsert_address(
                "u1", workload("u1", "default", "echo-1", {"10.0.0.1"}, {{kSvc, {{80, 8080}}}}))
              .ok());
  REQUIRE(st.upsert_address(
                "u2", workload("u2", "default", "echo-2", {"10.0.0.2"}, {{kSvc, {{80, 8080}}}}))
              .ok());
  REQUIRE(st.upsert_address("u3", workload("u3", "default", "other", {"10.0.0.3"})).ok());
  CHECK(uids(st.endpoints(kSvc)) == std::vector<std::string>{"u1", "u2"});
  CHECK(st.endpoints("default/unknown").empty());
  // A workload may name a service that is not (yet) known: it is indexed all the same.
  REQUIRE(st.upsert_address(
                "u4", workload("u4", "default", "late", {"10.0.0.4"}, {{"default/late", {{1, 1}}}}))
              .ok());
  CHECK(uids(st.endpoints("default/late")) == std::vector<std::string>{"u4"});
}

TEST_CASE("removal clears every index and bumps the generation only when something was removed") {
  State st;
  REQUIRE(
      st.upsert_address(kSvc, service("default", "echo.default.svc.cluster.local", {"10.96.0.10"}))
          .ok());
  REQUIRE(st.upsert_address("u1", workload("u1", "default", "echo-1", {"10.0.0.1", "fd00::1"},
                                           {{kSvc, {{80, 8080}}}}, "sa"))
              .ok());

  uint64_t g = st.generation();
  st.remove_address("u1");
  CHECK(st.generation() > g);
  CHECK(st.workload_by_uid("u1") == nullptr);
  CHECK(st.workload_by_ip(ip("10.0.0.1")) == nullptr);
  CHECK(st.workload_by_ip(ip("fd00::1")) == nullptr);
  CHECK(st.workload_by_info("default", "echo-1", "sa") == nullptr);
  CHECK(st.endpoints(kSvc).empty());
  CHECK(st.workloads().empty());

  g = st.generation();
  st.remove_address(kSvc);
  CHECK(st.generation() > g);
  CHECK(st.service_by_host(kSvc) == nullptr);
  CHECK(st.service_by_vip(ip("10.96.0.10")) == nullptr);
  CHECK(st.services().empty());

  g = st.generation();
  st.remove_address("never-existed");
  st.remove_address("u1");  // twice
  CHECK(st.generation() == g);
}

TEST_CASE("replacing a workload re-indexes it: old IPs and old service memberships are gone") {
  State st;
  REQUIRE(
      st.upsert_address("u1", workload("u1", "default", "p", {"10.0.0.1"}, {{kSvc, {{80, 8080}}}}))
          .ok());
  REQUIRE(st.upsert_address(
                "u1", workload("u1", "default", "p", {"10.0.0.9"}, {{"default/b", {{80, 80}}}}))
              .ok());
  auto w = st.workload_by_uid("u1");
  REQUIRE(w);
  CHECK(st.workload_by_ip(ip("10.0.0.9")) == w);
  CHECK(st.workload_by_ip(ip("10.0.0.1")) == nullptr);
  CHECK(st.endpoints(kSvc).empty());
  CHECK(uids(st.endpoints("default/b")) == std::vector<std::string>{"u1"});
  CHECK(st.workloads().size() == 1);
  // Readers that kept the old version still hold a complete object.
  auto old = w;
  REQUIRE(st.upsert_address("u1", workload("u1", "default", "p", {"10.0.0.10"})).ok());
  CHECK(old->ips[0] == ip("10.0.0.9"));
  CHECK(st.workload_by_uid("u1") != old);
}

TEST_CASE("replacing a service moves its VIPs") {
  State st;
  REQUIRE(
      st.upsert_address(kSvc, service("default", "echo.default.svc.cluster.local", {"10.96.0.10"}))
          .ok());
  REQUIRE(st.upsert_address(kSvc, service("default", "echo.default.svc.cluster.local",
                                          {"10.96.0.20"}, {{81, 0}}))
              .ok());
  auto s = st.service_by_host(kSvc);
  REQUIRE(s);
  CHECK(s->proto.ports(0).service_port() == 81);
  CHECK(st.service_by_vip(ip("10.96.0.20")) == s);
  CHECK(st.service_by_vip(ip("10.96.0.10")) == nullptr);
  CHECK(st.services().size() == 1);
}

TEST_CASE("one resource name switching between workload and service leaves no stale index") {
  // Resource names are opaque to xDS; a name that was a workload may come back as a service.
  const std::string name = "default/dual.default.svc.cluster.local";
  State st;
  REQUIRE(
      st.upsert_address(name, workload(name, "default", "dual", {"10.0.0.7"}, {{kSvc, {{80, 80}}}}))
          .ok());
  REQUIRE(st.workload_by_uid(name));

  REQUIRE(
      st.upsert_address(name, service("default", "dual.default.svc.cluster.local", {"10.96.0.7"}))
          .ok());
  CHECK(st.workload_by_uid(name) == nullptr);
  CHECK(st.workload_by_ip(ip("10.0.0.7")) == nullptr);
  CHECK(st.endpoints(kSvc).empty());
  CHECK(st.workloads().empty());
  auto s = st.service_by_host(name);
  REQUIRE(s);
  CHECK(st.service_by_vip(ip("10.96.0.7")) == s);

  REQUIRE(st.upsert_address(name, workload(name, "default", "dual", {"10.0.0.8"})).ok());
  CHECK(st.service_by_host(name) == nullptr);
  CHECK(st.service_by_vip(ip("10.96.0.7")) == nullptr);
  CHECK(st.services().empty());
  CHECK(st.workload_by_ip(ip("10.0.0.8")) == st.workload_by_uid(name));

  st.remove_address(name);
  CHECK(st.workloads().empty());
  CHECK(st.services().empty());
  CHECK(st.workload_by_ip(ip("10.0.0.8")) == nullptr);
}

TEST_CASE("two workloads sharing an IP: removing one keeps the other findable") {
  // Host-network pods share the node IP.
  State st;
  REQUIRE(st.upsert_address("a", workload("a", "default", "a", {"10.0.0.1"})).ok());
  REQUIRE(st.upsert_address("b", workload("b", "default", "b", {"10.0.0.1"})).ok());
  REQUIRE(st.workload_by_ip(ip("10.0.0.1")));
  CHECK(st.workload_by_ip(ip("10.0.0.1"))->uid() == "b");

  SUBCASE("remove the newest") {
    st.remove_address("b");
    REQUIRE(st.workload_by_ip(ip("10.0.0.1")));
    CHECK(st.workload_by_ip(ip("10.0.0.1"))->uid() == "a");
  }
  SUBCASE("remove the oldest") {
    st.remove_address("a");
    REQUIRE(st.workload_by_ip(ip("10.0.0.1")));
    CHECK(st.workload_by_ip(ip("10.0.0.1"))->uid() == "b");
  }
  SUBCASE("one of them moves away") {
    REQUIRE(st.upsert_address("b", workload("b", "default", "b", {"10.0.0.2"})).ok());
    REQUIRE(st.workload_by_ip(ip("10.0.0.1")));
    CHECK(st.workload_by_ip(ip("10.0.0.1"))->uid() == "a");
    CHECK(st.workload_by_ip(ip("10.0.0.2"))->uid() == "b");
  }
  SUBCASE("an update of the older one makes it the newest") {
    REQUIRE(st.upsert_address("a", workload("a", "default", "a2", {"10.0.0.1"})).ok());
    CHECK(st.workload_by_ip(ip("10.0.0.1"))->name() == "a2");
    st.remove_address("a");
    CHECK(st.workload_by_ip(ip("10.0.0.1"))->uid() == "b");
  }
  st.remove_address("a");
  st.remove_address("b");
  CHECK(st.workload_by_ip(ip("10.0.0.1")) == nullptr);
}

TEST_CASE("two services sharing a VIP: removing one keeps the other findable") {
  State st;
  REQUIRE(st.upsert_address("default/a.default.svc.cluster.local",
                            service("default", "a.default.svc.cluster.local", {"10.96.0.1"}))
              .ok());
  REQUIRE(st.upsert_address("default/b.default.svc.cluster.local",
                            service("default", "b.default.svc.cluster.local", {"10.96.0.1"}))
              .ok());
  CHECK(st.service_by_vip(ip("10.96.0.1"))->key == "default/b.default.svc.cluster.local");
  st.remove_address("default/b.default.svc.cluster.local");
  REQUIRE(st.service_by_vip(ip("10.96.0.1")));
  CHECK(st.service_by_vip(ip("10.96.0.1"))->key == "default/a.default.svc.cluster.local");
  // The VIP moves from a to c: a no longer answers for it.
  REQUIRE(st.upsert_address("default/c.default.svc.cluster.local",
                            service("default", "c.default.svc.cluster.local", {"10.96.0.1"}))
              .ok());
  REQUIRE(st.upsert_address("default/a.default.svc.cluster.local",
                            service("default", "a.default.svc.cluster.local", {"10.96.0.2"}))
              .ok());
  CHECK(st.service_by_vip(ip("10.96.0.1"))->key == "default/c.default.svc.cluster.local");
  CHECK(st.service_by_vip(ip("10.96.0.2"))->key == "default/a.default.svc.cluster.local");
}

TEST_CASE("invalid addresses are rejected with a message naming the resource, and change nothing") {
  State st;
  REQUIRE(st.upsert_address("u1", workload("u1", "default", "good", {"10.0.0.1"})).ok());
  uint64_t g = st.generation();

  SUBCASE("workload address of 5 bytes") {
    auto a = workload("u1", "default", "bad", {});
    a.mutable_workload()->add_addresses(std::string("\x0a\x00\x00\x01\x02", 5));
    auto s = st.upsert_address("u1", a);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "u1"));
    CHECK(contains(msg(s), "5 bytes"));
  }
  SUBCASE("empty uid") {
    auto s = st.upsert_address("u1", workload("", "default", "bad", {"10.0.0.2"}));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "empty uid"));
  }
  SUBCASE("uid differs from the resource name") {
    auto s = st.upsert_address("u1", workload("u2", "default", "bad", {"10.0.0.2"}));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "u1"));
    CHECK(contains(msg(s), "u2"));
    CHECK(st.workload_by_uid("u2") == nullptr);
  }
  SUBCASE("identity that is not a valid SPIFFE ID") {
    auto s = st.upsert_address("u1", workload("u1", "default", "bad", {"10.0.0.2"}, {}, "a/b"));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "identity"));
  }
  SUBCASE("service VIP of 3 bytes") {
    auto a = service("default", "echo.default.svc.cluster.local", {});
    a.mutable_service()->add_addresses()->set_address(std::string("\x0a\x00\x00", 3));
    auto s = st.upsert_address(kSvc, a);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), kSvc));
    CHECK(contains(msg(s), "3 bytes"));
    CHECK(st.service_by_host(kSvc) == nullptr);
  }
  SUBCASE("service port 0 or above 65535") {
    auto s = st.upsert_address(
        kSvc, service("default", "echo.default.svc.cluster.local", {"10.96.0.1"}, {{0, 80}}));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "port"));
    s = st.upsert_address(
        kSvc, service("default", "echo.default.svc.cluster.local", {"10.96.0.1"}, {{80, 70000}}));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(st.service_by_vip(ip("10.96.0.1")) == nullptr);
  }
  SUBCASE("service under another name, or without a hostname") {
    auto s = st.upsert_address("default/x",
                               service("default", "echo.default.svc.cluster.local", {"10.96.0.1"}));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "default/x"));
    s = st.upsert_address("default/", service("default", "", {"10.96.0.1"}));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "hostname"));
  }
  SUBCASE("neither workload nor service") {
    auto s = st.upsert_address("empty", wl::Address());
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "empty"));
  }
  // The last good version is untouched (NACK keeps the previous state).
  CHECK(st.generation() == g);
  auto w = st.workload_by_uid("u1");
  REQUIRE(w);
  CHECK(w->name() == "good");
  CHECK(st.workload_by_ip(ip("10.0.0.1")) == w);
  CHECK(st.workload_by_ip(ip("10.0.0.2")) == nullptr);
}

TEST_CASE("policies_for: GLOBAL, own NAMESPACE, and the WORKLOAD_SELECTOR ones it names") {
  State st;
  auto a = workload("u1", "ns-a", "p", {"10.0.0.1"});
  a.mutable_workload()->add_authorization_policies("ns-a/selected");
  REQUIRE(st.upsert_address("u1", a).ok());
  REQUIRE(st.upsert_address("u2", workload("u2", "ns-b", "q", {"10.0.0.2"})).ok());

  uint64_t pg = st.policy_generation();
  REQUIRE(
      st.upsert_policy("istio-system/global", policy("istio-system", "global", sec::GLOBAL)).ok());
  REQUIRE(st.upsert_policy("ns-a/ns-wide", policy("ns-a", "ns-wide", sec::NAMESPACE)).ok());
  REQUIRE(st.upsert_policy("ns-b/ns-wide", policy("ns-b", "ns-wide", sec::NAMESPACE)).ok());
  REQUIRE(
      st.upsert_policy("ns-a/selected", policy("ns-a", "selected", sec::WORKLOAD_SELECTOR)).ok());
  REQUIRE(st.upsert_policy("ns-a/unselected", policy("ns-a", "unselected", sec::WORKLOAD_SELECTOR))
              .ok());
  CHECK(st.policy_generation() == pg + 5);
  CHECK(st.policies().size() == 5);

  CHECK(keys(st.policies_for(*st.workload_by_uid("u1"))) ==
        std::vector<std::string>{"istio-system/global", "ns-a/ns-wide", "ns-a/selected"});
  CHECK(keys(st.policies_for(*st.workload_by_uid("u2"))) ==
        std::vector<std::string>{"istio-system/global", "ns-b/ns-wide"});
  // Stable order across calls.
  auto p1 = st.policies_for(*st.workload_by_uid("u1"));
  auto p2 = st.policies_for(*st.workload_by_uid("u1"));
  REQUIRE(p1.size() == p2.size());
  for (size_t i = 0; i < p1.size(); ++i) CHECK(p1[i]->key == p2[i]->key);

  // Removal and replacement.
  st.remove_policy("ns-a/selected");
  CHECK(keys(st.policies_for(*st.workload_by_uid("u1"))) ==
        std::vector<std::string>{"istio-system/global", "ns-a/ns-wide"});
  REQUIRE(st.upsert_policy("ns-a/ns-wide", policy("ns-a", "ns-wide", sec::WORKLOAD_SELECTOR)).ok());
  CHECK(keys(st.policies_for(*st.workload_by_uid("u1"))) ==
        std::vector<std::string>{"istio-system/global"});
  uint64_t g = st.generation();
  pg = st.policy_generation();
  st.remove_policy("not-there");
  CHECK(st.generation() == g);
  CHECK(st.policy_generation() == pg);
  // Address changes do not bump the policy generation.
  REQUIRE(st.upsert_address("u3", workload("u3", "ns-a", "r", {"10.0.0.3"})).ok());
  CHECK(st.policy_generation() == pg);
}

TEST_CASE("invalid policies are rejected with a clear message and the previous version stays") {
  State st;
  auto good = policy("ns", "p", sec::NAMESPACE);
  REQUIRE(st.upsert_policy("ns/p", good).ok());
  uint64_t pg = st.policy_generation();

  auto with_cidr = [](std::string bytes, uint32_t len, bool source) {
    auto p = policy("ns", "p", sec::NAMESPACE);
    auto* m = p.add_rules()->add_clauses()->add_matches();
    auto* a = source ? m->add_not_source_ips() : m->add_destination_ips();
    a->set_address(std::move(bytes));
    a->set_length(len);
    return p;
  };
  SUBCASE("IPv4 prefix longer than 32") {
    auto s = st.upsert_policy("ns/p", with_cidr(ip("10.0.0.0").bytes(), 33, true));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "ns/p"));
    CHECK(contains(msg(s), "CIDR"));
  }
  SUBCASE("IPv6 prefix longer than 128") {
    auto s = st.upsert_policy("ns/p", with_cidr(ip("fd00::").bytes(), 129, false));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "CIDR"));
  }
  SUBCASE("address of 5 bytes") {
    auto s = st.upsert_policy("ns/p", with_cidr(std::string(5, '\x01'), 8, false));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "CIDR"));
  }
  SUBCASE("unknown scope") {
    auto p = policy("ns", "p", static_cast<sec::Scope>(7));
    auto s = st.upsert_policy("ns/p", p);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "scope"));
    CHECK(contains(msg(s), "7"));
  }
  SUBCASE("unknown action") {
    auto p = policy("ns", "p", sec::NAMESPACE);
    p.set_action(static_cast<sec::Action>(9));
    auto s = st.upsert_policy("ns/p", p);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "action"));
  }
  SUBCASE("empty name") {
    auto s = st.upsert_policy("ns/p", policy("ns", "", sec::NAMESPACE));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(contains(msg(s), "empty name"));
  }
  CHECK(st.policy_generation() == pg);
  auto ps = st.policies();
  REQUIRE(ps.size() == 1);
  CHECK(ps[0]->proto.rules_size() == 0);
  CHECK(ps[0]->proto.scope() == sec::NAMESPACE);
  // Valid edge values are accepted.
  CHECK(st.upsert_policy("ns/p", with_cidr(ip("10.0.0.0").bytes(), 32, true)).ok());
  CHECK(st.upsert_policy("ns/p", with_cidr(ip("fd00::").bytes(), 0, false)).ok());
}

// Hardening finding 9: workload_by_info (every new connection of a pod) and policies_for used to
// scan every workload / policy of the mesh; they are indexed now, and the indexes must follow
// every change.
TEST_CASE("by-info and policy indexes follow renames, removals and scope changes among many workloads") {
  State st;
  for (int i = 0; i < 2000; ++i) {
    std::string uid = "u" + std::to_string(i);
    REQUIRE(st.upsert_address(uid, workload(uid, "ns" + std::to_string(i % 10), "pod" + std::to_string(i), {})).ok());
  }
  REQUIRE(st.workload_by_info("ns7", "pod1237", "") != nullptr);
  CHECK(st.workload_by_info("ns7", "pod1237", "")->uid() == "u1237");
  CHECK(st.workload_by_info("ns7", "pod1237", "default") != nullptr);
  CHECK(st.workload_by_info("ns7", "pod1237", "other-sa") == nullptr);
  CHECK(st.workload_by_info("ns6", "pod1237", "") == nullptr);
  // Renamed (same uid, new name): found by the new name only.
  REQUIRE(st.upsert_address("u1237", workload("u1237", "ns7", "renamed", {}, {}, "sa1")).ok());
  CHECK(st.workload_by_info("ns7", "pod1237", "") == nullptr);
  REQUIRE(st.workload_by_info("ns7", "renamed", "sa1") != nullptr);
  // Two workloads with one name (a pod recreated before the old one is gone): the lower uid first,
  // as a scan in uid order would give; removing it leaves the other.
  REQUIRE(st.upsert_address("u0999x", workload("u0999x", "ns7", "renamed", {}, {}, "sa1")).ok());
  CHECK(st.workload_by_info("ns7", "renamed", "sa1")->uid() == "u0999x");
  st.remove_address("u0999x");
  CHECK(st.workload_by_info("ns7", "renamed", "sa1")->uid() == "u1237");
  st.remove_address("u1237");
  CHECK(st.workload_by_info("ns7", "renamed", "") == nullptr);

  // Policies: 500 namespaces' worth; a workload sees its own namespace's and the global ones.
  for (int i = 0; i < 500; ++i) {
    std::string ns = "ns" + std::to_string(i);
    REQUIRE(st.upsert_policy(ns + "/p", policy(ns, "p", sec::NAMESPACE)).ok());
  }
  REQUIRE(st.upsert_policy("istio-system/g", policy("istio-system", "g", sec::GLOBAL)).ok());
  auto w = st.workload_by_info("ns3", "pod3", "");
  REQUIRE(w != nullptr);
  CHECK(keys(st.policies_for(*w)) == std::vector<std::string>{"istio-system/g", "ns3/p"});
  // GLOBAL -> NAMESPACE of another namespace: it leaves every workload but that namespace's.
  REQUIRE(st.upsert_policy("istio-system/g", policy("istio-system", "g", sec::NAMESPACE)).ok());
  CHECK(keys(st.policies_for(*w)) == std::vector<std::string>{"ns3/p"});
  st.remove_policy("ns3/p");
  CHECK(st.policies_for(*w).empty());
}
