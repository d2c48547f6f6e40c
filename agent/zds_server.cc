#include "agent/zds_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "agent/peer_cred.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/net/netns.h"
#include "istio/workload/zds/zds.pb.h"

namespace ambit::agent {

namespace zds = istio::workload::zds;
using Clock = std::chrono::steady_clock;

namespace {

spdlog::logger& lg() { return log::scope("zds"); }

// ztunnel receives each packet into a 1024-byte buffer and rejects MSG_TRUNC
// (ZT:src/inpod/protocol.rs), so nothing larger may be sent; Istio reads acks the same way.
constexpr size_t kMaxMessage = 1024;
// Longest single poll: every loop re-checks its exit conditions at least this often.
constexpr int kMaxPollMs = 1000;
constexpr int kListenBacklog = 16;

void signal_fd(int efd) {
  uint64_t one = 1;
  (void)!::write(efd, &one, sizeof(one));
}

void drain_fd(int efd) {
  uint64_t v;
  (void)!::read(efd, &v, sizeof(v));
}

// Milliseconds to `deadline`, rounded up, at most kMaxPollMs.
int poll_ms(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, kMaxPollMs));
}

absl::Status protocol_error(std::string_view what) {
  return absl::InvalidArgumentError(str_cat("ZDS protocol error: ", what));
}

std::string describe(const ZdsPod& p) { return str_cat("uid=", p.uid, " pod=", p.ns, "/", p.name); }

zds::WorkloadRequest add_request(const ZdsPod& p) {
  zds::WorkloadRequest r;
  auto* a = r.mutable_add();
  a->set_uid(p.uid);
  a->mutable_workload_info()->set_name(p.name);
  a->mutable_workload_info()->set_namespace_(p.ns);
  a->mutable_workload_info()->set_service_account(p.service_account);
  return r;
}

// One packet; `pass_fd` (when >= 0) travels as the only fd of an SCM_RIGHTS message.
absl::Status send_packet(int fd, const std::string& bytes, int pass_fd) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  if (pass_fd >= 0) {
    m.msg_control = cbuf;
    m.msg_controllen = sizeof(cbuf);
    cmsghdr* h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(h), &pass_fd, sizeof(int));
  }
  for (;;) {
    ssize_t n = ::sendmsg(fd, &m, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    // SO_SNDTIMEO bounds a blocked send; EAGAIN then means ztunnel stopped reading.
    if (n < 0) return errno_error(errno, "sendmsg on the ZDS connection");
    if (static_cast<size_t>(n) != bytes.size()) {
      return absl::InternalError(str_cat("short ZDS send: ", n, " of ", bytes.size(), " bytes"));
    }
    return absl::OkStatus();
  }
}

}  // namespace

struct ZdsServer::Connection {
  uint64_t id = 0;
  UniqueFd fd;    // closed only by the connection's own thread, with mu_ held
  UniqueFd wake;  // eventfd: a request was queued, or the connection is being closed
  std::thread thread;
  // Replaced or stopping: every wait gives up. Set with mu_ held; read without.
  std::atomic<bool> closing{false};
  // Guarded by the server's mu_.
  bool said_hello = false;
  bool done = false;  // the thread has finished its work and may be joined
  bool snapshot_acked = false;
  std::vector<std::string> snapshot_nacks;

  // With mu_ held: makes this connection's thread give up whatever it waits for, and the peer
  // see EOF at once.
  void close_async() {
    closing = true;
    if (fd) ::shutdown(fd.get(), SHUT_RDWR);
    signal_fd(wake.get());
  }
};

struct ZdsServer::Request {
  enum class State { kQueued, kInFlight, kDone };
  std::string what;   // "AddWorkload uid=... pod=ns/name", for logs and errors
  std::string bytes;  // the serialized WorkloadRequest
  UniqueFd netns;     // AddWorkload only
  // Guarded by mu_.
  State state = State::kQueued;
  bool abandoned = false;  // the caller stopped waiting
  absl::Status result;
};

