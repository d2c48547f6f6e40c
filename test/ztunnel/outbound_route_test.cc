// Table tests for ztunnel/proxy/outbound_route: where an outbound connection goes for every kind
// of destination (ZT:src/proxy/outbound.rs build_request), as a pure function of the WDS state.
#include "ztunnel/proxy/outbound_route.h"

#include <doctest/doctest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

// Table rows leave trailing fields (waypoint) at their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace {

using ambit::net::IpAddr;
using ambit::net::SocketAddr;
using ambit::wds::State;
using ambit::wds::WorkloadPtr;
using ambit::ztunnel::resolve_outbound;
using ambit::ztunnel::Route;
namespace wl = istio::workload;

IpAddr ip(const char* s) {
  auto a = IpAddr::parse(s);
  REQUIRE(a.has_value());
  return *a;
}

SocketAddr sa(const char* s) {
  auto a = SocketAddr::parse(s);
  REQUIRE(a.has_value());
  return *a;
}

std::string svc_key(const std::string& name) {
  return "default/" + name + ".default.svc.cluster.local";
}

struct Pod {
  std::string uid;
  const char* ip;
  std::string sa = "default";
  wl::TunnelProtocol tunnel = wl::HBONE;
  wl::WorkloadStatus status = wl::HEALTHY;
  // service name -> (service port, target port)
  std::vector<std::pair<std::string, std::pair<uint32_t, uint32_t>>> services;
  wl::GatewayAddress waypoint;
  bool has_waypoint = false;
};

void add_pod(State& st, const Pod& p) {
  wl::Address a;
  auto* w = a.mutable_workload();
  w->set_uid(p.uid);
  w->set_name(p.uid);
  w->set_namespace_("default");
  w->set_service_account(p.sa);
  w->set_tunnel_protocol(p.tunnel);
  w->set_status(p.status);
  if (p.ip) w->add_addresses(ip(p.ip).bytes());
  for (const auto& [name, ports] : p.services) {
    auto* port = (*w->mutable_services())[svc_key(name)].add_ports();
    port->set_service_port(ports.first);
    port->set_target_port(ports.second);
  }
  if (p.has_waypoint) *w->mutable_waypoint() = p.waypoint;
  auto s = st.upsert_address(p.uid, a);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
}

struct Svc {
  std::string name;
  const char* vip;
  std::vector<std::pair<uint32_t, uint32_t>> ports;
  std::vector<std::string> sans;
  wl::GatewayAddress waypoint;
  bool has_waypoint = false;
};

void add_svc(State& st, const Svc& s) {
  wl::Address a;
  auto* p = a.mutable_service();
  p->set_name(s.name);
  p->set_namespace_("default");
  p->set_hostname(s.name + ".default.svc.cluster.local");
  p->add_addresses()->set_address(ip(s.vip).bytes());
  for (auto [sp, tp] : s.ports) {
    auto* port = p->add_ports();
    port->set_service_port(sp);
    port->set_target_port(tp);
  }
  for (const auto& san : s.sans) p->add_subject_alt_names(san);
  if (s.has_waypoint) *p->mutable_waypoint() = s.waypoint;
  auto st2 = st.upsert_address(svc_key(s.name), a);
  REQUIRE_MESSAGE(st2.ok(), st2.ToString());
}

wl::GatewayAddress waypoint_host(const std::string& name, uint32_t port = 15008) {
  wl::GatewayAddress g;
  g.mutable_hostname()->set_namespace_("default");
  g.mutable_hostname()->set_hostname(name + ".default.svc.cluster.local");
  g.set_hbone_mtls_port(port);
  return g;
}

wl::GatewayAddress waypoint_ip(const char* addr, uint32_t port = 15008) {
  wl::GatewayAddress g;
  g.mutable_address()->set_address(ip(addr).bytes());
  g.set_hbone_mtls_port(port);
  return g;
}

std::string spiffe(const std::string& sa) { return "spiffe://cluster.local/ns/default/sa/" + sa; }

std::set<std::string> ids(const Route& r) {
  std::set<std::string> out;
  for (const auto& i : r.expected) out.insert(i.to_string());
  return out;
}

const char* kind(Route::Kind k) {
  switch (k) {
    case Route::Kind::kHbone:
      return "HBONE";
    case Route::Kind::kTcp:
      return "TCP";
    case Route::Kind::kRefuse:
      return "REFUSE";
  }
  return "?";
}

