// libFuzzer target: xDS ingest into the WDS State (common/wds) and ztunnel's L4 RBAC over what was ingested.
// The input is parsed both as an `istio.workload.Address` (WDS) and as an
// `istio.security.Authorization`; each that parses is upserted into a State that already
// holds a fixed workload, service and Istio's static STRICT policy. Invariants on every input:
//  - a rejected resource says why, and leaves the baseline intact;
//  - an accepted workload is findable by its uid and by each of its IPs; an accepted service by
//    its key and each VIP; an accepted policy is listed;
//  - RBAC: every result has a reason; a denial names an enforced DENY policy or is the
//    "none allowed" default; plaintext is always denied while the STRICT policy applies, and
//    an mTLS connection is never denied by it; dry-run policies alone never deny;
//  - after removal, the resource is gone from every index.
#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/base/strings.h"
#include "ztunnel/rbac/rbac.h"
#include "common/wds/state.h"

namespace {

using ambit::net::IpAddr;
using ambit::wds::PolicyPtr;
using ambit::wds::State;
using ambit::ztunnel::RbacConnection;
using ambit::wds::WorkloadPtr;

constexpr const char* kStrictKey = "istio-system/istio_converted_static_strict";

void require(bool ok) {
  if (!ok) std::abort();
}

IpAddr ip(const char* s) { return *IpAddr::parse(s); }

// Istio's static STRICT PeerAuthentication policy: deny whoever has no identity.
const istio::security::Authorization& strict_policy() {
  static const istio::security::Authorization p = [] {
    istio::security::Authorization strict;
    strict.set_name("istio_converted_static_strict");
    strict.set_namespace_("istio-system");
    strict.set_scope(istio::security::GLOBAL);
    strict.set_action(istio::security::DENY);
    strict.add_rules()->add_clauses()->add_matches()->add_not_principals()->mutable_presence();
    return strict;
  }();
  return p;
}

void seed(State* state) {
  istio::workload::Address w;
  auto* wl = w.mutable_workload();
  wl->set_uid("Kubernetes//Pod/default/server");
  wl->set_name("server");
  wl->set_namespace_("default");
  wl->add_addresses(ip("10.0.0.2").bytes());
  wl->set_tunnel_protocol(istio::workload::HBONE);
  (*wl->mutable_services())["default/server.default.svc.cluster.local"]
      .add_ports()
      ->set_service_port(80);
  require(state->upsert_address(wl->uid(), w).ok());

  istio::workload::Address s;
  auto* svc = s.mutable_service();
  svc->set_name("server");
  svc->set_namespace_("default");
  svc->set_hostname("server.default.svc.cluster.local");
  auto* vip = svc->add_addresses();
  vip->set_address(ip("10.96.0.10").bytes());
  auto* port = svc->add_ports();
  port->set_service_port(80);
  port->set_target_port(8080);
  require(state->upsert_address("default/server.default.svc.cluster.local", s).ok());

  require(state->upsert_policy(kStrictKey, strict_policy()).ok());
}

RbacConnection plaintext() {
  return RbacConnection{ip("10.0.0.9"), std::nullopt, ip("10.0.0.2"), 8080};
}
RbacConnection mtls() {
  return RbacConnection{ip("10.0.0.9"),
                        *ambit::SpiffeId::make("cluster.local", "default", "client"),
                        ip("10.0.0.2"), 8080};
}

void check_rbac(const State& state, const ambit::wds::Workload& dst) {
  std::vector<PolicyPtr> policies = state.policies_for(dst);
  bool strict = false;
  bool all_dry_run = true;
  for (const auto& p : policies) {
    // Only the baseline's: the input may replace it under the same key.
    if (p->key == kStrictKey &&
        p->proto.SerializeAsString() == strict_policy().SerializeAsString()) {
      strict = true;
    }
    if (!p->proto.dry_run()) all_dry_run = false;
  }
  for (const RbacConnection& conn : {plaintext(), mtls()}) {
    auto r = ambit::ztunnel::evaluate_rbac(policies, conn);
    require(!r.reason.empty());
    if (!r.allowed && !r.policy.empty()) {
      bool named = false;
      for (const auto& p : policies) {
        named = named || (ambit::ztunnel::policy_key(p->proto) == r.policy && !p->proto.dry_run() &&
                          p->proto.action() == istio::security::DENY);
      }
      require(named);
    }
    if (all_dry_run) require(r.allowed);
    if (r.dry_run) require(!r.dry_run->reason.empty());
    // Another DENY may be listed (and reported) first; the decision is what matters.
    if (strict && !conn.src_identity) require(!r.allowed && !r.policy.empty());
    if (strict && conn.src_identity) require(r.allowed || r.policy != kStrictKey);
    (void)ambit::ztunnel::to_string(conn);
  }
}

void ingest_address(State* state, const istio::workload::Address& a) {
  std::string name;
  if (a.has_workload()) {
    name = a.workload().uid();
  } else if (a.has_service()) {
    name = ambit::str_cat(a.service().namespace_(), "/", a.service().hostname());
  }
  size_t before = state->workloads().size() + state->services().size();
  absl::Status st = state->upsert_address(name, a);
  if (!st.ok()) {
    require(!st.message().empty());
    require(state->workloads().size() + state->services().size() == before);
    return;
  }
  if (a.has_workload()) {
    WorkloadPtr w = state->workload_by_uid(name);
    require(w != nullptr && w->uid() == name);
    require(static_cast<int>(w->ips.size()) == a.workload().addresses_size());
    for (const auto& addr : w->ips) require(state->workload_by_ip(addr) == w);
    (void)state->workload_by_info(w->ns(), w->name(), w->proto.service_account());
    for (const auto& [svc, _] : w->proto.services()) (void)state->endpoints(svc);
    check_rbac(*state, *w);
    state->remove_address(name);
    require(state->workload_by_uid(name) == nullptr);
    for (const auto& addr : w->ips) require(state->workload_by_ip(addr) != w);
  } else {
    auto s = state->service_by_host(name);
    require(s != nullptr && s->key == name);
    for (const auto& vip : s->vips) require(state->service_by_vip(vip) == s);
    (void)state->endpoints(name);
    state->remove_address(name);
    require(state->service_by_host(name) == nullptr);
    for (const auto& vip : s->vips) require(state->service_by_vip(vip) != s);
  }
}

void ingest_policy(State* state, const istio::security::Authorization& p) {
  // The address half of this input may have replaced (and then removed) the baseline server.
  WorkloadPtr server = state->workload_by_uid("Kubernetes//Pod/default/server");
  if (!server) {
    seed(state);
    server = state->workload_by_uid("Kubernetes//Pod/default/server");
    require(server != nullptr);
  }
  std::string key = ambit::ztunnel::policy_key(p);
  absl::Status st = state->upsert_policy(key, p);
  if (!st.ok()) {
    require(!st.message().empty());
    check_rbac(*state, *server);
    return;
  }
  bool listed = false;
  for (const auto& pol : state->policies()) listed = listed || pol->key == key;
  require(listed);
  // Also as a workload-selector target: the server names the policy.
  auto named = std::make_shared<ambit::wds::Workload>(*server);
  named->proto.add_authorization_policies(key);
  check_rbac(*state, *named);
  check_rbac(*state, *server);
  // Pure evaluation of the policy alone agrees with itself through both entry points.
  for (const RbacConnection& conn : {plaintext(), mtls()}) {
    auto a =
        ambit::ztunnel::evaluate_rbac(std::vector<const istio::security::Authorization*>{&p}, conn);
    auto b = ambit::ztunnel::evaluate_rbac(
        std::vector<PolicyPtr>{
            std::make_shared<const ambit::wds::Policy>(ambit::wds::Policy{p, key})},
        conn);
    require(a.allowed == b.allowed && a.policy == b.policy && a.reason == b.reason);
  }
  state->remove_policy(key);
  for (const auto& pol : state->policies()) require(pol->key != key);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Protobuf logs every invalid-UTF-8 string it meets; the fuzzer meets many.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  State state;
  seed(&state);
  istio::workload::Address a;
  if (a.ParseFromArray(data, static_cast<int>(size))) ingest_address(&state, a);
  istio::security::Authorization p;
  if (p.ParseFromArray(data, static_cast<int>(size))) ingest_policy(&state, p);
  return 0;
}
