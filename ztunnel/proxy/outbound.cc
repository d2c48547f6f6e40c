#include "ztunnel/proxy/outbound.h"

#include <atomic>

#include "common/base/log.h"
#include "common/base/strings.h"
#include "common/hbone/headers.h"
#include "common/hbone/notify.h"
#include "common/hbone/pool.h"
#include "ztunnel/proxy/connection_tracker.h"
#include "ztunnel/proxy/outbound_route.h"
#include "ztunnel/proxy/tcp_relay.h"
#include "ztunnel/proxy/ztunnel_ports.h"

namespace ambit::ztunnel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::atomic<size_t> g_pick{0};

hbone::Baggage baggage_of(const wds::Workload& w) {
  hbone::Baggage b;
  b.cluster_id = w.proto.cluster_id();
  b.ns = w.ns();
  b.workload_name = w.proto.workload_name();
  switch (w.proto.workload_type()) {
    case istio::workload::DEPLOYMENT: b.workload_type = "deployment"; break;
    case istio::workload::CRONJOB: b.workload_type = "cronjob"; break;
    case istio::workload::JOB: b.workload_type = "job"; break;
    default: b.workload_type = "pod"; break;
  }
  b.service_name = w.proto.canonical_name();
  b.revision = w.proto.canonical_revision();
  if (w.proto.has_locality()) {
    b.region = w.proto.locality().region();
    b.zone = w.proto.locality().zone();
  }
  return b;
}

}  // namespace

asio::awaitable<void> handle_outbound(const ProxyInputs* in, PodPtr pod, Worker* worker, tcp::socket app) {
  auto info = std::make_shared<ConnectionInfo>();
  info->direction = Direction::kOutbound;
  auto peer = net::peer_addr(app.native_handle());
  auto orig = net::original_dst(app.native_handle());
  if (peer.ok()) info->src_addr = peer->to_string();
  auto refuse = [&](std::string why) {
    info->error = std::move(why);
    info->response_flags = "UF";
    in->telemetry->log(*info);
    reset_socket(app);
  };
  if (!orig.ok()) {
    refuse(str_cat("no original destination: ", orig.status().message()));
    co_return;
  }
  info->dst_addr = orig->to_string();
  wds::WorkloadPtr src = pod->workload(*in->state);
  info->src_workload = src;
  info->src_identity = pod->identity;
  if (!src) {
    // Istio requires the source workload to be known; without it we cannot build identity.
    refuse("source workload not yet known from xDS");
    co_return;
  }
  if (is_ztunnel_port(orig->port) &&
      std::find(src->ips.begin(), src->ips.end(), orig->ip) != src->ips.end()) {
    refuse("connection to ztunnel's own port");
    co_return;
  }

  Route route = resolve_outbound(*in->state, src, *orig, g_pick.fetch_add(1));
  info->dst_workload = route.dst_workload;
  info->dst_service = route.dst_service;
  if (route.kind == Route::Kind::kRefuse) {
    refuse(route.error);
    co_return;
  }

  if (route.kind == Route::Kind::kTcp) {
    auto up = pod->sockets.tcp(worker->io, route.connect_to.ip);
    if (!up.ok()) {
      refuse(std::string(up.status().message()));
      co_return;
    }
    absl::Status st = co_await hbone::connect_with_timeout(*up, route.connect_to, in->config.connect_timeout);
    if (!st.ok()) {
      refuse(std::string(st.message()));
      co_return;
    }
    auto labels = in->telemetry->opened(*info);
    uint64_t track = in->tracker->add(TrackedConnection{pod->uid, "outbound", info->src_addr, info->dst_addr,
                                                        route.connect_to.to_string(), "TCP", std::nullopt, nullptr,
                                                        nullptr});
    RelayResult r = co_await relay(app, *up);
    in->tracker->remove(track);
    info->bytes_sent = r.a_to_b;
    info->bytes_recv = r.b_to_a;
    info->error = r.error;
    in->telemetry->closed(*info, labels);
    co_return;
  }

  // HBONE.
  WorkloadCertPtr cert = in->certs->get(pod->identity);
  if (!cert) {
    refuse(str_cat("no certificate for ", pod->identity.to_string(), " yet"));
    co_return;
  }
  info->hbone_addr = route.connect_to.to_string();
  info->dst_identity = route.expected.empty() ? std::nullopt : std::optional<SpiffeId>(route.expected[0]);
  info->mtls = true;
  hbone::PoolKey key{pod->identity, route.expected, route.connect_to, src->ips.empty() ? net::IpAddr() : src->ips[0], pod->uid};
  auto conn = co_await worker->pool->get(key, pod->sockets, cert->client);
  if (!conn.ok()) {
    refuse(std::string(conn.status().message()));
    co_return;
  }
  hbone::h2::Headers req = {{":method", "CONNECT"}, {":authority", route.authority}};
  req.emplace_back("baggage", hbone::build_baggage(baggage_of(*src)));
  if (peer.ok()) {
    req.emplace_back("forwarded", hbone::build_forwarded(*peer, route.dst_service ? route.dst_service->proto.hostname() : ""));
  }
  req.emplace_back("traceparent", hbone::TraceParent::random().to_string());

  // Shared with the response callback: after a deadline this frame is gone before the callback
  // runs (the stream's reset reports "no response" later).
  struct Answer {
    explicit Answer(const asio::any_io_executor& ex) : got(ex) {}
    hbone::Notify got;
    int status = 0;
  };
  auto answer = std::make_shared<Answer>(worker->io.get_executor());
  auto stream = (*conn)->open_stream(req, [answer](int s, const hbone::h2::Headers&) {
    answer->status = s;
    answer->got.notify();
  });
  if (!stream.ok()) {
    refuse(std::string(stream.status().message()));
    co_return;
  }
  bool answered = co_await answer->got.wait_for(in->config.handshake_timeout);
  if (!answered) {
    in->telemetry->deadlines_exceeded.with({"outbound_connect"}).inc();
    refuse(str_cat("HBONE CONNECT to ", route.connect_to.to_string(), " not answered within ",
                   in->config.handshake_timeout.count(), " ms"));
    (*conn)->reset(*stream, NGHTTP2_CANCEL);
    co_return;
  }
  int status = answer->status;
  if (status != 200) {
    // 401: denied by the destination's policy. The app sees a reset, as with upstream ztunnel.
    refuse(status == 0 ? "HBONE stream failed before a response" : str_cat("HBONE CONNECT answered ", status));
    (*conn)->reset(*stream, NGHTTP2_CANCEL);
    co_return;
  }
  auto labels = in->telemetry->opened(*info);
  std::weak_ptr<hbone::h2::Connection> weak = *conn;
  int32_t sid = *stream;
  uint64_t track = in->tracker->add(TrackedConnection{
      pod->uid, "outbound", info->src_addr, info->dst_addr, route.connect_to.to_string(), "HBONE", std::nullopt,
      nullptr, [weak, sid, ex = worker->io.get_executor()](const std::string&) {
        asio::post(ex, [weak, sid] {
          if (auto c = weak.lock()) c->reset(sid, NGHTTP2_CANCEL);
        });
      }});
  (*conn)->attach(sid, std::move(app), [in, info, labels, track](const hbone::h2::StreamStats& st) {
    in->tracker->remove(track);
    info->bytes_sent = st.bytes_to_peer;
    info->bytes_recv = st.bytes_to_app;
    if (st.reset_code != 0) info->error = st.error.empty() ? "stream reset" : st.error;
    in->telemetry->closed(*info, labels);
  });
}

}  // namespace ambit::ztunnel
