// In-process tests of ztunnel/proxy/h2/connection over real loopback TCP and real TLS 1.3 mTLS
// with CA-issued SPIFFE certificates: a server Connection answering CONNECT by dialling in-test
// backends, client Connections whose streams are spliced to loopback socket pairs the test reads
// and writes, and a raw HTTP/2 client (hand-written frames) for the abuse cases of
// hardening.md A5 (rapid reset, CONTINUATION, SETTINGS and PING floods).
//
// Threads: every Connection, backend and acceptor lives on one io_context run by one thread (as
// on a ztunnel worker); the test thread only touches them through on_io(). The test's own socket
// ends are blocking with send/receive timeouts, so every wait is bounded.
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
#include "ztunnel/proxy/h2/connection.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using ambit::SpiffeId;
using ambit::str_cat;
using ambit::UniqueFd;
using ambit::ztunnel::TlsSocket;
using ambit::ztunnel::h2::Connection;
using ambit::ztunnel::h2::Headers;
using ambit::ztunnel::h2::Hooks;
using ambit::ztunnel::h2::Settings;
using ambit::ztunnel::h2::StreamStats;
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
bool eventually(P pred, std::chrono::steady_clock::duration bound = kWait) {
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

void set_timeouts(int fd) {
  timeval tv{kSocketTimeoutSec, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

UniqueFd dial(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  set_timeouts(fd.get());
  sockaddr_in a = loopback(port);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  return fd;
}

// A connected loopback TCP pair: {test end, proxy end}.
std::pair<UniqueFd, UniqueFd> tcp_pair() {
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

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string recv_n(int fd, size_t n) {
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

ReadResult recv_to_eof(int fd, size_t limit = 1 << 20) {
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

asio::awaitable<std::optional<std::reference_wrapper<ClientConn>>> World::dial_h2(Settings settings,
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

std::string u32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload = {}) {
  size_t n = payload.size();
  std::string f{static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n),
                static_cast<char>(type), static_cast<char>(flags)};
  f += u32(stream & 0x7fffffff);
  f.append(payload.data(), payload.size());
  return f;
}

// HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` carries the pattern bits.
std::string hpack_int(uint32_t v, int prefix, uint8_t first) {
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
std::string hpack_literal(std::string_view name, std::string_view value) {
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

uint32_t goaway_error(const Frame& f) {
  REQUIRE(f.payload.size() >= 8);
  auto b = reinterpret_cast<const uint8_t*>(f.payload.data());
  return (uint32_t{b[4]} << 24) | (uint32_t{b[5]} << 16) | (uint32_t{b[6]} << 8) | b[7];
}

// The server still serves a normal client after an attack.
void check_server_healthy(World& w) {
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.echo_addr());
  REQUIRE(wait(s.status) == 200);
  REQUIRE(send_all(s.fd.get(), "still alive"));
  CHECK(recv_n(s.fd.get(), 11) == "still alive");
  ::shutdown(s.fd.get(), SHUT_WR);
  CHECK(recv_to_eof(s.fd.get()).eof);
}

}  // namespace

// ================================================================================================
// Data path

TEST_CASE("echo round trip over mTLS HTTP/2 CONNECT, both sides see the other's SPIFFE identity") {
  World w;
  ClientConn& cc = w.connect();
  REQUIRE(cc.verify->peer);
  CHECK(*cc.verify->peer == kServerId);

  ClientStream s = w.open(cc, w.echo_addr());
  CHECK(wait(s.status) == 200);
  REQUIRE(send_all(s.fd.get(), "hello through the tunnel"));
  CHECK(recv_n(s.fd.get(), 24) == "hello through the tunnel");
  REQUIRE(send_all(s.fd.get(), "second"));
  CHECK(recv_n(s.fd.get(), 6) == "second");
  ::shutdown(s.fd.get(), SHUT_WR);
  ReadResult r = recv_to_eof(s.fd.get());
  CHECK(r.eof);
  CHECK(r.data.empty());

  StreamStats st = wait(s.done);
  CHECK(st.reset_code == 0);
  CHECK(st.bytes_to_peer == 30);
  CHECK(st.bytes_to_app == 30);
  CHECK(w.on_io([&] { return w.server_peers_; }) ==
        std::vector<std::string>{kClientId.to_string()});
  CHECK(eventually([&] { return w.on_io([&] { return cc.conn->active_streams(); }) == 0; }));
  CHECK(w.on_io([&] { return cc.conn->usable(); }));
}

TEST_CASE("100 concurrent streams on one connection, each with its own bytes") {
  World w;
  ClientConn& cc = w.connect();
  constexpr int kStreams = 100;
  std::vector<ClientStream> streams;
  for (int i = 0; i < kStreams; ++i) streams.push_back(w.open(cc, w.echo_addr()));
  for (auto& s : streams) REQUIRE(wait(s.status) == 200);
  CHECK(w.on_io([&] { return cc.conn->active_streams(); }) == kStreams);
  // The client stops at the pool's per-connection cap (a pool opens a second connection then).
  CHECK_FALSE(w.on_io([&] { return cc.conn->usable(); }));
  auto extra = w.on_io([&] {
    return cc.conn->open_stream({{":method", "CONNECT"}, {":authority", "x:1"}}, nullptr);
  });
  CHECK(extra.status().code() == absl::StatusCode::kUnavailable);

  // Write everything first, then read: all streams are in flight at once.
  auto payload = [](int i) {
    std::string p;
    while (p.size() < 20000) p += str_cat("stream-", i, ";");
    return p;
  };
  for (int i = 0; i < kStreams; ++i) REQUIRE(send_all(streams[i].fd.get(), payload(i)));
  for (int i = 0; i < kStreams; ++i) {
    std::string want = payload(i);
    CHECK(recv_n(streams[i].fd.get(), want.size()) == want);
  }
  for (auto& s : streams) ::shutdown(s.fd.get(), SHUT_WR);
  for (auto& s : streams) {
    CHECK(recv_to_eof(s.fd.get()).eof);
    CHECK(wait(s.done).reset_code == 0);
  }
  CHECK(w.accepted == 1);
  CHECK(w.requests == kStreams);
  CHECK(eventually([&] { return w.server_streams_done == kStreams; }));
  CHECK(eventually([&] { return w.on_io([&] { return cc.conn->usable(); }); }));
}

TEST_CASE("64 MiB each way arrives byte-exact through flow control with a slow reader") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.echo_addr());
  REQUIRE(wait(s.status) == 200);
  constexpr uint64_t kTotal = 64ull << 20;

  std::atomic<bool> write_ok{true};
  std::thread writer([&] {
    std::string chunk(256 * 1024, '\0');
    for (uint64_t off = 0; off < kTotal; off += chunk.size()) {
      for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = pattern(off + i);
      if (!send_all(s.fd.get(), chunk)) {
        write_ok = false;
        return;
      }
    }
    ::shutdown(s.fd.get(), SHUT_WR);
  });

  uint64_t got = 0;
  uint64_t mismatches = 0;
  uint64_t first_bad = 0;
  std::vector<char> buf(256 * 1024);
  bool eof = false;
  int err = 0;
  while (true) {
    // Slow for the first 12 MiB (more than a stream window and the socket buffers), fast after.
    bool slow = got < (12ull << 20);
    size_t want = slow ? 16 * 1024 : buf.size();
    ssize_t n = ::recv(s.fd.get(), buf.data(), want, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      eof = true;
      break;
    }
    if (n < 0) {
      err = errno;
      break;
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != pattern(got + i)) {
        if (mismatches++ == 0) first_bad = got + i;
      }
    }
    got += static_cast<uint64_t>(n);
    if (slow) std::this_thread::sleep_for(1ms);
  }
  writer.join();
  CHECK(write_ok);
  CHECK(err == 0);
  CHECK(eof);
  CHECK(got == kTotal);
  CHECK_MESSAGE(mismatches == 0, "first mismatch at byte ", first_bad);
  StreamStats st = wait(s.done);
  CHECK(st.reset_code == 0);
  CHECK(st.bytes_to_peer == kTotal);
  CHECK(st.bytes_to_app == kTotal);
}

TEST_CASE("half-close: client FIN reaches the backend, and the backend's reply still arrives") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.addr(w.count_port()));
  REQUIRE(wait(s.status) == 200);
  REQUIRE(send_all(s.fd.get(), std::string(1000, 'x')));
  ::shutdown(s.fd.get(), SHUT_WR);
  // The backend answers only after it saw EOF.
  ReadResult r = recv_to_eof(s.fd.get());
  CHECK(r.data == "count=1000");
  CHECK(r.eof);
  CHECK(r.err == 0);
  CHECK(wait(s.done).reset_code == 0);
}

