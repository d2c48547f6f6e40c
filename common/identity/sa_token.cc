#include "common/identity/sa_token.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/base/unique_fd.h"
#include "common/crypto/certificate.h"

namespace ambit::identity {
namespace {

constexpr size_t kMaxClaimLength = 253;  // a DNS-1123 subdomain, the longest Kubernetes name

absl::Status check_claim(std::string_view what, std::string_view v) {
  if (v.empty()) return absl::InvalidArgumentError(str_cat("empty ", what));
  if (v.size() > kMaxClaimLength) {
    return absl::InvalidArgumentError(str_cat(what, " is ", v.size(), " bytes, more than ", kMaxClaimLength));
  }
  for (char c : v) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_';
    if (!ok) {
      return absl::InvalidArgumentError(
          str_cat(what, " '", printable(v), "' has invalid character '", printable(std::string_view(&c, 1)), "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status check_claims(const PodClaims& c) {
  AMBIT_RETURN_IF_ERROR(check_claim("namespace", c.ns));
  AMBIT_RETURN_IF_ERROR(check_claim("pod name", c.pod));
  AMBIT_RETURN_IF_ERROR(check_claim("pod uid", c.uid));
  return check_claim("service account", c.service_account);
}

std::string claims_text(const PodClaims& c) { return str_cat(c.ns, "/", c.pod, "/", c.uid, "/", c.service_account); }

// Splits "<claims>.<mac>" after the prefix; the MAC is hex, so the last '.' separates them.
struct Parts {
  std::string_view claims, mac;
};
absl::StatusOr<Parts> split_token(std::string_view token) {
  if (!ServiceAccountTokens::looks_like_token(token)) {
    return absl::UnauthenticatedError("not an Ambit pod service-account token (no ambit-sa.v1. prefix)");
  }
  if (token.size() > ServiceAccountTokens::kMaxTokenLength) {
    return absl::UnauthenticatedError(str_cat("pod token is ", token.size(), " bytes, more than ",
                                              ServiceAccountTokens::kMaxTokenLength));
  }
  std::string_view rest = token.substr(ServiceAccountTokens::kPrefix.size());
  auto dot = rest.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == rest.size()) {
    return absl::UnauthenticatedError("malformed pod token: want <namespace>/<pod>/<uid>/<service account>.<mac>");
  }
  return Parts{rest.substr(0, dot), rest.substr(dot + 1)};
}

absl::StatusOr<PodClaims> parse_claims(std::string_view text) {
  std::vector<std::string_view> f = split(text, '/');
  if (f.size() != 4) {
    return absl::UnauthenticatedError(str_cat("malformed pod token claims '", printable(text),
                                              "': want <namespace>/<pod>/<uid>/<service account>"));
  }
  PodClaims c{std::string(f[0]), std::string(f[1]), std::string(f[2]), std::string(f[3])};
  if (auto s = check_claims(c); !s.ok()) return absl::UnauthenticatedError(str_cat("pod token: ", s.message()));
  return c;
}

// Publishes `key` at `path` only if nothing is there yet: written to a temporary file of its own
// (mkstemp: unique even between threads, created 0600), then hard-linked into place — link()
// fails rather than replaces, so readers only ever see a complete key, and every creator the
// same one. False if another writer won.
absl::StatusOr<bool> publish_new(const std::string& path, const std::string& key) {
  std::string tmp = str_cat(path, ".new.XXXXXX");
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return errno_error(errno, "create a temporary file beside ", path);
  size_t off = 0;
  while (off < key.size()) {
    ssize_t n = ::write(fd.get(), key.data() + off, key.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      return errno_error(e, "write ", tmp);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return errno_error(e, "sync ", tmp);
  }
  fd.reset();
  int rc = ::link(tmp.c_str(), path.c_str());
  int e = errno;
  ::unlink(tmp.c_str());
  if (rc == 0) return true;
  if (e == EEXIST) return false;
  return errno_error(e, "link ", tmp, " to ", path);
}

}  // namespace

absl::StatusOr<ServiceAccountTokens> ServiceAccountTokens::from_key(std::string key) {
  if (key.size() != kKeyBytes) {
    return absl::InvalidArgumentError(str_cat("pod token key is ", key.size(), " bytes, want ", kKeyBytes));
  }
  return ServiceAccountTokens(std::move(key));
}

absl::StatusOr<ServiceAccountTokens> ServiceAccountTokens::load_or_create(const std::string& dir) {
  std::string path = str_cat(dir, "/", kKeyFile);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto existing = crypto::read_file(path);
    if (existing.ok()) {
      auto t = from_key(std::move(*existing));
      if (!t.ok()) return absl::InvalidArgumentError(str_cat(path, ": ", t.status().message()));
      return t;
    }
    std::string key(kKeyBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), kKeyBytes) != 1) {
      return absl::InternalError("RAND_bytes failed for the pod token key");
    }
    AMBIT_ASSIGN_OR_RETURN(bool created, publish_new(path, key));
    if (created) return ServiceAccountTokens(std::move(key));
    // Lost the race to another process: read what it published.
  }
  return absl::InternalError(str_cat(path, " appeared and cannot be read"));
}

std::string ServiceAccountTokens::mac(std::string_view claims) const {
  std::string msg = str_cat(kPrefix, claims);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), out, &len);
  return hex(std::string_view(reinterpret_cast<char*>(out), len));
}

absl::StatusOr<std::string> ServiceAccountTokens::issue(const PodClaims& claims) const {
  AMBIT_RETURN_IF_ERROR(check_claims(claims));
  std::string text = claims_text(claims);
  return str_cat(kPrefix, text, ".", mac(text));
}

absl::StatusOr<PodClaims> ServiceAccountTokens::read_claims(std::string_view token) {
  AMBIT_ASSIGN_OR_RETURN(Parts p, split_token(token));
  return parse_claims(p.claims);
}

absl::StatusOr<PodClaims> ServiceAccountTokens::verify(std::string_view token) const {
  AMBIT_ASSIGN_OR_RETURN(Parts p, split_token(token));
  std::string want = mac(p.claims);
  // Constant-time over the expected length: the comparison says nothing about how much matched.
  if (p.mac.size() != want.size() || CRYPTO_memcmp(p.mac.data(), want.data(), want.size()) != 0) {
    return absl::UnauthenticatedError(
        str_cat("pod token for '", printable(p.claims), "' has a bad signature (not issued with this istiod's key)"));
  }
  return parse_claims(p.claims);
}

}  // namespace ambit::identity
