#include "common/base/strings.h"
#include "common/crypto/ca.h"

#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>

#include "common/base/status.h"

namespace ambit::crypto {
namespace {

absl::Status add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return openssl_error(str_cat("add extension ", OBJ_nid2sn(nid), "=", value),
                         absl::StatusCode::kInternal);
  }
  return absl::OkStatus();
}

absl::Status set_random_serial(X509* cert) {
  unsigned char buf[16];
  if (RAND_bytes(buf, sizeof(buf)) != 1) return openssl_error("random serial", absl::StatusCode::kInternal);
  buf[0] &= 0x7f;  // positive
  BignumPtr bn(BN_bin2bn(buf, sizeof(buf), nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) {
    return openssl_error("set serial", absl::StatusCode::kInternal);
  }
  return absl::OkStatus();
}

absl::Status set_validity(X509* cert, Clock::time_point nb, Clock::time_point na) {
  if (!ASN1_TIME_set(X509_getm_notBefore(cert), Clock::to_time_t(nb)) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert), Clock::to_time_t(na))) {
    return openssl_error("set validity", absl::StatusCode::kInternal);
  }
  return absl::OkStatus();
}

absl::Status add_san(X509* cert, const SpiffeId& id, const std::vector<std::string>& dns) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  auto push = [&](int type, const std::string& v) {
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    ASN1_STRING_set(s, v.data(), static_cast<int>(v.size()));
    GENERAL_NAME_set0_value(gn, type, s);
    sk_GENERAL_NAME_push(names.get(), gn);
  };
  push(GEN_URI, id.to_string());
  for (const auto& d : dns) push(GEN_DNS, d);
  // Critical because the subject is empty (RFC 5280 §4.2.1.6; istiod does the same).
  X509ExtPtr ext(X509V3_EXT_i2d(NID_subject_alt_name, 1, names.get()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return openssl_error("add subjectAltName", absl::StatusCode::kInternal);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CertificateAuthority> CertificateAuthority::create_root(
    std::string_view trust_domain, std::chrono::seconds validity, Clock::time_point now) {
  AMBIT_RETURN_IF_ERROR(validate_trust_domain(trust_domain));
  AMBIT_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::generate_p256());
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  AMBIT_RETURN_IF_ERROR(set_random_serial(cert.get()));
  X509_NAME* name = X509_get_subject_name(cert.get());
  std::string org(trust_domain);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  AMBIT_RETURN_IF_ERROR(set_validity(cert.get(), now - kClockSkewGrace, now + validity));
  X509_set_pubkey(cert.get(), key.get());
  AMBIT_RETURN_IF_ERROR(add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE"));
  AMBIT_RETURN_IF_ERROR(add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"));
  AMBIT_RETURN_IF_ERROR(add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    return openssl_error("self-sign root", absl::StatusCode::kInternal);
  }
  return CertificateAuthority(Certificate::adopt(std::move(cert)), std::move(key), {});
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::load(std::string_view signer_cert_pem,
                                                                std::string_view key_pem,
                                                                std::string_view chain_pem) {
  AMBIT_ASSIGN_OR_RETURN(Certificate signer, Certificate::from_pem(signer_cert_pem));
  AMBIT_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::from_pem(key_pem));
  if (X509_check_private_key(signer.get(), key.get()) != 1) {
    return openssl_error("CA key does not match the CA certificate");
  }
  if (!signer.is_ca()) return absl::InvalidArgumentError("CA certificate is not a CA (basicConstraints CA=false)");
  std::vector<Certificate> chain;
  if (!chain_pem.empty()) {
    AMBIT_ASSIGN_OR_RETURN(chain, parse_pem_chain(chain_pem));
  }
  return CertificateAuthority(std::move(signer), std::move(key), std::move(chain));
}

absl::StatusOr<CertificateAuthority> CertificateAuthority::load_dir(const std::string& dir) {
  AMBIT_ASSIGN_OR_RETURN(std::string cert, read_file(dir + "/ca-cert.pem"));
  AMBIT_ASSIGN_OR_RETURN(std::string key, read_file(dir + "/ca-key.pem"));
  std::string chain;
  if (auto c = read_file(dir + "/cert-chain.pem"); c.ok()) chain = *c;
  auto ca = load(cert, key, chain);
  if (!ca.ok()) return annotate(ca.status(), str_cat("load CA from ", dir));
  return ca;
}

absl::Status CertificateAuthority::save_dir(const std::string& dir) const {
  ::mkdir(dir.c_str(), 0700);
  AMBIT_RETURN_IF_ERROR(write_file_atomic(dir + "/ca-key.pem", key_.to_pem(), 0600));
  AMBIT_RETURN_IF_ERROR(write_file_atomic(dir + "/ca-cert.pem", signer_.to_pem(), 0644));
  AMBIT_RETURN_IF_ERROR(write_file_atomic(dir + "/root-cert.pem", root_pem(), 0644));
  if (!chain_.empty()) {
    AMBIT_RETURN_IF_ERROR(write_file_atomic(dir + "/cert-chain.pem", chain_to_pem(chain_), 0644));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> CertificateAuthority::sign(
    const CertificateRequest& csr, const SpiffeId& identity, std::chrono::seconds ttl,
    Clock::time_point now) const {
  return sign_key(csr.public_key(), identity, ttl, {}, now);
}

absl::StatusOr<std::vector<std::string>> CertificateAuthority::sign_key(
    EVP_PKEY* public_key, const SpiffeId& identity, std::chrono::seconds ttl,
    std::vector<std::string> dns_names, Clock::time_point now) const {
  if (ttl.count() <= 0) return absl::InvalidArgumentError("certificate TTL must be positive");
  AMBIT_RETURN_IF_ERROR(require_p256(public_key, "certificate key"));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  AMBIT_RETURN_IF_ERROR(set_random_serial(cert.get()));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer_.get()));
  // Subject stays empty: the identity is in the SAN only.
  Clock::time_point not_after = std::min(now + ttl, signer_.not_after());
  AMBIT_RETURN_IF_ERROR(set_validity(cert.get(), now - kClockSkewGrace, not_after));
  X509_set_pubkey(cert.get(), public_key);
  AMBIT_RETURN_IF_ERROR(add_ext(cert.get(), signer_.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment"));
  AMBIT_RETURN_IF_ERROR(add_ext(cert.get(), signer_.get(), NID_ext_key_usage, "serverAuth,clientAuth"));
  AMBIT_RETURN_IF_ERROR(add_ext(cert.get(), signer_.get(), NID_basic_constraints, "critical,CA:FALSE"));
  AMBIT_RETURN_IF_ERROR(add_ext(cert.get(), signer_.get(), NID_authority_key_identifier, "keyid:always"));
  AMBIT_RETURN_IF_ERROR(add_san(cert.get(), identity, dns_names));
  if (X509_sign(cert.get(), key_.get(), EVP_sha256()) <= 0) {
    return openssl_error("sign workload certificate", absl::StatusCode::kInternal);
  }
  std::vector<std::string> out;
  out.push_back(Certificate::adopt(std::move(cert)).to_pem());
  bool signer_is_root = chain_.empty();
  out.push_back(signer_.to_pem());
  if (!signer_is_root) {
    for (const auto& c : chain_) out.push_back(c.to_pem());
  }
  return out;
}

}  // namespace ambit::crypto