namespace {

enum class Event { kReadable, kWoken, kTimeout };

// Waits until the connection is readable, its wake fd fires, or `deadline` passes.
// Cancelled once the connection is being closed.
template <typename Conn>
absl::StatusOr<Event> wait_event(Conn& c, Clock::time_point deadline) {
  for (;;) {
    if (c.closing) return absl::CancelledError("connection closed by the server");
    pollfd p[2] = {{c.fd.get(), POLLIN, 0}, {c.wake.get(), POLLIN, 0}};
    int n = ::poll(p, 2, poll_ms(deadline));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "poll on the ZDS connection");
    }
    if (c.closing) return absl::CancelledError("connection closed by the server");
    if (p[0].revents != 0) return Event::kReadable;
    if (p[1].revents != 0) {
      drain_fd(c.wake.get());
      return Event::kWoken;
    }
    if (Clock::now() >= deadline) return Event::kTimeout;
  }
}

// Reads one packet without blocking: "" if none is there after all; Unavailable on EOF.
// ztunnel never sends fds or packets over 1 KiB, so either is a protocol error (any fds the
// peer sent are closed by the kernel, as no control buffer is given).
template <typename Conn>
absl::StatusOr<std::string> recv_packet(Conn& c) {
  char buf[kMaxMessage];
  iovec iov{buf, sizeof(buf)};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  ssize_t n = ::recvmsg(c.fd.get(), &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return std::string();
    return errno_error(errno, "recvmsg on the ZDS connection");
  }
  // A zero-length SEQPACKET packet is indistinguishable from EOF; no ZDS message is empty.
  if (n == 0) {
    if (c.closing) return absl::CancelledError("connection closed by the server");
    return absl::UnavailableError("peer closed the connection");
  }
  if (m.msg_flags & MSG_TRUNC)
    return protocol_error(str_cat("packet over ", kMaxMessage, " bytes"));
  if (m.msg_flags & MSG_CTRUNC)
    return protocol_error("peer sent ancillary data (file descriptors?)");
  return std::string(buf, static_cast<size_t>(n));
}

// The next packet before `deadline` (DeadlineExceeded with an empty message after it).
template <typename Conn>
absl::StatusOr<std::string> read_packet(Conn& c, Clock::time_point deadline) {
  for (;;) {
    AMBIT_ASSIGN_OR_RETURN(Event ev, wait_event(c, deadline));
    if (ev == Event::kTimeout) return absl::DeadlineExceededError("");
    if (ev == Event::kWoken) continue;
    AMBIT_ASSIGN_OR_RETURN(std::string pkt, recv_packet(c));
    if (!pkt.empty()) return pkt;
  }
}

}  // namespace

ZdsServer::ZdsServer(std::string socket_path, SnapshotSource snapshot_source,
                     ZdsServerOptions options)
    : path_(std::move(socket_path)),
      snapshot_source_(std::move(snapshot_source)),
      options_(options) {}

ZdsServer::~ZdsServer() { stop(); }

// ---- listening ----------------------------------------------------------------------------

absl::Status ZdsServer::start() {
  {
    std::lock_guard l(mu_);
    if (started_) return absl::FailedPreconditionError("ZDS server already started");
  }
  AMBIT_RETURN_IF_ERROR(listen_socket());
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_) {
    absl::Status st = errno_error(errno, "eventfd for the ZDS server");
    listen_fd_.reset();
    ::unlink(path_.c_str());
    return st;
  }
  {
    std::lock_guard l(mu_);
    started_ = true;
    stopping_ = false;
    stats_ = {};
  }
  accept_thread_ = std::thread([this] { accept_loop(); });
  lg().info("ZDS server listening on {}", path_);
  return absl::OkStatus();
}

