// istiod assembled: directory config source → ambient index → push debouncer → delta ADS server,
// the CA service, and the HTTP monitoring/debug server. One control thread runs the io_context
// (config watching, debouncing, HTTP); gRPC runs its own threads.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "istiod/ambient/mesh_config.h"
#include "istiod/xds/stream_limits.h"

namespace ambit::istiod {

struct IstiodOptions {
  std::string config_dir;
  // Where the waypoint deployment controller writes: Deployments to workloads_dir (local mode:
  // the supervisor's input), everything else to config_dir. Empty: the controller is off.
  std::string workloads_dir;
  // Where status is kept (local mode: <state>/status/). Empty: no status is written.
  std::string status_dir;
  std::string waypoint_xds_address = "istiod.istio-system.svc:15012";  // given to waypoint pods
  // istio_allow_waypoint_* at the destination (ambient/waypoints.h); Istio's
  // PILOT_AUTO_ALLOW_WAYPOINT_POLICY, but on by default.
  bool waypoint_bypass_protection = true;
  // meshConfig.pathNormalization.normalization, sent to every waypoint (MeshSettings).
  ambient::PathNormalization path_normalization = ambient::PathNormalization::kBase;
  std::string ca_dir;                       // CA material; created on first start
  std::string trust_domain = "cluster.local";
  std::string root_namespace = "istio-system";
  std::string grpc_address = "0.0.0.0:15012";       // TLS: xDS + CA
  // Plaintext xDS + CA, for debugging on this host; "" disables. Refused at start if it is not
  // a loopback address unless plaintext_allow_remote: remote peers are refused on it anyway
  // (security/authenticator.h), so opening it wider only exposes the port.
  std::string plaintext_address = "127.0.0.1:15010";
  bool plaintext_allow_remote = false;
  bool plaintext_requires_auth = false;     // refuse anonymous loopback streams too
  xds::StreamLimits xds_limits;
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 15014;               // /metrics, /healthz/ready, /debug/*
  std::chrono::milliseconds config_debounce{10};  // file events → reload
  std::chrono::milliseconds debounce_quiet{10};
  std::chrono::milliseconds debounce_max{100};
  std::vector<std::string> dns_names = {"istiod.istio-system.svc", "istiod", "localhost"};
};

class Istiod {
 public:
  static absl::StatusOr<std::unique_ptr<Istiod>> start(const IstiodOptions& opts);
  virtual ~Istiod() = default;
  virtual int grpc_port() const = 0;
  virtual int plaintext_port() const = 0;
  virtual int http_port() const = 0;
  // Blocks until shutdown() (or /quitquitquit) completes.
  virtual void wait() = 0;
  // Stops accepting, ends streams (clients reconnect elsewhere), stops the control thread.
  virtual void shutdown() = 0;
};

// Issues a node bootstrap credential from the CA directory (`istiod node-token`).
absl::StatusOr<std::string> issue_node_token(const std::string& ca_dir, const std::string& node);

}  // namespace ambit::istiod
