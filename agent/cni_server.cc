#include "agent/cni_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>

#include "agent/cni/transport.h"
#include "agent/peer_cred.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"

namespace ambit::agent {

namespace {

spdlog::logger& lg() {
  static auto& l = log::scope("cni");
  return l;
}

int64_t ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
      .count();
}

absl::StatusOr<sockaddr_un> unix_addr(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.front() != '/' || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(str_cat("CNI socket path \"", path,
                                              "\" must be absolute and shorter than ",
                                              sizeof(addr.sun_path), " bytes"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

}  // namespace

CniServer::CniServer(CniServerOptions opts, CniHandler* handler)
    : opts_(std::move(opts)), handler_(handler) {}

CniServer::~CniServer() { stop(); }

absl::StatusOr<std::unique_ptr<CniServer>> CniServer::start(CniServerOptions opts,
                                                            CniHandler* handler) {
  if (handler == nullptr) return absl::InvalidArgumentError("CniServer needs a handler");
  if (opts.max_concurrent == 0) {
    return absl::InvalidArgumentError("CniServer max_concurrent must be at least 1");
  }
  std::unique_ptr<CniServer> s(new CniServer(std::move(opts), handler));
  s->stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!s->stop_fd_) return errno_error(errno, "eventfd");
  AMBIT_RETURN_IF_ERROR(s->listen());
  for (size_t i = 0; i < s->opts_.max_concurrent; ++i) {
    s->workers_.emplace_back([p = s.get()] { p->worker_loop(); });
  }
  s->acceptor_ = std::thread([p = s.get()] { p->accept_loop(); });
  lg().info("CNI endpoint listening on {} ({} workers)", s->opts_.socket_path,
            s->opts_.max_concurrent);
  return s;
}

absl::Status CniServer::listen() {
  const std::string& path = opts_.socket_path;
  AMBIT_ASSIGN_OR_RETURN(sockaddr_un addr, unix_addr(path));

  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return absl::InternalError(str_cat("creating ", dir.string(), ": ", ec.message()));
    // Only root (the runtime running ambit-cni) has any business here.
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }

  // A socket file left by a previous agent is stale once nobody accepts on it; anything else at
  // the path is not ours to delete.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          str_cat(path, " exists and is not a socket; refusing to replace it"));
    }
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!probe) return errno_error(errno, "socket(AF_UNIX)");
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0 ||
        errno == EAGAIN) {
      return absl::AlreadyExistsError(
          str_cat("another process is serving ", path, " (is another ambit-agent running?)"));
    }
    if (errno != ECONNREFUSED) return errno_error(errno, "probing existing socket ", path);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return errno_error(errno, "removing stale socket ", path);
    }
    lg().info("removed stale CNI socket {}", path);
  } else if (errno != ENOENT) {
    return errno_error(errno, "lstat ", path);
  }

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errno_error(errno, "socket(AF_UNIX)");
  // Linux creates the socket file with the socket inode's mode (minus umask), so setting 0600
  // before bind leaves no moment in which another user could connect.
  if (::fchmod(fd.get(), 0600) != 0) return errno_error(errno, "fchmod CNI socket");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return errno_error(errno, "bind ", path);
  }
  if (::chmod(path.c_str(), 0600) != 0) return errno_error(errno, "chmod 0600 ", path);
  if (::listen(fd.get(), 128) != 0) return errno_error(errno, "listen on ", path);
  if (::stat(path.c_str(), &st) != 0) return errno_error(errno, "stat ", path);
  sock_dev_ = st.st_dev;
  sock_ino_ = st.st_ino;
  listen_fd_ = std::move(fd);
  return absl::OkStatus();
}

void CniServer::stop() {
  std::call_once(stop_once_, [this] {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    if (stop_fd_) {
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(stop_fd_.get(), &one, sizeof(one));
    }
    cv_.notify_all();
    if (acceptor_.joinable()) acceptor_.join();
    listen_fd_.reset();
    // Remove the socket only if it is still the one we bound: a new agent may already own the path.
    struct stat st {};
    if (sock_ino_ != 0 && ::lstat(opts_.socket_path.c_str(), &st) == 0 && st.st_dev == sock_dev_ &&
        st.st_ino == sock_ino_) {
      ::unlink(opts_.socket_path.c_str());
    }
    for (auto& w : workers_) {
      if (w.joinable()) w.join();
    }
    std::lock_guard<std::mutex> l(mu_);
    queue_.clear();
    if (sock_ino_ != 0) lg().info("CNI endpoint on {} stopped", opts_.socket_path);
  });
}

CniServer::Stats CniServer::stats() const {
  return Stats{
      .requests = requests_.load(), .bad_requests = bad_requests_.load(), .busy = busy_.load(),
      .peer_refused = peer_refused_.load()};
}

