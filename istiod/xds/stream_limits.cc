#include "istiod/xds/stream_limits.h"

#include "common/base/strings.h"

namespace ambit::istiod::xds {
namespace {

LimitViolation too_long(const std::string& field, size_t len, const StreamLimits& l) {
  return {"name_length",
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       str_cat(field, " is ", len, " bytes long, above the limit of ", l.max_name_length,
                               " (--xds-max-resource-name-length)"))};
}

}  // namespace

std::optional<LimitViolation> check_name_lengths(const envoy::service::discovery::v3::DeltaDiscoveryRequest& r,
                                                 const StreamLimits& l) {
  const size_t max = l.max_name_length;
  if (r.node().id().size() > max) return too_long("node.id", r.node().id().size(), l);
  if (r.type_url().size() > max) return too_long("type_url", r.type_url().size(), l);
  if (r.response_nonce().size() > max) return too_long("response_nonce", r.response_nonce().size(), l);
  for (int i = 0; i < r.resource_names_subscribe_size(); ++i) {
    if (r.resource_names_subscribe(i).size() > max) {
      return too_long(str_cat("resource_names_subscribe[", i, "]"), r.resource_names_subscribe(i).size(), l);
    }
  }
  for (int i = 0; i < r.resource_names_unsubscribe_size(); ++i) {
    if (r.resource_names_unsubscribe(i).size() > max) {
      return too_long(str_cat("resource_names_unsubscribe[", i, "]"), r.resource_names_unsubscribe(i).size(), l);
    }
  }
  for (const auto& [name, version] : r.initial_resource_versions()) {
    // The name itself is too long to quote; its length and position in the message name it.
    if (name.size() > max) return too_long("an initial_resource_versions key", name.size(), l);
    if (version.size() > max) return too_long("an initial_resource_versions version", version.size(), l);
  }
  return std::nullopt;
}

std::optional<LimitViolation> check_subscribed_names(size_t held, const StreamLimits& l) {
  if (held <= l.max_subscribed_names) return std::nullopt;
  return LimitViolation{"subscribed_names",
                        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                     str_cat("the stream subscribes to ", held, " resource names, above the limit of ",
                                             l.max_subscribed_names, " per stream (--xds-max-subscribed-names)"))};
}

std::optional<LimitViolation> check_streams_per_client(const std::string& client, size_t open,
                                                       const StreamLimits& l) {
  if (open < l.max_streams_per_client) return std::nullopt;
  return LimitViolation{"streams_per_client",
                        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                     str_cat("client ", client, " already has ", open,
                                             " ADS streams open, the limit per client (--xds-max-streams-per-client)"))};
}

}  // namespace ambit::istiod::xds
