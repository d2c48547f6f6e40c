// One HTTP/1.1 conversation inside an inbound HBONE stream: requests parsed strictly
// (waypoint/http), each planned (request_plan.h), answered locally or forwarded to an endpoint
// over an upstream HBONE stream, the response relayed back; keep-alive on both sides.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <string>

#include "waypoint/proxy/inputs.h"
#include "waypoint/proxy/request_plan.h"

namespace ambit::waypoint {

struct StreamContext {
  Peer peer;
  std::string authority;  // the CONNECT :authority (VIP:port or host:port)
  net::IpAddr dst_ip;     // its IP, or the service's first VIP for a hostname authority
};

boost::asio::awaitable<void> serve_http1(const ProxyInputs* in, boost::asio::io_context& io,
                                         boost::asio::local::stream_protocol::socket down, StreamContext ctx);

}  // namespace ambit::waypoint
