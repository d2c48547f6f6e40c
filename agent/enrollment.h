// Which pods are in the mesh, and making it so. A pod is enrolled when both hold:
//   - the agent knows its network namespace (the CNI plugin told it, persisted across restarts);
//   - istiod says it is ambient: a WDS Workload on this node with tunnel protocol HBONE.
// Enrolling: ztunnel first (ZDS AddWorkload, acknowledged — its listeners exist), then capture,
// so no captured packet ever finds no listener. Releasing (a label change): capture first, so new
// connections go direct; ztunnel keeps the pod's proxies until the pod is deleted, so connections
// it already carries are not cut. Deleting (CNI DEL): release, then ZDS DelWorkload.
// All decisions run on one reconcile thread; CNI ADD waits (bounded) for its pod's outcome.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/capture.h"
#include "common/metrics/registry.h"
#include "istio/workload/workload.pb.h"

namespace ambit::agent {

struct PodRecord {
  std::string uid;          // Kubernetes pod UID (ZDS uid)
  std::string container_id; // the CNI sandbox id (DEL may arrive with only this)
  std::string name, ns;
  std::string netns_path;
  std::string ifname = "eth0";
  std::string ip4;          // from the CNI result
  std::string ip6;          // from the CNI result; empty unless the pod is dual-stack
};

// What enrollment needs from the ZDS server.
class ZtunnelLink {
 public:
  virtual ~ZtunnelLink() = default;
  virtual absl::Status add(const PodRecord& pod, const std::string& service_account,
                           std::chrono::milliseconds timeout) = 0;
  virtual absl::Status del(const std::string& uid, std::chrono::milliseconds timeout) = 0;
};

class Enrollment {
 public:
  Enrollment(std::string node, Capture* capture, ZtunnelLink* ztunnel, std::string state_file,
             metrics::Registry* metrics);
  ~Enrollment();

  // Loads pods persisted by a previous agent; marks those the kernel still captures as enrolled.
  // Pods whose network namespace is gone (their CNI DEL came while no agent listened) are
  // forgotten, and capture state no remaining pod accounts for is removed, logged and counted.
  absl::Status load();
  void start();
  void stop();

  // CNI. add blocks until the pod is enrolled (ambient), known not to be (not ambient), or the
  // deadline passes (error: the pod must not start uncaptured).
  absl::Status cni_add(const PodRecord& pod, std::chrono::steady_clock::time_point deadline);
  // `id` is the pod UID or, when the runtime could not pass it, the CNI container id.
  absl::Status cni_del(const std::string& id);
  absl::StatusOr<std::string> check(const std::string& uid);

  // WDS (from the xDS thread).
  void wds_upsert(const istio::workload::Workload& w);
  void wds_remove(const std::string& uid);
  // Whether the WDS view is complete (istiod's initial state received). Until it is, nothing is
  // released: a restarted agent starts with an empty view, and releasing the pods it adopted
  // from the pins because istiod has not spoken yet would let their traffic out uncaptured.
  void set_wds_synced(std::function<bool()> synced);

  // Pods ztunnel should have: the ZDS snapshot source. Pairs of (pod, service account).
  std::vector<std::pair<PodRecord, std::string>> snapshot() const;
  std::string status_json() const;
  size_t enrolled_count() const;

 private:
  struct Wds {
    bool hbone = false;
    std::string node;
    std::string service_account;
  };
  void loop();
  std::function<bool()> wds_synced_ = [] { return true; };
  void reconcile_locked(std::unique_lock<std::mutex>& lock);
  bool desired_locked(const PodRecord& p, const Wds** w) const;
  absl::Status persist_locked() const;
  void kick();
  CapturedPod captured(const PodRecord& p) const;

  std::string node_;
  Capture* capture_;
  ZtunnelLink* ztunnel_;
  std::string state_file_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // reconcile wake-up
  std::condition_variable done_cv_;  // CNI waiters
  std::map<std::string, PodRecord> pods_;       // by uid
  std::map<std::string, Wds> wds_;              // by "ns/name"
  std::map<std::string, std::string> wds_keys_; // WDS uid -> "ns/name"
  std::set<std::string> enrolled_;              // uids captured + acked by ztunnel
  std::set<std::string> in_ztunnel_;            // uids ztunnel has proxies for
  std::map<std::string, std::string> errors_;   // uid -> last error
  bool dirty_ = false;
  bool stop_ = false;
  std::thread thread_;
  metrics::Gauge& enrolled_gauge_;
  metrics::Counter& reconcile_errors_;
  metrics::Counter& stale_removed_;
};

}  // namespace ambit::agent
