#include "apps/echo/tcp_echo.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "apps/echo/describe.h"
#include "apps/echo/listener.h"

namespace ambit::echo {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

asio::awaitable<void> echo_connection(tcp::socket sock) {
  boost::system::error_code ec;
  std::string peer = format_endpoint(sock.remote_endpoint(ec));
  std::string local = format_endpoint(sock.local_endpoint(ec));
  std::array<char, 16384> buf;
  uint64_t total = 0;
  for (;;) {
    size_t n;
    std::tie(ec, n) = co_await sock.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    std::tie(ec, n) = co_await asio::async_write(sock, asio::buffer(buf.data(), n),
                                                 asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    total += n;
  }
  // Half-close first so the peer reads our FIN after the last echoed byte, not a reset.
  boost::system::error_code ignored;
  sock.shutdown(tcp::socket::shutdown_send, ignored);
  traffic_log().info("tcp {} -> {} echoed {} bytes, {}", peer, local, total,
                     ec == asio::error::eof ? "closed by peer" : ec.message());
}

}  // namespace

absl::Status start_tcp_echo(asio::io_context& io, uint16_t port) {
  return listen_all(io, port, [&io](tcp::socket s) {
    asio::co_spawn(io, echo_connection(std::move(s)), asio::detached);
  });
}

}  // namespace ambit::echo
