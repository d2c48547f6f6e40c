#include "common/base/strings.h"
#include "common/crypto/csr.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstring>


namespace ambit::crypto {

absl::StatusOr<std::string> create_csr(const PrivateKey& key, const SpiffeId& id) {
  X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1) return openssl_error("CSR: new request");
  if (X509_REQ_set_pubkey(req.get(), key.get()) != 1) return openssl_error("CSR: set public key");

  GeneralNamesPtr names(GENERAL_NAMES_new());
  GENERAL_NAME* gn = GENERAL_NAME_new();
  ASN1_IA5STRING* uri = ASN1_IA5STRING_new();
  std::string s = id.to_string();
  ASN1_STRING_set(uri, s.data(), static_cast<int>(s.size()));
  GENERAL_NAME_set0_value(gn, GEN_URI, uri);
  sk_GENERAL_NAME_push(names.get(), gn);
  // Critical: the subject is empty, so the SAN carries the identity (RFC 5280 §4.2.1.6).
  X509ExtPtr ext(X509V3_EXT_i2d(NID_subject_alt_name, 1, names.get()));
  if (!ext) return openssl_error("CSR: encode subjectAltName");
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  sk_X509_EXTENSION_push(exts, ext.get());
  int ok = X509_REQ_add_extensions(req.get(), exts);
  sk_X509_EXTENSION_free(exts);
  if (ok != 1) return openssl_error("CSR: add extensions");
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) return openssl_error("CSR: sign");

  BioPtr bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) return openssl_error("CSR: write PEM");
  return bio_to_string(bio.get());
}

absl::StatusOr<CertificateRequest> CertificateRequest::parse(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(
        str_cat("CSR is ", pem.size(), " bytes, more than the limit of ", kMaxPemBytes));
  }
  ERR_clear_error();
  BioPtr bio = mem_bio(pem);
  X509ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return openssl_error("CSR: parse PEM CERTIFICATE REQUEST");
  // A second PEM block would be ignored by OpenSSL; refuse it rather than sign the first blindly.
  X509ReqPtr extra(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (extra) return absl::InvalidArgumentError("CSR: PEM holds more than one request");

  EvpPkeyPtr key(X509_REQ_get_pubkey(req.get()));
  if (!key) return openssl_error("CSR: read public key");
  if (auto s = require_p256(key.get(), "CSR key"); !s.ok()) return s;
  if (X509_REQ_verify(req.get(), key.get()) != 1) {
    return openssl_error("CSR: signature does not verify with its own key");
  }

  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req.get());
  struct ExtsFree {
    STACK_OF(X509_EXTENSION) * e;
    ~ExtsFree() { sk_X509_EXTENSION_pop_free(e, X509_EXTENSION_free); }
  } exts_free{exts};
  const X509_EXTENSION* san_ext = nullptr;
  for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* e = sk_X509_EXTENSION_value(exts, i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) != NID_subject_alt_name) continue;
    if (san_ext) return absl::InvalidArgumentError("CSR: more than one subjectAltName extension");
    san_ext = e;
  }
  if (!san_ext) return absl::InvalidArgumentError("CSR: no subjectAltName extension");
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(const_cast<X509_EXTENSION*>(san_ext))));
  if (!names) return openssl_error("CSR: decode subjectAltName");
  int n = sk_GENERAL_NAME_num(names.get());
  if (n != 1) {
    return absl::InvalidArgumentError(
        str_cat("CSR: subjectAltName holds ", n, " names, want exactly one URI"));
  }
  const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), 0);
  if (gn->type != GEN_URI) {
    return absl::InvalidArgumentError("CSR: subjectAltName is not a URI (DNS, IP or email SANs are not accepted)");
  }
  const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
  std::string_view uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<size_t>(ASN1_STRING_length(s)));
  if (uri.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("CSR: URI SAN contains a NUL byte");
  }
  auto id = SpiffeId::parse(uri);
  if (!id.ok()) return absl::InvalidArgumentError(str_cat("CSR: ", id.status().message()));
  return CertificateRequest(std::move(*id), std::move(key));
}

}  // namespace ambit::crypto
