// Upstream HTTP/1.1 connections from the waypoint to endpoints. Each is an HBONE CONNECT stream
// to the endpoint's ztunnel (`:authority podIP:targetPort`, the waypoint's own certificate, the
// pod's identity expected), multiplexed over the pooled HTTP/2 connections of this worker, with
// HTTP/1.1 spoken inside. A connection that ends a response with keep-alive goes back to an idle
// list per endpoint and serves the next request to it — so keep-alive costs no new stream.
// One Upstreams per worker thread: nothing here is shared across threads.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/hbone/pool.h"
#include "waypoint/proxy/endpoints.h"
#include "waypoint/proxy/inputs.h"

namespace ambit::waypoint {

using LocalSocket = boost::asio::local::stream_protocol::socket;

class Upstreams {
 public:
  explicit Upstreams(boost::asio::io_context& io);
  ~Upstreams();

  struct Conn {
    LocalSocket sock;
    bool reused = false;  // came from the idle list (a failure on it may be retried once)
  };
  // An idle connection to `ep`, or a new HBONE stream. `headers`: extra CONNECT headers
  // (baggage, forwarded, traceparent).
  boost::asio::awaitable<absl::StatusOr<Conn>> get(const ProxyInputs* in, const Endpoint& ep,
                                                  const hbone::h2::Headers& headers);
  // Keep-alive: the connection answered completely and may carry another request.
  void put_back(const Endpoint& ep, LocalSocket sock);

  // The worker's instance (created on first use on that thread).
  static Upstreams& for_worker(boost::asio::io_context& io);

 private:
  boost::asio::io_context& io_;
  hbone::Pool pool_;
  std::map<std::string, std::vector<LocalSocket>> idle_;  // by "podIP:port"
};

}  // namespace ambit::waypoint
