#include "apps/echo/client.h"

#include <fmt/format.h>
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cmath>
#include <memory>

#include "absl/status/statusor.h"
#include "common/base/log.h"
#include "common/base/strings.h"

namespace ambit::echo {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct Target {
  std::string host, port, path = "/";
  std::string authority;  // host:port as written, for Host / :authority
};

absl::StatusOr<Target> parse_target(std::string_view t, bool tcp_mode) {
  Target out;
  if (!tcp_mode) {
    if (!starts_with(t, "http://")) return absl::InvalidArgumentError("target must be http://host[:port]/path (host:port with --tcp)");
    t.remove_prefix(7);
    if (size_t slash = t.find('/'); slash != std::string_view::npos) {
      out.path = std::string(t.substr(slash));
      t = t.substr(0, slash);
    }
  }
  out.authority = std::string(t);
  std::string_view host = t, port = tcp_mode ? "" : "80";
  if (size_t c = t.rfind(':'); c != std::string_view::npos && t.find(']', c) == std::string_view::npos) {
    host = t.substr(0, c);
    port = t.substr(c + 1);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || port.empty()) return absl::InvalidArgumentError(str_cat("target needs host:port: ", t));
  out.host = std::string(host);
  out.port = std::string(port);
  return out;
}

// Lines that carry their own offset: a lost, duplicated or reordered chunk is visible.
std::string make_payload(size_t size) {
  std::string p;
  p.reserve(size + 32);
  while (p.size() < size) p += fmt::format("{:015d} ambit-echo\n", p.size());
  p.resize(size);
  return p;
}

std::string reason(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return "timeout";
  if (ec == asio::error::connection_refused) return "connection refused";
  if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe) return "connection reset";
  if (ec == asio::error::eof || ec == http::error::end_of_stream || ec == http::error::partial_message) {
    return "connection closed by peer";
  }
  return ec.message();
}

struct Outcome {
  std::string error;  // empty: success
  std::string body;
};

Outcome failure(std::string why) { return Outcome{std::move(why), {}}; }

Outcome check_status(int status, std::string body) {
  return Outcome{status < 200 || status > 299 ? str_cat("HTTP ", status) : "", std::move(body)};
}

struct Run {
  Run(const ClientOptions& opts, Target t) : o(opts), target(std::move(t)), timeout(opts.timeout_ms) {}
  const ClientOptions& o;
  Target target;
  tcp::resolver::results_type endpoints;
  std::chrono::milliseconds timeout;
  std::string payload;
  int next = 0, ok = 0, failed = 0;
  std::vector<double> latencies_ms;
  bool body_shown = false;
};

asio::awaitable<boost::system::error_code> connect(beast::tcp_stream& s, const Run& run) {
  auto [ec, ep] = co_await s.async_connect(run.endpoints, kTuple);
  if (!ec) s.socket().set_option(tcp::no_delay(true), ec);
  co_return ec;
}

asio::awaitable<void> send_all(beast::tcp_stream& s, std::string_view data) {
  co_await asio::async_write(s, asio::buffer(data), asio::use_awaitable);
  s.socket().shutdown(tcp::socket::shutdown_send);
}

asio::awaitable<std::string> read_all(beast::tcp_stream& s, size_t expected) {
  std::string got;
  std::array<char, 16384> buf;
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), kTuple);
    got.append(buf.data(), n);
    if (ec == asio::error::eof || got.size() > expected) co_return got;  // more than sent: wrong anyway
    if (ec) throw boost::system::system_error(ec);
  }
}

