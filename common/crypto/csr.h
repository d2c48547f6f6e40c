// Certificate signing requests as ztunnel makes them and istiod's CA accepts them:
// EC P-256 key, SHA-256 signature, empty subject, one critical subjectAltName holding exactly one
// URI (the SPIFFE ID).
//
//   AMBIT_ASSIGN_OR_RETURN(std::string pem, create_csr(key, id));   // client side
//   AMBIT_ASSIGN_OR_RETURN(CertificateRequest req, CertificateRequest::parse(pem));  // CA side
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/crypto/openssl.h"
#include "common/crypto/private_key.h"
#include "common/identity/spiffe.h"

namespace ambit::crypto {

absl::StatusOr<std::string> create_csr(const PrivateKey& key, const SpiffeId& id);

// A CSR that passed every check: one PEM block, valid self-signature, EC P-256 key, exactly one
// SAN extension with exactly one URI SAN that is a strict SPIFFE ID (no NUL, no other SAN types).
class CertificateRequest {
 public:
  static constexpr size_t kMaxPemBytes = 64 * 1024;
  static absl::StatusOr<CertificateRequest> parse(std::string_view pem);

  const SpiffeId& identity() const { return identity_; }
  EVP_PKEY* public_key() const { return key_.get(); }

 private:
  CertificateRequest(SpiffeId id, EvpPkeyPtr key) : identity_(std::move(id)), key_(std::move(key)) {}
  SpiffeId identity_;
  EvpPkeyPtr key_;
};

}  // namespace ambit::crypto
