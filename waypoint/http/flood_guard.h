// A token bucket for counting abuse over time: `burst` events at once, refilled at `rate` per
// second. The HTTP/2 codec keeps one for stream resets (rapid reset, CVE-2023-44487, and the
// resets a peer provokes, MadeYouReset, CVE-2025-8671): a client that cancels a few streams is
// fine, one that frees its concurrency slots faster than the bucket refills gets GOAWAY
// ENHANCE_YOUR_CALM. Time is passed in, so tests need no sleeps.
#pragma once

#include <algorithm>
#include <chrono>

namespace ambit::waypoint::http {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(double burst, double per_second, Clock::time_point now)
      : burst_(burst), rate_(per_second), tokens_(burst), at_(now) {}

  // Takes one token; false when there is none (the limit is exceeded).
  bool take(Clock::time_point now) {
    if (now > at_) {
      tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - at_).count() * rate_);
      at_ = now;
    }
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }
  double tokens() const { return tokens_; }

 private:
  double burst_;
  double rate_;
  double tokens_;
  Clock::time_point at_;
};

}  // namespace ambit::waypoint::http
