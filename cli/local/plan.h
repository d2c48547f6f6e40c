// The shape of a local mesh: names, addresses and file locations, all derived from the mesh's
// name, its node count and its state directory. Pure: nothing here touches the system, so every
// command (and the supervisor) computes the same plan from `mesh.json`.
//
// Addresses (all inside namespaces the mesh creates; the root namespace gets no route to them):
//   node i (1-based)   underlay  172.31.<i-1>.2 (node1: 172.31.1.1, the hub every node links to)
//                      pods      10.40.<i>.0/24, gateway 10.40.<i>.1 on the node's bridge br0
//   services           VIPs from 10.96.0.0/16 (assigned by `apply` when clusterIP is absent)
//
// State directory layout (documented in docs/local-mesh.md):
//   mesh.json                       name, nodes, binaries directory
//   config/                         istiod's config directory: one file per applied object, and
//                                   pod-<ns>.<name>.yaml written by the supervisor (with IP, node)
//   workloads/                      Pods and Deployments as applied (the supervisor's input)
//   ca/                             the mesh CA (root-cert.pem, root-key.pem)
//   nodes/<node>/                   token (node credential), zds.sock, cni.sock, agent-state/
//   nodes/<node>/pods/<ns>.<pod>/   token: the pod's service-account token (AMBIT_SA_TOKEN_FILE)
//   logs/                           istiod.log, supervisor.log, <node>/{agent,ztunnel}.log,
//                                   pods/<ns>/<pod>/<container>.log
//   run/                            supervisor.pid, status.json, stopped/<component>
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace ambit::cli {

struct MeshPlan {
  std::string name = "ambit";  // prefix of namespaces, cgroups and the BPF pin directory
  std::string dir;             // state directory
  int nodes = 2;
  std::string bin_dir;         // where istiod, ztunnel, ambit-agent, ambit-cni, ambit-echo live

  static std::string default_dir();  // $AMBIT_LOCAL_DIR, else /var/lib/ambit/local
  // Reads <dir>/mesh.json; NotFound if the mesh was never brought up there.
  static absl::StatusOr<MeshPlan> load(const std::string& dir);
  absl::Status save() const;
  std::string to_json() const;

  // Nodes are numbered from 1.
  std::string node_name(int i) const { return "node" + std::to_string(i); }
  // Parses "node2" / "2"; error naming the valid range.
  absl::StatusOr<int> node_index(const std::string& node) const;
  std::string node_netns(int i) const { return name + "-" + node_name(i); }
  std::string node_ip(int i) const;
  std::string pod_subnet(int i) const;   // 10.40.i.0/24
  std::string pod_gateway(int i) const;  // 10.40.i.1
  std::string xds_address(int i) const;  // istiod on node1, over the underlay
  // istiod's gRPC port (xDS + CA) as a pod reaches it: node1's underlay address, from any node.
  std::string pod_istiod_address() const { return node_ip(1) + ":15012"; }
  std::string pod_netns(const std::string& ns, const std::string& pod) const { return name + "-pod-" + ns + "." + pod; }

  // cgroup paths relative to the cgroup v2 root.
  std::string cgroup_root() const { return name; }
  std::string node_cgroup(int i) const { return name + "/" + node_name(i); }
  std::string pod_cgroup(int node, const std::string& ns, const std::string& pod) const {
    return node_cgroup(node) + "/pod-" + ns + "." + pod;
  }
  std::string control_cgroup() const { return name + "/control"; }  // istiod, supervisor

  std::string bpf_root() const { return "/sys/fs/bpf/" + name; }

  std::string path(const std::string& rel) const { return dir + "/" + rel; }
  std::string config_dir() const { return path("config"); }
  std::string workloads_dir() const { return path("workloads"); }
  std::string ca_dir() const { return path("ca"); }
  std::string node_dir(int i) const { return path("nodes/" + node_name(i)); }
  // The kubelet's per-pod directory on its node: the pod's projected service-account token.
  std::string pod_dir(int node, const std::string& ns, const std::string& pod) const {
    return node_dir(node) + "/pods/" + ns + "." + pod;
  }
  std::string logs_dir() const { return path("logs"); }
  std::string run_dir() const { return path("run"); }
  std::string status_dir() const { return path("status"); }  // istiod reports objects' status here
  std::string status_file() const { return path("run/status.json"); }
  std::string supervisor_pid_file() const { return path("run/supervisor.pid"); }
  std::string stopped_marker(const std::string& component) const { return path("run/stopped/" + component); }
  std::string bin(const std::string& program) const { return bin_dir + "/" + program; }
};

// Component names used in status, logs and stop/start: "istiod", "agent-node1", "ztunnel-node2".
std::string component_name(const std::string& kind, const MeshPlan& plan, int node);

}  // namespace ambit::cli
