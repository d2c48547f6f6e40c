// ZDS server: the node agent's side of the node agent → ztunnel protocol (Istio's istio-cni
// ztunnelserver, IS:cni/pkg/nodeagent/ztunnelserver*.go; ztunnel's side ZT:src/inpod/). The
// agent listens on a SOCK_SEQPACKET unix socket; ztunnel connects and sends a bare
// ZdsHello{V1}; the agent answers with a snapshot — AddWorkload (pod netns as exactly one
// SCM_RIGHTS fd) for each pod whose netns it can open, KeepWorkload for the others, then
// SnapshotSent — and afterwards live AddWorkload/DelWorkload as pods are enrolled and released.
// Every message waits for WorkloadResponse{Ack{error}} (empty error = ACK) before the next is sent.
//
//   ZdsServer zds("/var/run/ztunnel/ztunnel.sock", [&] { return enrolled_pods(); });
//   AMBIT_RETURN_IF_ERROR(zds.start());
//   ...                                        // pod enrolled: record it, then tell ztunnel
//   absl::Status s = zds.add({.uid = uid, .name = name, .ns = ns, .service_account = sa,
//                             .netns_path = "/proc/1234/ns/net"}, std::chrono::seconds(5));
//   // OK: ztunnel runs the pod's proxies. Unavailable: no ztunnel connected (it will get the pod
//   // in its snapshot). Internal: ztunnel NACKed, with its message. DeadlineExceeded: no answer.
//
// Differences from Istio, on purpose:
// - One ztunnel connection at a time (Istio keeps a list, sends adds to the newest and dels to
//   all). A connection becomes current only once it has sent a valid ZdsHello; it then replaces
//   (closes) the previous one and gets a fresh snapshot. A client that sends garbage or nothing
//   never disturbs a working ztunnel.
// - An ack that does not arrive within the ack deadline closes the connection instead of going
//   on: acks are matched to messages only by order, so a late ack would otherwise be taken as the
//   answer to the next message. ztunnel reconnects and the new snapshot resynchronizes it.
// - Disconnects are noticed at once (the idle connection is polled), not by a 5 s probe.
//
// Ordering: update what `snapshot_source` returns *before* calling add()/del(). A ztunnel that
// connects in between then sees the pod in its snapshot or in the update queued behind it;
// AddWorkload is idempotent in ztunnel, so seeing both is harmless.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/base/unique_fd.h"

namespace ambit::agent {

// One enrolled pod as ZDS describes it. `uid` is the Kubernetes pod UID; `netns_path` is a file
// naming the pod's network namespace (/proc/<pid>/ns/net, /run/netns/<name>, a bind mount).
struct ZdsPod {
  std::string uid;
  std::string name;
  std::string ns;
  std::string service_account;
  std::string netns_path;
};

struct ZdsServerOptions {
  // How long a new connection has to send ZdsHello (Istio: 5 s read deadline).
  std::chrono::milliseconds hello_timeout{5000};
  // How long ztunnel has to acknowledge each message (Istio: 5 s read/write deadline).
  std::chrono::milliseconds ack_timeout{5000};
  // Connections that have not sent ZdsHello yet; further ones are closed at once. ztunnel makes
  // one connection at a time, so this only bounds the threads a misbehaving client can hold.
  int max_handshakes = 4;
  // Peers (SO_PEERCRED uid) that may connect: ztunnel runs as root. Others are closed at once,
  // logged with their pid and uid, and counted (peer_refused).
  std::vector<uid_t> allowed_uids = {0};
};

// Counters since start(), for tests and the admin page.
struct ZdsServerStats {
  uint64_t accepted = 0;        // connections accepted
  uint64_t bad_hellos = 0;      // closed for a missing, late or malformed ZdsHello
  uint64_t refused = 0;         // closed because max_handshakes were pending
  uint64_t peer_refused = 0;    // closed because the peer's uid is not allowed
  uint64_t replaced = 0;        // current connections closed because a new ztunnel said hello
  uint64_t snapshots_sent = 0;  // snapshots whose SnapshotSent was acknowledged
  uint64_t nacks = 0;           // messages ztunnel answered with an error
  uint64_t dropped = 0;         // connections closed for a protocol error or a missing ack
};

class ZdsServer {
 public:
  // Called on the server's threads for every new ztunnel connection (rarely, two at once while
  // one connection replaces another), so it must be thread-safe. It may be empty.
  using SnapshotSource = std::function<std::vector<ZdsPod>()>;

