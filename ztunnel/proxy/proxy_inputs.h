// The bundle every proxy gets (ztunnel's ProxyInputs): config, state, certificates, telemetry,
// workers, the connection tracker and the drain signal. Plus the per-pod context ZDS provides.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/base/unique_fd.h"
#include "ztunnel/config.h"
#include "ztunnel/identity/secret_manager.h"
#include "ztunnel/proxy/socket_factory.h"
#include "ztunnel/state/proxy_state.h"
#include "ztunnel/telemetry.h"

namespace ambit::ztunnel {

class ConnectionTracker;
class InboundAdmission;
class Pool;

struct Worker {
  boost::asio::io_context io{1};
  std::unique_ptr<Pool> pool;  // HBONE client pool, owned by this worker (no cross-thread locks)
};

class Workers {
 public:
  explicit Workers(size_t n);
  ~Workers();
  void start();
  void stop();
  Worker& next();  // round-robin
  Worker& at(size_t i) { return *workers_[i]; }
  size_t size() const { return workers_.size(); }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

// One pod ztunnel serves, as ZDS described it.
struct PodContext {
  std::string uid;  // Kubernetes pod UID (ZDS)
  std::string name, ns, service_account;
  UniqueFd netns;   // -1 in in-process tests (the caller's namespace)
  SpiffeId identity;
  SocketFactory sockets{-1};

  PodContext(std::string uid, std::string name, std::string ns, std::string sa, UniqueFd netns, SpiffeId id)
      : uid(std::move(uid)), name(std::move(name)), ns(std::move(ns)), service_account(std::move(sa)),
        netns(std::move(netns)), identity(std::move(id)), sockets(this->netns.get()) {}
  // The pod's Workload from WDS (nullptr until istiod has sent it).
  WorkloadPtr workload(const ProxyState& state) const {
    return state.workload_by_info(ns, name, service_account);
  }
};
using PodPtr = std::shared_ptr<const PodContext>;

struct ProxyInputs {
  Config config;
  ProxyState* state = nullptr;
  SecretManager* certs = nullptr;
  Telemetry* telemetry = nullptr;
  Workers* workers = nullptr;
  ConnectionTracker* tracker = nullptr;
  InboundAdmission* admission = nullptr;  // null: no caps (in-process tests)
};

}  // namespace ambit::ztunnel
