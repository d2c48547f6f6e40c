#include "common/base/strings.h"
#include "common/sim/cgroup.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "common/base/status.h"

namespace ambit::sim {
namespace {

std::vector<std::string> subdirs(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (e->d_type == DT_DIR) out.push_back(path + "/" + n);
  }
  ::closedir(d);
  return out;
}

std::vector<pid_t> procs(const std::string& path) {
  std::vector<pid_t> out;
  std::ifstream in(path + "/cgroup.procs");
  pid_t p;
  while (in >> p) out.push_back(p);
  return out;
}

absl::Status remove_tree(const std::string& path) {
  for (const auto& sub : subdirs(path)) AMBIT_RETURN_IF_ERROR(remove_tree(sub));
  // A group with live processes cannot be removed; give SIGKILLed processes a moment to exit.
  for (int i = 0; i < 200; ++i) {
    if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
    if (errno != EBUSY) return errno_error(errno, "rmdir cgroup ", path);
    for (pid_t p : procs(path)) ::kill(p, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return errno_error(EBUSY, "rmdir cgroup ", path, " (processes did not exit)");
}

}  // namespace

absl::StatusOr<std::string> cgroup2_root() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "... <mount point> ... - cgroup2 <source> <opts>"
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::string rest = line.substr(dash + 3);
    std::vector<std::string_view> after = split(rest, ' ');
    if (after.empty() || after[0] != "cgroup2") continue;
    std::string head = line.substr(0, dash);
    std::vector<std::string_view> before = split(head, ' ');
    if (before.size() >= 5) return std::string(before[4]);
  }
  return absl::FailedPreconditionError(
      "no cgroup v2 hierarchy is mounted (run scripts/install-deps.sh, or mount -t cgroup2)");
}

absl::StatusOr<std::string> create_cgroup(const std::string& rel) {
  AMBIT_ASSIGN_OR_RETURN(std::string root, cgroup2_root());
  std::string path = root;
  for (std::string_view part : split_nonempty(rel, '/')) {
    str_append(&path, "/", part);
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return errno_error(errno, "mkdir cgroup ", path);
    }
  }
  return path;
}

absl::Status enter_cgroup(const std::string& path, pid_t pid) {
  std::ofstream out(path + "/cgroup.procs");
  out << pid << std::flush;
  if (!out) return errno_error(errno, "move pid ", pid, " into cgroup ", path);
  return absl::OkStatus();
}

absl::Status remove_cgroup(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return absl::OkStatus();
  {
    std::ofstream kill(path + "/cgroup.kill");  // Linux 5.14+: kills the whole subtree
    if (kill) kill << "1" << std::flush;
  }
  return remove_tree(path);
}

}  // namespace ambit::sim
