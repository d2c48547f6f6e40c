// Live proxied connections (ZT:src/proxy/connection_manager.rs): for the admin `connections`
// view, and so that a policy change closes inbound connections it now disallows. Registration is
// cheap (one map insert per connection under a mutex; never touched per byte).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/identity/spiffe.h"
#include "common/net/ip_addr.h"
#include "ztunnel/rbac/rbac.h"
#include "common/wds/state.h"

namespace ambit::ztunnel {

struct TrackedConnection {
  std::string pod_uid;
  std::string direction;  // "inbound" / "outbound"
  std::string local, remote, target;
  std::string protocol;   // "HBONE" / "TCP"
  // For inbound re-checks:
  std::optional<RbacConnection> attrs;
  wds::WorkloadPtr dst;
  std::function<void(const std::string& why)> close;  // thread-safe (posts to the owner's worker)
};

class ConnectionTracker {
 public:
  uint64_t add(TrackedConnection c);
  void remove(uint64_t id);
  std::vector<TrackedConnection> list() const;
  // Re-evaluates inbound connections against current policy; closes the ones now denied.
  // Returns how many were closed.
  size_t recheck(const wds::State& state);

 private:
  mutable std::mutex mu_;
  uint64_t next_ = 1;
  std::map<uint64_t, TrackedConnection> conns_;
};

}  // namespace ambit::ztunnel
