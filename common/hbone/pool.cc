#include "common/hbone/pool.h"

#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/hbone/connect.h"
#include "common/hbone/notify.h"

namespace ambit::hbone {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
spdlog::logger& lg() { return log::scope("pool"); }
}  // namespace

h2::Settings hbone_settings() { return h2::Settings{}; }

struct Pool::Pending {
  std::vector<Notify*> waiters;
  bool done = false;
  absl::StatusOr<std::shared_ptr<h2::Connection>> result = absl::UnavailableError("pending");
};

Pool::Pool(asio::io_context& io, PoolOptions options) : io_(io), opts_(std::move(options)), sweeper_(io) { sweep(); }

Pool::~Pool() { shutdown(false); }

size_t Pool::connections() const {
  size_t n = 0;
  for (const auto& [_, v] : conns_) n += v.size();
  return n;
}

void Pool::sweep() {
  if (stopped_) return;
  auto now = std::chrono::steady_clock::now();
  auto idle = opts_.idle_timeout;
  for (auto it = conns_.begin(); it != conns_.end();) {
    auto& v = it->second;
    std::erase_if(v, [&](const std::shared_ptr<h2::Connection>& c) {
      if (c->closed()) return true;
      if (c->active_streams() == 0 && now - c->idle_since() >= idle) {
        c->drain();
        return true;
      }
      return false;
    });
    it = v.empty() ? conns_.erase(it) : std::next(it);
  }
  sweeper_.expires_after(std::chrono::seconds(30));
  sweeper_.async_wait([this](boost::system::error_code ec) {
    if (!ec) sweep();
  });
}

void Pool::shutdown(bool graceful) {
  stopped_ = true;
  sweeper_.cancel();
  for (auto& [_, v] : conns_) {
    for (auto& c : v) {
      if (graceful) c->drain();
      else c->close(absl::CancelledError("pool shut down"));
    }
  }
  conns_.clear();
}

asio::awaitable<absl::StatusOr<std::shared_ptr<h2::Connection>>> Pool::get(const PoolKey& key,
                                                                           const SocketSource& sockets,
                                                                           std::shared_ptr<const tls::TlsContext> client) {
  for (;;) {
    if (stopped_) co_return absl::UnavailableError("HBONE pool is shut down (draining)");
    if (auto it = conns_.find(key); it != conns_.end()) {
      std::erase_if(it->second, [](const auto& c) { return c->closed(); });
      for (auto& c : it->second) {
        if (c->usable()) co_return c;
      }
    }
    // None free: join a dial in progress, or dial.
    if (auto p = pending_.find(key); p != pending_.end()) {
      auto pending = p->second;
      Notify n(io_.get_executor());
      pending->waiters.push_back(&n);
      co_await n.wait();
      if (!pending->result.ok()) co_return pending->result.status();
      continue;  // re-check: the new connection may already be full
    }
    auto pending = std::make_shared<Pending>();
    pending_[key] = pending;
    auto r = co_await dial(key, sockets, client);
    pending_.erase(key);
    if (r.ok()) conns_[key].push_back(*r);
    pending->done = true;
    pending->result = r;
    for (Notify* w : pending->waiters) w->notify();
    co_return r;
  }
}

asio::awaitable<absl::StatusOr<std::shared_ptr<h2::Connection>>> Pool::dial(const PoolKey& key,
                                                                            const SocketSource& sockets,
                                                                            std::shared_ptr<const tls::TlsContext> client) {
  auto sock = sockets.open_tcp(io_, key.dst.ip);
  if (!sock.ok()) co_return sock.status();
  absl::Status st = co_await connect_with_timeout(*sock, key.dst, opts_.connect_timeout);
  if (!st.ok()) co_return st;
  auto verify = std::make_unique<tls::PeerVerification>();
  verify->expected = key.dst_ids;
  auto tls = TlsSocket::create(std::move(*sock), *client, verify.get());
  if (!tls.ok()) co_return tls.status();
  st = co_await (*tls)->handshake(opts_.handshake_timeout);
  if (absl::IsDeadlineExceeded(st) && opts_.on_handshake_timeout) opts_.on_handshake_timeout();
  if (!st.ok()) co_return annotate(st, str_cat("HBONE to ", key.dst.to_string()));
  if ((*tls)->alpn() != "h2") {
    co_return absl::UnavailableError(str_cat("HBONE to ", key.dst.to_string(), ": server did not negotiate h2"));
  }
  h2::Hooks hooks;
  hooks.on_protocol_error = opts_.on_protocol_error;
  // The verification state must outlive the handshake; the connection keeps it.
  std::shared_ptr<tls::PeerVerification> v(std::move(verify));
  hooks.on_closed = [v](const absl::Status&) {};
  auto conn = h2::Connection::create(h2::Connection::Role::kClient, std::move(*tls), hbone_settings(), hooks);
  conn->start();
  lg().debug("HBONE connection to {} as {}", key.dst.to_string(), key.src.to_string());
  co_return conn;
}

}  // namespace ambit::hbone
