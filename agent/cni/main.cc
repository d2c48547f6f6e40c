// ambit-cni: chained CNI plugin (spec 1.0.0). Passes the pod's netns, identity and addresses to
// the node agent and, on ADD, waits for it to enroll the pod. The logic is agent/cni/plugin.h;
// this file only gathers the environment and stdin and writes the output.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "agent/cni/plugin.h"
#include "agent/cni/transport.h"
#include "common/base/strings.h"
#include "common/base/version.h"

namespace {

// Network configs are a few KiB; this only stops a runaway writer.
constexpr size_t kMaxStdinBytes = 16 << 20;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool read_stdin(std::string* out, std::string* error) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = ambit::str_cat("reading the network config from stdin: ", std::strerror(errno));
      return false;
    }
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > kMaxStdinBytes) {
      *error = ambit::str_cat("network config on stdin exceeds ", kMaxStdinBytes, " bytes");
      return false;
    }
  }
}

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    s.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

int main(int argc, char** argv) {
  namespace cni = ambit::agent::cni;
  if (argc > 1) {
    std::string_view a = argv[1];
    if (a == "--help" || a == "-h") {
      write_all(STDOUT_FILENO, cni::usage());
      return 0;
    }
    if (a == "--version") {
      write_all(STDOUT_FILENO, ambit::str_cat("ambit-cni ", ambit::kVersion, "\n"));
      return 0;
    }
    write_all(STDERR_FILENO,
              ambit::str_cat("ambit-cni: unknown argument \"", a, "\"\n\n", cni::usage()));
    return 2;
  }

  cni::CniEnv e{.command = env("CNI_COMMAND"),
                .container_id = env("CNI_CONTAINERID"),
                .netns = env("CNI_NETNS"),
                .ifname = env("CNI_IFNAME"),
                .args = env("CNI_ARGS"),
                .path = env("CNI_PATH")};
  std::string input;
  // VERSION gets (at most) a cniVersion on stdin and does not need it; never block on it.
  if (e.command != "VERSION" && !e.command.empty()) {
    std::string error;
    if (!read_stdin(&input, &error)) {
      write_all(STDOUT_FILENO, cni::format_error(cni::kCniVersion, cni::kErrIoFailure, error));
      write_all(STDERR_FILENO, ambit::str_cat("ambit-cni: ", error, "\n"));
      return 1;
    }
  }
  cni::PluginOutput out = cni::run_plugin(e, input, ambit::agent::call_agent);
  write_all(STDOUT_FILENO, out.out);
  write_all(STDERR_FILENO, out.err);
  return out.exit_code;
}
