#include "common/admin/admin_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/base/log.h"
#include "common/base/strings.h"
#include "common/metrics/registry.h"

namespace ambit::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kMaxHeader = 8 * 1024;
constexpr size_t kMaxBody = 1024 * 1024;
constexpr auto kRequestTimeout = std::chrono::seconds(10);

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hexval(s[i + 1]) >= 0 &&
               hexval(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

namespace detail {
struct AdminState {
  explicit AdminState(asio::io_context& io) : acceptor(io) {}
  tcp::acceptor acceptor;
  std::vector<std::weak_ptr<beast::tcp_stream>> conns;
  bool stopped = false;
  // Shared with in-flight connections so a request finishing after the server object is gone
  // still finds its handlers.
  std::map<std::string, Handler> handlers;
};
}  // namespace detail

namespace {
using detail::AdminState;

Response dispatch_to(const AdminState& st, const Request& req);
asio::awaitable<void> serve_connection(std::shared_ptr<beast::tcp_stream> stream,
                                       std::shared_ptr<const AdminState> st);
}  // namespace

AdminServer::AdminServer(asio::io_context& io) : io_(io), state_(std::make_shared<AdminState>(io)) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::handle(const std::string& path, Handler h) { state_->handlers[path] = std::move(h); }

std::map<std::string, std::string> AdminServer::parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  for (std::string_view kv : split_nonempty(q, '&')) {
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) {
      out[url_decode(kv)] = "";
    } else {
      out[url_decode(kv.substr(0, eq))] = url_decode(kv.substr(eq + 1));
    }
  }
  return out;
}

Response AdminServer::dispatch(const Request& req) const { return dispatch_to(*state_, req); }

namespace {
Response dispatch_to(const AdminState& st, const Request& req) {
  auto it = st.handlers.find(req.path);
  if (it == st.handlers.end()) {
    std::vector<std::string> paths;
    for (const auto& [p, _] : st.handlers) paths.push_back(p);
    return {404, "text/plain; charset=utf-8",
            str_cat("no handler for ", req.path, "; available: ", join(paths, " "), "\n")};
  }
  return it->second(req);
}
}  // namespace

void AdminServer::add_metrics(const metrics::Registry* registry) {
  Handler h = [registry](const Request&) {
    return Response{200, "text/plain; version=0.0.4; charset=utf-8", registry->expose()};
  };
  handle("/metrics", h);
  handle("/stats/prometheus", h);
}

void AdminServer::add_readiness(std::function<absl::Status()> ready) {
  handle("/healthz/ready", [ready = std::move(ready)](const Request& req) {
    if (req.method != "GET") return Response{405, "text/plain; charset=utf-8", "method not allowed\n"};
    absl::Status s = ready();
    if (s.ok()) return Response{200, "text/plain; charset=utf-8", "ready\n"};
    return Response{503, "text/plain; charset=utf-8", str_cat("not ready: ", s.message(), "\n")};
  });
}

void AdminServer::add_config_dump(std::function<std::string()> dump_json, const std::string& path) {
  handle(path, [dump_json = std::move(dump_json)](const Request&) {
    return Response{200, "application/json", dump_json()};
  });
}

void AdminServer::add_logging() {
  // ztunnel: POST /logging lists levels; ?level=debug or ?level=scope:lvl,... changes; ?reset.
  // GET lists too, for curl convenience.
  handle("/logging", [](const Request& req) {
    if (req.method != "GET" && req.method != "POST") {
      return Response{405, "text/plain; charset=utf-8", "use POST\n"};
    }
    if (req.method == "POST") {
      if (req.query.count("reset")) {
        log::reset_levels();
      } else if (auto it = req.query.find("level"); it != req.query.end()) {
        if (absl::Status s = log::set_levels(it->second); !s.ok()) {
          return Response{400, "text/plain; charset=utf-8", str_cat(s.message(), "\n")};
        }
      }
    }
    std::string body = "current log levels:\n";
    for (const auto& [name, lvl] : log::levels()) str_append(&body, name, ": ", lvl, "\n");
    return Response{200, "text/plain; charset=utf-8", body};
  });
}

void AdminServer::add_quit(std::function<void()> quit) {
  handle("/quitquitquit", [quit = std::move(quit)](const Request& req) {
    if (req.method != "POST") return Response{405, "text/plain; charset=utf-8", "use POST\n"};
    quit();
    return Response{200, "text/plain; charset=utf-8", "OK\n"};
  });
}

namespace {
asio::awaitable<void> serve_connection(std::shared_ptr<beast::tcp_stream> stream,
                                       std::shared_ptr<const AdminState> st) {
  beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeader);
    parser.body_limit(kMaxBody);
    stream->expires_after(kRequestTimeout);
    auto [ec, n] = co_await http::async_read(*stream, buf, parser,
                                             asio::as_tuple(asio::use_awaitable));
    (void)n;
    if (ec) {
      if (ec == http::error::header_limit || ec == http::error::body_limit) {
        http::response<http::string_body> res{http::status::payload_too_large, 11};
        res.body() = "request too large\n";
        res.prepare_payload();
        co_await http::async_write(*stream, res, asio::as_tuple(asio::use_awaitable));
      }
      co_return;
    }
    auto& msg = parser.get();
    Request req;
    req.method = std::string(msg.method_string());
    std::string_view target(msg.target().data(), msg.target().size());
    auto q = target.find('?');
    req.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) req.query = AdminServer::parse_query(target.substr(q + 1));
    req.body = std::move(msg.body());
    Response r = dispatch_to(*st, req);
    http::response<http::string_body> res{static_cast<http::status>(r.status), msg.version()};
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::server, "ambit");
    res.keep_alive(msg.keep_alive());
    res.body() = std::move(r.body);
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(*stream, res, asio::as_tuple(asio::use_awaitable));
    (void)wn;
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
}
}  // namespace

absl::Status AdminServer::listen(const std::string& host, uint16_t port) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return absl::InvalidArgumentError(str_cat("admin: bad listen address '", host, "'"));
  tcp::endpoint ep(addr, port);
  auto& acc = state_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(str_cat("admin: listen on ", host, ":", port, ": ", ec.message()));
  }
  port_ = acc.local_endpoint().port();
  std::weak_ptr<AdminState> weak = state_;
  asio::co_spawn(
      io_,
      [weak, &io = io_]() -> asio::awaitable<void> {
        for (;;) {
          auto st = weak.lock();
          if (!st || st->stopped) co_return;
          auto [aec, sock] = co_await st->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
          if (aec) {
            if (aec == asio::error::operation_aborted || st->stopped) co_return;
            continue;  // EMFILE and friends: keep serving
          }
          auto stream = std::make_shared<beast::tcp_stream>(std::move(sock));
          std::erase_if(st->conns, [](const auto& w) { return w.expired(); });
          st->conns.push_back(stream);
          asio::co_spawn(io, serve_connection(stream, st), asio::detached);
        }
      },
      asio::detached);
  return absl::OkStatus();
}

void AdminServer::stop() {
  if (!state_ || state_->stopped) return;
  state_->stopped = true;
  beast::error_code ec;
  state_->acceptor.close(ec);
  for (auto& w : state_->conns) {
    if (auto s = w.lock()) s->socket().close(ec);
  }
  state_->conns.clear();
}

}  // namespace ambit::admin
