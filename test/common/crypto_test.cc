#include <doctest/doctest.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <chrono>

#include "common/crypto/ca.h"
#include "common/crypto/certificate.h"
#include "common/crypto/csr.h"
#include "common/crypto/trust.h"
#include "common/sim/command.h"
#include "test/support/harness.h"
#include "test/support/root.h"

using namespace ambit;
using namespace ambit::crypto;
using namespace std::chrono_literals;

namespace {

SpiffeId id(const char* s) { return *SpiffeId::parse(s); }

// Builds a CSR with arbitrary SAN entries (type, value) — for the bad-input cases that
// create_csr() refuses to make.
std::string raw_csr(EVP_PKEY* key, const std::vector<std::pair<int, std::string>>& sans,
                    int san_extensions = 1) {
  X509ReqPtr req(X509_REQ_new());
  X509_REQ_set_pubkey(req.get(), key);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  for (int n = 0; n < san_extensions; ++n) {
    GeneralNamesPtr names(GENERAL_NAMES_new());
    for (const auto& [type, value] : sans) {
      GENERAL_NAME* gn = GENERAL_NAME_new();
      ASN1_IA5STRING* s = ASN1_IA5STRING_new();
      ASN1_STRING_set(s, value.data(), static_cast<int>(value.size()));
      GENERAL_NAME_set0_value(gn, type, s);
      sk_GENERAL_NAME_push(names.get(), gn);
    }
    sk_X509_EXTENSION_push(exts, X509V3_EXT_i2d(NID_subject_alt_name, 1, names.get()));
  }
  if (san_extensions > 0) X509_REQ_add_extensions(req.get(), exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_sign(req.get(), key, EVP_sha256());
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req.get());
  return bio_to_string(bio.get());
}

CertificateAuthority make_ca(const char* td = "cluster.local") {
  auto ca = CertificateAuthority::create_root(td, std::chrono::hours(24 * 365));
  REQUIRE(ca.ok());
  return std::move(*ca);
}

std::vector<Certificate> issue(const CertificateAuthority& ca, const SpiffeId& who,
                               std::chrono::seconds ttl = 24h,
                               Clock::time_point now = Clock::now()) {
  auto key = PrivateKey::generate_p256();
  REQUIRE(key.ok());
  auto csr = create_csr(*key, who);
  REQUIRE(csr.ok());
  auto req = CertificateRequest::parse(*csr);
  REQUIRE(req.ok());
  auto pems = ca.sign(*req, who, ttl, now);
  REQUIRE(pems.ok());
  std::vector<Certificate> chain;
  for (const auto& p : *pems) chain.push_back(*Certificate::from_pem(p));
  return chain;
}

}  // namespace

TEST_CASE("P-256 keys round-trip through PKCS#8 PEM, other keys are refused") {
  auto key = PrivateKey::generate_p256();
  REQUIRE(key.ok());
  std::string pem = key->to_pem();
  CHECK(pem.find("-----BEGIN PRIVATE KEY-----") == 0);
  auto back = PrivateKey::from_pem(pem);
  REQUIRE(back.ok());
  CHECK(EVP_PKEY_eq(key->get(), back->get()) == 1);

  EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), rsa.get(), nullptr, nullptr, 0, nullptr, nullptr);
  auto r = PrivateKey::from_pem(bio_to_string(bio.get()));
  REQUIRE_FALSE(r.ok());
  CHECK_MESSAGE(r.status().message().find("RSA") != std::string::npos, r.status().message());

  EvpPkeyPtr p384(EVP_EC_gen("P-384"));
  BioPtr bio2(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio2.get(), p384.get(), nullptr, nullptr, 0, nullptr, nullptr);
  auto r2 = PrivateKey::from_pem(bio_to_string(bio2.get()));
  REQUIRE_FALSE(r2.ok());
  CHECK_MESSAGE(r2.status().message().find("secp384r1") != std::string::npos, r2.status().message());

  CHECK_FALSE(PrivateKey::from_pem("not a key").ok());
}

