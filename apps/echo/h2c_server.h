// HTTP/2 over cleartext TCP (h2c), server side: what a client that speaks HTTP/2 to a plain port
// sends — either prior knowledge (it starts with the connection preface) or an HTTP/1.1 request
// with `Upgrade: h2c`. Each request is answered with echo::answer on its own stream.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>

#include "apps/echo/describe.h"

namespace ambit::echo {

// An HTTP/1.1 request that asked for h2c: its decoded HTTP2-Settings and the request itself,
// which HTTP/2 answers as stream 1.
struct H2cUpgrade {
  std::string settings;
  Request request;
};

// Takes over `sock`. `initial` holds bytes already read from it (the preface, at least, for
// prior knowledge). The connection lives until the peer goes and every answer is sent.
void serve_h2c(boost::asio::ip::tcp::socket sock, std::string initial, std::optional<H2cUpgrade> upgrade,
               std::string server_name);

}  // namespace ambit::echo
