#include "waypoint/telemetry.h"

#include "common/base/log.h"
#include "common/base/strings.h"
#include "common/base/version.h"

namespace ambit::waypoint {

namespace {

// Istio's standard set (CommonTrafficLabels; Envoy's istio.stats filter emits the same names).
const std::vector<std::string> kCommonLabels = {
    "reporter", "source_workload", "source_canonical_service", "source_canonical_revision",
    "source_workload_namespace", "source_principal", "source_app", "source_version", "source_cluster",
    "destination_service", "destination_service_namespace", "destination_service_name", "destination_workload",
    "destination_canonical_service", "destination_canonical_revision", "destination_workload_namespace",
    "destination_principal", "destination_app", "destination_version", "destination_cluster", "request_protocol",
    "response_flags", "connection_security_policy"};

std::vector<std::string> with_response_labels() {
  std::vector<std::string> v = kCommonLabels;
  v.push_back("response_code");
  v.push_back("grpc_response_status");
  return v;
}

// Envoy's default histogram bounds, which Istio's request duration uses (milliseconds).
const std::vector<double> kDurationBoundsMs = {0.5,  1,     5,     10,     25,     50,     100,
                                               250,  500,   1000,  2500,   5000,   10000,  30000,
                                               60000, 300000, 600000, 1800000, 3600000};
// Sizes: decades from 1 byte to 1 GB.
const std::vector<double> kSizeBounds = {1, 10, 100, 1000, 10000, 100000, 1e6, 1e7, 1e8, 1e9};

std::string or_unknown(std::string s) { return s.empty() ? "unknown" : s; }

// A value quoted for the access log: the path, user agent and host are the client's bytes, so
// quotes, backslashes and control characters are escaped (one request, one line).
std::string quoted(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u >= 0x7f) {
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string dash(const std::string& s) { return s.empty() ? "-" : s; }

// source_* or destination_* workload labels, in kCommonLabels' order (workload, canonical
// service, canonical revision, namespace, principal, app, version, cluster).
std::vector<std::string> workload_labels(const wds::WorkloadPtr& w, const std::optional<SpiffeId>& id) {
  std::vector<std::string> v(8);
  if (w) {
    v[0] = w->proto.workload_name().empty() ? w->name() : w->proto.workload_name();
    v[1] = w->proto.canonical_name();
    v[2] = w->proto.canonical_revision();
    v[3] = w->ns();
    v[5] = w->proto.canonical_name();
    v[6] = w->proto.canonical_revision();
    v[7] = w->proto.cluster_id();
  }
  v[4] = id ? id->to_string() : "";
  for (auto& s : v) s = or_unknown(std::move(s));
  return v;
}

}  // namespace

struct Telemetry::Peers {
  wds::WorkloadPtr src;
  wds::ServicePtr service;
};

Telemetry::Telemetry(metrics::Registry* reg, const wds::State* wds)
    : xds_messages(reg->counter("istio_xds_message_total", "Total number of xDS messages received", {"url"})),
      xds_rejects(reg->counter("istio_xds_message_rejected_total", "xDS resources rejected (NACKed)", {"url"})),
      xds_connected(reg->gauge("waypoint_xds_connected", "1 when connected to the xDS server").with({})),
      cert_fetches(reg->counter("waypoint_certificate_fetches_total", "Certificate requests to the CA", {"result"})),
      reg_(reg),
      wds_(wds),
      requests_(reg->counter("istio_requests_total", "Total number of requests handled", with_response_labels())),
      duration_(reg->histogram("istio_request_duration_milliseconds", "Duration of requests in milliseconds",
                               with_response_labels(), kDurationBoundsMs)),
      request_bytes_(reg->histogram("istio_request_bytes", "Size of request bodies in bytes", with_response_labels(),
                                    kSizeBounds)),
      response_bytes_(reg->histogram("istio_response_bytes", "Size of response bodies in bytes",
                                     with_response_labels(), kSizeBounds)),
      tcp_opened_(reg->counter("istio_tcp_connections_opened_total", "The total number of TCP connections opened",
                               kCommonLabels)),
      tcp_closed_(reg->counter("istio_tcp_connections_closed_total", "The total number of TCP connections closed",
                               kCommonLabels)),
      tcp_sent_(reg->counter("istio_tcp_sent_bytes_total",
                             "The size of total bytes sent during response in case of a TCP connection", kCommonLabels)),
      tcp_received_(reg->counter("istio_tcp_received_bytes_total",
                                 "The size of total bytes received during request in case of a TCP connection",
                                 kCommonLabels)) {
  reg->gauge("istio_build", "Istio component build info", {"component", "tag"})
      .with({"waypoint", str_cat("ambit-", kVersion)})
      .set(1);
}

const std::vector<std::string>& Telemetry::request_label_names() {
  static const std::vector<std::string> names = with_response_labels();
  return names;
}

const std::vector<std::string>& Telemetry::tcp_label_names() { return kCommonLabels; }

Telemetry::Peers Telemetry::resolve(const std::optional<net::IpAddr>& src_ip, const wds::WorkloadPtr& src_workload,
                                    const l7::ServiceKey& service, const wds::ServicePtr& dst_service) const {
  Peers p{src_workload, dst_service};
  if (!p.src && src_ip && wds_) p.src = wds_->workload_by_ip(*src_ip);
  if (!p.service && !service.hostname.empty() && wds_) p.service = wds_->service_by_host(service.to_string());
  return p;
}

metrics::LabelValues Telemetry::common_labels(const Peers& p, const std::optional<SpiffeId>& src_identity,
                                              const wds::WorkloadPtr& dst_workload,
                                              const std::optional<SpiffeId>& dst_identity,
                                              const std::string& authority, const std::string& protocol,
                                              const std::string& response_flags) const {
  metrics::LabelValues l;
  l.reserve(kCommonLabels.size() + 2);
  l.push_back("waypoint");
  for (auto& s : workload_labels(p.src, src_identity)) l.push_back(std::move(s));
  if (p.service) {
    l.push_back(or_unknown(p.service->proto.hostname()));
    l.push_back(or_unknown(p.service->proto.namespace_()));
    l.push_back(or_unknown(p.service->proto.name()));
  } else {
    // No WDS Service (the authority matched no listener, or WDS has not caught up): Istio
    // reports the authority it was asked for.
    l.push_back(or_unknown(authority));
    l.push_back("unknown");
    l.push_back("unknown");
  }
  for (auto& s : workload_labels(dst_workload, dst_identity)) l.push_back(std::move(s));
  l.push_back(protocol);
  l.push_back(response_flags.empty() ? "-" : response_flags);
  // Inbound HBONE is always mTLS; an identity means the client's certificate was verified.
  l.push_back(src_identity ? "mutual_tls" : "unknown");
  return l;
}

metrics::LabelValues Telemetry::request_labels(const RequestRecord& r) const {
  Peers p = resolve(r.src_ip, r.src_workload, r.service, r.dst_service);
  metrics::LabelValues l = common_labels(p, r.src_identity, r.dst_workload, r.dst_identity, r.authority,
                                         r.grpc ? "grpc" : "http", r.response_flags);
  l.push_back(str_cat(r.response_code));
  l.push_back(r.grpc_status ? str_cat(*r.grpc_status) : "-");
  return l;
}

void Telemetry::request(const RequestRecord& r) {
  metrics::LabelValues l = request_labels(r);
  requests_.with(l).inc();
  duration_.with(l).observe(std::chrono::duration<double, std::milli>(r.duration).count());
  request_bytes_.with(l).observe(static_cast<double>(r.request_bytes));
  response_bytes_.with(l).observe(static_cast<double>(r.response_bytes));
  std::string line = access_log_line(r);
  if (r.response_code == 0 || r.response_code >= 500) {
    log::scope("access").warn("{}", line);
  } else {
    log::scope("access").info("{}", line);
  }
}

std::string Telemetry::access_log_line(const RequestRecord& r) const {
  Peers p = resolve(r.src_ip, r.src_workload, r.service, r.dst_service);
  std::string line = str_cat(
      "request complete src.addr=", r.src_ip ? r.src_ip->to_string() : "-",
      " src.workload=", p.src ? p.src->name() : "-", " src.namespace=", p.src ? p.src->ns() : "-",
      " src.identity=", r.src_identity ? r.src_identity->to_string() : "-", " authority=", quoted(r.authority),
      " dst.service=", r.service.hostname.empty() ? "-" : r.service.hostname,
      " dst.workload=", r.dst_workload ? r.dst_workload->name() : "-",
      " dst.namespace=", r.dst_workload ? r.dst_workload->ns() : "-",
      " dst.identity=", r.dst_identity ? r.dst_identity->to_string() : "-", " dst.addr=", dash(r.upstream_addr),
      " protocol=", r.grpc ? "grpc" : "http", " method=", quoted(r.method), " path=", quoted(r.path),
      " host=", quoted(r.host), " response_code=", r.response_code,
      " grpc_status=", r.grpc_status ? str_cat(*r.grpc_status) : "-", " flags=", dash(r.response_flags),
      " route=", dash(r.route), " policy=", dash(r.policy), " bytes_in=", r.request_bytes,
      " bytes_out=", r.response_bytes,
      " duration=", std::chrono::duration_cast<std::chrono::microseconds>(r.duration).count() / 1000.0, "ms");
  if (!r.user_agent.empty()) str_append(&line, " user_agent=", quoted(r.user_agent));
  if (!r.request_id.empty()) str_append(&line, " request_id=", quoted(r.request_id));
  if (!r.detail.empty()) str_append(&line, " detail=", quoted(r.detail));
  return line;
}

metrics::LabelValues Telemetry::tcp_opened(const TcpRecord& c) {
  Peers p = resolve(c.src_ip, c.src_workload, c.service, c.dst_service);
  metrics::LabelValues l = common_labels(p, c.src_identity, c.dst_workload, c.dst_identity, c.authority, "tcp",
                                         c.response_flags);
  tcp_opened_.with(l).inc();
  return l;
}

void Telemetry::tcp_closed(const TcpRecord& c, const metrics::LabelValues& labels) {
  tcp_closed_.with(labels).inc();
  // Istio's direction words: "sent" is what went back to the client, "received" what came from it.
  tcp_sent_.with(labels).inc(c.bytes_to_client);
  tcp_received_.with(labels).inc(c.bytes_from_client);
  std::string line = str_cat(
      "connection complete src.addr=", c.src_ip ? c.src_ip->to_string() : "-",
      " src.identity=", c.src_identity ? c.src_identity->to_string() : "-", " authority=", quoted(c.authority),
      " dst.service=", c.service.hostname.empty() ? "-" : c.service.hostname,
      " dst.workload=", c.dst_workload ? c.dst_workload->name() : "-", " dst.addr=", dash(c.upstream_addr),
      " bytes_recv=", c.bytes_from_client, " bytes_sent=", c.bytes_to_client,
      " duration=", std::chrono::duration_cast<std::chrono::milliseconds>(c.duration).count(), "ms");
  if (!c.error.empty()) {
    str_append(&line, " error=", quoted(c.error));
    log::scope("access").warn("{}", line);
  } else {
    log::scope("access").info("{}", line);
  }
}

}  // namespace ambit::waypoint
