// Bidirectional copy between two plain TCP sockets with half-close: EOF on one side becomes a
// shutdown(SHUT_WR) on the other; an error resets both (SO_LINGER 0), so a reset on one leg is a
// reset on the other, as the app would see without a proxy. Used for passthrough and inbound
// plaintext delivery.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>

namespace ambit::ztunnel {

struct RelayResult {
  uint64_t a_to_b = 0;
  uint64_t b_to_a = 0;
  std::string error;  // empty on a clean close
};

boost::asio::awaitable<RelayResult> relay(boost::asio::ip::tcp::socket& a, boost::asio::ip::tcp::socket& b);

// Closes with RST instead of FIN.
void reset_socket(boost::asio::ip::tcp::socket& s);

}  // namespace ambit::ztunnel
