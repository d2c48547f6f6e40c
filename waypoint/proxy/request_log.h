// One finished request as the session sees it, handed to Telemetry (waypoint/telemetry.h) as a
// RequestRecord: the access log line and the istio_requests_* metrics (reporter="waypoint").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "waypoint/l7/resource_key.h"
#include "waypoint/proxy/endpoints.h"
#include "waypoint/proxy/inputs.h"
#include "waypoint/proxy/request_plan.h"

namespace ambit::waypoint {

struct RequestLog {
  Peer peer;
  std::string authority, method, path;
  l7::ServiceKey service;
  uint16_t port = 0;
  std::string route, policy, response_flags;
  std::optional<Endpoint> endpoint;
  int status = 0;
  uint64_t request_bytes = 0, response_bytes = 0;
  std::chrono::steady_clock::duration duration{};
};

void record_request(const ProxyInputs* in, const RequestLog& log);

}  // namespace ambit::waypoint
