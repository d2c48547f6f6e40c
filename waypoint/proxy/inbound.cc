// Inbound HBONE for the waypoint: mTLS with the waypoint's own certificate (the client's identity
// from its certificate), HTTP/2, and per CONNECT stream an HTTP conversation for the service port
// the :authority names. A target this waypoint does not serve is refused with 400 at CONNECT —
// never passed through.
#include "waypoint/proxy/inbound.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "common/base/log.h"
#include "common/base/strings.h"
#include "common/hbone/headers.h"
#include "common/hbone/pool.h"
#include "common/hbone/tls_socket.h"
#include "waypoint/proxy/http1_session.h"
#include "waypoint/proxy/pipe.h"

namespace ambit::waypoint {

namespace asio = boost::asio;

namespace {

spdlog::logger& lg() { return log::scope("inbound"); }

const std::string* header(const hbone::h2::Headers& h, std::string_view name) {
  for (const auto& [k, v] : h) {
    if (k == name) return &v;
  }
  return nullptr;
}

void handle_stream(const ProxyInputs* in, asio::io_context& io, const std::shared_ptr<hbone::h2::Connection>& conn,
                   int32_t sid, const hbone::h2::Headers& headers, const Peer& peer) {
  const std::string* method = header(headers, ":method");
  const std::string* authority = header(headers, ":authority");
  if (!method || *method != "CONNECT" || !authority || header(headers, ":path") || header(headers, ":scheme")) {
    conn->respond(sid, 400);
    return;
  }
  auto target = hbone::parse_connect_authority(*authority);
  if (!target.ok()) {
    conn->respond(sid, 400);
    return;
  }
  auto snap = in->l7->current();
  const Listener* listener = snap->listener_for(*authority);
  if (listener == nullptr) {
    lg().info("CONNECT {} from {}: not served by this waypoint", *authority, peer.ip.to_string());
    conn->respond(sid, 400);
    return;
  }
  if (listener->protocol == ::ambit::waypoint::v1::Listener::TCP) {
    // L4 proxying of TCP ports through the waypoint is not built yet: refused, never passed
    // through unchecked.
    lg().info("CONNECT {} from {}: TCP ports are not proxied by this waypoint yet", *authority, peer.ip.to_string());
    conn->respond(sid, 503);
    return;
  }
  StreamContext ctx{peer, *authority, {}};
  if (target->is_hostname()) {
    if (!listener->vips.empty()) ctx.dst_ip = listener->vips[0];
  } else {
    ctx.dst_ip = *target->ip;
  }
  auto pipe = make_pipe(io);
  if (!pipe.ok()) {
    conn->respond(sid, 503);
    return;
  }
  conn->respond(sid, 200);
  conn->attach(sid, std::move(pipe->stream_end), [](const hbone::h2::StreamStats&) {});
  asio::co_spawn(io, serve_http1(in, io, std::move(pipe->proxy_end), std::move(ctx)), asio::detached);
}

}  // namespace

asio::awaitable<void> serve_hbone(const ProxyInputs* in, asio::io_context& io, asio::ip::tcp::socket s) {
  auto peer_addr = net::peer_addr(s.native_handle());
  auto cert = in->cert->get();
  if (!cert) {
    // Fail closed: without our certificate we cannot prove who we are.
    lg().warn("refusing HBONE: no certificate yet");
    co_return;
  }
  auto verify = std::make_shared<tls::PeerVerification>();
  auto tls = hbone::TlsSocket::create(std::move(s), *cert->server, verify.get());
  if (!tls.ok()) co_return;
  absl::Status st = co_await (*tls)->handshake(in->settings.handshake_timeout);
  if (!st.ok() || (*tls)->alpn() != "h2") {
    lg().info("HBONE from {}: {}", peer_addr.ok() ? peer_addr->to_string() : "?",
              st.ok() ? "did not negotiate h2" : std::string(st.message()));
    (*tls)->close();
    co_return;
  }
  Peer peer{peer_addr.ok() ? peer_addr->ip : net::IpAddr(), verify->peer};
  auto holder = std::make_shared<std::weak_ptr<hbone::h2::Connection>>();
  hbone::h2::Hooks hooks;
  hooks.on_request = [in, &io, holder, peer](int32_t sid, const hbone::h2::Headers& headers) {
    if (auto conn = holder->lock()) handle_stream(in, io, conn, sid, headers, peer);
  };
  hooks.on_closed = [verify](const absl::Status&) {};  // the verification lives with the connection
  auto conn = hbone::h2::Connection::create(hbone::h2::Connection::Role::kServer, std::move(*tls), hbone::hbone_settings(), hooks);
  *holder = conn;
  conn->start();
}

}  // namespace ambit::waypoint
