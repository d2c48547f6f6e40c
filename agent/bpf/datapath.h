// The eBPF datapath the agent owns: loads bpf/capture.bpf.c (one skeleton, shared maps), attaches
// the cgroup programs through bpf_links, and pins maps and links under /sys/fs/bpf/ambit/<node>/
// so capture outlives the agent — kill -9 the agent and connections keep being captured; the next
// agent adopts the pins (same ABI layout) and swaps in its freshly loaded programs with
// bpf_link_update, which is atomic. Pins of an incompatible layout are refused and replaced.
//
// Why each object is pinned:
//   links (connect4/6, sockops, getsockopt, setsockopt, getpeername4/6, sock_create): keep programs
//     attached with no agent;
//   maps (pods, pod_ips, orig, sk_orig, excl_ports, node, stats, meta): keep enrollment, in-flight
//     original destinations and counters across agent restarts. The stats map alone is replaced
//     when its size differs (a new counter): counters may restart, enrollment must not.
// Not pinned: the tc ingress filters, which are netlink objects rather than links (libbpf 1.1):
// they persist in each pod's clsact qdisc anyway, and a restarted agent replaces them in place
// with its own program when it loads the pods it finds still captured (Enrollment::load).
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ambit/abi.h"
#include "common/base/unique_fd.h"
#include "common/net/ip_addr.h"

struct ambit_capture;  // bpftool skeleton

namespace ambit::agent {

struct CapturedPod {
  std::string uid;
  std::string netns_path;  // /run/netns/<x> or /proc/<pid>/ns/net
  std::string ifname = "eth0";
  net::IpAddr ip4;
  // The pod's IPv6 address on a dual-stack pod, if any: ztunnel's outbound listener is reached
  // there for IPv6 destinations, connects to it are the pod's own (not captured), and inbound
  // IPv6 SYNs to it are steered. Unset: enroll uses the interface's first global IPv6 address.
  std::optional<net::IpAddr> ip6;
};

struct DatapathOptions {
  // Capacity of map_orig when it is created (0: AMBIT_MAX_ORIG). Adopted pins keep theirs. Tests
  // shrink it to make the LRU evict.
  uint32_t orig_capacity = 0;
};

// A map_pods entry that no live pod accounts for (remove_stale).
struct StaleEntry {
  uint64_t netns_cookie = 0;
  net::IpAddr ip4;  // from the entry; its map_pod_ips entry went too unless a live pod has it
  std::optional<net::IpAddr> ip6;  // likewise, if the entry had one
};

struct DatapathStatus {
  bool adopted = false;          // pins of a previous agent were reused
  bool replaced = false;         // pins existed but had an incompatible layout
  bool stats_reset = false;      // the pinned stats map had another size and was replaced
  std::string pin_dir;
  std::string cgroup;
};

class EbpfDatapath {
 public:
  static absl::StatusOr<std::unique_ptr<EbpfDatapath>> open(const std::string& pin_dir, const std::string& cgroup_path,
                                                           DatapathOptions options = {});
  ~EbpfDatapath();

  absl::Status enroll(const CapturedPod& pod);
  absl::Status release(const CapturedPod& pod);
  // netns cookies currently in the pods map (what the pinned datapath captures right now).
  std::vector<uint64_t> enrolled_cookies() const;
  // Removes map_pods entries whose cookie is not in `live` (the namespaces of pods the agent knows
  // and that still exist), with their map_pod_ips entries unless an address is in `live_ips`.
  // They are what a CNI DEL missed while the agent was down leaves behind.
  std::vector<StaleEntry> remove_stale(const std::vector<uint64_t>& live, const std::vector<net::IpAddr>& live_ips);
  absl::Status set_excluded_ports(const std::vector<uint16_t>& ports);
  // Names the node's own network namespace: its TCP connects to enrolled pods (kubelet's probes)
  // leave from AMBIT_PROBE_SRC4, which must be a local address there (agent/probe_address.h).
  absl::Status set_node_netns(uint64_t netns_cookie);

  std::array<uint64_t, AMBIT_STAT_MAX> stats() const;
  size_t map_entries(const char* pin_name) const;
  static size_t map_capacity(const char* pin_name);
  const DatapathStatus& status() const { return status_; }

  // Removes every pin (links detach with their last reference) and the pin directory, and the tc
  // filters of `pods`. OK if nothing is there.
  static absl::Status uninstall(const std::string& pin_dir, const std::vector<CapturedPod>& pods = {});

 private:
  EbpfDatapath() = default;
  absl::Status attach_tc(const CapturedPod& pod, bool attach);
  // pod.ip6, or else the first global IPv6 address of the pod's interface (ns_fd: its netns).
  static absl::StatusOr<std::optional<net::IpAddr>> pod_ip6(const CapturedPod& pod, int ns_fd);
  int map_fd(const char* pin_name) const;

  ambit_capture* skel_ = nullptr;
  DatapathStatus status_;
  std::vector<UniqueFd> links_;
};

const char* stat_name(int id);

}  // namespace ambit::agent
