#include "ztunnel/proxy/connection_tracker.h"

#include "common/base/log.h"

namespace ambit::ztunnel {

uint64_t ConnectionTracker::add(TrackedConnection c) {
  std::lock_guard lock(mu_);
  uint64_t id = next_++;
  conns_.emplace(id, std::move(c));
  return id;
}

void ConnectionTracker::remove(uint64_t id) {
  std::lock_guard lock(mu_);
  conns_.erase(id);
}

std::vector<TrackedConnection> ConnectionTracker::list() const {
  std::lock_guard lock(mu_);
  std::vector<TrackedConnection> out;
  for (const auto& [_, c] : conns_) out.push_back(c);
  return out;
}

size_t ConnectionTracker::recheck(const ProxyState& state) {
  std::vector<std::pair<std::function<void(const std::string&)>, std::string>> to_close;
  {
    std::lock_guard lock(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      const TrackedConnection& c = it->second;
      if (!c.attrs || !c.dst) {
        ++it;
        continue;
      }
      // Re-resolve the destination: its policy list may have changed too.
      WorkloadPtr dst = state.workload_by_uid(c.dst->uid());
      if (!dst) dst = c.dst;
      RbacResult r = evaluate_rbac(state.policies_for(*dst), *c.attrs);
      if (!r.allowed) {
        to_close.emplace_back(c.close, r.policy.empty() ? r.reason : r.policy);
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [fn, why] : to_close) {
    log::scope("proxy").info("closing connection now denied by policy: {}", why);
    if (fn) fn(why);
  }
  return to_close.size();
}

}  // namespace ambit::ztunnel
