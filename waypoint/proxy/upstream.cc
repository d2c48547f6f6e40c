#include "waypoint/proxy/upstream.h"

#include "common/base/strings.h"
#include "common/hbone/notify.h"
#include "waypoint/proxy/pipe.h"

namespace ambit::waypoint {

namespace asio = boost::asio;

namespace {

constexpr size_t kMaxIdlePerEndpoint = 32;

// The waypoint dials from its own network namespace: plain sockets.
class PlainSockets : public hbone::SocketSource {
 public:
  absl::StatusOr<asio::ip::tcp::socket> open_tcp(asio::io_context& io, const net::IpAddr& family) const override {
    asio::ip::tcp::socket s(io);
    boost::system::error_code ec;
    s.open(family.is_v4() ? asio::ip::tcp::v4() : asio::ip::tcp::v6(), ec);
    if (ec) return absl::ResourceExhaustedError(str_cat("socket: ", ec.message()));
    return s;
  }
};

}  // namespace

Upstreams::Upstreams(asio::io_context& io) : io_(io), pool_(io, hbone::PoolOptions{}) {}

Upstreams::~Upstreams() { pool_.shutdown(false); }

Upstreams& Upstreams::for_worker(asio::io_context& io) {
  thread_local std::unique_ptr<Upstreams> mine;
  if (!mine) mine = std::make_unique<Upstreams>(io);
  return *mine;
}

asio::awaitable<absl::StatusOr<Upstreams::Conn>> Upstreams::get(const ProxyInputs* in, const Endpoint& ep,
                                                               const hbone::h2::Headers& headers) {
  auto& idle = idle_[ep.target.to_string()];
  while (!idle.empty()) {
    LocalSocket s = std::move(idle.back());
    idle.pop_back();
    // A connection the upstream closed while idle reads as EOF (or an error) at once.
    char probe;
    ssize_t n = ::recv(s.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) co_return Conn{std::move(s), true};
  }
  auto cert = in->cert->get();
  if (!cert) co_return absl::UnavailableError("the waypoint has no certificate yet");
  static const PlainSockets kSockets;
  hbone::PoolKey key{in->self, {ep.identity}, net::SocketAddr{ep.target.ip, in->settings.hbone_port}, net::IpAddr(), "waypoint"};
  auto conn = co_await pool_.get(key, kSockets, cert->client);
  if (!conn.ok()) co_return conn.status();
  hbone::h2::Headers req = {{":method", "CONNECT"}, {":authority", ep.target.to_string()}};
  for (const auto& h : headers) req.push_back(h);
  struct Answer {
    explicit Answer(const asio::any_io_executor& ex) : got(ex) {}
    hbone::Notify got;
    int status = 0;
  };
  auto answer = std::make_shared<Answer>(io_.get_executor());
  auto sid = (*conn)->open_stream(req, [answer](int s, const hbone::h2::Headers&) {
    answer->status = s;
    answer->got.notify();
  });
  if (!sid.ok()) co_return sid.status();
  bool answered = co_await answer->got.wait_for(in->settings.connect_timeout);
  if (!answered || answer->status != 200) {
    (*conn)->reset(*sid, NGHTTP2_CANCEL);
    co_return absl::UnavailableError(answered ? str_cat("HBONE CONNECT to ", ep.target.to_string(), " answered ", answer->status)
                                              : str_cat("HBONE CONNECT to ", ep.target.to_string(), " not answered"));
  }
  auto pipe = make_pipe(io_);
  if (!pipe.ok()) {
    (*conn)->reset(*sid, NGHTTP2_CANCEL);
    co_return pipe.status();
  }
  (*conn)->attach(*sid, std::move(pipe->stream_end), [](const hbone::h2::StreamStats&) {});
  co_return Conn{std::move(pipe->proxy_end), false};
}

void Upstreams::put_back(const Endpoint& ep, LocalSocket sock) {
  auto& idle = idle_[ep.target.to_string()];
  if (idle.size() < kMaxIdlePerEndpoint) idle.push_back(std::move(sock));
}

}  // namespace ambit::waypoint
