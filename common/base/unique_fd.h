// UniqueFd owns one file descriptor and closes it exactly once. Every fd Ambit holds lives in one
// (or in a typed wrapper built on it), so no error path leaks an fd or closes one twice.
//
//   UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
//   if (!fd) return errno_error(errno, "socket");
//   int raw = fd.release();  // hand ownership to someone else (e.g. SCM_RIGHTS)
#pragma once

#include <unistd.h>

#include <utility>

namespace ambit {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }

  void reset(int fd = -1) {
    int old = std::exchange(fd_, fd);
    // close() may fail with EINTR; the fd is released either way on Linux, so never retry.
    if (old >= 0) ::close(old);
  }

 private:
  int fd_ = -1;
};

}  // namespace ambit
