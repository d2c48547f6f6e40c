#include "ztunnel/inpod/zds_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "istio/workload/zds/zds.pb.h"

namespace ambit::ztunnel {

namespace {

spdlog::logger& lg() { return log::scope("zds"); }
constexpr size_t kMaxMessage = 1024;

absl::Status send_msg(int fd, const google::protobuf::Message& m) {
  std::string b = m.SerializeAsString();
  if (::send(fd, b.data(), b.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(b.size())) {
    return errno_error(errno, "ZDS send");
  }
  return absl::OkStatus();
}

absl::Status ack(int fd, const std::string& error) {
  istio::workload::zds::WorkloadResponse r;
  r.mutable_ack()->set_error(error);
  return send_msg(fd, r);
}

}  // namespace

ZdsClient::ZdsClient(std::string socket_path, ZdsHandler* handler) : path_(std::move(socket_path)), handler_(handler) {}

ZdsClient::~ZdsClient() { stop(); }

void ZdsClient::start() {
  if (thread_.joinable()) return;  // already running
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void ZdsClient::stop() {
  stop_ = true;
  int fd = fd_.exchange(-1);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
}

void ZdsClient::run() {
  auto backoff = std::chrono::milliseconds(10);
  while (!stop_) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      lg().debug("connect {}: {}", path_, std::strerror(errno));
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(15000));
      continue;
    }
    backoff = std::chrono::milliseconds(10);
    fd_ = fd.get();
    if (stop_) break;
    lg().info("connected to node agent at {}", path_);
    absl::Status st = serve(fd.get());
    fd_ = -1;
    snapshot_applied_ = false;
    if (!stop_) lg().warn("node agent connection ended: {}", st.ToString());
  }
}

absl::Status ZdsClient::serve(int fd) {
  istio::workload::zds::ZdsHello hello;
  hello.set_version(istio::workload::zds::V1);
  AMBIT_RETURN_IF_ERROR(send_msg(fd, hello));
  handler_->connected(true);
  struct Disconnected {
    ZdsHandler* h;
    ~Disconnected() { h->connected(false); }
  } on_exit{handler_};
  std::set<std::string> named;
  bool in_snapshot = true;
  for (;;) {
    char buf[kMaxMessage];
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    iovec iov{buf, sizeof(buf)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n == 0) return absl::UnavailableError("node agent closed the connection");
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "ZDS recvmsg");
    }
    // Collect every fd first so none leaks on an error path.
    std::vector<UniqueFd> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int f;
          std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          fds.emplace_back(f);
        }
      }
    }
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
      AMBIT_RETURN_IF_ERROR(ack(fd, "message or control data truncated"));
      continue;
    }
    istio::workload::zds::WorkloadRequest req;
    if (!req.ParseFromArray(buf, static_cast<int>(n))) {
      AMBIT_RETURN_IF_ERROR(ack(fd, "cannot parse WorkloadRequest"));
      continue;
    }
    using R = istio::workload::zds::WorkloadRequest;
    if (req.payload_case() != R::kAdd && !fds.empty()) {
      AMBIT_RETURN_IF_ERROR(ack(fd, "file descriptor on a message other than AddWorkload"));
      continue;
    }
    switch (req.payload_case()) {
      case R::kAdd: {
        if (fds.size() != 1) {
          AMBIT_RETURN_IF_ERROR(ack(fd, str_cat("AddWorkload needs exactly one netns fd, got ", fds.size())));
          break;
        }
        const auto& a = req.add();
        if (a.uid().empty()) {
          AMBIT_RETURN_IF_ERROR(ack(fd, "AddWorkload without uid"));
          break;
        }
        ZdsWorkload w{a.uid(), a.workload_info().name(), a.workload_info().namespace_(),
                      a.workload_info().service_account()};
        // Named even if starting its proxies failed: a snapshot must not drop a pod the agent
        // says exists (ztunnel retries; the agent sees the NACK).
        if (in_snapshot) named.insert(a.uid());
        absl::Status s = handler_->add(w, std::move(fds[0]));
        AMBIT_RETURN_IF_ERROR(ack(fd, s.ok() ? "" : std::string(s.message())));
        break;
      }
      case R::kKeep:
        if (!in_snapshot) {
          // Istio: KeepWorkload only makes sense inside a snapshot.
          AMBIT_RETURN_IF_ERROR(ack(fd, "KeepWorkload after SnapshotSent"));
          return absl::InvalidArgumentError("protocol error: KeepWorkload after SnapshotSent");
        }
        handler_->keep(req.keep().uid());
        if (in_snapshot) named.insert(req.keep().uid());
        AMBIT_RETURN_IF_ERROR(ack(fd, ""));
        break;
      case R::kDel:
        handler_->del(req.del().uid());
        AMBIT_RETURN_IF_ERROR(ack(fd, ""));
        break;
      case R::kSnapshotSent:
        if (!in_snapshot) {
          // A second SnapshotSent would drop every pod: refuse it and reconnect.
          AMBIT_RETURN_IF_ERROR(ack(fd, "duplicate SnapshotSent"));
          return absl::InvalidArgumentError("protocol error: duplicate SnapshotSent");
        }
        handler_->snapshot_done(named);
        in_snapshot = false;
        named.clear();
        snapshot_applied_ = true;
        AMBIT_RETURN_IF_ERROR(ack(fd, ""));
        break;
      default:
        AMBIT_RETURN_IF_ERROR(ack(fd, "unknown WorkloadRequest payload"));
    }
  }
}

}  // namespace ambit::ztunnel
