#include "istiod/xds/push_debouncer.h"

#include <algorithm>

namespace ambit::istiod::xds {

PushDebouncer::PushDebouncer(boost::asio::io_context& io, std::chrono::milliseconds quiet, std::chrono::milliseconds max,
                             PushFn fn)
    : timer_(io), quiet_(quiet), max_(max), fn_(std::move(fn)) {}

void PushDebouncer::add(const ambient::Changes& c) {
  if (c.empty()) return;
  auto now = Clock::now();
  if (pending_.empty()) first_ = now;
  last_ = now;
  pending_.merge(c);
  arm();
}

void PushDebouncer::arm() {
  auto due = std::min(last_ + quiet_, first_ + max_);
  timer_.expires_at(due);  // re-arming cancels the previous wait
  armed_ = true;
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // cancelled by a re-arm
    armed_ = false;
    ambient::Changes c;
    std::swap(c, pending_);
    ++pushes_;
    fn_(c, first_);
  });
}

}  // namespace ambit::istiod::xds
