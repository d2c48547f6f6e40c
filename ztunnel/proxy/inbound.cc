#include "ztunnel/proxy/inbound.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "common/base/log.h"
#include "common/base/strings.h"
#include "common/hbone/headers.h"
#include "ztunnel/proxy/connection_tracker.h"
#include "ztunnel/proxy/tcp_relay.h"
#include "ztunnel/proxy/ztunnel_ports.h"

namespace ambit::ztunnel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

spdlog::logger& lg() { return log::scope("inbound"); }

const std::string* header(const hbone::h2::Headers& h, std::string_view name) {
  for (const auto& [k, v] : h) {
    if (k == name) return &v;
  }
  return nullptr;
}

struct Peer {
  net::SocketAddr addr;
  std::optional<SpiffeId> identity;
};

asio::awaitable<void> handle_stream(const ProxyInputs* in, PodPtr pod, Worker* worker,
                                    std::shared_ptr<hbone::h2::Connection> conn, int32_t sid, hbone::h2::Headers headers,
                                    Peer peer) {
  auto info = std::make_shared<ConnectionInfo>();
  info->direction = Direction::kInbound;
  info->mtls = true;
  info->src_addr = peer.addr.to_string();
  info->src_identity = peer.identity;
  info->dst_identity = pod->identity;
  if (peer.identity) {
    // The source workload, for telemetry, by its address (it may be unknown: another cluster).
    info->src_workload = in->state->workload_by_ip(peer.addr.ip);
  }
  auto fail = [&](int status, std::string why) {
    info->error = str_cat(status, ": ", why);
    info->response_flags = status == 401 ? "DENY" : "UF";
    in->telemetry->log(*info);
    conn->respond(sid, status);
  };

  const std::string* method = header(headers, ":method");
  const std::string* authority = header(headers, ":authority");
  if (!method || *method != "CONNECT") {
    fail(400, str_cat("method ", method ? *method : "(none)", " is not CONNECT"));
    co_return;
  }
  if (header(headers, ":path") || header(headers, ":scheme")) {
    fail(400, "CONNECT must not carry :path or :scheme");
    co_return;
  }
  if (!authority) {
    fail(400, "no :authority");
    co_return;
  }
  auto target = hbone::parse_connect_authority(*authority);
  if (!target.ok()) {
    fail(400, str_cat("bad :authority: ", target.status().message()));
    co_return;
  }
  wds::WorkloadPtr local = pod->workload(*in->state);
  info->dst_workload = local;
  if (!local) {
    fail(503, "destination workload is not known to this ztunnel");
    co_return;
  }
  net::SocketAddr dst;
  if (target->is_hostname()) {
    // hostname:port (double-HBONE form): a service of this pod, mapped to its target port.
    std::string svc_key;
    for (const auto& [key, ports] : local->proto.services()) {
      auto slash = key.find('/');
      if (slash != std::string::npos && key.substr(slash + 1) == target->hostname) svc_key = key;
    }
    if (svc_key.empty()) {
      fail(503, str_cat("no service ", target->hostname, " for this workload"));
      co_return;
    }
    uint16_t port = 0;
    for (const auto& p : local->proto.services().at(svc_key).ports()) {
      if (p.service_port() == target->port) port = static_cast<uint16_t>(p.target_port());
    }
    if (port == 0 || local->ips.empty()) {
      fail(503, str_cat("service ", target->hostname, " has no port ", target->port));
      co_return;
    }
    dst = net::SocketAddr{local->ips[0], port};
  } else {
    dst = net::SocketAddr{*target->ip, target->port};
    if (std::find(local->ips.begin(), local->ips.end(), dst.ip) == local->ips.end()) {
      fail(400, str_cat("destination ", dst.ip.to_string(), " is not this workload's address"));
      co_return;
    }
  }
  info->dst_addr = dst.to_string();
  if (is_ztunnel_port(dst.port)) {
    fail(503, str_cat("port ", dst.port, " is a ztunnel port"));
    co_return;
  }

  RbacConnection attrs{peer.addr.ip, peer.identity, dst.ip, dst.port};
  RbacResult decision = evaluate_rbac(in->state->policies_for(*local), attrs);
  if (!decision.allowed) {
    info->policy = decision.policy;
    fail(401, decision.reason);
    co_return;
  }

  std::optional<net::IpAddr> spoof;
  if (in->config.preserve_source_ip) spoof = peer.addr.ip;
  auto app = pod->sockets.tcp(worker->io, dst.ip, spoof);
  if (!app.ok() && spoof) app = pod->sockets.tcp(worker->io, dst.ip);  // best effort
  if (!app.ok()) {
    fail(503, std::string(app.status().message()));
    co_return;
  }
  // A stream the peer resets (or provokes us into resetting) while the app connect is in flight
  // cancels it: the app never sees a connection nobody will use (MadeYouReset, CVE-2025-8671).
  tcp::socket& app_sock = *app;
  if (!conn->set_abort_hook(sid, [&app_sock] {
        boost::system::error_code ec;
        app_sock.cancel(ec);
      })) {
    co_return;  // already gone
  }
  absl::Status st = co_await hbone::connect_with_timeout(*app, dst, in->config.connect_timeout);
  bool still_open = conn->set_abort_hook(sid, nullptr);
  if (!still_open) {
    info->error = "stream reset during the app connect";
    in->telemetry->log(*info);
    co_return;
  }
  if (!st.ok()) {
    fail(503, std::string(st.message()));
    co_return;
  }
  hbone::Baggage b;
  b.cluster_id = local->proto.cluster_id();
  b.ns = local->ns();
  b.workload_name = local->proto.workload_name();
  b.workload_type = "pod";
  b.service_name = local->proto.canonical_name();
  b.revision = local->proto.canonical_revision();
  conn->respond(sid, 200, {{"baggage", hbone::build_baggage(b)}});
  auto labels = in->telemetry->opened(*info);
  std::weak_ptr<hbone::h2::Connection> weak = conn;
  uint64_t track = in->tracker->add(TrackedConnection{
      pod->uid, "inbound", dst.to_string(), peer.addr.to_string(), dst.to_string(), "HBONE", attrs, local,
      [weak, sid, ex = worker->io.get_executor()](const std::string&) {
        asio::post(ex, [weak, sid] {
          if (auto c = weak.lock()) c->reset(sid, NGHTTP2_CANCEL);
        });
      }});
  conn->attach(sid, std::move(*app), [in, info, labels, track](const hbone::h2::StreamStats& s) {
    in->tracker->remove(track);
    info->bytes_sent = s.bytes_to_app;
    info->bytes_recv = s.bytes_to_peer;
    if (s.reset_code != 0) info->error = s.error.empty() ? "stream reset" : s.error;
    in->telemetry->closed(*info, labels);
  });
}

}  // namespace

