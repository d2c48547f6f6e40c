// Pod service-account tokens for a mesh without a Kubernetes API server (the local mesh): the
// stand-in for the projected token a kubelet mounts into a pod (audience istio-ca) and that
// istiod checks with a TokenReview bound to the pod.
//
//   ambit-sa.v1.<namespace>/<pod>/<pod uid>/<service account>.<hex HMAC-SHA256(key, claims)>
//
// The claims are in clear (a JWT's are too): a pod reads its own identity from its token. The
// key is 32 random bytes in <ca-dir>/sa-token.key; whoever holds it mints tokens (the local
// mesh's supervisor, as a kubelet does) and verifies them (istiod). Nothing is stored per token.
// A valid MAC proves only that the key's holder issued the claims; istiod must still check that
// the pod exists, has that uid, is not terminated and runs as that service account (as a
// TokenReview's pod binding does) before it trusts the caller as
// spiffe://<td>/ns/<namespace>/sa/<service account>. Rotating the key revokes every token.
//
//   AMBIT_ASSIGN_OR_RETURN(auto keys, ServiceAccountTokens::load_or_create(ca_dir));
//   AMBIT_ASSIGN_OR_RETURN(std::string t, keys.issue({"demo", "sleep-1", "0f3c…", "sleep"}));
//   AMBIT_ASSIGN_OR_RETURN(PodClaims c, keys.verify(t));   // Unauthenticated with the reason
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ambit::identity {

struct PodClaims {
  std::string ns;
  std::string pod;
  std::string uid;  // the pod's metadata.uid: a re-created pod of the same name needs a new token
  std::string service_account;
  bool operator==(const PodClaims&) const = default;
};

class ServiceAccountTokens {
 public:
  static constexpr std::string_view kPrefix = "ambit-sa.v1.";
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kMaxTokenLength = 1024;
  static constexpr const char* kKeyFile = "sa-token.key";

  // Loads <dir>/sa-token.key, creating it (0600) if absent. Two processes creating it at once
  // end up with the same key: the file is published with link(), so the second one reads the
  // first one's.
  static absl::StatusOr<ServiceAccountTokens> load_or_create(const std::string& dir);
  // InvalidArgument unless `key` is kKeyBytes long.
  static absl::StatusOr<ServiceAccountTokens> from_key(std::string key);

  // InvalidArgument (naming the field) if a claim is empty, longer than 253 bytes, or has a
  // character outside letters, digits, '.', '-' and '_' (so '/' cannot occur inside a claim).
  absl::StatusOr<std::string> issue(const PodClaims& claims) const;
  // The claims of a token this key issued; Unauthenticated with the reason otherwise.
  absl::StatusOr<PodClaims> verify(std::string_view token) const;

  static bool looks_like_token(std::string_view bearer) { return bearer.substr(0, kPrefix.size()) == kPrefix; }
  // The claims as written, without checking the MAC: what a pod learns from its own token.
  static absl::StatusOr<PodClaims> read_claims(std::string_view token);

 private:
  explicit ServiceAccountTokens(std::string key) : key_(std::move(key)) {}
  std::string mac(std::string_view claims) const;
  std::string key_;
};

}  // namespace ambit::identity
