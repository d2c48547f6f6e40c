// The waypoint's telemetry, as Istio's Envoy waypoint reports it (`reporter="waypoint"`, Istio's
// stats filter with reporter SERVER_GATEWAY): the HTTP families istio_requests_total,
// istio_request_duration_milliseconds, istio_request_bytes and istio_response_bytes (Istio's
// standard labels plus response_code and grpc_response_status), the istio_tcp_* family for
// ports declared TCP, and one access-log line per request (scope "access"). Plus the control
// plane's: xDS messages and rejections, the xDS connection, certificate fetches.
//
// The data path fills a RequestRecord as a request progresses and hands it over once, when the
// response is done (or refused): request() counts it and logs it. Label values the record leaves
// out are looked up in WDS (the source workload by the HBONE peer's address, the destination
// service by its key) and, when still unknown, written "unknown" as Istio does.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/identity/spiffe.h"
#include "common/metrics/registry.h"
#include "common/net/ip_addr.h"
#include "common/wds/state.h"
#include "waypoint/l7/resource_key.h"

namespace ambit::waypoint {

// One finished request.
struct RequestRecord {
  // Source: the HBONE peer (the client pod, through its ztunnel) and its certificate's identity.
  std::optional<net::IpAddr> src_ip;
  std::optional<SpiffeId> src_identity;  // set only when mTLS verified it
  wds::WorkloadPtr src_workload;         // nullptr: looked up by src_ip

  // Destination: the service the CONNECT :authority named, and the endpoint picked (none when
  // the request was answered by the waypoint itself: 400, 403, 404, redirect, ...).
  std::string authority;   // the HBONE :authority, "VIP:port"
  l7::ServiceKey service;  // empty hostname: the authority matched no listener
  wds::ServicePtr dst_service;           // nullptr: looked up by `service`
  wds::WorkloadPtr dst_workload;
  std::optional<SpiffeId> dst_identity;  // the upstream's (its ztunnel proved it)
  std::string upstream_addr;             // "podIP:port" of the endpoint, "" when none

  // The request and its outcome.
  bool grpc = false;  // request_protocol "grpc" (else "http")
  std::string method, path, host, user_agent, request_id;
  int response_code = 0;             // 0: no response was sent (reset before one)
  std::optional<int> grpc_status;    // grpc-status of a gRPC response
  std::string response_flags = "-";  // Envoy's: "-", RBAC (denied), NR (no route), UH, UF, URX, DC ...
  std::string route;                 // "ns/name" of the route that matched, "" for the default
  std::string policy;                // the authorization policy that decided, "" when none did
  std::string detail;                // why, for an error (response_code_details)
  uint64_t request_bytes = 0;        // body bytes received from the client
  uint64_t response_bytes = 0;       // body bytes sent back to the client
  std::chrono::steady_clock::duration duration{};
};

// One TCP connection on a port declared TCP (L4-proxied by the waypoint).
struct TcpRecord {
  std::optional<net::IpAddr> src_ip;
  std::optional<SpiffeId> src_identity;
  wds::WorkloadPtr src_workload;
  std::string authority;
  l7::ServiceKey service;
  wds::ServicePtr dst_service;
  wds::WorkloadPtr dst_workload;
  std::optional<SpiffeId> dst_identity;
  std::string upstream_addr;
  std::string response_flags = "-";
  std::string error;                // why it failed, "" when it did not
  uint64_t bytes_from_client = 0;   // istio_tcp_received_bytes_total
  uint64_t bytes_to_client = 0;     // istio_tcp_sent_bytes_total
  std::chrono::steady_clock::duration duration{};
};

class Telemetry {
 public:
  // `wds` (may be null) fills in the workloads and services a record leaves out.
  Telemetry(metrics::Registry* reg, const wds::State* wds);

  // Counts a finished request in the HTTP families and writes its access-log line. Thread-safe.
  void request(const RequestRecord& r);
  // TCP ports: opened() returns the label values to pass back to closed() (the connection's
  // labels do not change while it lives; its bytes are counted once, at close).
  metrics::LabelValues tcp_opened(const TcpRecord& c);
  void tcp_closed(const TcpRecord& c, const metrics::LabelValues& labels);

  // The Istio label values of a request (exposed for tests): the standard set, then
  // response_code and grpc_response_status, in kRequestLabels' order.
  metrics::LabelValues request_labels(const RequestRecord& r) const;
  static const std::vector<std::string>& request_label_names();
  static const std::vector<std::string>& tcp_label_names();
  // The access-log line of a request (exposed for tests).
  std::string access_log_line(const RequestRecord& r) const;

  metrics::Registry* registry() { return reg_; }

  metrics::Family<metrics::Counter>& xds_messages;  // {url}
  metrics::Family<metrics::Counter>& xds_rejects;   // {url}
  metrics::Gauge& xds_connected;
  metrics::Family<metrics::Counter>& cert_fetches;  // {result="success"|"error"}

 private:
  struct Peers;
  Peers resolve(const std::optional<net::IpAddr>& src_ip, const wds::WorkloadPtr& src_workload,
                const l7::ServiceKey& service, const wds::ServicePtr& dst_service) const;
  metrics::LabelValues common_labels(const Peers& p, const std::optional<SpiffeId>& src_identity,
                                     const wds::WorkloadPtr& dst_workload, const std::optional<SpiffeId>& dst_identity,
                                     const std::string& authority, const std::string& protocol,
                                     const std::string& response_flags) const;

  metrics::Registry* reg_;
  const wds::State* wds_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Histogram>& duration_;
  metrics::Family<metrics::Histogram>& request_bytes_;
  metrics::Family<metrics::Histogram>& response_bytes_;
  metrics::Family<metrics::Counter>& tcp_opened_;
  metrics::Family<metrics::Counter>& tcp_closed_;
  metrics::Family<metrics::Counter>& tcp_sent_;
  metrics::Family<metrics::Counter>& tcp_received_;
};

}  // namespace ambit::waypoint
