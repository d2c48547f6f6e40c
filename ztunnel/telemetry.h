// ztunnel's telemetry: Istio's TCP metrics with Istio's label set, xDS/certificate metrics, and
// one access-log line per connection ("connection complete", ZT:src/proxy/metrics.rs).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/metrics/registry.h"
#include "common/wds/state.h"

namespace ambit::ztunnel {

enum class Direction { kInbound, kOutbound };

// Everything known about one proxied connection, filled in as it progresses.
struct ConnectionInfo {
  Direction direction = Direction::kOutbound;
  std::string src_addr, dst_addr, hbone_addr;
  wds::WorkloadPtr src_workload, dst_workload;
  std::optional<SpiffeId> src_identity, dst_identity;
  wds::ServicePtr dst_service;
  bool mtls = false;
  std::string response_flags = "-";
  std::string error;        // why it failed or was denied
  std::string policy;       // the deciding policy on a deny
  uint64_t bytes_sent = 0;  // towards the destination
  uint64_t bytes_recv = 0;  // back from the destination
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

class Telemetry {
 public:
  explicit Telemetry(metrics::Registry* reg);
  metrics::Registry* registry() { return reg_; }

  // Counts an opened connection; returns the label values to reuse at close.
  metrics::LabelValues opened(const ConnectionInfo& c);
  void closed(const ConnectionInfo& c, const metrics::LabelValues& labels);
  // Access log only (e.g. connections refused before being opened).
  void log(const ConnectionInfo& c);

  metrics::Family<metrics::Counter>& xds_messages;
  metrics::Family<metrics::Counter>& xds_rejects;
  metrics::Gauge& xds_connected;
  metrics::Family<metrics::Counter>& cert_fetches;
  metrics::Counter& h2_protocol_errors;
  metrics::Gauge& pods;
  // Resource bounds (config.h): refusals by reason, deadlines hit, accept failures, and the
  // admitted inbound connections right now.
  metrics::Family<metrics::Counter>& inbound_refused;     // {reason="total"|"per_source"}
  metrics::Family<metrics::Counter>& deadlines_exceeded;  // {phase="inbound_handshake"|...}
  metrics::Family<metrics::Counter>& accept_errors;       // {kind="resource"|"other"}
  metrics::Gauge& inbound_connections;
  metrics::Counter& idle_closed;

 private:
  metrics::Registry* reg_;
  metrics::Family<metrics::Counter>& opened_;
  metrics::Family<metrics::Counter>& closed_;
  metrics::Family<metrics::Counter>& sent_;
  metrics::Family<metrics::Counter>& received_;
};

}  // namespace ambit::ztunnel