TEST_CASE("half-close: backend FIN reaches the client, and the client can still send") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.addr(w.greet_port()));
  REQUIRE(wait(s.status) == 200);
  ReadResult r = recv_to_eof(s.fd.get());
  CHECK(r.data == "hello\n");
  CHECK(r.eof);
  REQUIRE(send_all(s.fd.get(), "sent after the peer's FIN"));
  ::shutdown(s.fd.get(), SHUT_WR);
  auto got = w.greet_received.pop();
  REQUIRE(got);
  CHECK(*got == "sent after the peer's FIN");
  CHECK(wait(s.done).reset_code == 0);
}

TEST_CASE("RST_STREAM from the server resets the client's app socket (ECONNRESET)") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.addr(w.hold_port()));
  REQUIRE(wait(s.status) == 200);
  REQUIRE(send_all(s.fd.get(), "some bytes"));
  std::string hold = w.addr(w.hold_port());
  w.on_io([&] {
    for (auto& ss : w.server_streams_) {
      if (ss.authority == hold) {
        if (auto c = ss.conn.lock()) c->reset(ss.id, NGHTTP2_CANCEL);
      }
    }
  });
  ReadResult r = recv_to_eof(s.fd.get());
  CHECK(r.err == ECONNRESET);
  CHECK_FALSE(r.eof);
  StreamStats st = wait(s.done);
  CHECK(st.reset_code == NGHTTP2_CANCEL);
  // The server reset its own backend connection too.
  auto ended = w.hold_ended.pop();
  REQUIRE(ended);
  CHECK(*ended == asio::error::connection_reset);
  // The connection itself survives a stream reset.
  CHECK(w.on_io([&] { return cc.conn->usable(); }));
  ClientStream again = w.open(cc, w.echo_addr());
  CHECK(wait(again.status) == 200);
}

