// A one-waiter wake-up for coroutines on one io_context (asio has no condition variable):
// notify() before wait() is remembered, so no wake-up is lost. Not thread-safe by design — every
// user lives on the worker that owns the connection.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ambit::hbone {

class Notify {
 public:
  explicit Notify(const boost::asio::any_io_executor& ex) : timer_(ex) {}

  void notify() {
    pending_ = true;
    timer_.cancel();
  }

  boost::asio::awaitable<void> wait() {
    if (!pending_) {
      timer_.expires_at(boost::asio::steady_timer::time_point::max());
      co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    pending_ = false;
  }

  // Waits at most `d`; returns true if notified.
  boost::asio::awaitable<bool> wait_for(std::chrono::steady_clock::duration d) {
    if (!pending_) {
      timer_.expires_after(d);
      co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    bool was = pending_;
    pending_ = false;
    co_return was;
  }

 private:
  boost::asio::steady_timer timer_;
  bool pending_ = false;
};

}  // namespace ambit::hbone
