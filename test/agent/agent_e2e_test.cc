// The node agent end to end: real ambit-agent, ztunnel and istiod processes on two simulated
// nodes, pods added through the real CNI plugin, capture by eBPF (and by the iptables fallback).
// Root only.
#include <bpf/bpf.h>
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

#include "ambit/abi.h"
#include "common/base/strings.h"
#include "common/base/unique_fd.h"
#include "common/net/ip_addr.h"
#include "common/net/netns.h"
#include "common/sim/command.h"
#include "common/sim/topology.h"
#include "test/support/mesh_env.h"
#include "test/support/root.h"

using namespace ambit;
using namespace ambit::test;
using namespace std::chrono_literals;

namespace {

std::vector<PodSpec> pods() {
  return {{.name = "client", .node = 0, .sa = "client"}, {.name = "server", .node = 1, .sa = "server"}};
}

bool all_ok(const std::vector<std::string>& lines) {
  if (lines.empty()) return false;
  for (const auto& l : lines) {
    if (l != "ok") return false;
  }
  return true;
}

template <typename F>
bool eventually(F pred, std::chrono::seconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

// istio_tcp_connections_opened_total summed over label sets that contain `filter`.
double opened(MeshEnv& m, int node, const std::string& filter) {
  double total = 0;
  std::string text = m.metrics(node);
  for (auto line : split_nonempty(text, '\n')) {
    if (!starts_with(line, "istio_tcp_connections_opened_total{")) continue;
    if (std::string(line).find(filter) == std::string::npos) continue;
    total += std::atof(std::string(line.substr(line.rfind(' ') + 1)).c_str());
  }
  return total;
}

void basic_mesh_traffic(MeshEnv& m) {
  auto out = m.client("client", m.pod_ip("server") + ":8080", "--count 3");
  CHECK_MESSAGE(all_ok(out), join(out, " | "));
  CHECK(opened(m, 1, "connection_security_policy=\"mutual_tls\"") >= 3);
  std::string status = m.http_get(0, 15031, "/status");
  CHECK_MESSAGE(status.find("\"enrolled\": true") != std::string::npos, status);
}

// The netns cookies in a node's pinned map_pods.
std::vector<uint64_t> pinned_pod_cookies(MeshEnv& m, int node) {
  std::vector<uint64_t> out;
  UniqueFd fd(bpf_obj_get((m.bpf_pins(node) + "/" AMBIT_PIN_PODS).c_str()));
  if (!fd) return out;
  uint64_t key = 0, next = 0;
  uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(fd.get(), prev, &next) == 0) {
    out.push_back(next);
    key = next;
    prev = &key;
  }
  return out;
}

double metric(MeshEnv& m, int node, const std::string& name) {
  std::string text = m.http_get(node, 15031, "/metrics");
  for (auto line : split_nonempty(text, '\n')) {
    if (starts_with(line, name + " ")) return std::atof(std::string(line.substr(line.rfind(' ') + 1)).c_str());
  }
  return -1;
}

}  // namespace

TEST_CASE("agent, ebpf mode: CNI-added pods are enrolled and captured without any iptables rule") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), {}, MeshOptions{.agent_mode = "ebpf"});
  AMBIT_REQUIRE_OK(m.start());
  basic_mesh_traffic(m);
  // No netfilter in the data path: the pods have no ISTIO chains.
  auto rules = m.exec(m.pod_ns("client"), {"iptables-save"});
  AMBIT_REQUIRE_OK(rules);
  CHECK_MESSAGE(rules->find("ISTIO") == std::string::npos, *rules);
  std::string metrics = m.http_get(0, 15031, "/metrics");
  CHECK(metrics.find("ambit_agent_mode{mode=\"ebpf\"} 1") != std::string::npos);
  CHECK(metrics.find("ambit_capture_events_total{event=\"captured\"}") != std::string::npos);
  CHECK(metrics.find("ambit_agent_enrolled_pods 1") != std::string::npos);
  // ztunnel and the CNI plugin run as root: nothing refused by the peer check.
  CHECK_MESSAGE(metrics.find("ambit_agent_socket_peers_refused_total{socket=\"zds\"} 0") != std::string::npos, metrics);
  CHECK(metrics.find("ambit_agent_socket_peers_refused_total{socket=\"cni\"} 0") != std::string::npos);
  auto cni_check = m.cni("CHECK", "client");
  CHECK_MESSAGE(cni_check.ok(), cni_check.status().ToString());
}