TEST_CASE("a CSR has an empty subject and exactly one critical URI SAN") {
  auto key = *PrivateKey::generate_p256();
  auto who = id("spiffe://cluster.local/ns/default/sa/sleep");
  auto csr = create_csr(key, who);
  REQUIRE(csr.ok());
  auto req = CertificateRequest::parse(*csr);
  REQUIRE(req.ok());
  CHECK(req->identity() == who);
  CHECK(EVP_PKEY_eq(req->public_key(), key.get()) == 1);
}

TEST_CASE("bad CSRs get a clear error each") {
  auto ec = *PrivateKey::generate_p256();
  const std::string good = "spiffe://cluster.local/ns/a/sa/b";
  struct Case {
    std::string name;
    std::string pem;
    std::string why;
  };
  EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  std::vector<Case> cases = {
      {"not PEM", "hello", "parse PEM CERTIFICATE REQUEST"},
      {"empty", "", "parse PEM CERTIFICATE REQUEST"},
      {"RSA key", raw_csr(rsa.get(), {{GEN_URI, good}}), "CSR key is RSA"},
      {"two URI SANs", raw_csr(ec.get(), {{GEN_URI, good}, {GEN_URI, "spiffe://cluster.local/ns/x/sa/y"}}),
       "holds 2 names"},
      {"DNS SAN", raw_csr(ec.get(), {{GEN_DNS, "example.com"}}), "not a URI"},
      {"email SAN", raw_csr(ec.get(), {{GEN_EMAIL, "a@b.c"}}), "not a URI"},
      {"URI + DNS", raw_csr(ec.get(), {{GEN_URI, good}, {GEN_DNS, "x"}}), "holds 2 names"},
      {"NUL in SAN", raw_csr(ec.get(), {{GEN_URI, good + std::string("\0.evil", 6)}}), "NUL"},
      {"non-SPIFFE URI", raw_csr(ec.get(), {{GEN_URI, "https://example.com/"}}), "spiffe://"},
      {"bad SPIFFE path", raw_csr(ec.get(), {{GEN_URI, "spiffe://cluster.local/foo"}}), "path is not"},
      {"no SAN", raw_csr(ec.get(), {}, 0), "no subjectAltName"},
      {"two SAN extensions", raw_csr(ec.get(), {{GEN_URI, good}}, 2), "more than one subjectAltName"},
  };
  // A CSR whose signature does not match its key: flip a byte in the signature.
  std::string tampered = raw_csr(ec.get(), {{GEN_URI, good}});
  auto pos = tampered.find("-----END");
  tampered[pos - 6] = tampered[pos - 6] == 'A' ? 'B' : 'A';
  cases.push_back({"bad signature", tampered, "CSR"});
  std::string two = create_csr(ec, id(good.c_str())).value();
  cases.push_back({"two requests", two + two, "more than one request"});
  cases.push_back({"oversized", std::string(70000, 'A'), "more than the limit"});

  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto req = CertificateRequest::parse(c.pem);
    REQUIRE_FALSE(req.ok());
    CHECK_MESSAGE(req.status().message().find(c.why) != std::string::npos, req.status().message());
  }
}

