// Network-namespace harness for end-to-end tests: simulated hosts as namespaces, veth pairs,
// bridges, addresses and routes (only inside namespaces it creates), a cgroup v2 group per
// simulated pod, and processes run inside a namespace + cgroup with their output collected.
//
// Everything is torn down when the Harness is destroyed, when the test binary exits, and on
// SIGINT/SIGTERM/SIGABRT; a run that was SIGKILLed is swept by the next Harness (names carry
// the owning pid, and namespaces of dead pids are removed).
//
//   Harness h;                                   // names get a unique "at<pid>x<n>-" prefix
//   auto n1 = h.netns("node1");                  // -> "at123x0-node1"
//   h.veth("node1", "eth0", "node2", "eth0");
//   h.address("node1", "eth0", "10.9.0.1/24"); h.up("node1", "eth0");
//   auto cg = h.cgroup("pod-a");
//   auto p = h.spawn("node1", cg, {"sh", "-c", "echo hi"});
//   p->wait_for(2s); p->log();
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/sim/process.h"

namespace ambit::test {

class Harness {
 public:
  Harness();
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // Full namespace name for a short one.
  std::string name(const std::string& short_name) const { return prefix_ + short_name; }
  const std::string& prefix() const { return prefix_; }
  const std::string& work_dir() const { return work_dir_; }

  absl::StatusOr<std::string> netns(const std::string& short_name);
  absl::Status veth(const std::string& ns_a, const std::string& if_a, const std::string& ns_b,
                    const std::string& if_b);
  absl::Status bridge(const std::string& ns, const std::string& br);
  absl::Status attach(const std::string& ns, const std::string& ifname, const std::string& br);
  absl::Status address(const std::string& ns, const std::string& ifname, const std::string& cidr);
  absl::Status up(const std::string& ns, const std::string& ifname);
  absl::Status route(const std::string& ns, const std::string& dst, const std::string& via,
                     const std::string& dev = "");
  absl::StatusOr<std::string> exec(const std::string& ns, const std::vector<std::string>& argv);

  // A cgroup v2 group for a simulated pod; returns its absolute path.
  absl::StatusOr<std::string> cgroup(const std::string& short_name);

  // Starts argv inside ns (short name, or "" for the root namespace) and cgroup (path from
  // cgroup(), or ""); output goes to <work_dir>/<log_name>.log.
  absl::StatusOr<sim::Process*> spawn(const std::string& ns, const std::string& cgroup,
                                      std::vector<std::string> argv, std::string log_name = "");

  // A bpffs directory for this harness's pins (/sys/fs/bpf/ambit-test/<prefix><short>), removed
  // with everything in it at teardown.
  std::string bpf_dir(const std::string& short_name);

  // Removes everything this harness created. Idempotent.
  absl::Status teardown();

  static void install_signal_cleanup();
  static void cleanup_all();
  // Removes leftovers of harnesses whose process is gone (namespaces, cgroups, work dirs).
  static void sweep_stale();

 private:
  std::string prefix_;
  std::string work_dir_;
  std::string cgroup_base_;  // absolute, created lazily
  std::vector<std::string> namespaces_;
  std::vector<std::unique_ptr<sim::Process>> processes_;
  std::vector<std::string> bpf_dirs_;
  int counter_ = 0;
};

}  // namespace ambit::test

namespace ambit::test {
// Has the current test case failed an assertion so far? The doctest runner installs the probe;
// outside tests (benchmarks) it is always false. Fixtures use it to print the logs that explain
// a failure.
bool current_test_failed();
void set_failure_probe(bool (*probe)());
}  // namespace ambit::test
