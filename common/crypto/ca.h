// The signing half of a mesh CA: issues workload certificates the way istiod does
// (security/pkg/pki/util/generate_cert.go):
//   - subject empty, SAN = the granted SPIFFE ID only, marked critical;
//   - KeyUsage digitalSignature|keyEncipherment, EKU serverAuth+clientAuth, CA=false;
//   - NotBefore = now − 2 min (clock-skew grace), NotAfter = now + TTL clamped to the signer's
//     NotAfter; a random 128-bit serial.
// Authentication and authorization of the caller are the CA *service's* job (istiod/ca/), not
// this class's: sign() trusts the identity it is given.
//
//   AMBIT_ASSIGN_OR_RETURN(auto ca, CertificateAuthority::create_root("cluster.local", 10y));
//   AMBIT_ASSIGN_OR_RETURN(auto req, CertificateRequest::parse(csr_pem));
//   AMBIT_ASSIGN_OR_RETURN(auto chain, ca.sign(req, req.identity(), std::chrono::hours(24)));
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/certificate.h"
#include "common/crypto/csr.h"
#include "common/crypto/private_key.h"

namespace ambit::crypto {

class CertificateAuthority {
 public:
  static constexpr std::chrono::seconds kClockSkewGrace{120};

  // A self-signed EC P-256 root, subject O=<trust domain> as Istio's self-signed CA uses.
  static absl::StatusOr<CertificateAuthority> create_root(std::string_view trust_domain,
                                                          std::chrono::seconds validity,
                                                          Clock::time_point now = Clock::now());
  // Signing certificate + its key + the chain above it (root last; empty if the signer is the root).
  static absl::StatusOr<CertificateAuthority> load(std::string_view signer_cert_pem,
                                                   std::string_view key_pem,
                                                   std::string_view chain_pem = {});
  // Loads <dir>/ca-cert.pem, ca-key.pem and (optional) cert-chain.pem, Istio's plug-in CA layout.
  static absl::StatusOr<CertificateAuthority> load_dir(const std::string& dir);
  absl::Status save_dir(const std::string& dir) const;

  // Returns [leaf, intermediates..., root], each a PEM string ending in "\n".
  absl::StatusOr<std::vector<std::string>> sign(const CertificateRequest& csr,
                                                const SpiffeId& identity,
                                                std::chrono::seconds ttl,
                                                Clock::time_point now = Clock::now()) const;
  // Signs a certificate for a key we hold (istiod's own serving certificate, tests).
  absl::StatusOr<std::vector<std::string>> sign_key(EVP_PKEY* public_key, const SpiffeId& identity,
                                                    std::chrono::seconds ttl,
                                                    std::vector<std::string> dns_names = {},
                                                    Clock::time_point now = Clock::now()) const;

  const Certificate& signer() const { return signer_; }
  const Certificate& root() const { return chain_.empty() ? signer_ : chain_.back(); }
  std::string root_pem() const { return root().to_pem(); }

 private:
  CertificateAuthority(Certificate signer, PrivateKey key, std::vector<Certificate> chain)
      : signer_(std::move(signer)), key_(std::move(key)), chain_(std::move(chain)) {}
  Certificate signer_;
  PrivateKey key_;
  std::vector<Certificate> chain_;  // above the signer, root last
};

}  // namespace ambit::crypto
