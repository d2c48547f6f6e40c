#include "istiod/security/node_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "istiod/config/yaml_parser.h"

namespace ambit::istiod::security {

absl::StatusOr<NodeTokenIssuer> NodeTokenIssuer::load_or_create(const std::string& dir) {
  std::string path = dir + "/node-token.key";
  auto existing = crypto::read_file(path);
  if (existing.ok()) {
    if (existing->size() != kKeyBytes) {
      return absl::InvalidArgumentError(str_cat(path, " holds ", existing->size(), " bytes, want ", kKeyBytes));
    }
    return NodeTokenIssuer(*existing);
  }
  std::string key(kKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), kKeyBytes) != 1) {
    return absl::InternalError("RAND_bytes failed for the node token key");
  }
  AMBIT_RETURN_IF_ERROR(crypto::write_file_atomic(path, key, 0600));
  return NodeTokenIssuer(key);
}

std::string NodeTokenIssuer::mac(std::string_view node) const {
  std::string msg = str_cat(kPrefix, node);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out, &len);
  return hex(std::string_view(reinterpret_cast<char*>(out), len));
}

absl::StatusOr<std::string> NodeTokenIssuer::issue(std::string_view node) const {
  if (!valid_dns1123_subdomain(node)) {
    return absl::InvalidArgumentError(str_cat("node name '", printable(node), "' is not a DNS-1123 subdomain"));
  }
  return str_cat(kPrefix, node, ".", mac(node));
}

absl::StatusOr<std::string> NodeTokenIssuer::verify(std::string_view token) const {
  std::string_view prefix(kPrefix);
  if (token.substr(0, prefix.size()) != prefix) {
    return absl::UnauthenticatedError("not an Ambit node token");
  }
  std::string_view rest = token.substr(prefix.size());
  auto dot = rest.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return absl::UnauthenticatedError("malformed node token");
  std::string_view node = rest.substr(0, dot);
  std::string_view got = rest.substr(dot + 1);
  std::string want = mac(node);
  if (got.size() != want.size() || CRYPTO_memcmp(got.data(), want.data(), want.size()) != 0) {
    return absl::UnauthenticatedError(str_cat("node token for '", printable(node), "' has a bad signature"));
  }
  return std::string(node);
}

}  // namespace ambit::istiod::security
