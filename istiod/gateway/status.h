// Status istiod reports for waypoints, in Kubernetes' shape:
//  - Gateway (class istio-waypoint): Accepted (or why not), Programmed (True once it has an
//    address and a ready pod, else False with the reason), status.addresses (Hostname
//    <gw>.<ns>.svc.<domain> once its Service exists);
//  - Service and Pod asking for a waypoint: istio.io/WaypointBound True/False with the
//    binding's reason and message (ambient/waypoints.h Binding).
// compute_status is pure; StatusStore keeps them. Local mode's store is a directory
// (`<state>/status/`, documented in docs/local-mesh.md): one file per object, named like the
// object's config file, holding {apiVersion, kind, metadata: {name, namespace}, status}.
//
//   std::vector<StatusDoc> docs = compute_status(index);
//   store.sync(docs, now);   // writes what changed, removes what is gone
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "istiod/ambient/index.h"

namespace ambit::istiod::gateway {

inline constexpr const char* kWaypointBoundCondition = "istio.io/WaypointBound";

struct Condition {
  std::string type;
  bool status = false;  // rendered "True" / "False"
  std::string reason;
  std::string message;
  int64_t observed_generation = 0;
  std::string last_transition_time;  // RFC 3339; filled by the store
  bool operator==(const Condition&) const = default;
};

struct StatusDoc {
  std::string api_version, kind, ns, name;
  std::vector<Condition> conditions;
  std::vector<Gateway::Address> addresses;  // Gateways only
  std::string file_name() const;            // as GeneratedObject::file_name
  // The YAML document: {apiVersion, kind, metadata: {name, namespace}, status: {...}}.
  std::string yaml() const;
};

// The status of every istio-waypoint Gateway and of every Service and Pod whose binding is
// reported (Binding::report).
std::vector<StatusDoc> compute_status(const ambient::AmbientIndex& index);

class StatusStore {
 public:
  virtual ~StatusStore() = default;
  // Makes the stored set equal to `docs`: writes the ones whose content changed, removes the ones
  // not listed. A condition's lastTransitionTime is `now` when its status changes (or it is new)
  // and is kept otherwise.
  virtual absl::Status sync(const std::vector<StatusDoc>& docs, std::chrono::system_clock::time_point now) = 0;
};

class DirectoryStatusStore final : public StatusStore {
 public:
  explicit DirectoryStatusStore(std::string dir) : dir_(std::move(dir)) {}
  absl::Status sync(const std::vector<StatusDoc>& docs, std::chrono::system_clock::time_point now) override;

 private:
  // Reads what an earlier istiod left, so transition times survive a restart.
  absl::Status load();
  std::string dir_;
  bool loaded_ = false;
  std::map<std::string, StatusDoc> docs_;  // file name -> last written
};

std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace ambit::istiod::gateway
