#include "test/support/cert_forge.h"

#include <doctest/doctest.h>
#include <openssl/x509v3.h>

#include <chrono>

namespace ambit::test {
namespace {

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  crypto::X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  REQUIRE_MESSAGE(ext, "bad extension value ", value);
  REQUIRE(X509_add_ext(cert, ext.get(), -1) == 1);
}

// The URI SANs as given, byte for byte (ASN1_STRING_set keeps embedded NULs).
void add_uris(X509* cert, const std::vector<std::string>& uris) {
  if (uris.empty()) return;
  crypto::GeneralNamesPtr names(GENERAL_NAMES_new());
  for (const auto& u : uris) {
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    REQUIRE(ASN1_STRING_set(s, u.data(), static_cast<int>(u.size())) == 1);
    GENERAL_NAME_set0_value(gn, GEN_URI, s);
    sk_GENERAL_NAME_push(names.get(), gn);
  }
  REQUIRE(X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 1, X509V3_ADD_DEFAULT) == 1);
}

Forged make(const Forged* issuer, const ForgeSpec& spec, const std::string& cn) {
  auto key = crypto::PrivateKey::generate_p256();
  REQUIRE(key.ok());
  crypto::X509Ptr x(X509_new());
  X509_set_version(x.get(), X509_VERSION_3);
  static long serial = 1000;
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), ++serial);
  crypto::X509NamePtr name(X509_NAME_new());
  if (!cn.empty()) {
    X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  }
  X509_set_subject_name(x.get(), name.get());
  X509* issuer_x = issuer ? issuer->cert.get() : x.get();
  X509_set_issuer_name(x.get(), X509_get_subject_name(issuer_x));
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 24 * 3600);
  X509_set_pubkey(x.get(), key->get());
  add_ext(x.get(), issuer_x, NID_subject_key_identifier, "hash");
  if (spec.ca) {
    add_ext(x.get(), issuer_x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x.get(), issuer_x, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  } else {
    add_ext(x.get(), issuer_x, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x.get(), issuer_x, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  }
  if (issuer) add_ext(x.get(), issuer_x, NID_authority_key_identifier, "keyid:always");
  if (spec.eku) add_ext(x.get(), issuer_x, NID_ext_key_usage, spec.eku->c_str());
  add_uris(x.get(), spec.uris);
  const crypto::PrivateKey& signer = issuer ? issuer->key : *key;
  REQUIRE(X509_sign(x.get(), signer.get(), EVP_sha256()) > 0);
  Forged out{crypto::Certificate::adopt(std::move(x)), std::move(*key), {}};
  if (issuer && issuer->cert.is_ca() && X509_check_issued(issuer->cert.get(), issuer->cert.get()) != X509_V_OK) {
    // The issuer is an intermediate: it and what is above it go in the chain.
    out.chain_above.push_back(crypto::Certificate::ref(issuer->cert.get()));
    for (const auto& c : issuer->chain_above) out.chain_above.push_back(crypto::Certificate::ref(c.get()));
  }
  return out;
}

}  // namespace

tls::Credentials Forged::credentials(const SpiffeId& claimed) const {
  std::vector<crypto::Certificate> chain;
  chain.push_back(crypto::Certificate::ref(cert.get()));
  for (const auto& c : chain_above) chain.push_back(crypto::Certificate::ref(c.get()));
  auto k = crypto::PrivateKey::from_pem(key.to_pem());
  REQUIRE(k.ok());
  return tls::Credentials{std::move(chain), std::move(*k), claimed};
}

ForgedCa ForgedCa::root(std::string_view org) {
  return ForgedCa{make(nullptr, {.ca = true}, std::string(org))};
}

Forged ForgedCa::issue(const ForgeSpec& spec) const { return make(&self, spec, ""); }

ForgedCa ForgedCa::intermediate(const ForgeSpec& spec) const {
  ForgeSpec s = spec;
  s.ca = true;
  return ForgedCa{make(&self, s, "intermediate")};
}

}  // namespace ambit::test