// The common mesh: service "echo" (VIP 10.96.0.10, port 80 -> 8080) with HBONE endpoints.
void mesh(State& st) {
  add_svc(st, {"echo", "10.96.0.10", {{80, 8080}, {81, 0}, {82, 0}}, {spiffe("echo-extra")}});
}

}  // namespace

TEST_CASE("VIP to a healthy HBONE endpoint: podIP:15008, authority podIP:targetPort") {
  struct Case {
    const char* name;
    uint32_t workload_target;  // the workload's own services-map target port for port 80/81/82
    const char* dst;
    const char* authority;
  };
  // Target port precedence: the workload's services map, then the service port's target_port,
  // then the original port.
  const Case cases[] = {
      {"workload map wins over the service's target port", 9090, "10.96.0.10:80", "10.0.0.5:9090"},
      {"service target port when the workload map has 0", 0, "10.96.0.10:80", "10.0.0.5:8080"},
      {"workload map when the service has no target port", 7070, "10.96.0.10:81", "10.0.0.5:7070"},
      {"original port when neither has one", 0, "10.96.0.10:81", "10.0.0.5:81"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    State st;
    mesh(st);
    uint32_t svc_port = sa(c.dst).port;
    add_pod(st, {"ep",
                 "10.0.0.5",
                 "echo-sa",
                 wl::HBONE,
                 wl::HEALTHY,
                 {{"echo", {svc_port, c.workload_target}}}});
    Route r = resolve_outbound(st, nullptr, sa(c.dst));
    CHECK(kind(r.kind) == std::string("HBONE"));
    CHECK(r.connect_to == sa("10.0.0.5:15008"));
    CHECK(r.authority == c.authority);
    CHECK(ids(r) == std::set<std::string>{spiffe("echo-sa"), spiffe("echo-extra")});
    REQUIRE(r.dst_workload);
    CHECK(r.dst_workload->uid() == "ep");
    REQUIRE(r.dst_service);
    CHECK(r.dst_service->key == svc_key("echo"));
    CHECK_FALSE(r.via_waypoint);
    CHECK(r.error.empty());
  }
}

TEST_CASE("the workload's target port applies only to the service port it is listed under") {
  State st;
  mesh(st);
  add_pod(st, {"ep", "10.0.0.5", "s", wl::HBONE, wl::HEALTHY, {{"echo", {82, 9999}}}});
  Route r = resolve_outbound(st, nullptr, sa("10.96.0.10:80"));
  CHECK(r.authority == "10.0.0.5:8080");
  r = resolve_outbound(st, nullptr, sa("10.96.0.10:82"));
  CHECK(r.authority == "10.0.0.5:9999");
}

TEST_CASE("IPv6 endpoint: authority in brackets") {
  State st;
  add_svc(st, {"v6", "fd00:96::10", {{80, 8080}}, {}});
  add_pod(st, {"ep6", "fd00::5", "s", wl::HBONE, wl::HEALTHY, {{"v6", {80, 0}}}});
  Route r = resolve_outbound(st, nullptr, sa("[fd00:96::10]:80"));
  CHECK(kind(r.kind) == std::string("HBONE"));
  CHECK(r.connect_to == sa("[fd00::5]:15008"));
  CHECK(r.authority == "[fd00::5]:8080");
}

TEST_CASE("VIP to a non-mesh endpoint: plain TCP to podIP:targetPort") {
  State st;
  mesh(st);
  add_pod(st, {"plain", "10.0.0.6", "s", wl::NONE, wl::HEALTHY, {{"echo", {80, 0}}}});
  Route r = resolve_outbound(st, nullptr, sa("10.96.0.10:80"));
  CHECK(kind(r.kind) == std::string("TCP"));
  CHECK(r.connect_to == sa("10.0.0.6:8080"));
  REQUIRE(r.dst_workload);
  CHECK(r.dst_workload->uid() == "plain");
}

TEST_CASE("unhealthy endpoints (and endpoints without addresses) are never picked") {
  State st;
  mesh(st);
  add_pod(st, {"a-sick", "10.0.0.1", "s", wl::HBONE, wl::UNHEALTHY, {{"echo", {80, 0}}}});
  add_pod(st, {"b-ok", "10.0.0.2", "s", wl::HBONE, wl::HEALTHY, {{"echo", {80, 0}}}});
  add_pod(st, {"c-noip", nullptr, "s", wl::HBONE, wl::HEALTHY, {{"echo", {80, 0}}}});
  add_pod(st, {"d-sick", "10.0.0.4", "s", wl::HBONE, wl::UNHEALTHY, {{"echo", {80, 0}}}});
  for (size_t pick = 0; pick < 8; ++pick) {
    CAPTURE(pick);
    Route r = resolve_outbound(st, nullptr, sa("10.96.0.10:80"), pick);
    CHECK(kind(r.kind) == std::string("HBONE"));
    CHECK(r.connect_to == sa("10.0.0.2:15008"));
  }
}

TEST_CASE("refusals carry a reason") {
  struct Case {
    const char* name;
    std::function<void(State&)> setup;
    const char* dst;
    const char* reason;
  };
  const Case cases[] = {
      {"service without endpoints", [](State&) {}, "10.96.0.10:80", "no healthy endpoints"},
      {"service whose endpoints are all unhealthy",
       [](State& st) {
         add_pod(st, {"sick", "10.0.0.1", "s", wl::HBONE, wl::UNHEALTHY, {{"echo", {80, 0}}}});
       },
       "10.96.0.10:80", "no healthy endpoints"},
      {"port the service does not have",
       [](State& st) {
         add_pod(st, {"ep", "10.0.0.1", "s", wl::HBONE, wl::HEALTHY, {{"echo", {80, 0}}}});
       },
       "10.96.0.10:443", "no port 443"},
      {"waypoint service unknown",
       [](State& st) {
         add_svc(st, {"wp-echo", "10.96.0.20", {{80, 80}}, {}, waypoint_host("missing"), true});
         add_pod(st, {"ep", "10.0.0.1", "s", wl::HBONE, wl::HEALTHY, {{"wp-echo", {80, 0}}}});
       },
       "10.96.0.20:80", "not found"},
      {"waypoint without healthy endpoints",
       [](State& st) {
         add_svc(st, {"waypoint", "10.96.0.99", {{15008, 15008}}, {}});
         add_svc(st, {"wp-echo", "10.96.0.20", {{80, 80}}, {}, waypoint_host("waypoint"), true});
         add_pod(st, {"ep", "10.0.0.1", "s", wl::HBONE, wl::HEALTHY, {{"wp-echo", {80, 0}}}});
       },
       "10.96.0.20:80", "no healthy endpoints"},
      {"waypoint address that is no workload",
       [](State& st) {
         add_pod(
             st,
             {"pod", "10.0.0.1", "s", wl::HBONE, wl::HEALTHY, {}, waypoint_ip("10.0.0.200"), true});
       },
       "10.0.0.1:80", "not a known workload"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    State st;
    mesh(st);
    c.setup(st);
    Route r = resolve_outbound(st, nullptr, sa(c.dst));
    CHECK(kind(r.kind) == std::string("REFUSE"));
    CHECK_MESSAGE(r.error.find(c.reason) != std::string::npos, r.error);
  }
}

namespace {

// Service "reviews" behind waypoint "waypoint" (a service whose endpoint is the waypoint pod).
void waypoint_mesh(State& st, uint32_t hbone_port = 15008) {
  add_svc(st, {"waypoint", "10.96.0.99", {{15008, 15008}}, {spiffe("waypoint-extra")}});
  add_pod(st, {"waypoint-pod",
               "10.0.0.99",
               "waypoint",
               wl::HBONE,
               wl::HEALTHY,
               {{"waypoint", {15008, 15008}}}});
  add_svc(st, {"reviews",
               "10.96.0.30",
               {{9080, 9080}},
               {spiffe("reviews-extra")},
               waypoint_host("waypoint", hbone_port),
               true});
  add_pod(
      st,
      {"reviews-pod", "10.0.0.30", "reviews", wl::HBONE, wl::HEALTHY, {{"reviews", {9080, 9080}}}});
  add_pod(st, {"client", "10.0.0.1", "client", wl::HBONE, wl::HEALTHY, {}});
}

}  // namespace

TEST_CASE("service with a hostname waypoint: HBONE to the waypoint, authority stays VIP:port") {
  for (uint32_t port : {15008u, 15009u, 0u}) {
    CAPTURE(port);
    State st;
    waypoint_mesh(st, port);
    Route r = resolve_outbound(st, st.workload_by_uid("client"), sa("10.96.0.30:9080"));
    CHECK(kind(r.kind) == std::string("HBONE"));
    CHECK(r.via_waypoint);
    SocketAddr want = sa("10.0.0.99:15008");
    if (port != 0) want.port = static_cast<uint16_t>(port);  // 0: the HBONE default
    CHECK(r.connect_to == want);
    CHECK(r.authority == "10.96.0.30:9080");
    // The waypoint's identity and its service's SANs; not the destination's.
    CHECK(ids(r) == std::set<std::string>{spiffe("waypoint"), spiffe("waypoint-extra")});
    REQUIRE(r.dst_service);
    CHECK(r.dst_service->key == svc_key("reviews"));
  }
}

TEST_CASE("traffic from the waypoint itself bypasses the waypoint") {
  State st;
  waypoint_mesh(st);
  Route r = resolve_outbound(st, st.workload_by_uid("waypoint-pod"), sa("10.96.0.30:9080"));
  CHECK(kind(r.kind) == std::string("HBONE"));
  CHECK_FALSE(r.via_waypoint);
  CHECK(r.connect_to == sa("10.0.0.30:15008"));
  CHECK(r.authority == "10.0.0.30:9080");
  CHECK(ids(r) == std::set<std::string>{spiffe("reviews"), spiffe("reviews-extra")});
  REQUIRE(r.dst_workload);
  CHECK(r.dst_workload->uid() == "reviews-pod");
}

TEST_CASE("pod IP destinations") {
  State st;
  waypoint_mesh(st);
  add_pod(st, {"meshed", "10.0.0.40", "meshed", wl::HBONE, wl::HEALTHY, {}});
  add_pod(st, {"plain", "10.0.0.41", "plain", wl::NONE, wl::HEALTHY, {}});
  add_pod(st, {"wp-by-host",
               "10.0.0.42",
               "h",
               wl::HBONE,
               wl::HEALTHY,
               {},
               waypoint_host("waypoint"),
               true});
  add_pod(st, {"wp-by-ip",
               "10.0.0.43",
               "i",
               wl::HBONE,
               wl::HEALTHY,
               {},
               waypoint_ip("10.0.0.99", 15008),
               true});
  const WorkloadPtr client = st.workload_by_uid("client");

  SUBCASE("meshed pod: HBONE to podIP:15008, authority podIP:port, its own identity") {
    Route r = resolve_outbound(st, client, sa("10.0.0.40:8080"));
    CHECK(kind(r.kind) == std::string("HBONE"));
    CHECK(r.connect_to == sa("10.0.0.40:15008"));
    CHECK(r.authority == "10.0.0.40:8080");
    CHECK(ids(r) == std::set<std::string>{spiffe("meshed")});
    REQUIRE(r.dst_workload);
    CHECK(r.dst_workload->uid() == "meshed");
    CHECK_FALSE(r.dst_service);
    CHECK_FALSE(r.via_waypoint);
  }
  SUBCASE("non-mesh pod (tunnel NONE): plain TCP to the original destination") {
    Route r = resolve_outbound(st, client, sa("10.0.0.41:8080"));
    CHECK(kind(r.kind) == std::string("TCP"));
    CHECK(r.connect_to == sa("10.0.0.41:8080"));
    CHECK(r.expected.empty());
  }
  SUBCASE("pod with a hostname waypoint: HBONE to the waypoint, authority podIP:port") {
    Route r = resolve_outbound(st, client, sa("10.0.0.42:8080"));
    CHECK(kind(r.kind) == std::string("HBONE"));
    CHECK(r.via_waypoint);
    CHECK(r.connect_to == sa("10.0.0.99:15008"));
    CHECK(r.authority == "10.0.0.42:8080");
    CHECK(ids(r) == std::set<std::string>{spiffe("waypoint"), spiffe("waypoint-extra")});
  }
  SUBCASE("pod with an address waypoint") {
    Route r = resolve_outbound(st, client, sa("10.0.0.43:8080"));
    CHECK(kind(r.kind) == std::string("HBONE"));
    CHECK(r.via_waypoint);
    CHECK(r.connect_to == sa("10.0.0.99:15008"));
    CHECK(r.authority == "10.0.0.43:8080");
    CHECK(ids(r) == std::set<std::string>{spiffe("waypoint")});
  }
  SUBCASE("the waypoint itself, and the pod calling itself, go direct") {
    for (const char* src : {"waypoint-pod", "wp-by-host"}) {
      CAPTURE(src);
      Route r = resolve_outbound(st, st.workload_by_uid(src), sa("10.0.0.42:8080"));
      CHECK(kind(r.kind) == std::string("HBONE"));
      CHECK_FALSE(r.via_waypoint);
      CHECK(r.connect_to == sa("10.0.0.42:15008"));
      CHECK(ids(r) == std::set<std::string>{spiffe("h")});
    }
    Route r = resolve_outbound(st, st.workload_by_uid("waypoint-pod"), sa("10.0.0.43:8080"));
    CHECK_FALSE(r.via_waypoint);
    CHECK(r.connect_to == sa("10.0.0.43:15008"));
  }
  SUBCASE("an address the mesh does not know: TCP passthrough") {
    for (const char* dst : {"192.0.2.1:443", "[2001:db8::1]:443"}) {
      CAPTURE(dst);
      Route r = resolve_outbound(st, client, sa(dst));
      CHECK(kind(r.kind) == std::string("TCP"));
      CHECK(r.connect_to == sa(dst));
      CHECK_FALSE(r.dst_workload);
      CHECK_FALSE(r.dst_service);
      CHECK(r.error.empty());
    }
  }
  SUBCASE("no source workload (unknown caller) still routes") {
    Route r = resolve_outbound(st, nullptr, sa("10.0.0.42:8080"));
    CHECK(r.via_waypoint);
  }
}

TEST_CASE("round robin: pick walks every healthy endpoint, then wraps") {
  State st;
  mesh(st);
  add_pod(st, {"ep-a", "10.0.0.1", "a", wl::HBONE, wl::HEALTHY, {{"echo", {80, 0}}}});
  add_pod(st, {"ep-b", "10.0.0.2", "b", wl::HBONE, wl::HEALTHY, {{"echo", {80, 0}}}});
  add_pod(st, {"ep-sick", "10.0.0.3", "c", wl::HBONE, wl::UNHEALTHY, {{"echo", {80, 0}}}});
  add_pod(st, {"ep-d", "10.0.0.4", "d", wl::HBONE, wl::HEALTHY, {{"echo", {80, 0}}}});
  std::vector<std::string> seq;
  for (size_t pick = 0; pick < 6; ++pick) {
    Route r = resolve_outbound(st, nullptr, sa("10.96.0.10:80"), pick);
    REQUIRE(r.dst_workload);
    seq.push_back(r.dst_workload->uid());
    // The expected identity follows the endpoint picked.
    CHECK(r.expected.at(0) == r.dst_workload->identity);
    CHECK(r.connect_to.ip == r.dst_workload->ips[0]);
  }
  CHECK(std::set<std::string>(seq.begin(), seq.begin() + 3) ==
        std::set<std::string>{"ep-a", "ep-b", "ep-d"});
  CHECK(seq[3] == seq[0]);
  CHECK(seq[4] == seq[1]);
  CHECK(seq[5] == seq[2]);

  // The same over a waypoint service with two waypoint pods.
  add_svc(st, {"waypoint", "10.96.0.99", {{15008, 15008}}, {}});
  add_pod(
      st,
      {"wp-1", "10.0.0.98", "waypoint", wl::HBONE, wl::HEALTHY, {{"waypoint", {15008, 15008}}}});
  add_pod(
      st,
      {"wp-2", "10.0.0.99", "waypoint", wl::HBONE, wl::HEALTHY, {{"waypoint", {15008, 15008}}}});
  add_svc(st, {"behind", "10.96.0.40", {{80, 80}}, {}, waypoint_host("waypoint"), true});
  std::set<std::string> targets;
  for (size_t pick = 0; pick < 2; ++pick) {
    Route r = resolve_outbound(st, nullptr, sa("10.96.0.40:80"), pick);
    CHECK(r.via_waypoint);
    targets.insert(r.connect_to.to_string());
  }
  CHECK(targets == std::set<std::string>{"10.0.0.98:15008", "10.0.0.99:15008"});
}

TEST_CASE("a VIP wins over a workload with the same address") {
  State st;
  mesh(st);
  add_pod(st, {"ep", "10.0.0.5", "s", wl::HBONE, wl::HEALTHY, {{"echo", {80, 0}}}});
  add_pod(st, {"squatter", "10.96.0.10", "q", wl::NONE, wl::HEALTHY, {}});
  Route r = resolve_outbound(st, nullptr, sa("10.96.0.10:80"));
  CHECK(kind(r.kind) == std::string("HBONE"));
  CHECK(r.connect_to == sa("10.0.0.5:15008"));
}