TEST_CASE("a client app reset resets the stream and the backend connection") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.addr(w.hold_port()));
  REQUIRE(wait(s.status) == 200);
  REQUIRE(send_all(s.fd.get(), "some bytes"));
  linger lg{1, 0};
  setsockopt(s.fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  s.fd.reset();  // RST
  StreamStats st = wait(s.done);
  CHECK(st.reset_code == NGHTTP2_CANCEL);
  auto ended = w.hold_ended.pop();
  REQUIRE(ended);
  CHECK(*ended == asio::error::connection_reset);
}

// Hardening finding 3: bytes held for a stream that is then reset used to be dropped without
// returning their share of the connection window. With a 1 MiB connection window and 256 KiB
// streams, eight aborted downloads would leave none, and the next stream would get its 200 and
// then no data, forever.
TEST_CASE("aborted downloads return their buffered bytes' window: the pooled connection keeps flowing") {
  World w;
  Settings small;
  small.stream_window = 256 * 1024;
  small.connection_window = 1024 * 1024;
  ClientConn& cc = w.connect(small);
  constexpr int kAborted = 8;
  for (int i = 0; i < kAborted; ++i) {
    ClientStream s = w.open_small_buffers(cc, w.addr(w.blast_port()));
    REQUIRE(wait(s.status) == 200);
    // The test end reads nothing: the download piles up in the client Connection.
    bool piled = eventually([&] { return w.on_io([&] { return cc.conn->pending_to_app(); }) >= 128 * 1024; });
    REQUIRE_MESSAGE(piled, "download ", i, " never filled the client's buffer");
    linger lg{1, 0};
    setsockopt(s.fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    s.fd.reset();  // the client app goes: RST
    StreamStats st = wait(s.done);
    CHECK(st.reset_code == NGHTTP2_CANCEL);
    CHECK(w.on_io([&] { return cc.conn->pending_to_app(); }) == 0);
  }
  // A new stream on the same connection: 2 MiB through the echo backend and back.
  ClientStream s = w.open(cc, w.echo_addr());
  REQUIRE(wait(s.status) == 200);
  constexpr size_t kBytes = 2u << 20;
  std::thread writer([&] {
    std::string chunk(64 * 1024, 'e');
    for (size_t off = 0; off < kBytes; off += chunk.size()) send_all(s.fd.get(), chunk);
    ::shutdown(s.fd.get(), SHUT_WR);
  });
  ReadResult r = recv_to_eof(s.fd.get(), kBytes);
  writer.join();
  CHECK_MESSAGE(r.data.size() == kBytes, "got ", r.data.size(), " bytes, errno ", r.err);
  CHECK(r.eof);
}

// Hardening finding 6: each stream read up to its own limit (256 KiB plus a 64 KiB read) from its
// app whatever the peer's windows said, so a connection whose peer stopped reading held 100 times
// that. Now the connection's streams share one budget.
TEST_CASE("apps writing into a connection whose peer stopped reading: the connection buffers at most its budget") {
  World w;
  Settings settings;
  settings.connection_send_buffer_limit = 512 * 1024;
  ClientConn& cc = w.connect(settings);
  constexpr int kStreams = 8;
  std::vector<ClientStream> streams;
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(w.open(cc, w.addr(w.deaf_port())));
    REQUIRE(wait(streams.back().status) == 200);
  }
  // Write from every app until none can write any more (the tunnel and the sockets are full),
  // sampling what the client Connection buffers all along.
  std::string chunk(64 * 1024, 'd');
  size_t most = 0, sent = 0;
  auto last_progress = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - last_progress < 1s && sent < (256u << 20)) {
    for (auto& s : streams) {
      ssize_t n = ::send(s.fd.get(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        last_progress = std::chrono::steady_clock::now();
      }
    }
    most = std::max(most, w.on_io([&] { return cc.conn->pending_to_peer(); }));
    std::this_thread::sleep_for(2ms);
  }
  INFO("sent ", sent, " bytes; the connection held at most ", most);
  CHECK(most >= settings.connection_send_buffer_limit / 2);  // the budget was really under pressure
  CHECK(most <= settings.connection_send_buffer_limit + 64 * 1024);  // one read past it, no more
}

