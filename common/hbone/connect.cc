#include "common/hbone/connect.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/base/strings.h"
#include "common/hbone/deadline.h"

namespace ambit::hbone {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

tcp::endpoint to_endpoint(const net::SocketAddr& a) {
  if (a.ip.is_v4()) {
    asio::ip::address_v4::bytes_type b;
    std::copy_n(a.ip.raw().begin(), 4, b.begin());
    return tcp::endpoint(asio::ip::address_v4(b), a.port);
  }
  asio::ip::address_v6::bytes_type b;
  std::copy_n(a.ip.raw().begin(), 16, b.begin());
  return tcp::endpoint(asio::ip::address_v6(b), a.port);
}

net::SocketAddr from_endpoint(const tcp::endpoint& e) {
  net::SocketAddr a;
  if (e.address().is_v4()) {
    a.ip = net::IpAddr::v4(e.address().to_v4().to_uint());
  } else {
    auto b = e.address().to_v6().to_bytes();
    a.ip = *net::IpAddr::from_bytes(std::string_view(reinterpret_cast<const char*>(b.data()), 16));
  }
  a.port = e.port();
  return a;
}

asio::awaitable<absl::Status> connect_with_timeout(tcp::socket& s, const net::SocketAddr& dst,
                                                   std::chrono::milliseconds timeout) {
  // The deadline's handler runs before this frame ends (Deadline::disarm), so it may touch `s`.
  Deadline deadline(s.get_executor(), timeout, [&s] {
    boost::system::error_code ignored;
    s.cancel(ignored);
  });
  auto [ec] = co_await s.async_connect(to_endpoint(dst), asio::as_tuple(asio::use_awaitable));
  // (Awaited into a variable: GCC 12 mishandles co_await inside an if condition.)
  bool expired = co_await deadline.disarm();
  if (expired) co_return absl::DeadlineExceededError(str_cat("connect to ", dst.to_string(), " timed out"));
  if (ec) co_return absl::UnavailableError(str_cat("connect to ", dst.to_string(), ": ", ec.message()));
  co_return absl::OkStatus();
}

}  // namespace ambit::hbone