asio::awaitable<Outcome> tcp_request(Run& run) {
  beast::tcp_stream s(co_await asio::this_coro::executor);
  s.expires_after(run.timeout);
  if (auto ec = co_await connect(s, run)) co_return failure(reason(ec));
  std::string got;
  try {
    // Write and read at once: with a payload larger than the socket buffers, writing everything
    // first would deadlock against a server that stops reading while its echo cannot be sent.
    using namespace asio::experimental::awaitable_operators;
    got = co_await (send_all(s, run.payload) && read_all(s, run.payload.size()));
  } catch (const boost::system::system_error& e) {
    co_return failure(reason(e.code()));
  }
  if (got == run.payload) co_return Outcome{};
  size_t at = std::mismatch(got.begin(), got.end(), run.payload.begin(), run.payload.end()).first - got.begin();
  co_return failure(str_cat("echo mismatch: sent ", run.payload.size(), " bytes, got ", got.size(),
                            ", first difference at byte ", at));
}

struct H1Connection {
  beast::tcp_stream stream;
  beast::flat_buffer buf;
};

asio::awaitable<Outcome> http1_request(Run& run, std::unique_ptr<H1Connection>& conn) {
  bool fresh = !conn;
  // The executor is fetched in its own statement: GCC 12 mishandles temporaries in a full
  // expression that also contains co_await (destroys them twice).
  auto ex = co_await asio::this_coro::executor;
  if (fresh) conn.reset(new H1Connection{beast::tcp_stream(ex), {}});
  conn->stream.expires_after(run.timeout);
  if (fresh) {
    if (auto ec = co_await connect(conn->stream, run)) co_return failure(reason(ec));
  }
  http::request<http::empty_body> req{http::verb::get, run.target.path, 11};
  req.set(http::field::host, run.target.authority);
  req.set(http::field::user_agent, "ambit-echo");
  req.keep_alive(!run.o.new_connection);
  auto [ec, n] = co_await http::async_write(conn->stream, req, kTuple);
  if (ec) co_return failure(reason(ec));
  http::response<http::string_body> res;
  std::tie(ec, n) = co_await http::async_read(conn->stream, conn->buf, res, kTuple);
  if (ec) co_return failure(reason(ec));
  if (!res.keep_alive()) conn.reset();
  co_return check_status(res.result_int(), std::move(res.body()));
}

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
          const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};  // nghttp2 copies them
}

