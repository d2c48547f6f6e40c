// libFuzzer target: pod service-account tokens (common/identity/sa_token.h), which istiod reads
// from any caller's `authorization` header. With a fixed key, every input is tried twice:
//  - as a token: verify() never accepts what issue() would not produce (an accepted token is
//    exactly issue(its claims)), and every refusal is UNAUTHENTICATED with a reason;
//  - as the claims of a correctly signed token (signed here with the key), to reach the claim
//    checks behind the MAC: accepted claims re-issue to the same token and read back the same
//    without the key; refused ones are refused by read_claims() too.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/base/strings.h"
#include "common/identity/sa_token.h"

namespace {

using ambit::identity::ServiceAccountTokens;

const std::string kKey(ServiceAccountTokens::kKeyBytes, 'k');

std::string sign(std::string_view claims) {
  std::string msg = ambit::str_cat(ServiceAccountTokens::kPrefix, claims);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kKey.data(), static_cast<int>(kKey.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), out, &len);
  return ambit::str_cat(msg, ".", ambit::hex(std::string_view(reinterpret_cast<char*>(out), len)));
}

void check_refusal(const absl::Status& s) {
  if (!absl::IsUnauthenticated(s) || s.message().empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ServiceAccountTokens keys = *ServiceAccountTokens::from_key(kKey);
  std::string_view in(reinterpret_cast<const char*>(data), size);

  auto as_token = keys.verify(in);
  if (as_token.ok()) {
    auto again = keys.issue(*as_token);
    if (!again.ok() || *again != in) std::abort();
  } else {
    check_refusal(as_token.status());
  }

  std::string token = sign(in);
  auto signed_claims = keys.verify(token);
  auto read = ServiceAccountTokens::read_claims(token);
  if (signed_claims.ok()) {
    if (token.size() > ServiceAccountTokens::kMaxTokenLength) std::abort();
    auto again = keys.issue(*signed_claims);
    if (!again.ok() || *again != token) std::abort();
    if (!read.ok() || !(*read == *signed_claims)) std::abort();
  } else {
    check_refusal(signed_claims.status());
    if (read.ok()) std::abort();
  }
  return 0;
}
