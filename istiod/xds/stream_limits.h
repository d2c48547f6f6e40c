// Bounds on what one ADS client can make istiod hold for it. Without them a client (anonymous, on
// the plaintext port) could subscribe to any number of made-up names of any length, and open any
// number of streams, each holding that state for as long as it stays connected.
//
//  - max_subscribed_names: explicit subscriptions held per stream, over all types. Wildcard
//    subscriptions are not counted (what they hold is bounded by istiod's own config), nor are
//    initial_resource_versions (accepted once per type per stream, bounded by the message size,
//    and reduced to what the config holds by the first response).
//  - max_name_length: bytes of any one name a request carries (subscribe, unsubscribe, initial
//    versions and their versions, node.id, type_url).
//  - max_streams_per_client: concurrent streams per authenticated client (identity, node, peer
//    address); a reconnecting ztunnel briefly has two, so the default leaves plenty of room.
//
// Past a bound the stream ends with a status naming the limit and its flag, and the rejection is
// counted in ambit_xds_limit_rejections{limit=...}.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <optional>
#include <string>

#include "envoy/service/discovery/v3/discovery.pb.h"

namespace ambit::istiod::xds {

struct StreamLimits {
  size_t max_subscribed_names = 10000;
  size_t max_name_length = 1024;
  size_t max_streams_per_client = 16;
};

// A limit a stream went past: the metric label and the status that ends the stream.
struct LimitViolation {
  std::string limit;  // "subscribed_names", "name_length", "streams_per_client"
  grpc::Status status;
};

// Checks the length of every name in one request, before any of it is stored.
std::optional<LimitViolation> check_name_lengths(const envoy::service::discovery::v3::DeltaDiscoveryRequest& r,
                                                 const StreamLimits& limits);

// The stream would hold `held` explicit subscriptions.
std::optional<LimitViolation> check_subscribed_names(size_t held, const StreamLimits& limits);

// `client` already has `open` streams.
std::optional<LimitViolation> check_streams_per_client(const std::string& client, size_t open,
                                                       const StreamLimits& limits);

}  // namespace ambit::istiod::xds
