// SPIFFE workload identity in Istio's one accepted shape:
//   spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>
// Anything else (other paths, query, fragment, percent-encoding, port, userinfo, empty or
// dot segments, NUL, upper-case trust domain) is rejected with the reason, because a lenient
// parser here would let a certificate claim an identity the policy engine reads differently.
//
//   AMBIT_ASSIGN_OR_RETURN(SpiffeId id, SpiffeId::parse("spiffe://cluster.local/ns/a/sa/b"));
//   id.to_string();   // "spiffe://cluster.local/ns/a/sa/b"
//   id.principal();   // "cluster.local/ns/a/sa/b" (what AuthorizationPolicy principals match)
#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ambit {

class SpiffeId {
 public:
  static constexpr std::string_view kScheme = "spiffe://";
  static constexpr size_t kMaxLength = 2048;

  // Strict parse of the full URI.
  static absl::StatusOr<SpiffeId> parse(std::string_view uri);
  // Builds from parts, validating each like parse() does.
  static absl::StatusOr<SpiffeId> make(std::string_view trust_domain, std::string_view ns,
                                       std::string_view sa);

  const std::string& trust_domain() const { return trust_domain_; }
  const std::string& ns() const { return ns_; }
  const std::string& service_account() const { return sa_; }

  std::string to_string() const;
  std::string principal() const;  // without "spiffe://"

  friend auto operator<=>(const SpiffeId&, const SpiffeId&) = default;
  friend bool operator==(const SpiffeId&, const SpiffeId&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const SpiffeId& id) {
    return H::combine(std::move(h), id.trust_domain_, id.ns_, id.sa_);
  }

 private:
  SpiffeId(std::string td, std::string ns, std::string sa)
      : trust_domain_(std::move(td)), ns_(std::move(ns)), sa_(std::move(sa)) {}
  std::string trust_domain_;
  std::string ns_;
  std::string sa_;
};

// Validation of the pieces, shared with config validation (a ServiceAccount name, a namespace).
absl::Status validate_trust_domain(std::string_view td);
absl::Status validate_path_segment(std::string_view what, std::string_view seg);

}  // namespace ambit
