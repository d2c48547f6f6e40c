#include "common/base/strings.h"
#include "common/crypto/private_key.h"

#include <openssl/core_names.h>
#include <openssl/pem.h>


namespace ambit::crypto {

absl::Status require_p256(EVP_PKEY* key, std::string_view whose) {
  if (key == nullptr) return absl::InvalidArgumentError(str_cat(whose, ": no key"));
  int id = EVP_PKEY_get_base_id(key);
  if (id != EVP_PKEY_EC) {
    const char* name = EVP_PKEY_get0_type_name(key);
    return absl::InvalidArgumentError(
        str_cat(whose, " is ", name ? name : "an unknown type", ", want an EC P-256 key"));
  }
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                     &len) != 1) {
    return openssl_error(str_cat(whose, ": cannot read the EC curve"));
  }
  if (std::string_view(group, len) != "prime256v1") {
    return absl::InvalidArgumentError(
        str_cat(whose, " uses curve ", std::string_view(group, len), ", want P-256"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PrivateKey> PrivateKey::generate_p256() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return openssl_error("generate EC P-256 key", absl::StatusCode::kInternal);
  return PrivateKey(std::move(key));
}

absl::StatusOr<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
  BioPtr bio = mem_bio(pem);
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return openssl_error("parse private key PEM");
  if (auto s = require_p256(key.get(), "private key"); !s.ok()) return s;
  return PrivateKey(std::move(key));
}

PrivateKey::PrivateKey(const PrivateKey& o) : key_(o.key_.get()) {
  if (key_) EVP_PKEY_up_ref(key_.get());
}

PrivateKey& PrivateKey::operator=(const PrivateKey& o) {
  if (this != &o) {
    if (o.key_) EVP_PKEY_up_ref(o.key_.get());
    key_.reset(o.key_.get());
  }
  return *this;
}

std::string PrivateKey::to_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return bio_to_string(bio.get());
}

}  // namespace ambit::crypto