TEST_CASE("the CA signs the way istiod does") {
  auto ca = make_ca();
  auto who = id("spiffe://cluster.local/ns/default/sa/sleep");
  auto now = Clock::now();
  auto chain = issue(ca, who, 24h, now);
  REQUIRE(chain.size() == 2);
  const Certificate& leaf = chain[0];
  CHECK(leaf.subject().empty());
  CHECK(leaf.uri_sans() == std::vector<std::string>{who.to_string()});
  CHECK(*leaf.spiffe_id() == who);
  CHECK_FALSE(leaf.is_ca());
  CHECK(chain[1].to_pem() == ca.root_pem());  // root last

  // NotBefore = now - 2 min; NotAfter = now + TTL (second precision).
  auto nb = std::chrono::duration_cast<std::chrono::seconds>(now - leaf.not_before()).count();
  CHECK(nb >= 119);
  CHECK(nb <= 121);
  auto na = std::chrono::duration_cast<std::chrono::seconds>(leaf.not_after() - now).count();
  CHECK(na >= 24 * 3600 - 1);
  CHECK(na <= 24 * 3600);

  // SAN critical, CA=false critical, serverAuth+clientAuth.
  int crit = -1;
  GeneralNamesPtr san(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf.get(), NID_subject_alt_name, &crit, nullptr)));
  CHECK(crit == 1);
  uint32_t xku = X509_get_extended_key_usage(leaf.get());
  CHECK((xku & XKU_SSL_SERVER) != 0);
  CHECK((xku & XKU_SSL_CLIENT) != 0);
  uint32_t ku = X509_get_key_usage(leaf.get());
  CHECK((ku & KU_DIGITAL_SIGNATURE) != 0);
  CHECK((ku & KU_KEY_ENCIPHERMENT) != 0);
  CHECK((ku & KU_KEY_CERT_SIGN) == 0);
}

TEST_CASE("the CA clamps TTL to its own NotAfter and refuses non-positive TTLs") {
  auto now = Clock::now();
  auto ca = CertificateAuthority::create_root("cluster.local", 3600s, now);
  REQUIRE(ca.ok());
  auto chain = issue(*ca, id("spiffe://cluster.local/ns/a/sa/b"), 48h, now);
  CHECK(chain[0].not_after() == ca->signer().not_after());
  auto key = *PrivateKey::generate_p256();
  auto req = *CertificateRequest::parse(*create_csr(key, id("spiffe://cluster.local/ns/a/sa/b")));
  CHECK(absl::IsInvalidArgument(ca->sign(req, req.identity(), 0s).status()));
}

TEST_CASE("chains verify against the roots and yield the peer identity") {
  auto ca = make_ca();
  auto who = id("spiffe://cluster.local/ns/a/sa/b");
  auto chain = issue(ca, who);
  auto bundle = TrustBundle::from_pem(ca.root_pem(), "cluster.local");
  REQUIRE(bundle.ok());
  auto peer = verify_chain(chain, **bundle, Purpose::kClient);
  REQUIRE(peer.ok());
  CHECK(*peer == who);
  CHECK(verify_chain(chain, **bundle, Purpose::kServer).ok());
}

TEST_CASE("verification failures say which check failed") {
  auto ca = make_ca();
  auto bundle = *TrustBundle::from_pem(ca.root_pem(), "cluster.local");
  auto who = id("spiffe://cluster.local/ns/a/sa/b");
  auto now = Clock::now();

  SUBCASE("expired") {
    auto chain = issue(ca, who, 1h, now - 3h);
    auto r = verify_chain(chain, *bundle, Purpose::kClient, now);
    REQUIRE_FALSE(r.ok());
    CHECK(absl::IsUnauthenticated(r.status()));
    CHECK_MESSAGE(r.status().message().find("certificate has expired") != std::string::npos, r.status().message());
  }
  SUBCASE("not yet valid") {
    auto chain = issue(ca, who, 1h, now + 30min);
    auto r = verify_chain(chain, *bundle, Purpose::kClient, now);
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.status().message().find("not yet valid") != std::string::npos, r.status().message());
  }
  SUBCASE("unknown CA") {
    auto other = make_ca();
    auto chain = issue(other, who);
    auto r = verify_chain(chain, *bundle, Purpose::kClient, now);
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.status().message().find("does not lead to a trusted mesh root") != std::string::npos, r.status().message());
  }
  SUBCASE("wrong trust domain") {
    auto chain = issue(ca, id("spiffe://evil.example/ns/a/sa/b"));
    auto r = verify_chain(chain, *bundle, Purpose::kClient, now);
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.status().message().find("trust domain 'evil.example', want 'cluster.local'") != std::string::npos, r.status().message());
  }
  SUBCASE("empty chain") {
    auto r = verify_chain({}, *bundle, Purpose::kClient, now);
    CHECK_MESSAGE(r.status().message().find("no certificate") != std::string::npos, r.status().message());
  }
}

