// A whole mesh on one machine for end-to-end tests: nodes and pods as network namespaces,
// istiod, a node agent (the ZDS test double until the agent is used) and a ztunnel per node,
// Istio's in-pod iptables capture on enrolled pods, echo servers in every pod. All processes are
// the real binaries; everything is created under a test Harness and torn down with it. When the
// test case has failed, the destructor prints every component's log.
//
//   MeshEnv m(h, {{.name = "client", .node = 0, .sa = "client"},
//                 {.name = "server", .node = 1, .sa = "server"}});
//   AMBIT_REQUIRE_OK(m.start());
//   auto out = m.client("client", m.pod_ip("server") + ":8080");
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/sim/process.h"
#include "test/support/harness.h"

namespace ambit::test {

struct PodSpec {
  std::string name;
  int node = 0;
  std::string sa = "default";
  std::string ns = "default";
  bool enrolled = true;
  std::vector<int> echo_ports = {8080};
  std::vector<std::string> app = {};  // the pod's process; default: the Python echo server
};

struct ServiceSpec {
  std::string name;
  std::string app;  // selects pods whose name equals this (label app=<pod name>)
  std::string vip;
  int port = 80;
  int target_port = 8080;
  std::string ns = "default";
};

struct MeshOptions {
  int nodes = 2;
  // "" = the ZDS test double + Istio's iptables rules applied by the test (ztunnel-only tests);
  // "ebpf" / "iptables" = the real ambit-agent per node, pods added through the real CNI plugin.
  std::string agent_mode = "";
  std::vector<std::string> ztunnel_args = {};  // extra flags for every ztunnel
  std::vector<std::string> istiod_args = {};
};

class MeshEnv {
 public:
  MeshEnv(Harness& h, std::vector<PodSpec> pods, std::vector<ServiceSpec> services = {}, MeshOptions opts = {});
  ~MeshEnv();

  absl::Status start();

  std::string node_ns(int node) const { return str_node(node); }  // short names for Harness
  std::string pod_ns(const std::string& pod) const { return "p-" + pod; }
  std::string pod_ip(const std::string& pod) const;
  std::string node_ip(int node) const;  // underlay address
  const std::string& dir() const { return dir_; }
  std::string config_dir() const { return dir_ + "/config"; }
  std::string ca_dir() const { return dir_ + "/ca"; }

  // Writes YAML into the config directory atomically (temp + rename).
  absl::Status apply(const std::string& file, const std::string& yaml);
  absl::Status remove(const std::string& file);
  // Flips a pod's istio.io/dataplane-mode label (ambient / none) in the config, live.
  absl::Status set_enrolled(const std::string& pod, bool enrolled);

  // Runs test/tools/tcp_client.py in a pod; returns its output lines (never fails the test).
  std::vector<std::string> client(const std::string& pod, const std::string& addr, const std::string& extra = "");
  // Runs argv in a namespace (short name) and returns stdout, or the error.
  absl::StatusOr<std::string> exec(const std::string& ns, const std::vector<std::string>& argv);
  // GET from a node-local HTTP port (ztunnel 15000/15020/15021, istiod 15014).
  std::string http_get(int node, int port, const std::string& path);
  std::string metrics(int node) { return http_get(node, 15020, "/metrics"); }
  std::string config_dump(int node) { return http_get(node, 15000, "/config_dump"); }

  // Waits until every ztunnel reports ready (bounded).
  absl::Status wait_ready(std::chrono::seconds timeout = std::chrono::seconds(60));
  // Stops one ztunnel (SIGTERM, or SIGKILL if `kill`) / starts it again with extra flags.
  int stop_ztunnel(int node, bool kill = false);
  absl::Status start_ztunnel(int node, std::vector<std::string> extra = {});
  sim::Process* ztunnel(int node) { return ztunnels_.at(node); }
  sim::Process* istiod() { return istiod_; }
  // Agent mode only.
  int kill_agent(int node);  // SIGKILL, returns the exit code
  absl::Status start_agent(int node);
  sim::Process* agent(int node) { return agents_.at(static_cast<size_t>(node)); }
  std::string pod_cgroup(const std::string& pod) const;
  std::string bpf_pins(int node) const { return bpf_root_ + "/" + str_node(node); }
  // Runs the CNI plugin as a kubelet would (ADD/DEL/CHECK) for a pod; returns stdout+stderr.
  absl::StatusOr<std::string> cni(const std::string& command, const std::string& pod);
  int stop_istiod();
  absl::Status start_istiod();

  // A certificate for `spiffe_id` signed by the mesh CA: writes <dir>/<tag>.{crt,key}.
  absl::Status issue_cert(const std::string& spiffe_id, const std::string& tag);
  std::string logs() const;

 private:
  static std::string str_node(int i) { return "n" + std::to_string(i + 1); }
  std::string mesh_yaml() const;
  absl::Status build_topology();
  absl::Status start_zds(int node);

  Harness& h_;
  std::vector<PodSpec> pods_;
  std::vector<ServiceSpec> services_;
  MeshOptions opts_;
  std::string dir_;
  std::map<std::string, std::string> pod_ips_;
  sim::Process* istiod_ = nullptr;
  std::vector<sim::Process*> zds_;
  std::vector<sim::Process*> ztunnels_;
  std::vector<sim::Process*> agents_;
  std::map<std::string, std::string> cgroups_;  // pod or node name -> path
  std::string bpf_root_;
  std::vector<std::string> tokens_;
  int ztunnel_starts_ = 0;
  int client_runs_ = 0;
};

}  // namespace ambit::test