absl::Status ZdsServer::listen_socket() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.empty() || path_.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(str_cat("bad ZDS socket path '", path_, "'"));
  }
  std::memcpy(addr.sun_path, path_.data(), path_.size());

  std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return errno_error(ec.value(), "create directory ", parent.string());
  }
  // A socket left by an earlier agent is stale once nobody accepts on it (Istio removes it
  // unconditionally; a live one here means two agents would fight over ztunnel, as the CNI
  // endpoint also refuses). Anything else at the path is somebody's file, not ours to delete.
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          str_cat(path_, " exists and is not a socket; not removing it"));
    }
    UniqueFd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!probe) return errno_error(errno, "socket(AF_UNIX, SOCK_SEQPACKET)");
    if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 ||
        errno == EAGAIN) {
      return absl::AlreadyExistsError(
          str_cat("another process serves ZDS on ", path_, " (is another ambit-agent running?)"));
    }
    if (errno != ECONNREFUSED) return errno_error(errno, "probe existing socket ", path_);
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
      return errno_error(errno, "remove stale socket ", path_);
    }
    lg().info("removed stale ZDS socket {}", path_);
  } else if (errno != ENOENT) {
    return errno_error(errno, "lstat ", path_);
  }

  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errno_error(errno, "socket(AF_UNIX, SOCK_SEQPACKET)");
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return errno_error(errno, "bind ", path_);
  }
  // Before listen(): until then a connect() is refused, so no one gets in under the umask's mode.
  if (::chmod(path_.c_str(), 0600) != 0 || ::listen(fd.get(), kListenBacklog) != 0 ||
      ::stat(path_.c_str(), &st) != 0) {
    absl::Status err = errno_error(errno, "chmod/listen ", path_);
    ::unlink(path_.c_str());
    return err;
  }
  socket_inode_ = st.st_ino;
  listen_fd_ = std::move(fd);
  return absl::OkStatus();
}

void ZdsServer::stop() {
  {
    std::lock_guard l(mu_);
    if (!started_) return;
    stopping_ = true;
    for (const ConnectionPtr& c : conns_) c->close_async();
    fail_queued(absl::UnavailableError("ZDS server stopped"));
  }
  signal_fd(wake_fd_.get());
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<ConnectionPtr> conns;
  {
    std::lock_guard l(mu_);
    conns.swap(conns_);
  }
  for (const ConnectionPtr& c : conns) {
    if (c->thread.joinable()) c->thread.join();
  }
  listen_fd_.reset();
  wake_fd_.reset();
  // Remove the socket only if it is still ours: a newer agent may have taken the path over.
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_ino == socket_inode_) ::unlink(path_.c_str());
  {
    std::lock_guard l(mu_);
    current_.reset();
    handshakes_ = 0;
    started_ = false;
    stopping_ = false;
  }
  cv_.notify_all();
  lg().info("ZDS server on {} stopped", path_);
}

