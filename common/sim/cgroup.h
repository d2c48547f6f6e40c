// cgroup v2 groups for simulated pods. Ambit's eBPF capture attaches to a cgroup v2 hierarchy,
// so each simulated pod gets its own group and its processes are started inside it.
// Works with a pure v2 mount (/sys/fs/cgroup) and with systemd's hybrid layout
// (/sys/fs/cgroup/unified).
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"

namespace ambit::sim {

// Mount point of the cgroup v2 hierarchy, from /proc/self/mountinfo.
absl::StatusOr<std::string> cgroup2_root();

// Creates <root>/<rel> (and parents); OK if it exists. Returns the absolute path.
absl::StatusOr<std::string> create_cgroup(const std::string& rel);

// Moves `pid` into the group at absolute path `path`.
absl::Status enter_cgroup(const std::string& path, pid_t pid);

// Kills every process in the group and its children (cgroup.kill, else SIGKILL one by one),
// then removes the directories bottom-up. OK if it does not exist.
absl::Status remove_cgroup(const std::string& path);

}  // namespace ambit::sim
