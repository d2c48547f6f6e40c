// A deadline for one awaited operation on a worker's io_context:
//
//   Deadline d(sock.get_executor(), 10s, [&] { sock.cancel(); });   // cancels what is pending
//   auto st = co_await op(sock);
//   bool expired = co_await d.disarm();
//
// disarm() always waits until the timer's handler has run (at once, if the timer is cancelled),
// so `on_expiry` may capture the awaiting frame's locals: no handler outlives them. Asio's
// awaitable operators would do the same in one line, but the Boost 1.74 they ship with trips the
// sanitizers inside its cancellation slots. Single-threaded by design (one worker's io_context).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>

#include "common/hbone/notify.h"

namespace ambit::hbone {

class Deadline {
 public:
  Deadline(const boost::asio::any_io_executor& ex, std::chrono::steady_clock::duration after,
           std::function<void()> on_expiry)
      : timer_(ex), ran_(ex), on_expiry_(std::move(on_expiry)) {
    timer_.expires_after(after);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec && armed_) {
        expired_ = true;
        on_expiry_();
      }
      handler_done_ = true;
      ran_.notify();
    });
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // Stops the deadline; true if it had already expired (and on_expiry ran).
  boost::asio::awaitable<bool> disarm() {
    armed_ = false;
    timer_.cancel();
    if (!handler_done_) co_await ran_.wait();
    co_return expired_;
  }

 private:
  boost::asio::steady_timer timer_;
  Notify ran_;
  std::function<void()> on_expiry_;
  bool armed_ = true;
  bool expired_ = false;
  bool handler_done_ = false;
};

}  // namespace ambit::hbone
