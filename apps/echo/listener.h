// Where the server's sockets come from: a port listened on for every address family the host
// has, and the traffic log.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"

namespace ambit::echo {

// Accepts on 0.0.0.0:port and, if the host has IPv6, on [::]:port (v6-only, so the two binds
// do not collide). Every accepted socket goes to `on_accept`, on io's thread.
absl::Status listen_all(boost::asio::io_context& io, uint16_t port,
                        std::function<void(boost::asio::ip::tcp::socket)> on_accept);

// One line per connection or request, to stdout: that is what `kubectl logs` shows.
spdlog::logger& traffic_log();

}  // namespace ambit::echo