asio::awaitable<void> handle_inbound(const ProxyInputs* in, PodPtr pod, Worker* worker, tcp::socket raw,
                                     std::function<void(std::shared_ptr<hbone::h2::Connection>)> on_connection,
                                     std::shared_ptr<void> ticket) {
  auto peer_addr = net::peer_addr(raw.native_handle());
  WorkloadCertPtr cert = in->certs->get(pod->identity);
  if (!cert) {
    // Fail closed: without this pod's certificate there is no way to prove who we are.
    lg().warn("refusing HBONE for {}: no certificate yet", pod->identity.to_string());
    reset_socket(raw);
    co_return;
  }
  auto verify = std::make_shared<tls::PeerVerification>();
  auto tls = hbone::TlsSocket::create(std::move(raw), *cert->server, verify.get());
  if (!tls.ok()) co_return;
  absl::Status st = co_await (*tls)->handshake(in->config.handshake_timeout);
  if (absl::IsDeadlineExceeded(st)) in->telemetry->deadlines_exceeded.with({"inbound_handshake"}).inc();
  if (!st.ok()) {
    lg().info("HBONE handshake from {} failed: {}", peer_addr.ok() ? peer_addr->to_string() : "?", st.message());
    (*tls)->close();
    co_return;
  }
  if ((*tls)->alpn() != "h2") {
    lg().info("HBONE from {} did not negotiate h2", peer_addr.ok() ? peer_addr->to_string() : "?");
    (*tls)->close();
    co_return;
  }
  Peer peer{peer_addr.ok() ? *peer_addr : net::SocketAddr{}, verify->peer};
  hbone::h2::Hooks hooks;
  std::weak_ptr<hbone::h2::Connection> self;
  auto holder = std::make_shared<std::weak_ptr<hbone::h2::Connection>>();
  hooks.on_request = [in, pod, worker, holder, peer](int32_t sid, const hbone::h2::Headers& headers) {
    auto conn = holder->lock();
    if (!conn) return;
    asio::co_spawn(worker->io, handle_stream(in, pod, worker, conn, sid, headers, peer), asio::detached);
  };
  hooks.on_protocol_error = [in](uint32_t, const std::string&) { in->telemetry->h2_protocol_errors.inc(); };
  hooks.on_idle_timeout = [in] { in->telemetry->idle_closed.inc(); };
  // The admission ticket lives as long as the connection (its hooks).
  hooks.on_closed = [verify, ticket](const absl::Status&) {};
  hbone::h2::Settings settings;
  settings.idle_timeout = in->config.inbound_idle_timeout;
  auto conn = hbone::h2::Connection::create(hbone::h2::Connection::Role::kServer, std::move(*tls), settings, hooks);
  *holder = conn;
  if (on_connection) on_connection(conn);
  conn->start();
}

}  // namespace ambit::ztunnel
