// The bundle every proxy gets (ztunnel's ProxyInputs): config, state, certificates, telemetry,
// workers (proxy/workers.h), the connection tracker and the drain signal. Plus the per-pod
// context ZDS provides.
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
#include "ztunnel/proxy/workers.h"
#include "common/wds/state.h"
#include "ztunnel/telemetry.h"

namespace ambit::ztunnel {

class ConnectionTracker;
class InboundAdmission;

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
  wds::WorkloadPtr workload(const wds::State& state) const {
    return state.workload_by_info(ns, name, service_account);
  }
};
using PodPtr = std::shared_ptr<const PodContext>;

struct ProxyInputs {
  Config config;
  wds::State* state = nullptr;
  SecretManager* certs = nullptr;
  Telemetry* telemetry = nullptr;
  Workers* workers = nullptr;
  ConnectionTracker* tracker = nullptr;
  InboundAdmission* admission = nullptr;  // null: no caps (in-process tests)
};

}  // namespace ambit::ztunnel
