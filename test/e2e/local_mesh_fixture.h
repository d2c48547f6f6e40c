// A local mesh driven only through the real `ambitctl` binary, for the end-to-end suite: the
// test sees the mesh as a user does (CLI, pods, logs, metrics). Each fixture brings up its own
// mesh named "ae2e" in a fresh directory; the destructor tears it down (`local down --purge`)
// and, when the test case failed, prints every component's and pod's log first.
//
//   LocalMesh m;
//   AMBIT_REQUIRE_OK(m.up());
//   AMBIT_REQUIRE_OK(m.apply(kManifests));
//   auto r = m.exec_pod("demo", "client", {"curl", "-s", "http://10.96.0.10/"});
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/sim/command.h"
#include "common/sim/process.h"

namespace ambit::test {

class LocalMesh {
 public:
  explicit LocalMesh(std::map<std::string, std::string> env = {});
  ~LocalMesh();

  const std::string& dir() const { return dir_; }
  // Prefix of the mesh's namespaces, cgroups and BPF pins.
  const std::string& name() const { return name_; }

  // ambitctl --dir <dir> args... (never fails the test by itself).
  sim::CommandResult ctl(const std::vector<std::string>& args, std::chrono::seconds timeout = std::chrono::seconds(120));
  // Same, as a background process with its output in <dir>/bg-<tag>.log.
  absl::StatusOr<sim::Process> ctl_background(const std::vector<std::string>& args, const std::string& tag);

  absl::Status up(int nodes = 2);
  absl::Status apply(const std::string& yaml, bool wait = true);
  absl::Status remove(const std::string& yaml);
  sim::CommandResult exec_pod(const std::string& ns, const std::string& pod, const std::vector<std::string>& argv);
  sim::CommandResult exec_node(int node, const std::vector<std::string>& argv);
  std::string metrics(int node);     // ztunnel's Prometheus text
  std::string ztunnel_log(int node);
  std::string logs() const;          // everything, for failures

 private:
  absl::Status write_temp(const std::string& yaml, std::string* path);
  std::string dir_;
  std::string name_;
  std::map<std::string, std::string> env_;
  int temp_seq_ = 0;
};

// Counts lines equal to `word` in `text`.
int count_lines(const std::string& text, const std::string& word);

}  // namespace ambit::test
