// The test world of the HBONE HTTP/2 tests, shared by h2_test.cc (data path, abuse) and
// h2_cve_test.cc (regression tests named after CVEs): an in-process HBONE server Connection over
// real loopback TCP and real TLS 1.3 mTLS with CA-issued SPIFFE certificates, answering CONNECT by
// dialling in-test backends; client Connections whose streams are spliced to loopback socket pairs
// the test reads and writes; and a raw HTTP/2 client (hand-written frames) for what a
// well-behaved client never sends.
//
// Threads: every Connection, backend and acceptor lives on one io_context run by one thread (as
// on a ztunnel worker); the test thread only touches them through on_io(). The test's own socket
// ends are blocking with send/receive timeouts, so every wait is bounded.
//
// Everything here is inline in namespace h2test: two test files of one binary include it.
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/base/strings.h"
#include "common/base/unique_fd.h"
#include "common/crypto/ca.h"
#include "common/net/ip_addr.h"
#include "common/tls/tls_context.h"
#include "common/hbone/h2/connection.h"


namespace h2test {


namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using ambit::SpiffeId;
using ambit::str_cat;
using ambit::UniqueFd;
using ambit::hbone::TlsSocket;
using ambit::hbone::h2::Connection;
using ambit::hbone::h2::Headers;
using ambit::hbone::h2::Hooks;
using ambit::hbone::h2::Settings;
using ambit::hbone::h2::StreamStats;
namespace crypto = ambit::crypto;
namespace tls = ambit::tls;

// Upper bound of every wait in this file (never a performance expectation).
constexpr auto kWait = 30s;
constexpr int kSocketTimeoutSec = 30;
const std::string kDenied = "denied.example:80";  // the test server answers 401 for it

template <typename T>
T wait(std::future<T>& f) {
  REQUIRE(f.wait_for(kWait) == std::future_status::ready);
  return f.get();
}
template <typename T>
T wait(std::shared_future<T>& f) {
  REQUIRE(f.wait_for(kWait) == std::future_status::ready);
  return f.get();
}

// Polls `pred` until it holds or the bound passes.
template <typename P>
inline bool eventually(P pred, std::chrono::steady_clock::duration bound = kWait) {
  auto end = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

// A thread-safe queue for results produced on the io thread.
template <typename T>
class Mailbox {
 public:
  void push(T v) {
    std::lock_guard l(mu_);
    q_.push_back(std::move(v));
    cv_.notify_all();
  }
  std::optional<T> pop() {
    std::unique_lock l(mu_);
    if (!cv_.wait_for(l, kWait, [&] { return !q_.empty(); })) return std::nullopt;
    T v = std::move(q_.front());
    q_.pop_front();
    return v;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> q_;
};

// ------------------------------------------------------------------------------------------------
// Test-side sockets

inline void set_timeouts(int fd) {
  timeval tv{kSocketTimeoutSec, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

inline sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

inline UniqueFd dial(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  set_timeouts(fd.get());
  sockaddr_in a = loopback(port);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  return fd;
}

// A connected loopback TCP pair: {test end, proxy end}.
inline std::pair<UniqueFd, UniqueFd> tcp_pair() {
  UniqueFd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(l);
  sockaddr_in a = loopback(0);
  REQUIRE(::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  REQUIRE(::listen(l.get(), 1) == 0);
  socklen_t len = sizeof(a);
  REQUIRE(::getsockname(l.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
  UniqueFd c = dial(ntohs(a.sin_port));
  UniqueFd s(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(s);
  return {std::move(c), std::move(s)};
}

inline bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

inline std::string recv_n(int fd, size_t n) {
  std::string out;
  char buf[16384];
  while (out.size() < n) {
    ssize_t r = ::recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

struct ReadResult {
  std::string data;
  bool eof = false;  // orderly end of stream
  int err = 0;       // errno of the failed read, if one failed
};

inline ReadResult recv_to_eof(int fd, size_t limit = 1 << 20) {
  ReadResult r;
  char buf[16384];
  while (r.data.size() <= limit) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      r.eof = true;
      break;
    }
    if (n < 0) {
      r.err = errno;
      break;
    }
    r.data.append(buf, static_cast<size_t>(n));
  }
  return r;
}

// Deterministic content: byte i of a stream is a function of i, so 64 MiB need not be stored.
inline char pattern(uint64_t i) { return static_cast<char>((i * 2654435761u) >> 13); }

// ------------------------------------------------------------------------------------------------
// PKI

struct Pki {
  crypto::CertificateAuthority ca =
      *crypto::CertificateAuthority::create_root("cluster.local", 24h * 365);
  std::shared_ptr<const crypto::TrustBundle> bundle =
      *crypto::TrustBundle::from_pem(ca.root_pem(), "cluster.local");
  tls::Credentials creds(const SpiffeId& who) const {
    auto key = crypto::PrivateKey::generate_p256();
    REQUIRE(key.ok());
    auto pems = ca.sign_key(key->get(), who, 24h);
    REQUIRE(pems.ok());
    std::string chain;
    for (auto& p : *pems) chain += p;
    auto c = tls::Credentials::from_pem(chain, key->to_pem());
    REQUIRE(c.ok());
    return std::move(*c);
  }
};

const SpiffeId kServerId = *SpiffeId::parse("spiffe://cluster.local/ns/server/sa/server");
const SpiffeId kClientId = *SpiffeId::parse("spiffe://cluster.local/ns/client/sa/client");

// ------------------------------------------------------------------------------------------------
// The world: HBONE server, backends, client connections, all on one io thread.

struct ClientConn {
  std::shared_ptr<Connection> conn;
  std::shared_ptr<tls::PeerVerification> verify;
  std::shared_future<absl::Status> closed;
};

struct ClientStream {
  UniqueFd fd;  // the test's end of the app connection
  int32_t id = 0;
  std::shared_future<int> status;        // the response :status (0: none)
  std::shared_future<StreamStats> done;  // the client stream finished
};

struct ServerStream {
  std::weak_ptr<Connection> conn;
  int32_t id;
  std::string authority;
};

class World {
 public:
  World() : work_(asio::make_work_guard(io_)) {
    // As ztunnel's main() does: OpenSSL writes without MSG_NOSIGNAL, and both the server and the
    // raw client here write to peers that reset.
    std::signal(SIGPIPE, SIG_IGN);
    server_ctx_ = *tls::TlsContext::server(pki_.creds(kServerId), pki_.bundle);
    client_ctx_ = *tls::TlsContext::client(pki_.creds(kClientId), pki_.bundle);
    hbone_port_ = listen(hbone_, [this](tcp::socket s) { return serve_hbone(std::move(s)); });
    echo_port_ = listen(echo_, [](tcp::socket s) { return echo(std::move(s)); });
    count_port_ = listen(count_, [](tcp::socket s) { return count(std::move(s)); });
    greet_port_ = listen(greet_, [this](tcp::socket s) { return greet(std::move(s)); });
    hold_port_ = listen(hold_, [this](tcp::socket s) { return hold(std::move(s)); });
    mute_port_ = listen(mute_, [this](tcp::socket s) { return mute(std::move(s)); });
    blast_port_ = listen(blast_, [](tcp::socket s) { return blast(std::move(s)); });
    deaf_port_ = listen(deaf_, [this](tcp::socket s) { return deaf(std::move(s)); });
    thread_ = std::thread([this] { io_.run(); });
  }

  ~World() {
    // Close everything on the io thread, then stop it; pending handlers die with io_.
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    asio::post(io_, [this, done] {
      for (auto& c : client_conns_) c->close(absl::CancelledError("test over"));
      for (auto& w : server_conns_) {
        if (auto c = w.lock()) c->close(absl::CancelledError("test over"));
      }
      boost::system::error_code ec;
      for (auto* a : {&hbone_, &echo_, &count_, &greet_, &hold_, &mute_, &blast_, &deaf_}) a->close(ec);
      deafened_.clear();
      muted_.clear();
      done->set_value();
    });
    (void)f.wait_for(kWait);
    work_.reset();
    io_.stop();
    thread_.join();
  }

  template <typename F>
  auto on_io(F&& f) {
    using R = std::invoke_result_t<F>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(f));
    auto fut = task->get_future();
    asio::post(io_, [task] { (*task)(); });
    REQUIRE(fut.wait_for(kWait) == std::future_status::ready);
    return fut.get();
  }

  // Blocks the io thread until the returned function is called (or the bound passes), so the
  // test can queue bytes that the server then parses in one go.
  std::function<void()> block_io() {
    auto entered = std::make_shared<std::promise<void>>();
    auto release = std::make_shared<std::promise<void>>();
    auto ef = entered->get_future();
    asio::post(io_, [entered, rf = release->get_future().share()] {
      entered->set_value();
      rf.wait_for(kWait);
    });
    REQUIRE(ef.wait_for(kWait) == std::future_status::ready);
    return [release] { release->set_value(); };
  }

  // A client Connection to `port` (default: the HBONE server).
  ClientConn& connect(Settings settings = {}, uint16_t port = 0) {
    if (port == 0) port = hbone_port_;
    auto fut = asio::co_spawn(io_, dial_h2(settings, port), asio::use_future);
    REQUIRE(fut.wait_for(kWait) == std::future_status::ready);
    auto cc = fut.get();
    REQUIRE(cc);
    return *cc;
  }

  // Opens a CONNECT stream on `cc`; a 200 attaches it to a fresh loopback pair whose test end is
  // returned.
  ClientStream open(ClientConn& cc, const std::string& authority, Headers extra = {}) {
    Headers req = {{":method", "CONNECT"}, {":authority", authority}};
    for (auto& h : extra) req.push_back(h);
    return open_raw(cc, req);
  }
  // The same with small, fixed socket buffers on both ends of the app pair: a test end that does
  // not read then leaves what arrives in the client Connection's own buffer.
  ClientStream open_small_buffers(ClientConn& cc, const std::string& authority) {
    return open_raw(cc, {{":method", "CONNECT"}, {":authority", authority}}, true);
  }

  ClientStream open_raw(ClientConn& cc, const Headers& req, bool small_buffers = false) {
    auto [test_end, proxy_end] = tcp_pair();
    if (small_buffers) {
      int small = 4096;
      setsockopt(test_end.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
      setsockopt(proxy_end.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    }
    auto status = std::make_shared<std::promise<int>>();
    auto done = std::make_shared<std::promise<StreamStats>>();
    ClientStream out;
    out.fd = std::move(test_end);
    out.status = status->get_future().share();
    out.done = done->get_future().share();
    int raw = proxy_end.release();
    auto r = on_io([&]() -> absl::StatusOr<int32_t> {
      auto app = std::make_shared<tcp::socket>(io_);
      app->assign(tcp::v4(), raw);
      auto id = std::make_shared<int32_t>(0);
      std::weak_ptr<Connection> weak = cc.conn;
      auto sid = cc.conn->open_stream(req, [weak, id, app, status, done](int st, const Headers&) {
        status->set_value(st);
        auto c = weak.lock();
        if (st == 200 && c) {
          c->attach(*id, std::move(*app), [done](const StreamStats& s) { done->set_value(s); });
        } else {
          StreamStats s;
          s.error = str_cat("no tunnel: status ", st);
          done->set_value(s);
        }
      });
      if (sid.ok()) *id = *sid;
      return sid;
    });
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    out.id = *r;
    return out;
  }

  std::string addr(uint16_t port) const { return str_cat("127.0.0.1:", port); }
  std::string echo_addr() const { return addr(echo_port_); }
  uint16_t hbone_port() const { return hbone_port_; }
  uint16_t mute_port() const { return mute_port_; }
  uint16_t count_port() const { return count_port_; }
  uint16_t greet_port() const { return greet_port_; }
  uint16_t hold_port() const { return hold_port_; }
  uint16_t blast_port() const { return blast_port_; }
  uint16_t deaf_port() const { return deaf_port_; }
  const tls::TlsContext& client_ctx() const { return *client_ctx_; }
  const Pki& pki() const { return pki_; }

  // Server-side observations (io thread writes, anyone reads).
  std::atomic<int> accepted{0};
  std::atomic<int> protocol_errors{0};
  std::atomic<int> server_closed{0};
  std::atomic<int> requests{0};
  std::atomic<int> server_streams_done{0};
  Mailbox<std::string> greet_received;            // what the greet backend read after its FIN
  Mailbox<boost::system::error_code> hold_ended;  // how a hold backend connection ended
  Mailbox<absl::Status> server_close_reasons;     // each server connection's on_closed
  // io thread only
  std::vector<std::weak_ptr<Connection>> server_conns_;
  std::vector<ServerStream> server_streams_;
  std::vector<std::string> server_peers_;

 private:
  using Handler = std::function<asio::awaitable<void>(tcp::socket)>;

  uint16_t listen(tcp::acceptor& a, Handler h) {
    a.open(tcp::v4());
    a.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    a.listen();
    asio::co_spawn(io_, accept_loop(a, std::move(h)), asio::detached);
    return a.local_endpoint().port();
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& a, Handler h) {
    for (;;) {
      auto [ec, s] = co_await a.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(io_, h(std::move(s)), asio::detached);
    }
  }

  asio::awaitable<void> serve_hbone(tcp::socket s) {
    accepted++;
    auto verify = std::make_shared<tls::PeerVerification>();
    verifications_.push_back(verify);
    auto t = TlsSocket::create(std::move(s), *server_ctx_, verify.get());
    if (!t.ok()) co_return;
    absl::Status st = co_await (*t)->handshake();
    if (!st.ok() || (*t)->alpn() != "h2") co_return;
    server_peers_.push_back(verify->peer ? verify->peer->to_string() : "");
    auto holder = std::make_shared<std::weak_ptr<Connection>>();
    Hooks hooks;
    hooks.on_request = [this, holder](int32_t sid, const Headers& h) {
      if (auto c = holder->lock()) handle_request(c, sid, h);
    };
    hooks.on_protocol_error = [this](uint32_t, const std::string&) { protocol_errors++; };
    hooks.on_closed = [this](const absl::Status& why) {
      server_close_reasons.push(why);
      server_closed++;
    };
    auto conn = Connection::create(Connection::Role::kServer, std::move(*t), Settings{}, hooks);
    *holder = conn;
    server_conns_.push_back(conn);
    conn->start();
  }

  void handle_request(const std::shared_ptr<Connection>& c, int32_t sid, const Headers& h) {
    requests++;
    std::string method, authority;
    for (const auto& [k, v] : h) {
      if (k == ":method") method = v;
      if (k == ":authority") authority = v;
    }
    server_streams_.push_back({c, sid, authority});
    if (method != "CONNECT") return c->respond(sid, 400);
    if (authority == kDenied) return c->respond(sid, 401);
    auto dst = ambit::net::SocketAddr::parse(authority);
    if (!dst) return c->respond(sid, 400);
    auto app = std::make_shared<tcp::socket>(io_);
    tcp::endpoint ep(asio::ip::make_address(dst->ip.to_string()), dst->port);
    app->async_connect(ep, [this, c, sid, app](boost::system::error_code ec) {
      if (ec) return c->respond(sid, 503);
      c->respond(sid, 200);
      c->attach(sid, std::move(*app), [this](const StreamStats&) { server_streams_done++; });
    });
  }

  asio::awaitable<std::optional<std::reference_wrapper<ClientConn>>> dial_h2(Settings settings,
                                                                             uint16_t port);

  // Backends.
  static asio::awaitable<void> echo(tcp::socket s) {
    std::vector<char> buf(64 * 1024);
    for (;;) {
      auto [ec, n] =
          co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
      if (ec) {
        boost::system::error_code ig;
        if (ec == asio::error::eof) s.shutdown(tcp::socket::shutdown_send, ig);
        co_return;
      }
      auto [wec, m] = co_await asio::async_write(s, asio::buffer(buf.data(), n),
                                                 asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;
    }
  }
  // Accepts and never reads: the tunnel towards it fills up and stays full.
  asio::awaitable<void> deaf(tcp::socket s) {
    deafened_.push_back(std::make_unique<tcp::socket>(std::move(s)));
    co_return;
  }
  // A download: writes kBlastBytes at once, then waits for the client to go.
  static constexpr size_t kBlastBytes = 16u << 20;
  static asio::awaitable<void> blast(tcp::socket s) {
    std::vector<char> chunk(256 * 1024, 'x');
    for (size_t sent = 0; sent < kBlastBytes; sent += chunk.size()) {
      auto [ec, n] = co_await asio::async_write(s, asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
    }
    char b;
    co_await s.async_read_some(asio::buffer(&b, 1), asio::as_tuple(asio::use_awaitable));
  }
  // Reads to EOF, then answers "count=<bytes>" and closes.
  static asio::awaitable<void> count(tcp::socket s) {
    std::vector<char> buf(64 * 1024);
    size_t total = 0;
    for (;;) {
      auto [ec, n] =
          co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
      total += n;
      if (ec == asio::error::eof) break;
      if (ec) co_return;
    }
    std::string reply = str_cat("count=", total);
    co_await asio::async_write(s, asio::buffer(reply), asio::as_tuple(asio::use_awaitable));
    boost::system::error_code ig;
    s.shutdown(tcp::socket::shutdown_send, ig);
  }
  // Says hello and half-closes first; then reads what the client still sends.
  asio::awaitable<void> greet(tcp::socket s) {
    std::string hello = "hello\n";
    co_await asio::async_write(s, asio::buffer(hello), asio::as_tuple(asio::use_awaitable));
    boost::system::error_code ig;
    s.shutdown(tcp::socket::shutdown_send, ig);
    std::string got;
    std::vector<char> buf(16 * 1024);
    for (;;) {
      auto [ec, n] =
          co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
      got.append(buf.data(), n);
      if (ec) break;
    }
    greet_received.push(got);
  }
  // Reads and discards until the connection ends; reports how.
  asio::awaitable<void> hold(tcp::socket s) {
    std::vector<char> buf(16 * 1024);
    for (;;) {
      auto [ec, n] =
          co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
      if (ec) {
        hold_ended.push(ec);
        co_return;
      }
    }
  }
  // A TLS peer that completes the handshake and then never reads or answers anything.
  asio::awaitable<void> mute(tcp::socket s) {
    auto verify = std::make_shared<tls::PeerVerification>();
    verifications_.push_back(verify);
    auto t = TlsSocket::create(std::move(s), *server_ctx_, verify.get());
    if (!t.ok()) co_return;
    absl::Status st = co_await (*t)->handshake();
    if (st.ok()) muted_.push_back(std::move(*t));
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  Pki pki_;
  std::shared_ptr<const tls::TlsContext> server_ctx_, client_ctx_;
  tcp::acceptor hbone_{io_}, echo_{io_}, count_{io_}, greet_{io_}, hold_{io_}, mute_{io_}, blast_{io_},
      deaf_{io_};
  uint16_t hbone_port_ = 0, echo_port_ = 0, count_port_ = 0, greet_port_ = 0, hold_port_ = 0,
           mute_port_ = 0, blast_port_ = 0, deaf_port_ = 0;
  std::vector<std::unique_ptr<tcp::socket>> deafened_;
  std::vector<std::shared_ptr<tls::PeerVerification>> verifications_;
  std::vector<std::unique_ptr<TlsSocket>> muted_;
  std::vector<std::shared_ptr<Connection>> client_conns_;
  std::list<std::unique_ptr<ClientConn>> client_conns_list_;
  std::thread thread_;
};

inline asio::awaitable<std::optional<std::reference_wrapper<ClientConn>>> World::dial_h2(Settings settings,
                                                                                  uint16_t port) {
  tcp::socket s(io_);
  auto [ec] = co_await s.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                       asio::as_tuple(asio::use_awaitable));
  if (ec) co_return std::nullopt;
  auto cc = std::make_unique<ClientConn>();
  cc->verify = std::make_shared<tls::PeerVerification>();
  cc->verify->expected = {kServerId};
  auto t = TlsSocket::create(std::move(s), *client_ctx_, cc->verify.get());
  if (!t.ok()) co_return std::nullopt;
  absl::Status st = co_await (*t)->handshake();
  if (!st.ok() || (*t)->alpn() != "h2") co_return std::nullopt;
  auto closed = std::make_shared<std::promise<absl::Status>>();
  cc->closed = closed->get_future().share();
  Hooks hooks;
  hooks.on_closed = [closed](const absl::Status& why) { closed->set_value(why); };
  cc->conn = Connection::create(Connection::Role::kClient, std::move(*t), settings, hooks);
  cc->conn->start();
  client_conns_.push_back(cc->conn);
  ClientConn& ref = *cc;
  client_conns_list_.push_back(std::move(cc));
  co_return std::ref(ref);
}

// ------------------------------------------------------------------------------------------------
// A raw HTTP/2 client over blocking TLS, for sending what a well-behaved client never would.

enum FrameType : uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoaway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};
constexpr uint8_t kEndStream = 0x1;
constexpr uint8_t kAck = 0x1;
constexpr uint8_t kEndHeaders = 0x4;

struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string payload;
};

inline std::string u32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
}

inline std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload = {}) {
  size_t n = payload.size();
  std::string f{static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n),
                static_cast<char>(type), static_cast<char>(flags)};
  f += u32(stream & 0x7fffffff);
  f.append(payload.data(), payload.size());
  return f;
}

// HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` carries the pattern bits.
inline std::string hpack_int(uint32_t v, int prefix, uint8_t first) {
  uint32_t max = (1u << prefix) - 1;
  std::string out;
  if (v < max) {
    out.push_back(static_cast<char>(first | v));
    return out;
  }
  out.push_back(static_cast<char>(first | max));
  v -= max;
  while (v >= 128) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

// "Literal Header Field without Indexing — New Name" (RFC 7541 §6.2.2), no Huffman.
inline std::string hpack_literal(std::string_view name, std::string_view value) {
  std::string out(1, '\0');  // 0000 0000: without indexing, new name
  out += hpack_int(static_cast<uint32_t>(name.size()), 7, 0);
  out.append(name.data(), name.size());
  out += hpack_int(static_cast<uint32_t>(value.size()), 7, 0);
  out.append(value.data(), value.size());
  return out;
}

class RawClient {
 public:
  RawClient(uint16_t port, const tls::TlsContext& ctx) : fd_(dial(port)) {
    v_.expected = {kServerId};
    auto ssl = ctx.new_connection(&v_);
    REQUIRE(ssl.ok());
    ssl_ = std::move(*ssl);
    REQUIRE(SSL_set_fd(ssl_.get(), fd_.get()) == 1);
    REQUIRE(SSL_connect(ssl_.get()) == 1);
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl_.get(), &p, &len);
    REQUIRE(std::string(reinterpret_cast<const char*>(p), len) == "h2");
  }

  // Preface + empty SETTINGS; reads until the server's SETTINGS and acknowledges them.
  void start() {
    REQUIRE(write(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + frame(kSettings, 0, 0)));
    for (int i = 0; i < 16; ++i) {
      auto f = read_frame();
      REQUIRE(f);
      if (f->type == kSettings && !(f->flags & kAck)) {
        REQUIRE(write(frame(kSettings, kAck, 0)));
        return;
      }
    }
    FAIL("no SETTINGS from the server");
  }

  bool write(std::string_view b) {
    while (!b.empty()) {
      size_t n = 0;
      if (SSL_write_ex(ssl_.get(), b.data(), b.size(), &n) != 1) return false;
      b.remove_prefix(n);
    }
    return true;
  }

  // Writes `bytes` in chunks until done or the connection fails; returns bytes written.
  size_t flood(const std::string& bytes, size_t chunk = 32 * 1024) {
    size_t off = 0;
    while (off < bytes.size()) {
      size_t n = std::min(chunk, bytes.size() - off);
      if (!write(std::string_view(bytes).substr(off, n))) break;
      off += n;
    }
    return off;
  }

  std::optional<Frame> read_frame() {
    if (!fill(9)) return std::nullopt;
    Frame f;
    auto b = reinterpret_cast<const uint8_t*>(buf_.data());
    size_t len = (size_t{b[0]} << 16) | (size_t{b[1]} << 8) | b[2];
    f.type = b[3];
    f.flags = b[4];
    f.stream = ((uint32_t{b[5]} << 24) | (uint32_t{b[6]} << 16) | (uint32_t{b[7]} << 8) | b[8]) &
               0x7fffffff;
    if (!fill(9 + len)) return std::nullopt;
    f.payload = buf_.substr(9, len);
    buf_.erase(0, 9 + len);
    return f;
  }

  // Reads frames until a GOAWAY (returned) or the end of the connection; bounded in frames and
  // time. Counts what it skipped.
  std::optional<Frame> read_until_goaway(size_t max_frames = 1'000'000) {
    auto end = std::chrono::steady_clock::now() + kWait;
    for (size_t i = 0; i < max_frames && std::chrono::steady_clock::now() < end; ++i) {
      auto f = read_frame();
      if (!f) return std::nullopt;
      ++seen_[f->type];
      if (f->type == kGoaway) return f;
    }
    return std::nullopt;
  }

  size_t seen(uint8_t type) const { return seen_.count(type) ? seen_.at(type) : 0; }
  int fd() const { return fd_.get(); }

 private:
  bool fill(size_t n) {
    char tmp[16384];
    while (buf_.size() < n) {
      size_t got = 0;
      if (SSL_read_ex(ssl_.get(), tmp, sizeof(tmp), &got) != 1) return false;
      buf_.append(tmp, got);
    }
    return true;
  }

  UniqueFd fd_;
  tls::PeerVerification v_;
  crypto::SslPtr ssl_;
  std::string buf_;
  std::map<uint8_t, size_t> seen_;
};

inline uint32_t goaway_error(const Frame& f) {
  REQUIRE(f.payload.size() >= 8);
  auto b = reinterpret_cast<const uint8_t*>(f.payload.data());
  return (uint32_t{b[4]} << 24) | (uint32_t{b[5]} << 16) | (uint32_t{b[6]} << 8) | b[7];
}

// The server still serves a normal client after an attack.
inline void check_server_healthy(World& w) {
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.echo_addr());
  REQUIRE(wait(s.status) == 200);
  REQUIRE(send_all(s.fd.get(), "still alive"));
  CHECK(recv_n(s.fd.get(), 11) == "still alive");
  ::shutdown(s.fd.get(), SHUT_WR);
  CHECK(recv_to_eof(s.fd.get()).eof);
}


// ------------------------------------------------------------------------------------------------
// Abuse helpers


inline std::string connect_block(const std::string& authority) {
  return hpack_literal(":method", "CONNECT") + hpack_literal(":authority", authority);
}

// The attacker reads a GOAWAY with an error code; the server counted the violation exactly once
// (by the time the GOAWAY is on the wire, every report has been made) and closed the connection
// with a reason that is not OK.
inline void expect_goaway_and_count(World& w, RawClient& rc, uint32_t want_error) {
  auto g = rc.read_until_goaway();
  REQUIRE_MESSAGE(g, "no GOAWAY before the connection ended");
  CHECK(goaway_error(*g) == want_error);
  CHECK(w.protocol_errors == 1);
  auto why = w.server_close_reasons.pop();
  REQUIRE(why);
  CHECK_MESSAGE(!why->ok(), why->ToString());
  check_server_healthy(w);
  CHECK(w.protocol_errors == 1);
}

// Queues the whole flood while the server's thread is held, so the server parses all of it
// before it can write anything: its queue of ACKs is what has to overflow.
inline void flood_while_blocked(World& w, RawClient& rc, const std::string& burst) {
  auto release = w.block_io();
  auto writer = std::async(std::launch::async, [&] { return rc.flood(burst); });
  // The flood fits in the socket buffers, so the writer finishes while the server is held; the
  // bound only matters if it does not.
  writer.wait_for(10s);
  release();
  writer.get();
}


// Decodes the server's response HEADERS (HPACK needs the connection's dynamic table, so one
// decoder per raw connection) and returns :status, 0 if absent.
class StatusDecoder {
 public:
  StatusDecoder() { REQUIRE(nghttp2_hd_inflate_new(&inflater_) == 0); }
  ~StatusDecoder() { nghttp2_hd_inflate_del(inflater_); }
  StatusDecoder(const StatusDecoder&) = delete;
  StatusDecoder& operator=(const StatusDecoder&) = delete;

  int status(const Frame& headers) {
    REQUIRE(headers.type == kHeaders);
    REQUIRE_MESSAGE((headers.flags & kEndHeaders), "response HEADERS split into CONTINUATION");
    auto in = reinterpret_cast<const uint8_t*>(headers.payload.data());
    size_t len = headers.payload.size();
    int status = 0;
    for (;;) {
      nghttp2_nv nv;
      int flags = 0;
      ssize_t n = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, len, 1);
      REQUIRE(n >= 0);
      in += n;
      len -= static_cast<size_t>(n);
      if (flags & NGHTTP2_HD_INFLATE_EMIT) {
        std::string name(reinterpret_cast<const char*>(nv.name), nv.namelen);
        if (name == ":status") status = std::atoi(std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen).c_str());
      }
      if (flags & NGHTTP2_HD_INFLATE_FINAL) break;
      if (n == 0 && len == 0) break;
    }
    nghttp2_hd_inflate_end_headers(inflater_);
    return status;
  }

 private:
  nghttp2_hd_inflater* inflater_ = nullptr;
};

// Reads frames until the response HEADERS of `stream`; decodes every HEADERS on the way so the
// decoder's table stays in step. Returns the frame (nullopt: the connection ended first).
inline std::optional<Frame> read_response(RawClient& rc, StatusDecoder& dec, uint32_t stream, int* status) {
  for (int i = 0; i < 10000; ++i) {
    auto f = rc.read_frame();
    if (!f) return std::nullopt;
    if (f->type == kHeaders) {
      int st = dec.status(*f);
      if (f->stream == stream) {
        *status = st;
        return f;
      }
    }
  }
  return std::nullopt;
}

}  // namespace h2test
