#include "apps/echo/http_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "absl/strings/escaping.h"
#include "apps/echo/describe.h"
#include "apps/echo/h2c_server.h"
#include "apps/echo/listener.h"
#include "common/base/strings.h"

namespace ambit::echo {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint64_t kMaxBody = 64 << 20;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::string_view view(const beast::flat_buffer& b) { return {static_cast<const char*>(b.data().data()), b.size()}; }
std::string str(beast::string_view s) { return std::string(s.data(), s.size()); }

// An upgrade is honoured only for a request without a body: the body would have to be replayed
// as HTTP/2 DATA on stream 1, which nobody needs from an echo server.
std::optional<H2cUpgrade> h2c_upgrade(const http::request<http::string_body>& req, const Request& r) {
  auto settings = req.find("HTTP2-Settings");
  if (!http::token_list{req[http::field::upgrade]}.exists("h2c") || settings == req.end() || r.body_bytes > 0) {
    return std::nullopt;
  }
  H2cUpgrade up{.settings = {}, .request = r};
  if (!absl::WebSafeBase64Unescape(to_absl(str(settings->value())), &up.settings)) return std::nullopt;
  return up;
}

asio::awaitable<void> serve_connection(tcp::socket sock, std::string name) {
  boost::system::error_code ec;
  size_t n;
  std::string peer = format_endpoint(sock.remote_endpoint(ec)), local = format_endpoint(sock.local_endpoint(ec));
  beast::flat_buffer buf;
  // Prior-knowledge h2c starts with the client preface. An HTTP/1 request line differs from it
  // within its first bytes, so this never waits for bytes an HTTP/1 client will not send.
  while (buf.size() < kPreface.size() && starts_with(kPreface, view(buf))) {
    std::tie(ec, n) = co_await sock.async_read_some(buf.prepare(4096), kTuple);
    if (ec) co_return;  // closed before a request: a health probe's TCP connect
    buf.commit(n);
  }
  if (starts_with(view(buf), kPreface)) {
    serve_h2c(std::move(sock), std::string(view(buf)), std::nullopt, std::move(name));
    co_return;
  }
  beast::tcp_stream stream(std::move(sock));
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    std::tie(ec, n) = co_await http::async_read(stream, buf, parser, kTuple);
    if (ec) {
      if (ec != http::error::end_of_stream) traffic_log().warn("HTTP/1.1 {} -> {}: {}", peer, local, ec.message());
      break;
    }
    const auto& req = parser.get();
    Request r{.protocol = "HTTP/1.1", .method = str(req.method_string()), .path = str(req.target()),
              .headers = {}, .peer = peer, .local = local, .body_bytes = req.body().size()};
    for (const auto& f : req) r.headers.emplace_back(str(f.name_string()), str(f.value()));

    if (auto up = h2c_upgrade(req, r)) {
      constexpr std::string_view k101 = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
      std::tie(ec, n) = co_await asio::async_write(stream, asio::buffer(k101), kTuple);
      if (ec) break;
      serve_h2c(stream.release_socket(), std::string(view(buf)), std::move(up), std::move(name));
      co_return;
    }
    Response a = answer(r, name);
    if (a.delay.count() > 0) {
      asio::steady_timer t(stream.get_executor(), a.delay);
      co_await t.async_wait(kTuple);
    }
    traffic_log().info("{}", log_line(r, a));
    http::response<http::string_body> res;
    res.version(req.version());
    res.result(a.status);
    res.set(http::field::server, "ambit-echo");
    res.set(http::field::content_type, a.content_type);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(a.body);
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();  // Content-Length stays
    std::tie(ec, n) = co_await http::async_write(stream, res, kTuple);
    if (ec || !res.keep_alive()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

absl::Status start_http_server(asio::io_context& io, uint16_t port, std::string server_name) {
  return listen_all(io, port, [&io, server_name](tcp::socket s) {
    asio::co_spawn(io, serve_connection(std::move(s), server_name), asio::detached);
  });
}

}  // namespace ambit::echo
