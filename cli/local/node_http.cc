#include "cli/local/node_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/net/netns.h"

namespace ambit::cli {

namespace {

absl::Status wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline, const std::string& what) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return absl::DeadlineExceededError(str_cat("timed out ", what));
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r > 0) return absl::OkStatus();
    if (r < 0 && errno != EINTR) return errno_error(errno, "poll");
  }
}

}  // namespace

absl::StatusOr<HttpReply> http_get_in_netns(const std::string& netns, int port, const std::string& path,
                                            std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  AMBIT_ASSIGN_OR_RETURN(UniqueFd ns, net::open_netns("/run/netns/" + netns));
  AMBIT_ASSIGN_OR_RETURN(UniqueFd fd, net::socket_in_netns(ns.get(), AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string where = str_cat("127.0.0.1:", port, " in netns ", netns);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    if (errno != EINPROGRESS) return errno_error(errno, "connect ", where);
    AMBIT_RETURN_IF_ERROR(wait_fd(fd.get(), POLLOUT, deadline, "connecting to " + where));
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return errno_error(err, "connect ", where);
  }
  std::string req = str_cat("GET ", path, " HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = ::send(fd.get(), req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) {
      AMBIT_RETURN_IF_ERROR(wait_fd(fd.get(), POLLOUT, deadline, "sending to " + where));
      continue;
    }
    if (n < 0) return errno_error(errno, "send to ", where);
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      raw.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno == EAGAIN) {
      AMBIT_RETURN_IF_ERROR(wait_fd(fd.get(), POLLIN, deadline, "reading from " + where));
      continue;
    }
    return errno_error(errno, "recv from ", where);
  }
  // "HTTP/1.x NNN ..." then headers, blank line, body.
  HttpReply r;
  size_t sp = raw.find(' ');
  size_t hdr_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || sp == std::string::npos || hdr_end == std::string::npos) {
    return absl::DataLossError(str_cat("not an HTTP response from ", where));
  }
  r.status = std::atoi(raw.c_str() + sp + 1);
  r.body = raw.substr(hdr_end + 4);
  return r;
}

}  // namespace ambit::cli
