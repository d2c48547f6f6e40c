#include "ztunnel/proxy/tcp_relay.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>

namespace ambit::ztunnel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

void reset_socket(tcp::socket& s) {
  boost::system::error_code ec;
  if (!s.is_open()) return;
  s.set_option(tcp::socket::linger(true, 0), ec);
  s.close(ec);
}

namespace {

// Copies from -> to until EOF or error. Buffers start small and grow for bulk flows, so idle
// connections stay cheap (ztunnel grows 1 KiB -> 16 KiB -> 256 KiB for the same reason).
asio::awaitable<void> pump(tcp::socket& from, tcp::socket& to, uint64_t* count, std::string* error, bool* failed) {
  std::unique_ptr<char[]> buf;
  size_t cap = 16 * 1024;
  for (;;) {
    // Idle connections wait without a buffer; it is allocated when bytes are there and dropped
    // again when the flow pauses, so only busy connections pay for memory.
    auto [wait_ec] = co_await from.async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable));
    boost::system::error_code ec = wait_ec;
    size_t n = 0;
    if (!ec) {
      if (!buf) buf = std::make_unique<char[]>(cap);
      n = from.read_some(asio::buffer(buf.get(), cap), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        ec = {};
        continue;
      }
    }
    if (ec == asio::error::eof) {
      boost::system::error_code ignored;
      to.shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    if (ec) {
      if (!*failed && ec != asio::error::operation_aborted) *error = ec.message();
      *failed = true;
      reset_socket(to);
      reset_socket(from);
      co_return;
    }
    auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buf.get(), n), asio::as_tuple(asio::use_awaitable));
    if (wec) {
      if (!*failed) *error = wec.message();
      *failed = true;
      reset_socket(to);
      reset_socket(from);
      co_return;
    }
    *count += wn;
    if (n == cap && cap < 256 * 1024) {
      cap *= 4;  // a bulk flow: grow
      buf = std::make_unique<char[]>(cap);
    } else if (n < cap) {
      buf.reset();  // drained what was there: release while waiting
      cap = 16 * 1024;
    }
  }
}

}  // namespace

asio::awaitable<RelayResult> relay(tcp::socket& a, tcp::socket& b) {
  RelayResult r;
  bool failed = false;
  boost::system::error_code ec0;
  a.non_blocking(true, ec0);  // read_some after wait_read must never block the worker
  b.non_blocking(true, ec0);
  co_await (pump(a, b, &r.a_to_b, &r.error, &failed) && pump(b, a, &r.b_to_a, &r.error, &failed));
  boost::system::error_code ec;
  a.close(ec);
  b.close(ec);
  co_return r;
}

}  // namespace ambit::ztunnel
