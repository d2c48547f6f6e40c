#include "agent/cni/transport.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/base/unique_fd.h"

namespace ambit::agent {

namespace {

// Milliseconds left until `deadline`, rounded up so a poll never spins at 0 before it passes.
int ms_left(CniDeadline deadline) {
  auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 24 * 3600 * 1000));
}

// Waits for `events` on fd. OK when ready; DeadlineExceeded; Cancelled when wake_fd is readable.
absl::Status wait_for(int fd, short events, CniDeadline deadline, int wake_fd,
                      std::string_view what) {
  for (;;) {
    int left = ms_left(deadline);
    if (left == 0) return absl::DeadlineExceededError(str_cat("timed out ", what));
    pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "poll while ", what);
    }
    if (n == 0) continue;  // re-check the deadline
    if (wake_fd >= 0 && (fds[1].revents & POLLIN)) return absl::CancelledError("shutting down");
    if (fds[0].revents != 0) return absl::OkStatus();  // ready, or HUP/ERR the next call reports
  }
}

}  // namespace

absl::StatusOr<std::string> read_message(int fd, CniDeadline deadline, int wake_fd) {
  std::string buf;
  char chunk[8192];
  for (;;) {
    AMBIT_RETURN_IF_ERROR(wait_for(fd, POLLIN, deadline, wake_fd, "reading a message"));
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return errno_error(errno, "read");
    }
    if (n == 0) {
      if (buf.empty()) return absl::NotFoundError("connection closed before a message");
      return absl::InvalidArgumentError(str_cat("connection closed after ", buf.size(),
                                                " bytes without the terminating newline"));
    }
    size_t old = buf.size();
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl = buf.find('\n', old);
    if (nl != std::string::npos) {
      if (nl > kCniMaxMessageBytes) break;
      buf.resize(nl);
      return buf;
    }
    if (buf.size() > kCniMaxMessageBytes) break;
  }
  return absl::ResourceExhaustedError(
      str_cat("message exceeds ", kCniMaxMessageBytes, " bytes without a newline"));
}

absl::Status write_message(int fd, std::string_view msg, CniDeadline deadline) {
  while (!msg.empty()) {
    AMBIT_RETURN_IF_ERROR(wait_for(fd, POLLOUT, deadline, -1, "writing a message"));
    ssize_t n = ::send(fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return errno_error(errno, "write");
    }
    msg.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<CniResponse> call_agent(const std::string& socket_path, const CniRequest& req,
                                       CniDeadline deadline) {
  std::string line = encode_request(req);
  if (line.size() - 1 > kCniMaxMessageBytes) {
    return absl::InvalidArgumentError(str_cat("request for ", req.pod.describe(), " is ",
                                              line.size() - 1, " bytes; the limit is ",
                                              kCniMaxMessageBytes));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(str_cat("agent socket path \"", socket_path,
                                              "\" is empty or longer than ",
                                              sizeof(addr.sun_path) - 1, " bytes"));
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  auto context = [&](const absl::Status& s) {
    return annotate(s, str_cat("agent at ", socket_path));
  };

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errno_error(errno, "socket(AF_UNIX)");
  // A non-blocking unix connect never waits: it succeeds, fails, or says EAGAIN when the
  // listener's backlog is full — then try again until the deadline.
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) break;
    int err = errno;
    if (err == EINTR) continue;
    if (err == EINPROGRESS) {  // not what AF_UNIX does today, but the API allows it
      AMBIT_RETURN_IF_ERROR(context(wait_for(fd.get(), POLLOUT, deadline, -1, "connecting")));
      socklen_t len = sizeof(err);
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == 0) break;
    }
    if (err == EAGAIN && ms_left(deadline) > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(20, ms_left(deadline))));
      continue;
    }
    if (err == ENOENT || err == ECONNREFUSED || err == EAGAIN) {
      return absl::UnavailableError(str_cat("agent not reachable at ", socket_path, ": ",
                                            std::strerror(err), " (is ambit-agent running?)"));
    }
    return errno_error(err, "connect to agent at ", socket_path);
  }
  // The server may answer (e.g. "busy") and close before reading; a failed write is then not
  // the end of the story: its answer is already waiting to be read.
  absl::Status wrote = write_message(fd.get(), line, deadline);
  if (!wrote.ok() && !absl::IsUnavailable(wrote)) return context(wrote);
  auto answer = read_message(fd.get(), deadline);
  if (!answer.ok()) {
    if (absl::IsDeadlineExceeded(answer.status())) {
      return absl::DeadlineExceededError(
          str_cat("no answer from the agent at ", socket_path, " in time"));
    }
    if (!wrote.ok()) return context(wrote);
    if (absl::IsNotFound(answer.status())) {
      return absl::UnavailableError(
          str_cat("agent at ", socket_path, " closed the connection without answering"));
    }
    return context(answer.status());
  }
  auto resp = decode_response(*answer);
  if (!resp.ok()) return context(annotate(resp.status(), "bad response"));
  return resp;
}

}  // namespace ambit::agent
