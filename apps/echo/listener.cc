#include "apps/echo/listener.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/base/log.h"
#include "common/base/strings.h"

namespace ambit::echo {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

asio::awaitable<void> accept_loop(tcp::acceptor acceptor, std::function<void(tcp::socket)> on_accept) {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of fds or similar: back off rather than spin on an error that persists.
      traffic_log().warn("accept on :{}: {}", acceptor.local_endpoint().port(), ec.message());
      asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    on_accept(std::move(sock));
  }
}

absl::Status listen_on(asio::io_context& io, const tcp::endpoint& ep,
                       const std::function<void(tcp::socket)>& on_accept) {
  tcp::acceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ep.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        str_cat("listen on ", ep.address().to_string(), " port ", ep.port(), ": ", ec.message()));
  }
  asio::co_spawn(io, accept_loop(std::move(acceptor), on_accept), asio::detached);
  return absl::OkStatus();
}

}  // namespace

absl::Status listen_all(asio::io_context& io, uint16_t port,
                        std::function<void(tcp::socket)> on_accept) {
  if (auto s = listen_on(io, tcp::endpoint(asio::ip::address_v4::any(), port), on_accept); !s.ok()) return s;
  // A pod without IPv6 is normal: IPv4 alone is enough.
  if (auto s = listen_on(io, tcp::endpoint(asio::ip::address_v6::any(), port), on_accept); !s.ok()) {
    traffic_log().info("IPv4 only: {}", s.message());
  }
  return absl::OkStatus();
}

spdlog::logger& traffic_log() {
  static spdlog::logger* lg = [] {
    auto l = spdlog::stdout_logger_mt("ambit-echo");
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ\t%l\t%v", spdlog::pattern_time_type::utc);
    l->flush_on(spdlog::level::trace);  // stdout is a pipe in a pod: no line may wait in a buffer
    return l.get();                     // the registry keeps it alive
  }();
  return *lg;
}

}  // namespace ambit::echo