TEST_CASE("a non-200 answer reaches on_response with its status, and the connection stays usable") {
  World w;
  ClientConn& cc = w.connect();
  // A port nothing listens on.
  uint16_t closed_port;
  {
    auto [a, b] = tcp_pair();
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    ::getsockname(b.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    closed_port = ntohs(addr.sin_port);
  }
  struct Case {
    const char* name;
    Headers req;
    int status;
  };
  const Case cases[] = {
      {"denied by policy", {{":method", "CONNECT"}, {":authority", kDenied}}, 401},
      {"unparsable authority", {{":method", "CONNECT"}, {":authority", "not-an-address"}}, 400},
      {"not CONNECT",
       {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {":authority", "a:1"}},
       400},
      {"upstream refused", {{":method", "CONNECT"}, {":authority", w.addr(closed_port)}}, 503},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    ClientStream s = w.open_raw(cc, c.req);
    CHECK(wait(s.status) == c.status);
    StreamStats st = wait(s.done);
    CHECK(st.bytes_to_peer == 0);
    // No tunnel: the app side is closed.
    ReadResult r = recv_to_eof(s.fd.get());
    CHECK(r.data.empty());
  }
  CHECK(eventually([&] { return w.on_io([&] { return cc.conn->active_streams(); }) == 0; }));
  CHECK(w.on_io([&] { return cc.conn->usable(); }));
  ClientStream ok = w.open(cc, w.echo_addr());
  CHECK(wait(ok.status) == 200);
}

TEST_CASE("drain: GOAWAY stops new streams while an open stream finishes, then both sides close") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.echo_addr());
  REQUIRE(wait(s.status) == 200);
  REQUIRE(send_all(s.fd.get(), "before"));
  REQUIRE(recv_n(s.fd.get(), 6) == "before");

  w.on_io([&] {
    for (auto& wc : w.server_conns_) {
      if (auto c = wc.lock()) c->drain();
    }
  });
  // The client learns of the GOAWAY: no new streams on this connection.
  CHECK(eventually([&] { return !w.on_io([&] { return cc.conn->usable(); }); }));
  auto refused = w.on_io([&] {
    return cc.conn->open_stream({{":method", "CONNECT"}, {":authority", "x:1"}}, nullptr);
  });
  CHECK(refused.status().code() == absl::StatusCode::kUnavailable);
  CHECK_FALSE(w.on_io([&] { return cc.conn->closed(); }));

  // The open stream still works both ways.
  REQUIRE(send_all(s.fd.get(), "during drain"));
  CHECK(recv_n(s.fd.get(), 12) == "during drain");
  ::shutdown(s.fd.get(), SHUT_WR);
  CHECK(recv_to_eof(s.fd.get()).eof);
  CHECK(wait(s.done).reset_code == 0);

  // Then the connection goes away on both sides.
  absl::Status why = wait(cc.closed);
  CHECK_MESSAGE(why.ok(), why.ToString());
  CHECK(eventually([&] { return w.server_closed == 1; }));
}

