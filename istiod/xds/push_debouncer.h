// Coalesces index changes into pushes (Istio's PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX):
// a push goes out `quiet` after the last change, or `max` after the first change of a burst,
// whichever comes first. Runs on the config thread's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>

#include "istiod/ambient/index.h"

namespace ambit::istiod::xds {

class PushDebouncer {
 public:
  using Clock = std::chrono::steady_clock;
  using PushFn = std::function<void(const ambient::Changes&, Clock::time_point first_change)>;

  PushDebouncer(boost::asio::io_context& io, std::chrono::milliseconds quiet, std::chrono::milliseconds max, PushFn fn);
  void add(const ambient::Changes& c);
  uint64_t pushes() const { return pushes_; }

 private:
  void arm();
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds quiet_, max_;
  PushFn fn_;
  ambient::Changes pending_;
  Clock::time_point first_{}, last_{};
  bool armed_ = false;
  uint64_t pushes_ = 0;
};

}  // namespace ambit::istiod::xds
