// HBONE client connection pool (istio/ztunnel src/proxy/pool.rs). Invariants:
//  - key = (source identity, expected destination identities, destination address, source IP,
//    origin): a connection is only reused for exactly the same peer expectations and origin;
//  - a key has 1..N HTTP/2 connections; a new one is opened only when all are at their stream
//    limit (min(100, peer's MAX_CONCURRENT_STREAMS));
//  - creation per key is serialized: concurrent requests wait for the one being dialled instead
//    of dialling N connections;
//  - connections idle longer than the release timeout are closed by a periodic sweep.
// One pool per worker: every connection it hands out lives on that worker's thread.
// What is policy stays with the user (ztunnel, the waypoint): where sockets come from
// (SocketSource), which certificate to present, the timeouts, and what to count (PoolOptions).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/hbone/connect.h"
#include "common/hbone/h2/connection.h"
#include "common/identity/spiffe.h"
#include "common/net/ip_addr.h"
#include "common/tls/tls_context.h"

namespace ambit::hbone {

struct PoolKey {
  SpiffeId src;
  std::vector<SpiffeId> dst_ids;
  net::SocketAddr dst;
  net::IpAddr src_ip;
  std::string origin;  // who the connection is for beyond the above (ztunnel: the source pod's UID)
  auto operator<=>(const PoolKey&) const = default;
};

struct PoolOptions {
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::steady_clock::duration idle_timeout = std::chrono::minutes(5);  // then closed
  // Counters: a TLS handshake to a peer did not finish within handshake_timeout; a connection
  // sent GOAWAY for a protocol violation (h2::Hooks::on_protocol_error). Either may be empty.
  std::function<void()> on_handshake_timeout;
  std::function<void(uint32_t error_code, const std::string& why)> on_protocol_error;
};

class Pool {
 public:
  Pool(boost::asio::io_context& io, PoolOptions options);
  ~Pool();

  // A connection with a free stream slot, dialled from `sockets` (ztunnel: the source pod's
  // namespace) with `client` (a client context holding the source identity's certificate) if
  // none is available.
  boost::asio::awaitable<absl::StatusOr<std::shared_ptr<h2::Connection>>> get(
      const PoolKey& key, const SocketSource& sockets, std::shared_ptr<const tls::TlsContext> client);
  // Closes every connection (drain) and stops the sweeper.
  void shutdown(bool graceful);
  size_t connections() const;

 private:
  struct Pending;
  boost::asio::awaitable<absl::StatusOr<std::shared_ptr<h2::Connection>>> dial(
      const PoolKey& key, const SocketSource& sockets, std::shared_ptr<const tls::TlsContext> client);
  void sweep();

  boost::asio::io_context& io_;
  PoolOptions opts_;
  std::map<PoolKey, std::vector<std::shared_ptr<h2::Connection>>> conns_;
  std::map<PoolKey, std::shared_ptr<Pending>> pending_;
  boost::asio::steady_timer sweeper_;
  bool stopped_ = false;
};

h2::Settings hbone_settings();

}  // namespace ambit::hbone
