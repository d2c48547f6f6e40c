// What the waypoint's data path reads, assembled by the app (waypoint/app.cc): WDS (services,
// workloads, endpoints), the L7 snapshot store, the waypoint's own certificate, telemetry and
// settings. Everything here outlives every connection; the data path never writes to it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/identity/rotating_cert.h"
#include "common/identity/spiffe.h"
#include "common/wds/state.h"
#include "waypoint/state/l7_config.h"

namespace ambit::waypoint {

class Telemetry;

struct ProxySettings {
  std::string trust_domain = "cluster.local";
  std::string cluster_id = "Kubernetes";
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds request_header_timeout{10000};  // slow-loris bound per request head
  std::chrono::seconds idle_timeout{300};                   // downstream keep-alive idle
  uint16_t hbone_port = 15008;                              // inbound, and upstream ztunnels'
};

struct ProxyInputs {
  const wds::State* wds = nullptr;
  const L7ConfigStore* l7 = nullptr;
  const identity::RotatingCertificate* cert = nullptr;  // get() == nullptr: fail closed
  Telemetry* telemetry = nullptr;
  SpiffeId self;  // this waypoint's identity (upstream client certificate)
  ProxySettings settings;
};

}  // namespace ambit::waypoint
