// HBONE client connection pool (ZT:src/proxy/pool.rs). Invariants:
//  - key = (source identity, expected destination identities, destination address, source IP,
//    pod): a connection is only reused for exactly the same peer expectations and origin;
//  - a key has 1..N HTTP/2 connections; a new one is opened only when all are at their stream
//    limit (min(100, peer's MAX_CONCURRENT_STREAMS));
//  - creation per key is serialized: concurrent requests wait for the one being dialled instead
//    of dialling N connections;
//  - connections idle longer than the release timeout are closed by a periodic sweep.
// One pool per worker: every connection it hands out lives on that worker's thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "ztunnel/proxy/h2/connection.h"
#include "ztunnel/proxy/proxy_inputs.h"

namespace ambit::ztunnel {

struct PoolKey {
  SpiffeId src;
  std::vector<SpiffeId> dst_ids;
  net::SocketAddr dst;
  net::IpAddr src_ip;
  std::string pod_uid;
  auto operator<=>(const PoolKey&) const = default;
};

class Pool {
 public:
  Pool(boost::asio::io_context& io, const ProxyInputs* inputs);
  ~Pool();

  // A connection with a free stream slot, dialled from `sockets` (the source pod's namespace)
  // with `cert` (the source identity's certificate) if none is available.
  boost::asio::awaitable<absl::StatusOr<std::shared_ptr<h2::Connection>>> get(const PoolKey& key,
                                                                              const SocketFactory& sockets,
                                                                              WorkloadCertPtr cert);
  // Closes every connection (drain) and stops the sweeper.
  void shutdown(bool graceful);
  size_t connections() const;

 private:
  struct Pending;
  boost::asio::awaitable<absl::StatusOr<std::shared_ptr<h2::Connection>>> dial(const PoolKey& key,
                                                                               const SocketFactory& sockets,
                                                                               WorkloadCertPtr cert);
  void sweep();

  boost::asio::io_context& io_;
  const ProxyInputs* in_;
  std::map<PoolKey, std::vector<std::shared_ptr<h2::Connection>>> conns_;
  std::map<PoolKey, std::shared_ptr<Pending>> pending_;
  boost::asio::steady_timer sweeper_;
  bool stopped_ = false;
};

h2::Settings hbone_settings();

}  // namespace ambit::ztunnel
