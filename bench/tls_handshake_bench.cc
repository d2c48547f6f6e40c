// Full mutual-TLS 1.3 handshakes per second with Ambit's TLS contexts, against baselines measured
// in the same run (the machine is shared and noisy, so only ratios are comparable across runs):
//   reused   — Ambit's way: one server and one client SSL_CTX, reused for every handshake;
//   fresh    — a new SSL_CTX (and credential load) per handshake, the naive OpenSSL 3.0 path;
//   crypto   — the public-key work alone (2 ECDSA P-256 signs + 4 verifies + 2 X25519), the floor.
// Both TLS peers run on one thread through a memory BIO pair, so "per core" means client and
// server work together on one core. No resumption: every handshake is full, as in ztunnel.
#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/crypto/ca.h"
#include "common/tls/tls_context.h"
#include "test/support/tls_pair.h"

using namespace ambit;
using Clock = std::chrono::steady_clock;

namespace {

struct Mesh {
  crypto::CertificateAuthority ca = *crypto::CertificateAuthority::create_root("cluster.local", std::chrono::hours(24));
  std::shared_ptr<const crypto::TrustBundle> bundle = *crypto::TrustBundle::from_pem(ca.root_pem(), "cluster.local");
  std::string chain_pem(const crypto::PrivateKey& key, const SpiffeId& id) {
    auto pems = ca.sign_key(key.get(), id, std::chrono::hours(1));
    if (!pems.ok()) {
      std::fprintf(stderr, "sign: %s\n", pems.status().ToString().c_str());
      std::exit(1);
    }
    std::string out;
    for (auto& p : *pems) out += p;
    return out;
  }
};

double rate(int n, Clock::duration d) { return n / std::chrono::duration<double>(d).count(); }

bool one_handshake(const tls::TlsContext& cli, const tls::TlsContext& srv) {
  tls::PeerVerification cv, sv;
  auto c = cli.new_connection(&cv);
  auto s = srv.new_connection(&sv);
  auto r = test::handshake_in_memory(c->get(), s->get());
  return r.client.ok() && r.server.ok() && cv.peer && sv.peer;
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  Mesh m;
  auto ckey = *crypto::PrivateKey::generate_p256();
  auto skey = *crypto::PrivateKey::generate_p256();
  std::string cchain = m.chain_pem(ckey, *SpiffeId::parse("spiffe://cluster.local/ns/a/sa/client"));
  std::string schain = m.chain_pem(skey, *SpiffeId::parse("spiffe://cluster.local/ns/b/sa/server"));
  std::string ckey_pem = ckey.to_pem(), skey_pem = skey.to_pem();

  // reused contexts
  auto cli = *tls::TlsContext::client(*tls::Credentials::from_pem(cchain, ckey_pem), m.bundle);
  auto srv = *tls::TlsContext::server(*tls::Credentials::from_pem(schain, skey_pem), m.bundle);
  for (int i = 0; i < 50; ++i) one_handshake(*cli, *srv);  // warm-up
  auto t0 = Clock::now();
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += one_handshake(*cli, *srv);
  double reused = rate(n, Clock::now() - t0);
  if (ok != n) {
    std::fprintf(stderr, "tls_handshake_bench: %d of %d handshakes failed\n", n - ok, n);
    return 1;
  }

  // fresh contexts + credential parsing per handshake
  int nf = n / 4;
  t0 = Clock::now();
  for (int i = 0; i < nf; ++i) {
    auto c = *tls::TlsContext::client(*tls::Credentials::from_pem(cchain, ckey_pem), m.bundle);
    auto s = *tls::TlsContext::server(*tls::Credentials::from_pem(schain, skey_pem), m.bundle);
    ok += one_handshake(*c, *s);
  }
  double fresh = rate(nf, Clock::now() - t0);

  // raw public-key work of one mutual handshake
  const unsigned char digest[32] = {1};
  auto sign_verify = [&](EVP_PKEY* k) {
    unsigned char sig[80];
    size_t siglen = sizeof(sig);
    EVP_PKEY_CTX* sctx = EVP_PKEY_CTX_new(k, nullptr);
    EVP_PKEY_sign_init(sctx);
    EVP_PKEY_sign(sctx, sig, &siglen, digest, sizeof(digest));
    EVP_PKEY_CTX_free(sctx);
    for (int v = 0; v < 2; ++v) {  // peer verifies the signature and the leaf's issuer signature
      EVP_PKEY_CTX* vctx = EVP_PKEY_CTX_new(k, nullptr);
      EVP_PKEY_verify_init(vctx);
      EVP_PKEY_verify(vctx, sig, siglen, digest, sizeof(digest));
      EVP_PKEY_CTX_free(vctx);
    }
  };
  EVP_PKEY* x = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  int nc = n;
  t0 = Clock::now();
  for (int i = 0; i < nc; ++i) {
    sign_verify(ckey.get());
    sign_verify(skey.get());
    EVP_PKEY* e1 = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
    EVP_PKEY* e2 = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
    EVP_PKEY_free(e1);
    EVP_PKEY_free(e2);
  }
  double crypto_floor = rate(nc, Clock::now() - t0);
  EVP_PKEY_free(x);

  std::printf("tls_handshake_bench: %d full mutual TLS 1.3 handshakes (client+server on one core)\n", n);
  std::printf("  reused contexts (Ambit)   %8.0f handshakes/s\n", reused);
  std::printf("  fresh context per conn    %8.0f handshakes/s   reused/fresh = %.2fx\n", fresh, reused / fresh);
  std::printf("  public-key work only      %8.0f /s              reused/crypto-floor = %.2f\n",
              crypto_floor, reused / crypto_floor);
  std::printf("  per core, one side        ~%6.0f handshakes/s  (each side does about half the work)\n",
              2 * reused);
  return 0;
}
