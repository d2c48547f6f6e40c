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

size_t ConnectionTracker::recheck(const wds::State& state) {
  // Snapshot what to check under the lock (cheap copies: ids, attributes, shared pointers), then
  // evaluate without it: with thousands of connections open, new connections (add/remove) must
  // not wait behind a full policy evaluation of every one of them.
  struct Check {
    uint64_t id;
    RbacConnection attrs;
    wds::WorkloadPtr dst;
  };
  std::vector<Check> checks;
  {
    std::lock_guard lock(mu_);
    checks.reserve(conns_.size());
    for (const auto& [id, c] : conns_) {
      if (c.attrs && c.dst) checks.push_back({id, *c.attrs, c.dst});
    }
  }
  // Connections to one destination share its policy list: look it up once per destination.
  std::map<std::string, std::pair<wds::WorkloadPtr, std::vector<wds::PolicyPtr>>> by_dst;
  std::vector<std::pair<uint64_t, std::string>> denied;
  for (const Check& c : checks) {
    auto [it, fresh] = by_dst.try_emplace(c.dst->uid());
    if (fresh) {
      wds::WorkloadPtr dst = state.workload_by_uid(c.dst->uid());  // its policy list may have changed too
      it->second.first = dst ? dst : c.dst;
      it->second.second = state.policies_for(*it->second.first);
    }
    RbacResult r = evaluate_rbac(it->second.second, c.attrs);
    if (!r.allowed) denied.emplace_back(c.id, r.policy.empty() ? r.reason : r.policy);
  }
  std::vector<std::pair<std::function<void(const std::string&)>, std::string>> to_close;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, why] : denied) {
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;  // ended meanwhile
      to_close.emplace_back(std::move(it->second.close), std::move(why));
      conns_.erase(it);
    }
  }
  for (auto& [fn, why] : to_close) {
    log::scope("proxy").info("closing connection now denied by policy: {}", why);
    if (fn) fn(why);
  }
  return to_close.size();
}

}  // namespace ambit::ztunnel
