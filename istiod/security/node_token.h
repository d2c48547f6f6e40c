// Per-node bootstrap credentials for local mode, standing in for Kubernetes' projected
// service-account tokens: istiod issues one token per node, and a caller presenting it (gRPC
// metadata `authorization: Bearer <token>`, as ztunnel sends its JWT) is authenticated as that
// node's ztunnel, spiffe://<td>/ns/istio-system/sa/ztunnel on node <node>.
//
// Token: "ambit-node.v1.<node>.<hex HMAC-SHA256(key, "ambit-node.v1." + node)>". istiod keeps only
// the 32-byte key (<ca-dir>/node-token.key), so tokens need no storage and verification is a
// constant-time comparison. Rotating the key revokes every token.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ambit::istiod::security {

class NodeTokenIssuer {
 public:
  static constexpr const char* kPrefix = "ambit-node.v1.";
  static constexpr size_t kKeyBytes = 32;

  // Loads <dir>/node-token.key, creating it (0600) if absent.
  static absl::StatusOr<NodeTokenIssuer> load_or_create(const std::string& dir);
  explicit NodeTokenIssuer(std::string key) : key_(std::move(key)) {}

  absl::StatusOr<std::string> issue(std::string_view node) const;
  // Returns the node name the token was issued for, or why it is not valid.
  absl::StatusOr<std::string> verify(std::string_view token) const;

 private:
  std::string mac(std::string_view node) const;
  std::string key_;
};

}  // namespace ambit::istiod::security
