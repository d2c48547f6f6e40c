#include "common/net/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/base/status.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace ambit::net {

absl::StatusOr<UniqueFd> open_netns(std::string_view path) {
  std::string p(path);
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error(errno, "open network namespace ", p);
  return fd;
}

absl::StatusOr<UniqueFd> current_netns() { return open_netns("/proc/thread-self/ns/net"); }

absl::Status run_in_netns(int ns_fd, const std::function<absl::Status()>& fn) {
  AMBIT_ASSIGN_OR_RETURN(UniqueFd original, current_netns());
  if (::setns(ns_fd, CLONE_NEWNET) != 0) return errno_error(errno, "setns into network namespace");
  absl::Status result = fn();
  if (::setns(original.get(), CLONE_NEWNET) != 0) {
    // The thread would keep running in another namespace; nothing after this is trustworthy.
    std::perror("ambit: setns back to the original network namespace failed");
    std::abort();
  }
  return result;
}

absl::StatusOr<UniqueFd> socket_in_netns(int ns_fd, int domain, int type, int protocol) {
  UniqueFd out;
  AMBIT_RETURN_IF_ERROR(run_in_netns(ns_fd, [&]() -> absl::Status {
    out.reset(::socket(domain, type | SOCK_CLOEXEC, protocol));
    if (!out) return errno_error(errno, "socket in network namespace");
    return absl::OkStatus();
  }));
  return out;
}

static absl::StatusOr<uint64_t> cookie_of_socket(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (::getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) {
    return errno_error(errno, "getsockopt SO_NETNS_COOKIE (needs Linux 5.14+)");
  }
  return cookie;
}

absl::StatusOr<uint64_t> netns_cookie(int ns_fd) {
  AMBIT_ASSIGN_OR_RETURN(UniqueFd s, socket_in_netns(ns_fd, AF_INET, SOCK_DGRAM, 0));
  return cookie_of_socket(s.get());
}

absl::StatusOr<uint64_t> current_netns_cookie() {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return errno_error(errno, "socket");
  return cookie_of_socket(s.get());
}

absl::StatusOr<uint64_t> netns_inode(int ns_fd) {
  struct stat st {};
  if (::fstat(ns_fd, &st) != 0) return errno_error(errno, "fstat network namespace");
  return static_cast<uint64_t>(st.st_ino);
}

}  // namespace ambit::net
