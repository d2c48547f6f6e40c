// The waypoint's HBONE listener side: one accepted TCP connection on the HBONE port, served
// until it closes. The app accepts and spawns this on a worker.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "waypoint/proxy/inputs.h"

namespace ambit::waypoint {

boost::asio::awaitable<void> serve_hbone(const ProxyInputs* in, boost::asio::io_context& io, boost::asio::ip::tcp::socket s);

}  // namespace ambit::waypoint