// HTTP/2 with prior knowledge, one request at a time: concurrency comes from several
// connections, as with HTTP/1.1 keep-alive.
struct H2Connection {
  explicit H2Connection(asio::any_io_executor ex) : stream(std::move(ex)) {
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t namelen, const uint8_t* value,
                size_t valuelen, uint8_t, void* user) {
          auto* c = static_cast<H2Connection*>(user);
          const char* v = reinterpret_cast<const char*>(value);
          if (f->hd.stream_id == c->stream_id && std::string_view(reinterpret_cast<const char*>(name), namelen) == ":status") {
            std::from_chars(v, v + valuelen, c->status);
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
          auto* c = static_cast<H2Connection*>(user);
          if (id == c->stream_id) c->body.append(reinterpret_cast<const char*>(data), len);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
          auto* c = static_cast<H2Connection*>(user);
          if (id != c->stream_id) return 0;
          c->done = true;
          if (error_code != NGHTTP2_NO_ERROR) c->error = str_cat("HTTP/2 stream reset (", nghttp2_http2_strerror(error_code), ")");
          return 0;
        });
    nghttp2_session_client_new(&session, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~H2Connection() { nghttp2_session_del(session); }
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  beast::tcp_stream stream;
  nghttp2_session* session = nullptr;
  int32_t stream_id = -1;  // the request in flight
  int status = 0;
  std::string body, error;
  bool done = false;
};

asio::awaitable<Outcome> h2_request(Run& run, std::unique_ptr<H2Connection>& conn) {
  bool fresh = !conn;
  auto ex = co_await asio::this_coro::executor;  // not in the expression below: see http1_request
  if (fresh) conn = std::make_unique<H2Connection>(ex);
  H2Connection& c = *conn;
  c.stream.expires_after(run.timeout);
  if (fresh) {
    if (auto ec = co_await connect(c.stream, run)) co_return failure(reason(ec));
  }
  nghttp2_nv nv[] = {make_nv(":method", "GET"), make_nv(":scheme", "http"), make_nv(":authority", run.target.authority),
                     make_nv(":path", run.target.path), make_nv("user-agent", "ambit-echo")};
  c.stream_id = nghttp2_submit_request(c.session, nullptr, nv, std::size(nv), nullptr, nullptr);
  if (c.stream_id < 0) co_return failure(str_cat("HTTP/2: ", nghttp2_strerror(c.stream_id)));
  c.status = 0;
  c.body.clear();
  c.error.clear();
  c.done = false;
  std::array<char, 16384> buf;
  while (!c.done) {
    std::string out;
    const uint8_t* data;
    for (ssize_t n; (n = nghttp2_session_mem_send(c.session, &data)) > 0;) out.append(reinterpret_cast<const char*>(data), n);
    if (!out.empty()) {
      auto [ec, n] = co_await asio::async_write(c.stream, asio::buffer(out), kTuple);
      if (ec) co_return failure(reason(ec));
    }
    if (!nghttp2_session_want_read(c.session)) co_return failure("HTTP/2 connection closed (GOAWAY)");
    auto [ec, n] = co_await c.stream.async_read_some(asio::buffer(buf), kTuple);
    if (ec) co_return failure(reason(ec));
    if (ssize_t rv = nghttp2_session_mem_recv(c.session, reinterpret_cast<const uint8_t*>(buf.data()), n); rv < 0) {
      co_return failure(str_cat("HTTP/2 protocol error: ", nghttp2_strerror(static_cast<int>(rv))));
    }
  }
  if (!c.error.empty()) co_return failure(c.error);
  co_return check_status(c.status, std::move(c.body));
}

// One concurrency slot: takes the next request number until all are taken.
asio::awaitable<void> worker(Run& run) {
  std::unique_ptr<H1Connection> h1;
  std::unique_ptr<H2Connection> h2;
  while (run.next < run.o.count) {
    int i = run.next++;
    auto start = std::chrono::steady_clock::now();
    Outcome o;
    if (run.o.tcp) o = co_await tcp_request(run);
    else if (run.o.http2) o = co_await h2_request(run, h2);
    else o = co_await http1_request(run, h1);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (run.o.show_body && !run.body_shown && !o.body.empty()) {
      fmt::print("{}{}", o.body, o.body.ends_with('\n') ? "" : "\n");
      run.body_shown = true;
    }
    if (o.error.empty()) {
      run.ok++;
      run.latencies_ms.push_back(ms);
    } else {
      run.failed++;
      fmt::print("request {} failed: {} after {:.2f} ms\n", i, o.error, ms);
      h1.reset();  // a connection that failed once is not trusted with the next request
      h2.reset();
    }
    std::fflush(stdout);
    if (run.o.new_connection) {
      h1.reset();
      h2.reset();
    }
  }
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

int run_client(const ClientOptions& o) {
  auto target = parse_target(o.target, o.tcp);
  if (!target.ok()) {
    fmt::print(stderr, "ambit-echo client: {}\n", target.status().message());
    return 2;
  }
  asio::io_context io;
  Run run(o, *target);
  boost::system::error_code ec;
  run.endpoints = tcp::resolver(io).resolve(run.target.host, run.target.port, ec);
  if (ec) {
    fmt::print("resolve {}: {}\n", run.target.host, ec.message());
    run.failed = o.count;
  } else {
    if (o.tcp) run.payload = make_payload(o.size);
    for (int i = 0; i < std::min(o.concurrency, o.count); ++i) asio::co_spawn(io, worker(run), asio::detached);
    io.run();
  }
  std::sort(run.latencies_ms.begin(), run.latencies_ms.end());
  fmt::print("summary: requests={} ok={} failed={} p50_ms={:.2f} p99_ms={:.2f} max_ms={:.2f}\n", o.count, run.ok,
             run.failed, percentile(run.latencies_ms, 0.5), percentile(run.latencies_ms, 0.99),
             run.latencies_ms.empty() ? 0.0 : run.latencies_ms.back());
  std::fflush(stdout);
  return run.ok == o.count && run.failed == 0 ? 0 : 1;
}

}  // namespace ambit::echo