TEST_CASE("agent, iptables mode: the fallback gives ztunnel the same contract") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), {}, MeshOptions{.agent_mode = "iptables"});
  AMBIT_REQUIRE_OK(m.start());
  basic_mesh_traffic(m);
  auto rules = m.exec(m.pod_ns("client"), {"iptables-save"});
  AMBIT_REQUIRE_OK(rules);
  CHECK(rules->find("ISTIO_OUTPUT") != std::string::npos);
  CHECK(m.http_get(0, 15031, "/metrics").find("ambit_agent_mode{mode=\"iptables\"} 1") != std::string::npos);
}

TEST_CASE("agent kill -9 and restart during a stream of connections: zero failures, nothing escapes capture") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), {}, MeshOptions{.agent_mode = "ebpf"});
  AMBIT_REQUIRE_OK(m.start());
  double before = opened(m, 1, "reporter=\"destination\"");
  std::vector<std::string> lines;
  std::thread load([&] { lines = m.client("client", m.pod_ip("server") + ":8080", "--count 150 --interval 0.04"); });
  std::this_thread::sleep_for(1s);
  CHECK(m.kill_agent(0) == 128 + SIGKILL);
  CHECK(m.kill_agent(1) == 128 + SIGKILL);
  std::this_thread::sleep_for(1s);  // agentless: capture runs from the pins
  AMBIT_CHECK_OK(m.start_agent(0));
  AMBIT_CHECK_OK(m.start_agent(1));
  load.join();
  size_t ok = std::count(lines.begin(), lines.end(), "ok");
  CHECK_MESSAGE(ok == 150, join(lines, " | "));
  // Every one of them went through the destination ztunnel over mTLS: none escaped capture.
  CHECK(eventually([&] { return opened(m, 1, "reporter=\"destination\"") - before >= 150; }, 10s));
  CHECK(m.logs().find("adopted") != std::string::npos);
  // The restarted agents still enroll and serve.
  CHECK(all_ok(m.client("client", m.pod_ip("server") + ":8080")));
}

TEST_CASE("label change releases and re-enrolls a running pod: open connections continue, new ones follow") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), {}, MeshOptions{.agent_mode = "ebpf"});
  AMBIT_REQUIRE_OK(m.start());
  std::vector<std::string> held;
  std::thread t([&] { held = m.client("client", m.pod_ip("server") + ":8080", "--hold 6"); });
  std::this_thread::sleep_for(1s);
  AMBIT_REQUIRE_OK(m.set_enrolled("client", false));
  CHECK(eventually([&] { return m.http_get(0, 15031, "/status").find("\"enrolled\": true") == std::string::npos; }));
  double mtls_before = opened(m, 1, "connection_security_policy=\"mutual_tls\"");
  // New connections from the released pod are not captured at the source: they arrive at the
  // server's ztunnel as plaintext (the server is still in the mesh and captures inbound).
  CHECK(all_ok(m.client("client", m.pod_ip("server") + ":8080")));
  CHECK(eventually([&] { return m.logs().find("direction=inbound security=none") != std::string::npos; }));
  CHECK(opened(m, 1, "connection_security_policy=\"mutual_tls\"") == mtls_before);
  t.join();
  CHECK_MESSAGE(all_ok(held), join(held, " | "));  // the connection opened before the change was not cut

  AMBIT_REQUIRE_OK(m.set_enrolled("client", true));
  CHECK(eventually([&] { return m.http_get(0, 15031, "/status").find("\"enrolled\": true") != std::string::npos; }));
  CHECK(all_ok(m.client("client", m.pod_ip("server") + ":8080")));
  CHECK(eventually([&] { return opened(m, 1, "connection_security_policy=\"mutual_tls\"") > mtls_before; }));
}

