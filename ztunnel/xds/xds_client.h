// Delta ADS client for ztunnel's two types (ZT:src/xds/client.rs): Address and Authorization,
// wildcard subscriptions, node id "ztunnel~<ip>~<pod>.<ns>~<ns>.svc.cluster.local" with NAME,
// NAMESPACE, INSTANCE_IPS, NODE_NAME metadata. Each response is applied resource by resource: a
// bad resource is NACKed with its name and reason while the rest are applied. On reconnect
// (backoff 10 ms doubling to 15 s) the known versions go in initial_resource_versions so istiod
// resends only what changed. Runs on its own thread (blocking gRPC stream).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "ztunnel/config.h"
#include "ztunnel/state/proxy_state.h"
#include "ztunnel/telemetry.h"

namespace ambit::ztunnel {

class XdsClient {
 public:
  XdsClient(std::shared_ptr<grpc::Channel> channel, std::string token_source, Config config, ProxyState* state,
            Telemetry* telemetry, std::function<void()> on_policy_change);
  ~XdsClient();
  void start();
  void stop();
  bool connected() const { return connected_.load(); }
  // True once both types' first responses were applied (stays true across reconnects: the
  // cached state keeps serving while istiod is away).
  bool synced() const { return synced_.load(); }
  std::string node_id() const;

 private:
  void run();
  bool session();  // one stream; returns true if it got far enough to reset the backoff

  std::shared_ptr<grpc::Channel> channel_;
  std::string token_source_;
  Config config_;
  ProxyState* state_;
  Telemetry* telemetry_;
  std::function<void()> on_policy_change_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<bool> synced_{false};
  std::mutex ctx_mu_;
  grpc::ClientContext* ctx_ = nullptr;
  std::map<std::string, std::map<std::string, std::string>> versions_;  // type -> name -> version
};

}  // namespace ambit::ztunnel