TEST_CASE("keepalive: a peer that stops answering PINGs is dropped after ping_timeout") {
  World w;
  Settings s;
  s.ping_interval = 1s;
  s.ping_timeout = 1s;
  ClientConn& cc = w.connect(s, w.mute_port());
  absl::Status why = wait(cc.closed);
  CHECK(why.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(w.on_io([&] { return cc.conn->closed(); }));
}

// ================================================================================================
// HTTP/2 abuse against the server (hardening.md A5). Each ends in a GOAWAY the attacker reads,
// the server counts it, and the server keeps serving others.

namespace {

std::string connect_block(const std::string& authority) {
  return hpack_literal(":method", "CONNECT") + hpack_literal(":authority", authority);
}

// The attacker reads a GOAWAY with an error code; the server counted the violation exactly once
// (by the time the GOAWAY is on the wire, every report has been made) and closed the connection
// with a reason that is not OK.
void expect_goaway_and_count(World& w, RawClient& rc, uint32_t want_error) {
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
void flood_while_blocked(World& w, RawClient& rc, const std::string& burst) {
  auto release = w.block_io();
  auto writer = std::async(std::launch::async, [&] { return rc.flood(burst); });
  // The flood fits in the socket buffers, so the writer finishes while the server is held; the
  // bound only matters if it does not.
  writer.wait_for(10s);
  release();
  writer.get();
}

}  // namespace

TEST_CASE("abuse: rapid reset (CVE-2023-44487) ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string block = connect_block(w.echo_addr());
  std::string burst;
  constexpr uint32_t kPairs = 5000;
  for (uint32_t i = 0; i < kPairs; ++i) {
    uint32_t sid = 1 + 2 * i;
    burst += frame(kHeaders, kEndHeaders, sid, block);
    burst += frame(kRstStream, 0, sid, u32(NGHTTP2_CANCEL));
  }
  rc.flood(burst);
  expect_goaway_and_count(w, rc, NGHTTP2_INTERNAL_ERROR /* nghttp2's rapid-reset limiter */);
}

// MadeYouReset: instead of resetting streams itself (which the rapid-reset limiter counts), the
// peer commits a stream error — here a connection-specific header, forbidden in HTTP/2 (RFC 9113
// 8.2.2), on each new stream — so that the server sends the RST_STREAM. The slots free up just the
// same; the server counts these resets too. (A zero WINDOW_UPDATE, the other classic trigger, is a
// connection error in this nghttp2.)
TEST_CASE("abuse: MadeYouReset (CVE-2025-8671), resets the peer provokes, ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string block = connect_block(w.echo_addr()) + hpack_literal("connection", "close");
  // In rounds of 50 streams, each round once the server has reset the previous one: the peer
  // never holds more streams open than allowed, it only has the server free them for it.
  constexpr uint32_t kRound = 50, kRounds = 60;
  uint32_t next = 1;
  std::optional<Frame> goaway;
  for (uint32_t r = 0; r < kRounds && !goaway; ++r) {
    std::string burst;
    for (uint32_t i = 0; i < kRound; ++i, next += 2) burst += frame(kHeaders, kEndHeaders, next, block);
    REQUIRE(rc.write(burst));
    for (uint32_t resets = 0; resets < kRound && !goaway;) {
      auto f = rc.read_frame();
      REQUIRE_MESSAGE(f, "connection ended in round ", r);
      if (f->type == kRstStream) ++resets;
      if (f->type == kGoaway) goaway = f;
    }
  }
  REQUIRE_MESSAGE(goaway, "3000 provoked resets and no GOAWAY");
  CHECK(goaway_error(*goaway) == NGHTTP2_ENHANCE_YOUR_CALM);
  CHECK(w.protocol_errors == 1);
  check_server_healthy(w);
}

TEST_CASE("abuse: CONTINUATION flood (CVE-2024-27316 family) ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string burst = frame(kHeaders, 0, 1, connect_block(w.echo_addr()));
  for (int i = 0; i < 10000; ++i)
    burst += frame(kContinuation, 0, 1, hpack_literal(str_cat("x-pad-", i), "v"));
  rc.flood(burst);
  expect_goaway_and_count(w, rc, NGHTTP2_PROTOCOL_ERROR);
}

TEST_CASE("abuse: SETTINGS flood (CVE-2019-9515) without reading the ACKs ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string burst;
  for (int i = 0; i < 2000; ++i) burst += frame(kSettings, 0, 0);
  // Queue the whole flood before the server reads any of it, so its ACK queue is what overflows.
  flood_while_blocked(w, rc, burst);
  expect_goaway_and_count(w, rc, NGHTTP2_PROTOCOL_ERROR);
}

TEST_CASE("abuse: a SETTINGS frame with too many entries ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string entries;
  for (int i = 0; i < 40; ++i)
    entries += std::string{0, 0x3} + u32(100 + i);  // MAX_CONCURRENT_STREAMS
  REQUIRE(rc.write(frame(kSettings, 0, 0, entries)));
  expect_goaway_and_count(w, rc, NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_CASE("abuse: PING flood (CVE-2019-9512) without reading the ACKs ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string burst;
  for (int i = 0; i < 2000; ++i) burst += frame(kPing, 0, 0, std::string(8, static_cast<char>(i)));
  flood_while_blocked(w, rc, burst);
  expect_goaway_and_count(w, rc, NGHTTP2_PROTOCOL_ERROR);
}

TEST_CASE("peers that reset the TCP connection mid-stream cost only their connection") {
  World w;
  constexpr int kPeers = 20;
  for (int i = 0; i < kPeers; ++i) {
    RawClient rc(w.hbone_port(), w.client_ctx());
    rc.start();
    // A stream the server is dialling a backend for, then an abortive close (RST).
    REQUIRE(rc.write(frame(kHeaders, kEndHeaders, 1, connect_block(w.echo_addr()))));
    linger lg{1, 0};
    setsockopt(rc.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  CHECK(eventually([&] { return w.server_closed == kPeers; }));
  CHECK(w.protocol_errors == 0);
  check_server_healthy(w);
}
