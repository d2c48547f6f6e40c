// Runs a helper program (ip, iptables, bpftool) and returns its output, or an error that quotes
// the command line, exit status and stderr — so a failed `ip link add` explains itself.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ambit::sim {

struct CommandResult {
  int exit_code = 0;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs argv[0] (PATH lookup) and waits at most `timeout`; a timeout kills it.
absl::StatusOr<CommandResult> run_raw(const std::vector<std::string>& argv,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Like run_raw, but a non-zero exit is an error. Returns stdout.
absl::StatusOr<std::string> run(const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout = std::chrono::seconds(30));

std::string shell_quote(const std::vector<std::string>& argv);

}  // namespace ambit::sim
