// A process started inside a network namespace and a cgroup, with stdout+stderr going to a log
// file — a simulated pod's container, a node's ztunnel, or a test's client.
//
//   SpawnOptions o{.argv = {"ambit-echo", "--port", "8080"}, .netns = "pod-a",
//                  .cgroup = "/sys/fs/cgroup/unified/ambit/pod-a", .log_path = "/tmp/a.log"};
//   AMBIT_ASSIGN_OR_RETURN(Process p, Process::spawn(o));
//   auto code = p.wait_for(std::chrono::seconds(5));   // nullopt: still running
//   p.kill();                                           // destructor kills too
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ambit::sim {

struct SpawnOptions {
  std::vector<std::string> argv;
  std::string netns;     // name under /run/netns, or "" for the caller's
  std::string cgroup;    // absolute cgroup v2 path, or "" to stay in the caller's
  std::string log_path;  // stdout+stderr (appended); "" inherits the caller's
  std::map<std::string, std::string> env;  // added to the environment
  std::string cwd;
  bool new_session = true;  // own process group, so kill() reaches its children
};

class Process {
 public:
  static absl::StatusOr<Process> spawn(const SpawnOptions& opts);
  Process() = default;
  ~Process();
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Exit code (128+signal if killed), or nullopt if still running after `timeout`.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit code.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  void kill();             // SIGKILL the process group, reap
  void signal(int sig);    // to the process (group if new_session)
  // Forget the process without killing it (ambitctl local leaves daemons running).
  pid_t detach();
  const std::string& log_path() const { return log_path_; }
  std::string log() const;  // current contents of the log file

 private:
  pid_t pid_ = -1;
  bool group_ = false;
  std::optional<int> exit_code_;
  std::string log_path_;
};

}  // namespace ambit::sim
