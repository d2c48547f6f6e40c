// The node agent's end of the CNI plugin protocol (agent/cni/protocol.h): a unix socket the
// `ambit-cni` plugin connects to, one request per connection, dispatched to a CniHandler that the
// agent implements (enrollment). Istio's equivalent is the node agent's plugin-event server
// (istio/istio cni/pkg/nodeagent/cni-watcher.go).
//
//   class Agent : public CniHandler { ... };
//   CniServerOptions o{.socket_path = "/var/run/ambit/cni.sock"};
//   AMBIT_ASSIGN_OR_RETURN(std::unique_ptr<CniServer> server, CniServer::start(o, &agent));
//   ...
//   server->stop();  // or let it go out of scope
//
// Threads: one accepts; `max_concurrent` workers each serve one connection at a time. A
// connection that finds every worker busy is answered at once with retry=true (CNI code 11: the
// runtime calls ADD again) rather than queued, because a queued ADD would eat into a deadline the
// plugin is already counting. Bad requests (not JSON, too long, a missing or malformed field) are
// answered with an error naming the problem, logged and counted; the server carries on.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/cni/protocol.h"
#include "common/base/unique_fd.h"

namespace ambit::agent {

// What the agent does for each CNI command. Called from worker threads, concurrently.
class CniHandler {
 public:
  virtual ~CniHandler() = default;
  // Blocks until the pod is enrolled and ztunnel acknowledged it, or is known not to belong in
  // the mesh (OK either way), or `deadline` passes (DeadlineExceeded). Unavailable and
  // DeadlineExceeded tell the runtime to try again later; other errors fail the pod's sandbox.
  virtual absl::Status add(const CniPod& pod, std::chrono::steady_clock::time_point deadline) = 0;
  // Forgets the pod. Unknown pods are OK (DEL is idempotent); `pod` may carry only container_id.
  virtual absl::Status del(const CniPod& pod) = 0;
  // The pod's state (e.g. "enrolled", "not-ambient") if it is registered and, when it should be
  // enrolled, enrolled; an error saying what is wrong otherwise.
  virtual absl::StatusOr<std::string> check(const CniPod& pod) = 0;
};

struct CniServerOptions {
  std::string socket_path = std::string(kDefaultCniSocket);
  size_t max_concurrent = 32;
  // Reading a request and writing the answer (a client that connects and says nothing).
  std::chrono::milliseconds io_timeout = std::chrono::seconds(5);
  // ADD deadlines: the request's timeout_ms, or the default when it has none, capped.
  std::chrono::milliseconds default_add_timeout = std::chrono::seconds(30);
  std::chrono::milliseconds max_add_timeout = std::chrono::minutes(5);
  // Peers (SO_PEERCRED uid) that may send requests: the container runtime runs the plugin as
  // root. Others get a permission error, a log line with their pid and uid, and a count.
  std::vector<uid_t> allowed_uids = {0};
};

class CniServer {
 public:
  // Creates the socket's parent directory (0700) if missing, replaces a stale socket left by a
  // previous agent (but refuses when another process still listens on it, or the path is not a
  // socket), binds with mode 0600, and starts the threads.
  static absl::StatusOr<std::unique_ptr<CniServer>> start(CniServerOptions opts,
                                                          CniHandler* handler);
  ~CniServer();
  CniServer(const CniServer&) = delete;
  CniServer& operator=(const CniServer&) = delete;

  // Stops accepting (the socket file is removed if it is still ours), abandons requests still
  // being read, and waits for handler calls in flight: an ADD handler is bounded by its deadline.
  // Idempotent.
  void stop();

  const std::string& socket_path() const { return opts_.socket_path; }

  struct Stats {
    uint64_t requests = 0;      // well-formed requests dispatched to the handler
    uint64_t bad_requests = 0;  // answered with a protocol error
    uint64_t busy = 0;          // turned away because every worker was busy
    uint64_t peer_refused = 0;  // turned away because the peer's uid is not allowed
  };
  Stats stats() const;

 private:
  CniServer(CniServerOptions opts, CniHandler* handler);
  absl::Status listen();
  void accept_loop();
  void worker_loop();
  // The answer for one connection's request; nullopt when there is nobody to answer.
  std::optional<CniResponse> serve(int fd);
  CniResponse dispatch(const CniRequest& req);
  void answer(int fd, const CniResponse& r);
  void reject_busy(UniqueFd conn);
  // Answers `why` without reading a request (on the accepting thread: short and non-blocking).
  void reject_now(UniqueFd conn, const absl::Status& why);

  CniServerOptions opts_;
  CniHandler* handler_;
  UniqueFd listen_fd_;
  UniqueFd stop_fd_;  // eventfd; readable once stop() begins, wakes every poll
  dev_t sock_dev_ = 0;
  ino_t sock_ino_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<UniqueFd> queue_;  // accepted, waiting for a worker (never more than idle workers)
  size_t busy_workers_ = 0;
  bool stopping_ = false;
  std::once_flag stop_once_;

  std::thread acceptor_;
  std::vector<std::thread> workers_;

  std::atomic<uint64_t> requests_{0}, bad_requests_{0}, busy_{0}, peer_refused_{0};
};

}  // namespace ambit::agent
