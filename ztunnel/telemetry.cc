#include "ztunnel/telemetry.h"

#include "common/base/log.h"
#include "common/base/strings.h"

namespace ambit::ztunnel {
namespace {

const std::vector<std::string> kTcpLabels = {
    "reporter", "source_workload", "source_canonical_service", "source_canonical_revision",
    "source_workload_namespace", "source_principal", "source_app", "source_version", "source_cluster",
    "destination_service", "destination_service_namespace", "destination_service_name", "destination_workload",
    "destination_canonical_service", "destination_canonical_revision", "destination_workload_namespace",
    "destination_principal", "destination_app", "destination_version", "destination_cluster", "request_protocol",
    "response_flags", "connection_security_policy"};

std::string or_unknown(const std::string& s) { return s.empty() ? "unknown" : s; }

}  // namespace

Telemetry::Telemetry(metrics::Registry* reg)
    : xds_messages(reg->counter("istio_xds_message_total", "Total number of xDS messages received", {"url"})),
      xds_rejects(reg->counter("istio_xds_message_rejected_total", "xDS resources rejected (NACKed)", {"url"})),
      xds_connected(reg->gauge("ztunnel_xds_connected", "1 when connected to the xDS server").with({})),
      cert_fetches(reg->counter("ztunnel_certificate_fetches_total", "Certificate requests to the CA", {"result"})),
      h2_protocol_errors(reg->counter("ztunnel_h2_protocol_errors_total",
                                      "HTTP/2 connections ended with GOAWAY for a protocol violation or abuse").with({})),
      pods(reg->gauge("workload_manager_active_proxy_count", "Pods with active in-pod proxies").with({})),
      inbound_refused(reg->counter("ztunnel_inbound_refused_total",
                                   "Inbound connections reset at accept because a cap was reached", {"reason"})),
      deadlines_exceeded(reg->counter("ztunnel_deadlines_exceeded_total",
                                      "Handshakes and HBONE CONNECTs abandoned at their deadline", {"phase"})),
      accept_errors(reg->counter("ztunnel_accept_errors_total",
                                 "Failed accepts on pod listeners (resource: EMFILE and the like, backed off)",
                                 {"kind"})),
      inbound_connections(reg->gauge("ztunnel_inbound_connections", "Admitted inbound connections open now").with({})),
      idle_closed(reg->counter("ztunnel_idle_connections_closed_total",
                               "Inbound HBONE connections closed after carrying no stream for the idle timeout")
                      .with({})),
      reg_(reg),
      opened_(reg->counter("istio_tcp_connections_opened_total", "The total number of TCP connections opened", kTcpLabels)),
      closed_(reg->counter("istio_tcp_connections_closed_total", "The total number of TCP connections closed", kTcpLabels)),
      sent_(reg->counter("istio_tcp_sent_bytes_total", "The size of total bytes sent during response in case of a TCP connection", kTcpLabels)),
      received_(reg->counter("istio_tcp_received_bytes_total",
                             "The size of total bytes received during request in case of a TCP connection", kTcpLabels)) {
  reg->gauge("istio_build", "Istio component build info", {"component", "tag"}).with({"ztunnel", "ambit-0.1.0"}).set(1);
}

metrics::LabelValues Telemetry::opened(const ConnectionInfo& c) {
  auto wl_labels = [](const wds::WorkloadPtr& w, const std::optional<SpiffeId>& id) {
    std::vector<std::string> v(8);
    if (w) {
      v[0] = w->proto.workload_name();
      v[1] = w->proto.canonical_name();
      v[2] = w->proto.canonical_revision();
      v[3] = w->ns();
      v[5] = w->proto.canonical_name();
      v[6] = w->proto.canonical_revision();
      v[7] = w->proto.cluster_id();
    }
    v[4] = id ? id->to_string() : "";
    for (auto& s : v) s = or_unknown(s);
    return v;
  };
  metrics::LabelValues l;
  l.push_back(c.direction == Direction::kInbound ? "destination" : "source");
  for (auto& s : wl_labels(c.src_workload, c.src_identity)) l.push_back(std::move(s));
  if (c.dst_service) {
    l.push_back(c.dst_service->proto.hostname());
    l.push_back(c.dst_service->proto.namespace_());
    l.push_back(c.dst_service->proto.name());
  } else {
    l.push_back(c.dst_workload ? c.dst_addr : "unknown");
    l.push_back("unknown");
    l.push_back("unknown");
  }
  for (auto& s : wl_labels(c.dst_workload, c.dst_identity)) l.push_back(std::move(s));
  l.push_back("tcp");
  l.push_back(c.response_flags);
  l.push_back(c.mtls ? "mutual_tls" : "none");
  opened_.with(l).inc();
  return l;
}

void Telemetry::closed(const ConnectionInfo& c, const metrics::LabelValues& labels) {
  closed_.with(labels).inc();
  // Istio: "sent" is what the reporter's peer sent back, "received" what arrived from the client.
  sent_.with(labels).inc(c.bytes_recv);
  received_.with(labels).inc(c.bytes_sent);
  log(c);
}

void Telemetry::log(const ConnectionInfo& c) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - c.start).count();
  std::string line = str_cat(
      "connection complete src.addr=", c.src_addr, " src.workload=", c.src_workload ? c.src_workload->name() : "-",
      " src.namespace=", c.src_workload ? c.src_workload->ns() : "-", " src.identity=",
      c.src_identity ? c.src_identity->to_string() : "-", " dst.addr=", c.dst_addr,
      " dst.hbone_addr=", c.hbone_addr.empty() ? "-" : c.hbone_addr, " dst.service=",
      c.dst_service ? c.dst_service->proto.hostname() : "-", " dst.workload=", c.dst_workload ? c.dst_workload->name() : "-",
      " dst.namespace=", c.dst_workload ? c.dst_workload->ns() : "-", " dst.identity=",
      c.dst_identity ? c.dst_identity->to_string() : "-", " direction=",
      c.direction == Direction::kInbound ? "inbound" : "outbound", " security=", c.mtls ? "mutual_tls" : "none",
      " bytes_sent=", c.bytes_sent, " bytes_recv=", c.bytes_recv, " duration=", ms, "ms");
  if (!c.policy.empty()) str_append(&line, " policy=", c.policy);
  if (!c.error.empty()) str_append(&line, " error=\"", c.error, "\"");
  if (c.error.empty()) {
    log::scope("access").info("{}", line);
  } else {
    log::scope("access").warn("{}", line);
  }
}

}  // namespace ambit::ztunnel
