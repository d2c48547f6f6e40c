// A translated xDS resource as the delta server sends it: name, version, aliases and the
// serialized google.protobuf.Any payload. Immutable and shared: the index swaps pointers, xDS
// connections read them without copying the bytes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/message.h"

namespace ambit::istiod::ambient {

inline constexpr const char* kAddressType = "type.googleapis.com/istio.workload.Address";
inline constexpr const char* kAuthorizationType = "type.googleapis.com/istio.security.Authorization";
// The waypoint's L7 config (docs/waypoint-config.md), per waypoint: waypoint/l7/resource_key.h
// kResourceTypeUrl (istiod/waypoint/l7_config.cc checks that they agree).
inline constexpr const char* kWaypointResourceType = "type.googleapis.com/ambit.waypoint.v1.Resource";

struct Resource {
  std::string name;
  std::string version;  // hash of `bytes`: equal versions mean equal content
  std::vector<std::string> aliases;
  std::string type_url;
  std::string bytes;    // deterministic serialization of the message (the Any's value)
};
using ResourcePtr = std::shared_ptr<const Resource>;

// Deterministic bytes (map fields sorted), so the version is stable across runs and restarts.
std::string deterministic_bytes(const google::protobuf::Message& m);
ResourcePtr make_resource(std::string name, std::string type_url, const google::protobuf::Message& m,
                          std::vector<std::string> aliases = {});

}  // namespace ambit::istiod::ambient