void CniServer::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
    // No timeout needed: stop() makes stop_fd_ readable, and that is the only way out.
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno != EINTR) {
      lg().error("CNI endpoint: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents & POLLIN) return;
    if (n <= 0 || !(fds[0].revents & POLLIN)) continue;
    UniqueFd conn(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!conn) {
      int err = errno;
      if (err == EAGAIN || err == EINTR || err == ECONNABORTED) continue;
      lg().warn("CNI endpoint: accept: {}", std::strerror(err));
      // Out of fds or memory: back off briefly (still woken by stop) instead of spinning.
      pollfd s{stop_fd_.get(), POLLIN, 0};
      ::poll(&s, 1, 100);
      continue;
    }
    // Only the runtime's plugin may add or delete pods: a DEL releases a pod's capture.
    if (auto s = check_peer(conn.get(), opts_.allowed_uids, str_cat("CNI socket ", opts_.socket_path)); !s.ok()) {
      ++peer_refused_;
      lg().warn("{}", s.message());
      reject_now(std::move(conn), s);
      continue;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (queue_.size() + busy_workers_ < workers_.size()) {
        queue_.push_back(std::move(conn));
        cv_.notify_one();
        continue;
      }
    }
    reject_busy(std::move(conn));
  }
}

void CniServer::worker_loop() {
  for (;;) {
    UniqueFd conn;
    {
      std::unique_lock<std::mutex> l(mu_);
      // Woken by accept_loop (a connection) or stop(); nothing else to wait for.
      cv_.wait(l, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      conn = std::move(queue_.front());
      queue_.pop_front();
      ++busy_workers_;
    }
    std::optional<CniResponse> r = serve(conn.get());
    {
      // The slot is free once the work is done: a client that got its answer and connects
      // again at once must find it free, not "busy".
      std::lock_guard<std::mutex> l(mu_);
      --busy_workers_;
    }
    if (r) answer(conn.get(), *r);
  }
}

std::optional<CniResponse> CniServer::serve(int fd) {
  auto line = read_message(fd, std::chrono::steady_clock::now() + opts_.io_timeout, stop_fd_.get());
  if (!line.ok()) {
    // Shutting down, or a client that connected and left without a word (a liveness probe).
    if (absl::IsCancelled(line.status()) || absl::IsNotFound(line.status())) return std::nullopt;
    ++bad_requests_;
    lg().warn("CNI endpoint: bad request: {}", line.status().message());
    return CniResponse::from_status(
        absl::InvalidArgumentError(str_cat("bad request: ", line.status().message())));
  }
  auto req = decode_request(*line);
  if (!req.ok()) {
    ++bad_requests_;
    lg().warn("CNI endpoint: bad request: {}", req.status().message());
    return CniResponse::from_status(
        absl::InvalidArgumentError(str_cat("bad request: ", req.status().message())));
  }
  ++requests_;
  return dispatch(*req);
}

CniResponse CniServer::dispatch(const CniRequest& req) {
  auto start = std::chrono::steady_clock::now();
  std::string_view cmd = cni_command_name(req.command);
  CniResponse r;
  switch (req.command) {
    case CniCommand::kAdd: {
      auto timeout = req.timeout.count() > 0 ? std::min(req.timeout, opts_.max_add_timeout)
                                             : opts_.default_add_timeout;
      r = CniResponse::from_status(handler_->add(req.pod, start + timeout));
      break;
    }
    case CniCommand::kDel:
      r = CniResponse::from_status(handler_->del(req.pod));
      break;
    case CniCommand::kCheck: {
      auto state = handler_->check(req.pod);
      r = state.ok() ? CniResponse::from_status(absl::OkStatus(), *state)
                     : CniResponse::from_status(state.status());
      break;
    }
  }
  if (r.ok) {
    lg().info("CNI {} {}: ok{}{} ({} ms)", cmd, req.pod.describe(), r.state.empty() ? "" : ", ",
              r.state, ms_since(start));
  } else {
    lg().warn("CNI {} {}: {} {}{} ({} ms)", cmd, req.pod.describe(), r.status, r.error,
              r.retry ? " (runtime will retry)" : "", ms_since(start));
  }
  return r;
}

void CniServer::answer(int fd, const CniResponse& r) {
  // No wake fd: a handler's answer is still worth delivering while we shut down.
  auto s =
      write_message(fd, encode_response(r), std::chrono::steady_clock::now() + opts_.io_timeout);
  if (!s.ok()) lg().debug("CNI endpoint: answer not delivered: {}", s.message());
}

void CniServer::reject_busy(UniqueFd conn) {
  ++busy_;
  lg().warn("CNI endpoint: all {} workers busy; asking the runtime to retry", workers_.size());
  reject_now(std::move(conn), absl::ResourceExhaustedError(
      str_cat("agent busy: all ", workers_.size(), " CNI workers are serving other pods")));
}

void CniServer::reject_now(UniqueFd conn, const absl::Status& why) {
  CniResponse r = CniResponse::from_status(why);
  // Short and non-blocking: this runs on the accepting thread.
  auto s = write_message(conn.get(), encode_response(r),
                         std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
  if (!s.ok()) lg().debug("CNI endpoint: refusal not delivered: {}", s.message());
  // Read what the client already sent, so closing with unread data does not turn our answer
  // into ECONNRESET on its side.
  char buf[4096];
  while (::recv(conn.get(), buf, sizeof(buf), MSG_DONTWAIT) > 0) {
  }
}

}  // namespace ambit::agent
