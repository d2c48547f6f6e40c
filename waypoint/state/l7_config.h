// The waypoint's L7 configuration as the data path reads it: every `ambit.waypoint.v1.Resource`
// istiod sent (docs/waypoint-config.md), compiled into one immutable snapshot — listeners by
// :authority, the route table, the policy set, the path normalization — and swapped whole after
// each xDS response. A request takes the snapshot once (one atomic shared_ptr load) and keeps it
// to its end, so a push never changes the rules under a request in flight.
//
//   L7ConfigStore store;
//   store.upsert(name, bytes);  // per resource: NACK on error, previous version stays
//   store.commit();             // after the response: compile and publish
//   auto snap = store.current();
//   const Listener* l = snap->listener_for("10.96.0.12:9080");  // nullptr → 400
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "ambit/waypoint/v1/resource.pb.h"
#include "common/net/ip_addr.h"
#include "waypoint/l7/authz.h"
#include "waypoint/l7/path_normalize.h"
#include "waypoint/l7/resource_key.h"
#include "waypoint/l7/route_table.h"

namespace ambit::waypoint {

inline constexpr const char* kResourceTypeUrl = "type.googleapis.com/ambit.waypoint.v1.Resource";

struct Listener {
  l7::ServiceKey service;
  uint16_t port = 0;
  ::ambit::waypoint::v1::Listener::Protocol protocol = ::ambit::waypoint::v1::Listener::HTTP;
  std::vector<net::IpAddr> vips;
};

struct L7Snapshot {
  // "<vip>:<port>" ("[v6]:port") and "<hostname>:<port>", lower case → listener.
  std::map<std::string, std::shared_ptr<const Listener>, std::less<>> listeners;
  std::shared_ptr<const l7::RouteTable> routes;
  std::shared_ptr<const l7::PolicySet> policies;
  l7::PathNormalization normalization = l7::PathNormalization::kBase;
  uint64_t version = 0;  // bumps on every commit
  // Errors of the last compile (routes or policies istiod should not have sent).
  std::vector<std::string> errors;

  // The listener an HBONE CONNECT's :authority names, nullptr when this waypoint does not serve
  // it (the proxy answers 400 — never a pass-through).
  const Listener* listener_for(std::string_view authority) const;
};

class L7ConfigStore {
 public:
  L7ConfigStore();

  // One resource of a response. InvalidArgument (the xDS client NACKs it by name) when the bytes
  // do not parse, the name is not the key of its content, or a listener has no valid port.
  absl::Status upsert(const std::string& name, const std::string& bytes);
  void remove(const std::string& name);
  // Compiles what is stored into a new snapshot and publishes it.
  void commit();

  std::shared_ptr<const L7Snapshot> current() const { return std::atomic_load(&current_); }
  // The resources as received (admin /config_dump).
  std::map<std::string, ::ambit::waypoint::v1::Resource> resources() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, ::ambit::waypoint::v1::Resource> resources_;
  uint64_t version_ = 0;
  std::shared_ptr<const L7Snapshot> current_;
};

}  // namespace ambit::waypoint
