// The small topology the capture and security suites share: a node n (10.50.0.1) bridging pod a
// (10.50.0.2, the one enrolled; a ztunnel stand-in listens on its 15001/15006 and an app on 9091),
// pod b (10.50.0.3, an app on 8080) and pod u (10.50.0.4, never enrolled); the pods' default
// route is the node. add_ipv6() makes it dual-stack (fd00:50::1..4). Every process, the node's included, runs in one "pods" cgroup, which is where
// capture attaches (the agent attaches at the cgroup root, which covers the node's processes too).
// Built under a test Harness, which tears it all down.
#pragma once

#include <chrono>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "agent/capture.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/net/ip_addr.h"
#include "common/net/netns.h"
#include "common/sim/topology.h"
#include "test/support/harness.h"

namespace ambit::test {

struct CaptureTopo {
  static constexpr const char* kProbe = AMBIT_SOURCE_DIR "/test/tools/capture_probe.py";

  Harness& h;
  std::string cg;
  sim::Process* standin = nullptr;  // ztunnel stand-in in pod a (15001/15006)
  sim::Process* app_b = nullptr;    // app in pod b on 8080
  sim::Process* app_a = nullptr;    // app in pod a on 9091
  // add_ipv6(): the same listeners on [::] (IPv6 only), so each log shows one family.
  sim::Process* standin6 = nullptr;
  sim::Process* app_b6 = nullptr;
  sim::Process* app_a6 = nullptr;

  explicit CaptureTopo(Harness& harness) : h(harness) {}

  absl::Status build() {
    AMBIT_RETURN_IF_ERROR(h.netns("n").status());
    AMBIT_RETURN_IF_ERROR(h.bridge("n", "br0"));
    AMBIT_RETURN_IF_ERROR(h.address("n", "br0", "10.50.0.1/24"));
    int i = 2;
    for (const char* p : {"a", "b", "u"}) {
      AMBIT_RETURN_IF_ERROR(h.netns(p).status());
      AMBIT_RETURN_IF_ERROR(h.veth("n", str_cat("v", p), p, "eth0"));
      AMBIT_RETURN_IF_ERROR(h.attach("n", str_cat("v", p), "br0"));
      AMBIT_RETURN_IF_ERROR(h.up("n", str_cat("v", p)));
      AMBIT_RETURN_IF_ERROR(h.address(p, "eth0", str_cat("10.50.0.", i++, "/24")));
      AMBIT_RETURN_IF_ERROR(h.up(p, "eth0"));
      AMBIT_RETURN_IF_ERROR(h.route(p, "default", "10.50.0.1"));
    }
    AMBIT_ASSIGN_OR_RETURN(cg, h.cgroup("pods"));
    AMBIT_ASSIGN_OR_RETURN(standin, h.spawn("a", cg, {"/usr/bin/python3", kProbe, "listen", "15001", "15006"}, "standin"));
    AMBIT_ASSIGN_OR_RETURN(app_b, h.spawn("b", cg, {"/usr/bin/python3", kProbe, "listen", "8080"}, "app-b"));
    AMBIT_ASSIGN_OR_RETURN(app_a, h.spawn("a", cg, {"/usr/bin/python3", kProbe, "listen", "9091"}, "app-a"));
    return wait_listening({standin, app_b, app_a});
  }

  static absl::Status wait_listening(std::initializer_list<sim::Process*> procs) {
    for (auto* p : procs) {
      for (int k = 0; k < 300 && p->log().find("listening") == std::string::npos; ++k) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (p->log().find("listening") == std::string::npos) return absl::InternalError("listener did not start: " + p->log());
    }
    return absl::OkStatus();
  }

  // Makes the topology dual-stack: n fd00:50::1 on br0, pods a/b/u fd00:50::2/3/4 on eth0 (ULA,
  // no DAD so they are usable at once), and IPv6 listeners beside the IPv4 ones.
  absl::Status add_ipv6() {
    AMBIT_RETURN_IF_ERROR(h.exec("n", {"ip", "-6", "addr", "add", "fd00:50::1/64", "dev", "br0", "nodad"}).status());
    int i = 2;
    for (const char* p : {"a", "b", "u"}) {
      AMBIT_RETURN_IF_ERROR(
          h.exec(p, {"ip", "-6", "addr", "add", str_cat("fd00:50::", i++, "/64"), "dev", "eth0", "nodad"}).status());
      AMBIT_RETURN_IF_ERROR(h.exec(p, {"ip", "-6", "route", "add", "default", "via", "fd00:50::1"}).status());
    }
    AMBIT_ASSIGN_OR_RETURN(standin6,
                           h.spawn("a", cg, {"/usr/bin/python3", kProbe, "listen", "v6:15001", "v6:15006"}, "standin6"));
    AMBIT_ASSIGN_OR_RETURN(app_b6, h.spawn("b", cg, {"/usr/bin/python3", kProbe, "listen", "v6:8080"}, "app-b6"));
    AMBIT_ASSIGN_OR_RETURN(app_a6, h.spawn("a", cg, {"/usr/bin/python3", kProbe, "listen", "v6:9091"}, "app-a6"));
    return wait_listening({standin6, app_b6, app_a6});
  }

  agent::CapturedPod pod_a() const {
    agent::CapturedPod p;
    p.uid = "uid-a";
    p.netns_path = sim::netns_path(h.name("a"));
    p.ip4 = *net::IpAddr::parse("10.50.0.2");
    return p;
  }

  // Node n as the agent sets its node up: the probe addresses on its lo, its netns cookie in the
  // datapath, so n's connects to enrolled pods leave from 169.254.7.127 (or the IPv6 one).
  absl::Status set_node(agent::EbpfDatapath& dp) {
    AMBIT_RETURN_IF_ERROR(h.exec("n", {"ip", "addr", "add", "169.254.7.127/32", "dev", "lo", "scope", "host"}).status());
    // The IPv6 one as agent/probe_address.cc adds it: deprecated, so bound explicitly only.
    AMBIT_RETURN_IF_ERROR(h.exec("n", {"ip", "-6", "addr", "add", "fd16:9254:7127:1337:ffff:ffff:ffff:ffff/128", "dev",
                                       "lo", "nodad", "preferred_lft", "0"})
                              .status());
    AMBIT_ASSIGN_OR_RETURN(UniqueFd ns, net::open_netns(sim::netns_path(h.name("n"))));
    AMBIT_ASSIGN_OR_RETURN(uint64_t cookie, net::netns_cookie(ns.get()));
    return dp.set_node_netns(cookie);
  }

  // Runs the app side in a pod or on node n (inside the pods cgroup) and returns its output.
  std::string connect(const std::string& pod, const std::string& target, int count = 1) {
    std::vector<std::string> argv = {"/usr/bin/python3", kProbe, "connect", target};
    if (count > 1) argv.insert(argv.end(), {"--count", std::to_string(count)});
    auto p = h.spawn(pod.empty() ? "" : pod, cg, argv);
    if (!p.ok()) return std::string(p.status().message());
    (*p)->wait_for(std::chrono::seconds(60));
    return (*p)->log();
  }
};

}  // namespace ambit::test
