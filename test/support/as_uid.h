// Runs a piece of a test as another user: a forked child drops to `uid`/`gid` (no supplementary
// groups, so no capabilities either) and runs `fn`; whatever it writes to the fd it is given comes
// back as `out`. For checks that depend on who the kernel says a peer is (SO_PEERCRED). The child
// only makes system calls and _exits, so forking a test process that has threads is safe enough.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

namespace ambit::test {

struct AsUidResult {
  int exit_code = -1;  // -1: did not exit normally; 125: could not drop to the uid
  std::string out;
};

inline AsUidResult run_as_uid(uid_t uid, gid_t gid, const std::function<int(int out_fd)>& fn) {
  AsUidResult r;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return r;
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(p[0]);
    ::close(p[1]);
    return r;
  }
  if (pid == 0) {
    ::close(p[0]);
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(125);
    ::_exit(fn(p[1]));
  }
  ::close(p[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof(buf))) > 0) r.out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int status = 0;
  if (::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

}  // namespace ambit::test