TEST_CASE("PEM chains: load, save, and malformed input") {
  auto ca = make_ca();
  auto chain = issue(ca, id("spiffe://cluster.local/ns/a/sa/b"));
  std::string pem = chain_to_pem(chain);
  auto back = parse_pem_chain(pem);
  REQUIRE(back.ok());
  REQUIRE(back->size() == 2);
  CHECK((*back)[0].serial_hex() == chain[0].serial_hex());

  CHECK(parse_pem_chain("").status().message().find("no CERTIFICATE") != std::string::npos);
  CHECK(parse_pem_chain("garbage").status().message().find("no CERTIFICATE") != std::string::npos);
  std::string broken = pem;
  broken.replace(broken.find("MII") + 10, 8, "!!!!!!!!");
  auto b = parse_pem_chain(broken);
  REQUIRE_FALSE(b.ok());
  CHECK_MESSAGE(b.status().message().find("certificate #1") != std::string::npos, b.status().message());
  std::string truncated = pem.substr(0, pem.size() - 40);
  auto t = parse_pem_chain(truncated);
  REQUIRE_FALSE(t.ok());
  CHECK_MESSAGE(t.status().message().find("certificate #2") != std::string::npos, t.status().message());
  CHECK(Certificate::from_pem(pem).status().message().find("exactly one") != std::string::npos);

  test::Harness h;
  std::string dir = h.work_dir() + "/ca";
  REQUIRE(ca.save_dir(dir).ok());
  auto loaded = CertificateAuthority::load_dir(dir);
  REQUIRE(loaded.ok());
  CHECK(loaded->root_pem() == ca.root_pem());
  auto missing = CertificateAuthority::load_dir(h.work_dir() + "/nope");
  REQUIRE_FALSE(missing.ok());
  CHECK_MESSAGE(missing.status().message().find("ca-cert.pem") != std::string::npos, missing.status().message());
}

TEST_CASE("openssl verify accepts the leaf, openssl x509 shows the critical URI SAN and both EKUs") {
  auto ca = make_ca();
  auto chain = issue(ca, id("spiffe://cluster.local/ns/default/sa/sleep"));
  test::Harness h;
  std::string root = h.work_dir() + "/root.pem", leaf = h.work_dir() + "/leaf.pem";
  REQUIRE(write_file_atomic(root, ca.root_pem()).ok());
  REQUIRE(write_file_atomic(leaf, chain[0].to_pem()).ok());
  auto v = sim::run({"openssl", "verify", "-CAfile", root, "-purpose", "sslclient", leaf});
  AMBIT_REQUIRE_OK(v);
  CHECK(v->find(": OK") != std::string::npos);
  auto v2 = sim::run({"openssl", "verify", "-CAfile", root, "-purpose", "sslserver", leaf});
  AMBIT_CHECK_OK(v2);
  auto text = sim::run({"openssl", "x509", "-in", leaf, "-noout", "-text"});
  AMBIT_REQUIRE_OK(text);
  CHECK(text->find("X509v3 Subject Alternative Name: critical") != std::string::npos);
  CHECK(text->find("URI:spiffe://cluster.local/ns/default/sa/sleep") != std::string::npos);
  CHECK(text->find("TLS Web Server Authentication, TLS Web Client Authentication") != std::string::npos);
  CHECK(text->find("CA:FALSE") != std::string::npos);
  // A leaf from another CA must be refused by openssl too (the check can fail).
  auto other = make_ca();
  REQUIRE(write_file_atomic(root, other.root_pem()).ok());
  CHECK_FALSE(sim::run({"openssl", "verify", "-CAfile", root, leaf}).ok());
}
