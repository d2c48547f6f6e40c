// Private keys: EC P-256 only, the curve Istio's CA, ztunnel and our TLS contexts use.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/crypto/openssl.h"

namespace ambit::crypto {

class PrivateKey {
 public:
  static absl::StatusOr<PrivateKey> generate_p256();
  // PKCS#8 or traditional EC PEM; anything that is not an EC P-256 key is rejected.
  static absl::StatusOr<PrivateKey> from_pem(std::string_view pem);

  PrivateKey(const PrivateKey& o);
  PrivateKey& operator=(const PrivateKey& o);
  PrivateKey(PrivateKey&&) = default;
  PrivateKey& operator=(PrivateKey&&) = default;

  // Unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), as ztunnel writes keys.
  std::string to_pem() const;
  EVP_PKEY* get() const { return key_.get(); }

 private:
  explicit PrivateKey(EvpPkeyPtr key) : key_(std::move(key)) {}
  EvpPkeyPtr key_;
};

// Returns OK if `key` is an EC key on P-256, else an error naming what it is.
absl::Status require_p256(EVP_PKEY* key, std::string_view whose);

}  // namespace ambit::crypto