  ZdsServer(std::string socket_path, SnapshotSource snapshot_source, ZdsServerOptions options = {});
  ~ZdsServer();
  ZdsServer(const ZdsServer&) = delete;
  ZdsServer& operator=(const ZdsServer&) = delete;

  // Creates the socket's parent directories (mode 0755 before umask), removes a stale socket
  // left at the path (AlreadyExists if something still accepts on it; FailedPrecondition if the
  // path is not a socket), binds with mode 0600, listens, and starts the accept thread. A stopped
  // server may be started again. start() and stop() are called from one thread.
  absl::Status start();
  // Closes the listener and every connection, fails waiting add()/del() calls with Unavailable,
  // joins all threads and removes the socket file. Idempotent.
  void stop();

  // Sends AddWorkload with the pod's netns and blocks until ztunnel answers or `timeout` passes.
  // Returns OK on ACK; Internal with ztunnel's message on NACK; Unavailable when no ztunnel is
  // connected or the connection ends first; DeadlineExceeded on timeout (a message not yet sent
  // by then is withdrawn); NotFound/PermissionDenied when the netns cannot be opened;
  // InvalidArgument when the message would exceed ztunnel's 1 KiB packet. Thread-safe: messages
  // from concurrent callers are sent one at a time, each after the previous one's ack.
  absl::Status add(const ZdsPod& pod, std::chrono::milliseconds timeout);
  // Sends DelWorkload{uid}; results as for add().
  absl::Status del(const std::string& uid, std::chrono::milliseconds timeout);

  // True while a ztunnel that sent a valid ZdsHello is connected.
  bool connected() const;
  // True once the current connection's SnapshotSent was acknowledged.
  bool snapshot_acked() const;
  bool wait_connected(std::chrono::milliseconds timeout) const;
  bool wait_snapshot_acked(std::chrono::milliseconds timeout) const;
  // NACKs of the current connection's snapshot, each "<uid>: <ztunnel's error>".
  std::vector<std::string> snapshot_nacks() const;
  ZdsServerStats stats() const;
  const std::string& socket_path() const { return path_; }

 private:
  struct Request;
  struct Connection;
  using RequestPtr = std::shared_ptr<Request>;
  using ConnectionPtr = std::shared_ptr<Connection>;

  absl::Status listen_socket();
  void accept_loop();
  void accept_one();
  void reap_finished();
  void run_connection(const ConnectionPtr& c);
  absl::Status serve(const ConnectionPtr& c);
  absl::Status read_hello(Connection& c);
  absl::Status become_current(const ConnectionPtr& c);
  absl::Status send_snapshot(const ConnectionPtr& c);
  absl::Status serve_updates(const ConnectionPtr& c);
  absl::Status send_request(Connection& c, const RequestPtr& r);
  // Sends one message (with `pass_fd` in SCM_RIGHTS when >= 0) and waits for its ack. A non-OK
  // result means the connection is unusable; otherwise the value is the ack's error ("" = ACK).
  absl::StatusOr<std::string> exchange(Connection& c, const std::string& bytes, int pass_fd);
  absl::Status enqueue_and_wait(const RequestPtr& r, std::chrono::milliseconds timeout);
  // Both with mu_ held.
  void complete(const RequestPtr& r, absl::Status result);
  void fail_queued(const absl::Status& why);

  const std::string path_;
  const SnapshotSource snapshot_source_;
  const ZdsServerOptions options_;

  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: wakes the accept thread (stop, a connection finished)
  uint64_t socket_inode_ = 0;
  std::thread accept_thread_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // request completions and connection state changes
  bool started_ = false;
  bool stopping_ = false;
  ConnectionPtr current_;             // said hello and not yet closed; at most one
  std::vector<ConnectionPtr> conns_;  // every connection whose thread is not yet joined
  std::deque<RequestPtr> queue_;      // live updates not yet sent, oldest first
  int handshakes_ = 0;                // connections still waiting for ZdsHello
  uint64_t next_id_ = 0;
  ZdsServerStats stats_;
};

}  // namespace ambit::agent
