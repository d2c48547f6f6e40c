// ZDS client: ztunnel's side of Istio's node agent → ztunnel protocol (ZT:src/inpod/
// {protocol,workloadmanager}.rs; reference §4). SOCK_SEQPACKET unix socket; ztunnel connects and
// sends ZdsHello{V1}; the agent sends one WorkloadRequest per packet — AddWorkload carrying the
// pod netns as exactly one SCM_RIGHTS fd, KeepWorkload, DelWorkload, SnapshotSent — and ztunnel
// answers each with WorkloadResponse{Ack{error}} (empty error = ACK). Messages over 1 KiB,
// truncated control data, an fd on anything but Add or a missing fd on Add are NACKed.
// After SnapshotSent, pods the snapshot did not name are dropped. Reconnects with backoff
// (10 ms doubling to 15 s); each reconnect gets a fresh snapshot.
#pragma once

#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "common/base/unique_fd.h"

namespace ambit::ztunnel {

struct ZdsWorkload {
  std::string uid;
  std::string name, ns, service_account;
};

class ZdsHandler {
 public:
  virtual ~ZdsHandler() = default;
  // Start proxies for the pod; `netns` is the pod's namespace. Error → NACK with its message.
  virtual absl::Status add(const ZdsWorkload& w, UniqueFd netns) = 0;
  virtual void keep(const std::string& uid) = 0;
  virtual void del(const std::string& uid) = 0;
  // Snapshot complete: drop everything not in `named`.
  virtual void snapshot_done(const std::set<std::string>& named) = 0;
  virtual void connected(bool up) = 0;
};

class ZdsClient {
 public:
  ZdsClient(std::string socket_path, ZdsHandler* handler);
  ~ZdsClient();
  void start();
  void stop();
  bool snapshot_applied() const { return snapshot_applied_.load(); }

  // One session on a connected socket (exposed for tests): returns when the peer goes away.
  absl::Status serve(int fd);

 private:
  void run();
  std::string path_;
  ZdsHandler* handler_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> snapshot_applied_{false};
  std::atomic<int> fd_{-1};
};

}  // namespace ambit::ztunnel
