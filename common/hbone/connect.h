// TCP helpers every HBONE user needs: where sockets come from, a connect with a deadline, and
// conversions between asio's endpoints and the project's socket addresses.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>

#include "absl/status/statusor.h"
#include "common/net/ip_addr.h"

namespace ambit::hbone {

// Where the pool's TCP sockets come from (ztunnel: the source pod's network namespace, marked so
// capture lets them out).
class SocketSource {
 public:
  virtual ~SocketSource() = default;
  // An unconnected TCP socket of `family`'s address family.
  virtual absl::StatusOr<boost::asio::ip::tcp::socket> open_tcp(boost::asio::io_context& io,
                                                                const net::IpAddr& family) const = 0;
};

// Connects with a deadline (ztunnel's CONNECTION_TIMEOUT is 10 s): DeadlineExceeded when it
// passes, Unavailable (naming the destination) when the connect fails.
boost::asio::awaitable<absl::Status> connect_with_timeout(boost::asio::ip::tcp::socket& s, const net::SocketAddr& dst,
                                                          std::chrono::milliseconds timeout);

boost::asio::ip::tcp::endpoint to_endpoint(const net::SocketAddr& a);
net::SocketAddr from_endpoint(const boost::asio::ip::tcp::endpoint& e);

}  // namespace ambit::hbone
