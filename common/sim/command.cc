#include "common/base/strings.h"
#include "common/sim/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/base/status.h"
#include "common/base/unique_fd.h"

namespace ambit::sim {

std::string shell_quote(const std::vector<std::string>& argv) {
  std::vector<std::string> q;
  for (const auto& a : argv) {
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>(){}") == std::string::npos;
    q.push_back(plain ? a : str_cat("'", a, "'"));
  }
  return join(q, " ");
}

absl::StatusOr<CommandResult> run_raw(const std::vector<std::string>& argv,
                                      std::chrono::milliseconds timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  int outp[2], errp[2];
  if (::pipe2(outp, O_CLOEXEC) != 0) return errno_error(errno, "pipe");
  UniqueFd out_r(outp[0]), out_w(outp[1]);
  if (::pipe2(errp, O_CLOEXEC) != 0) return errno_error(errno, "pipe");
  UniqueFd err_r(errp[0]), err_w(errp[1]);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return errno_error(errno, "fork for ", argv[0]);
  if (pid == 0) {
    ::dup2(out_w.get(), 1);
    ::dup2(err_w.get(), 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  out_w.reset();
  err_w.reset();

  CommandResult res;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t r = ::read(fds[i].fd, buf, sizeof(buf));
      if (r > 0) {
        (i == 0 ? res.out : res.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return absl::DeadlineExceededError(
        str_cat("`", shell_quote(argv), "` did not finish within ", timeout.count(), " ms"));
  }
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (res.exit_code == 127 && res.out.empty() && res.err.empty()) {
    return absl::NotFoundError(str_cat("cannot run `", argv[0], "` (not installed?)"));
  }
  return res;
}

absl::StatusOr<std::string> run(const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout) {
  AMBIT_ASSIGN_OR_RETURN(CommandResult r, run_raw(argv, timeout));
  if (r.exit_code != 0) {
    return absl::InternalError(str_cat("`", shell_quote(argv), "` exited ", r.exit_code, ": ",
                                            trim(r.err)));
  }
  return r.out;
}

}  // namespace ambit::sim