void ZdsServer::accept_loop() {
  for (;;) {
    pollfd p[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    int n = ::poll(p, 2, kMaxPollMs);
    if (n < 0 && errno != EINTR) {
      lg().error("poll on ZDS listener {}: {}", path_, std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    reap_finished();
    {
      std::lock_guard l(mu_);
      if (stopping_) return;
    }
    if (n > 0 && p[1].revents != 0) drain_fd(wake_fd_.get());
    if (n > 0 && p[0].revents != 0) accept_one();
  }
}

void ZdsServer::accept_one() {
  UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd) {
    int e = errno;
    if (e == EAGAIN || e == EINTR || e == ECONNABORTED) return;
    lg().error("accept on ZDS socket {}: {}", path_, std::strerror(e));
    // EMFILE and friends leave the connection queued; do not spin on it.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return;
  }
  // Only ztunnel may hear about pods: whoever says hello becomes "the" ztunnel and is handed every
  // enrolled pod's network namespace.
  if (auto s = check_peer(fd.get(), options_.allowed_uids, str_cat("ZDS socket ", path_)); !s.ok()) {
    lg().warn("{}", s.message());
    std::lock_guard l(mu_);
    ++stats_.peer_refused;
    return;
  }
  // Bounds a send to a ztunnel that stopped reading (Istio: 5 s write deadline).
  auto snd = std::chrono::duration_cast<std::chrono::microseconds>(options_.ack_timeout).count();
  timeval tv{static_cast<time_t>(snd / 1000000), static_cast<suseconds_t>(snd % 1000000)};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) {
    lg().error("eventfd for a ZDS connection: {}; closing it", std::strerror(errno));
    return;
  }
  std::lock_guard l(mu_);
  if (stopping_) return;
  ++stats_.accepted;
  if (handshakes_ >= options_.max_handshakes) {
    ++stats_.refused;
    lg().warn("ZDS: {} connection(s) on {} have not sent ZdsHello yet; closing a new one",
              handshakes_, path_);
    return;
  }
  auto c = std::make_shared<Connection>();
  c->id = ++next_id_;
  c->fd = std::move(fd);
  c->wake = std::move(wake);
  ++handshakes_;
  conns_.push_back(c);
  c->thread = std::thread([this, c] { run_connection(c); });
  lg().debug("ZDS conn {}: accepted on {}", c->id, path_);
}

void ZdsServer::reap_finished() {
  std::vector<ConnectionPtr> finished;
  {
    std::lock_guard l(mu_);
    auto it = std::partition(conns_.begin(), conns_.end(),
                             [](const ConnectionPtr& c) { return !c->done; });
    finished.assign(std::make_move_iterator(it), std::make_move_iterator(conns_.end()));
    conns_.erase(it, conns_.end());
  }
  for (const ConnectionPtr& c : finished) {
    if (c->thread.joinable()) c->thread.join();
  }
}

// ---- one connection -----------------------------------------------------------------------

void ZdsServer::run_connection(const ConnectionPtr& c) {
  absl::Status st = serve(c);
  bool said_hello;
  {
    std::lock_guard l(mu_);
    said_hello = c->said_hello;
    if (current_ == c) {
      current_.reset();
      fail_queued(absl::UnavailableError("ztunnel disconnected before the message was sent"));
    }
    if (said_hello && (absl::IsInvalidArgument(st) || absl::IsDeadlineExceeded(st)))
      ++stats_.dropped;
    if (c->fd) ::shutdown(c->fd.get(), SHUT_RDWR);
    c->fd.reset();
    c->done = true;
  }
  cv_.notify_all();
  if (absl::IsCancelled(st)) {
    lg().info("ZDS conn {}: closed ({})", c->id, said_hello ? "replaced or stopping" : "stopping");
  } else if (!said_hello && absl::IsUnavailable(st)) {
    lg().debug("ZDS conn {}: client left before hello (a probe?)", c->id);
  } else if (!said_hello) {
    lg().warn("ZDS conn {}: dropping client on {} before hello: {}", c->id, path_, st.message());
  } else if (absl::IsUnavailable(st)) {
    lg().info("ZDS conn {}: ztunnel disconnected: {}", c->id, st.message());
  } else {
    lg().warn("ZDS conn {}: dropping ztunnel connection: {}", c->id, st.ToString());
  }
  signal_fd(wake_fd_.get());  // let the accept thread join us
}

absl::Status ZdsServer::serve(const ConnectionPtr& c) {
  absl::Status hello = read_hello(*c);
  {
    std::lock_guard l(mu_);
    --handshakes_;
    // EOF before any byte is a probe (or a client giving up), not a bad hello.
    if (!hello.ok() && !absl::IsCancelled(hello) && !absl::IsUnavailable(hello))
      ++stats_.bad_hellos;
  }
  AMBIT_RETURN_IF_ERROR(hello);
  AMBIT_RETURN_IF_ERROR(become_current(c));
  AMBIT_RETURN_IF_ERROR(send_snapshot(c));
  return serve_updates(c);
}

absl::Status ZdsServer::read_hello(Connection& c) {
  absl::StatusOr<std::string> pkt = read_packet(c, Clock::now() + options_.hello_timeout);
  if (absl::IsDeadlineExceeded(pkt.status())) {
    return absl::DeadlineExceededError(
        str_cat("no ZdsHello within ", options_.hello_timeout.count(), " ms"));
  }
  if (!pkt.ok()) return pkt.status();
  std::string_view head = std::string_view(*pkt).substr(0, 32);
  zds::ZdsHello hello;
  if (!hello.ParseFromString(*pkt)) {
    return protocol_error(str_cat("expected ZdsHello, got ", pkt->size(), " unparseable bytes \"",
                                  printable(head), "\""));
  }
  // Unknown fields parse fine, so garbage often "parses" with version NOT_USED; ztunnel always
  // sends V1 (ZT:src/inpod/protocol.rs send_hello).
  if (hello.version() == zds::NOT_USED) {
    return protocol_error(
        str_cat("ZdsHello without a version (", pkt->size(), " bytes \"", printable(head), "\")"));
  }
  if (hello.version() != zds::V1) {
    lg().warn("ZDS conn {}: ztunnel speaks ZDS version {}; answering in V1", c.id,
              static_cast<int>(hello.version()));
  }
  return absl::OkStatus();
}

absl::Status ZdsServer::become_current(const ConnectionPtr& c) {
  ConnectionPtr old;
  {
    std::lock_guard l(mu_);
    if (stopping_ || c->closing) return absl::CancelledError("ZDS server stopping");
    c->said_hello = true;
    old = std::exchange(current_, c);
    if (old) {
      old->close_async();
      ++stats_.replaced;
    }
  }
  cv_.notify_all();
  if (old) {
    lg().info("ZDS conn {}: ztunnel connected; it replaces conn {}", c->id, old->id);
  } else {
    lg().info("ZDS conn {}: ztunnel connected", c->id);
  }
  return absl::OkStatus();
}

absl::Status ZdsServer::send_snapshot(const ConnectionPtr& c) {
  std::vector<ZdsPod> pods;
  if (snapshot_source_) pods = snapshot_source_();
  lg().info("ZDS conn {}: sending snapshot of {} pod(s)", c->id, pods.size());
  for (const ZdsPod& p : pods) {
    zds::WorkloadRequest req = add_request(p);
    UniqueFd netns;
    std::string what = str_cat("AddWorkload ", describe(p));
    absl::StatusOr<UniqueFd> ns = net::open_netns(p.netns_path);
    if (ns.ok() && req.ByteSizeLong() <= kMaxMessage) {
      netns = std::move(*ns);
    } else {
      // Keep tells ztunnel not to drop the pod's proxies when the snapshot ends, without
      // (re)starting them: the pod may be going away, or we could not reach its netns.
      lg().info(
          "ZDS conn {}: cannot send {} ({}); sending KeepWorkload", c->id, what,
          ns.ok() ? str_cat("over ", kMaxMessage, " bytes") : std::string(ns.status().message()));
      req.Clear();
      req.mutable_keep()->set_uid(p.uid);
      what = str_cat("KeepWorkload ", describe(p));
    }
    absl::StatusOr<std::string> ack = exchange(*c, req.SerializeAsString(), netns.get());
    if (!ack.ok()) return annotate(ack.status(), str_cat("snapshot ", what));
    if (!ack->empty()) {
      lg().error("ZDS conn {}: ztunnel NACKed snapshot {}: {}", c->id, what, *ack);
      std::lock_guard l(mu_);
      ++stats_.nacks;
      c->snapshot_nacks.push_back(str_cat(p.uid, ": ", *ack));
    }
  }
  zds::WorkloadRequest sent;
  sent.mutable_snapshot_sent();
  absl::StatusOr<std::string> ack = exchange(*c, sent.SerializeAsString(), -1);
  if (!ack.ok()) return annotate(ack.status(), "SnapshotSent");
  if (!ack->empty()) {
    lg().error("ZDS conn {}: ztunnel NACKed SnapshotSent: {}", c->id, *ack);
    std::lock_guard l(mu_);
    ++stats_.nacks;
    return absl::OkStatus();
  }
  {
    std::lock_guard l(mu_);
    c->snapshot_acked = true;
    ++stats_.snapshots_sent;
  }
  cv_.notify_all();
  lg().info("ZDS conn {}: snapshot acknowledged", c->id);
  return absl::OkStatus();
}

absl::Status ZdsServer::serve_updates(const ConnectionPtr& c) {
  for (;;) {
    RequestPtr r;
    {
      std::lock_guard l(mu_);
      if (c->closing) return absl::CancelledError("connection closed by the server");
      if (!queue_.empty()) {
        r = std::move(queue_.front());
        queue_.pop_front();
        r->state = Request::State::kInFlight;
      }
    }
    if (r) {
      AMBIT_RETURN_IF_ERROR(send_request(*c, r));
      continue;
    }
    // Idle. ztunnel speaks only to answer, so readable means EOF (it went away) or a protocol
    // error; either ends the connection at once, which is how connected() stays truthful.
    AMBIT_ASSIGN_OR_RETURN(Event ev,
                           wait_event(*c, Clock::now() + std::chrono::milliseconds(kMaxPollMs)));
    if (ev != Event::kReadable) continue;
    AMBIT_ASSIGN_OR_RETURN(std::string pkt, recv_packet(*c));
    if (!pkt.empty())
      return protocol_error(str_cat("unsolicited ", pkt.size(), "-byte message from ztunnel"));
  }
}

absl::Status ZdsServer::send_request(Connection& c, const RequestPtr& r) {
  lg().info("ZDS conn {}: sending {}", c.id, r->what);
  absl::StatusOr<std::string> ack = exchange(c, r->bytes, r->netns.get());
  std::lock_guard l(mu_);
  r->netns.reset();
  absl::Status result;
  if (!ack.ok()) {
    result = absl::IsDeadlineExceeded(ack.status())
                 ? absl::DeadlineExceededError(str_cat(r->what, ": ", ack.status().message()))
                 : absl::UnavailableError(str_cat(r->what, ": ", ack.status().message()));
  } else if (!ack->empty()) {
    ++stats_.nacks;
    lg().error("ZDS conn {}: ztunnel NACKed {}: {}", c.id, r->what, *ack);
    result = absl::InternalError(str_cat("ztunnel rejected ", r->what, ": ", *ack));
  }
  if (r->abandoned)
    lg().info("ZDS conn {}: {} answered after its caller gave up: {}", c.id, r->what,
              result.ToString());
  complete(r, result);
  return ack.status();
}

absl::StatusOr<std::string> ZdsServer::exchange(Connection& c, const std::string& bytes,
                                                int pass_fd) {
  AMBIT_RETURN_IF_ERROR(send_packet(c.fd.get(), bytes, pass_fd));
  absl::StatusOr<std::string> pkt = read_packet(c, Clock::now() + options_.ack_timeout);
  if (absl::IsDeadlineExceeded(pkt.status())) {
    return absl::DeadlineExceededError(str_cat("no ack from ztunnel within ",
                                               options_.ack_timeout.count(),
                                               " ms; closing the connection"));
  }
  if (!pkt.ok()) return pkt.status();
  zds::WorkloadResponse resp;
  if (!resp.ParseFromString(*pkt))
    return protocol_error(str_cat("cannot parse WorkloadResponse (", pkt->size(), " bytes)"));
  if (!resp.has_ack()) return protocol_error("WorkloadResponse without an ack");
  return resp.ack().error();
}

// ---- callers ------------------------------------------------------------------------------

absl::Status ZdsServer::add(const ZdsPod& pod, std::chrono::milliseconds timeout) {
  auto r = std::make_shared<Request>();
  r->what = str_cat("AddWorkload ", describe(pod));
  if (pod.uid.empty()) return absl::InvalidArgumentError(str_cat(r->what, ": no pod uid"));
  AMBIT_ASSIGN_OR_RETURN(r->netns, net::open_netns(pod.netns_path));
  r->bytes = add_request(pod).SerializeAsString();
  if (r->bytes.size() > kMaxMessage) {
    return absl::InvalidArgumentError(
        str_cat(r->what, ": message of ", r->bytes.size(), " bytes exceeds ZDS's ", kMaxMessage));
  }
  return enqueue_and_wait(r, timeout);
}

absl::Status ZdsServer::del(const std::string& uid, std::chrono::milliseconds timeout) {
  auto r = std::make_shared<Request>();
  r->what = str_cat("DelWorkload uid=", uid);
  if (uid.empty()) return absl::InvalidArgumentError(str_cat(r->what, ": no pod uid"));
  zds::WorkloadRequest req;
  req.mutable_del()->set_uid(uid);
  r->bytes = req.SerializeAsString();
  if (r->bytes.size() > kMaxMessage) {
    return absl::InvalidArgumentError(
        str_cat(r->what, ": message exceeds ZDS's ", kMaxMessage, " bytes"));
  }
  return enqueue_and_wait(r, timeout);
}

absl::Status ZdsServer::enqueue_and_wait(const RequestPtr& r, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::unique_lock l(mu_);
  if (!started_ || stopping_ || !current_) {
    return absl::UnavailableError(
        str_cat("no ztunnel connected to ", path_, "; not sent: ", r->what));
  }
  queue_.push_back(r);
  signal_fd(current_->wake.get());
  if (cv_.wait_until(l, deadline, [&] { return r->state == Request::State::kDone; }))
    return r->result;
  if (r->state == Request::State::kQueued) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), r));
    return absl::DeadlineExceededError(
        str_cat(r->what, ": not sent within ", timeout.count(),
                " ms (ztunnel busy with its snapshot or earlier messages)"));
  }
  r->abandoned = true;
  return absl::DeadlineExceededError(
      str_cat(r->what, ": sent, but ztunnel did not answer within ", timeout.count(), " ms"));
}

