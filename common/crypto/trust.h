// Mesh roots and chain verification that yields the peer's SPIFFE identity.
//
//   AMBIT_ASSIGN_OR_RETURN(auto roots, TrustBundle::from_pem(root_pem, "cluster.local"));
//   AMBIT_ASSIGN_OR_RETURN(SpiffeId peer, verify_chain(chain, *roots, Purpose::kClient));
//
// Checks, in order: the chain builds to one of the roots and every certificate is within its
// validity at `at` (default now); the leaf allows the purpose (EKU); the leaf carries a strict
// SPIFFE URI SAN; its trust domain is the bundle's. Each failure says which check failed.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/certificate.h"

namespace ambit::crypto {

class TrustBundle {
 public:
  static absl::StatusOr<std::shared_ptr<const TrustBundle>> from_pem(std::string_view roots_pem,
                                                                     std::string trust_domain);
  X509_STORE* store() const { return store_.get(); }
  const std::vector<Certificate>& roots() const { return roots_; }
  const std::string& trust_domain() const { return trust_domain_; }
  std::string to_pem() const { return chain_to_pem(roots_); }

 private:
  TrustBundle() = default;
  X509StorePtr store_;
  std::vector<Certificate> roots_;
  std::string trust_domain_;
};

enum class Purpose { kClient, kServer };

// chain[0] is the leaf; the rest are intermediates (a trailing root is allowed and ignored
// for trust: only the bundle's roots are trusted).
absl::StatusOr<SpiffeId> verify_chain(const std::vector<Certificate>& chain,
                                      const TrustBundle& bundle, Purpose purpose,
                                      std::optional<Clock::time_point> at = std::nullopt);

// The same over an OpenSSL verification context whose chain OpenSSL already built (used by the
// TLS verifier). Returns the leaf's identity or the reason.
absl::StatusOr<SpiffeId> verify_store_ctx(X509_STORE_CTX* ctx, const TrustBundle& bundle);

}  // namespace ambit::crypto