TEST_CASE("CNI DEL releases the pod and ztunnel drops it, uninstall leaves no pin, link or filter") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), {}, MeshOptions{.agent_mode = "ebpf"});
  AMBIT_REQUIRE_OK(m.start());
  AMBIT_REQUIRE_OK(m.cni("DEL", "client"));
  CHECK(eventually([&] { return m.config_dump(0).find("uid-client") == std::string::npos; }));
  CHECK(m.http_get(0, 15031, "/metrics").find("ambit_agent_enrolled_pods 0") != std::string::npos);
  AMBIT_REQUIRE_OK(m.cni("DEL", "client"));  // idempotent

  for (int n = 0; n < 2; ++n) {
    m.agent(n)->stop();
    auto out = sim::run({AMBIT_AGENT_BIN, "uninstall", "--node-name", n == 0 ? "n1" : "n2", "--bpf-root",
                         m.bpf_pins(0).substr(0, m.bpf_pins(0).rfind('/')), "--state-dir", m.dir() + "/agent-state"});
    AMBIT_CHECK_OK(out);
    struct stat st {};
    CHECK(::stat(m.bpf_pins(n).c_str(), &st) != 0);
    std::string links;
    for (int i = 0; i < 100; ++i) {
      links = sim::run({"bpftool", "cgroup", "show", m.pod_cgroup(n == 0 ? "client" : "server")}).value_or("?");
      auto parent = sim::run({"bpftool", "cgroup", "show", m.pod_cgroup(n == 0 ? "client" : "server").substr(
                                  0, m.pod_cgroup(n == 0 ? "client" : "server").rfind('/'))}).value_or("?");
      links += parent;
      if (links.find("ambit") == std::string::npos) break;
      std::this_thread::sleep_for(50ms);
    }
    CHECK_MESSAGE(links.find("ambit") == std::string::npos, links);
  }
  auto tc = m.exec(m.pod_ns("server"), {"tc", "filter", "show", "dev", "eth0", "ingress"});
  AMBIT_REQUIRE_OK(tc);
  CHECK_MESSAGE(tc->find("ambit") == std::string::npos, *tc);
}

TEST_CASE("a pod deleted while the agent is down leaves no map_pods entry: the restarted agent reconciles") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), {}, MeshOptions{.agent_mode = "ebpf"});
  AMBIT_REQUIRE_OK(m.start());
  std::string ns = h.name(m.pod_ns("client"));
  uint64_t cookie = 0;
  {
    auto fd = net::open_netns(sim::netns_path(ns));
    AMBIT_REQUIRE_OK(fd);
    auto c = net::netns_cookie(fd->get());
    AMBIT_REQUIRE_OK(c);
    cookie = *c;
  }
  auto enrolled = pinned_pod_cookies(m, 0);
  REQUIRE(std::find(enrolled.begin(), enrolled.end(), cookie) != enrolled.end());

  // The runtime deletes the pod while no agent listens: its CNI DEL never arrives.
  CHECK(m.kill_agent(0) == 128 + SIGKILL);
  AMBIT_REQUIRE_OK(sim::del_netns(ns));
  AMBIT_REQUIRE_OK(m.start_agent(0));

  CHECK(eventually([&] { return metric(m, 0, "ambit_agent_stale_removed_total") >= 2; }));  // the pod, its entry
  auto left = pinned_pod_cookies(m, 0);
  CHECK_MESSAGE(std::find(left.begin(), left.end(), cookie) == left.end(), "cookie ", cookie, " still in map_pods");
  // Its address entry went with it: a later pod with that address is not steered.
  {
    UniqueFd ips(bpf_obj_get((m.bpf_pins(0) + "/" AMBIT_PIN_POD_IPS).c_str()));
    REQUIRE(ips);
    ambit_ip_key k{};
    k.addr[10] = k.addr[11] = 0xff;
    auto ip = net::IpAddr::parse(m.pod_ip("client"));
    REQUIRE(ip.has_value());
    std::memcpy(k.addr + 12, ip->raw().data(), 4);
    ambit_pod_ip v{};
    CHECK(bpf_map_lookup_elem(ips.get(), &k, &v) != 0);
  }
  CHECK(m.logs().find("removed stale capture entry netns cookie " + std::to_string(cookie)) != std::string::npos);
  CHECK(m.logs().find("is gone (its CNI DEL was missed): forgetting it") != std::string::npos);
  std::string status = m.http_get(0, 15031, "/status");
  CHECK_MESSAGE(status.find("uid-client") == std::string::npos, status);
  // The other node's pod is untouched and still served.
  CHECK(pinned_pod_cookies(m, 1).size() == 1);
}