void ZdsServer::complete(const RequestPtr& r, absl::Status result) {
  r->state = Request::State::kDone;
  r->result = std::move(result);
  cv_.notify_all();
}

void ZdsServer::fail_queued(const absl::Status& why) {
  for (const RequestPtr& r : queue_) complete(r, annotate(why, r->what));
  queue_.clear();
}

// ---- state --------------------------------------------------------------------------------

bool ZdsServer::connected() const {
  std::lock_guard l(mu_);
  return current_ != nullptr;
}

bool ZdsServer::snapshot_acked() const {
  std::lock_guard l(mu_);
  return current_ && current_->snapshot_acked;
}

bool ZdsServer::wait_connected(std::chrono::milliseconds timeout) const {
  std::unique_lock l(mu_);
  return cv_.wait_for(l, timeout, [&] { return current_ != nullptr; });
}

bool ZdsServer::wait_snapshot_acked(std::chrono::milliseconds timeout) const {
  std::unique_lock l(mu_);
  return cv_.wait_for(l, timeout, [&] { return current_ && current_->snapshot_acked; });
}

std::vector<std::string> ZdsServer::snapshot_nacks() const {
  std::lock_guard l(mu_);
  return current_ ? current_->snapshot_nacks : std::vector<std::string>{};
}

ZdsServerStats ZdsServer::stats() const {
  std::lock_guard l(mu_);
  return stats_;
}

}  // namespace ambit::agent
