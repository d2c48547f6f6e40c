// TLS and identity regressions named after CVEs (issue 10) that apply to ztunnel's mTLS
// (common/tls, common/crypto/trust, common/identity/spiffe): certificate purpose (EKU), session
// resumption, NUL bytes and wildcards in the SAN that carries the SPIFFE identity.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "common/crypto/ca.h"
#include "common/crypto/trust.h"
#include "common/tls/tls_context.h"
#include "test/support/cert_forge.h"
#include "test/support/tls_pair.h"

using namespace ambit;
using namespace ambit::crypto;
using namespace std::chrono_literals;
using test::ForgeSpec;
using test::ForgedCa;

namespace {

const SpiffeId kClient = *SpiffeId::parse("spiffe://cluster.local/ns/a/sa/client");
const SpiffeId kServer = *SpiffeId::parse("spiffe://cluster.local/ns/b/sa/server");
const SpiffeId kVictim = *SpiffeId::parse("spiffe://cluster.local/ns/a/sa/victim");

// One side of a connection. The SSL points at `v`, so a Conn is built in place and never moved.
struct Conn {
  tls::PeerVerification v;
  SslPtr ssl;
  Conn() = default;
  explicit Conn(const std::shared_ptr<const tls::TlsContext>& ctx, std::vector<SpiffeId> expected = {}) {
    open(ctx, std::move(expected));
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  void open(const std::shared_ptr<const tls::TlsContext>& ctx, std::vector<SpiffeId> expected = {}) {
    v = tls::PeerVerification{};
    v.expected = std::move(expected);
    auto s = ctx->new_connection(&v);
    REQUIRE(s.ok());
    ssl = std::move(*s);
  }
};

// A test root trusted for cluster.local, a legitimate server and client under it, and what it
// takes to run a handshake with a forged certificate on either side.
struct ForgeWorld {
  ForgedCa root = ForgedCa::root("cluster.local");
  std::shared_ptr<const TrustBundle> bundle = *TrustBundle::from_pem(root.self.cert.to_pem(), "cluster.local");

  test::Forged good(const SpiffeId& id) const {
    return root.issue({.uris = {id.to_string()}, .eku = "serverAuth,clientAuth"});
  }

  // The server (legitimate) verifies a client presenting `client`.
  test::HandshakeResult client_presents(const tls::Credentials& client, Conn* server_side) const {
    auto srv = tls::TlsContext::server(good(kServer).credentials(kServer), bundle);
    auto cli = tls::TlsContext::client(client, bundle);
    REQUIRE(srv.ok());
    REQUIRE(cli.ok());
    Conn c(*cli);
    server_side->open(*srv);
    return test::handshake_in_memory(c.ssl.get(), server_side->ssl.get());
  }
  // The client (legitimate) verifies a server presenting `server`.
  test::HandshakeResult server_presents(const tls::Credentials& server, Conn* client_side) const {
    auto srv = tls::TlsContext::server(server, bundle);
    auto cli = tls::TlsContext::client(good(kClient).credentials(kClient), bundle);
    REQUIRE(srv.ok());
    REQUIRE(cli.ok());
    Conn s(*srv);
    client_side->open(*cli);
    return test::handshake_in_memory(client_side->ssl.get(), s.ssl.get());
  }
};

}  // namespace

// The forge itself: a certificate with the mesh CA's EKUs is accepted both ways, so each refusal
// below is about the one field that differs.
TEST_CASE("forged certificates with the mesh's EKUs and a proper SPIFFE SAN are accepted") {
  ForgeWorld w;
  Conn s, c;
  auto r = w.client_presents(w.good(kClient).credentials(kClient), &s);
  REQUIRE_MESSAGE(r.server.ok(), r.server.ToString());
  CHECK(*s.v.peer == kClient);
  r = w.server_presents(w.good(kServer).credentials(kServer), &c);
  REQUIRE_MESSAGE(r.client.ok(), r.client.ToString());
  CHECK(*c.v.peer == kServer);
}

// CVE-2022-21657 (Envoy): the extended key usage of the peer's certificate was not checked, so a
// certificate the CA issued for e-mail (or any other purpose) authenticated a TLS peer.
TEST_CASE("CVE-2022-21657: a mesh-signed certificate whose EKU is only emailProtection is refused") {
  ForgeWorld w;
  test::Forged email = w.root.issue({.uris = {kVictim.to_string()}, .eku = "emailProtection"});
  Conn s, c;
  auto r = w.client_presents(email.credentials(kVictim), &s);
  CHECK_FALSE(r.server.ok());
  CHECK_MESSAGE(r.server.message().find("unsuitable certificate purpose") != std::string::npos,
                r.server.message());
  CHECK_FALSE(s.v.peer.has_value());
  r = w.server_presents(email.credentials(kVictim), &c);
  CHECK_FALSE(r.client.ok());
  CHECK_MESSAGE(r.client.message().find("unsuitable certificate purpose") != std::string::npos,
                r.client.message());
  CHECK_FALSE(c.v.peer.has_value());
  // The offline verifier (CSR/chain checks) agrees.
  auto v = verify_chain({email.cert}, *w.bundle, Purpose::kClient);
  CHECK_FALSE(v.ok());
}

TEST_CASE("CVE-2022-21657: a certificate for the other TLS role is refused in this one") {
  ForgeWorld w;
  test::Forged server_only = w.root.issue({.uris = {kVictim.to_string()}, .eku = "serverAuth"});
  test::Forged client_only = w.root.issue({.uris = {kVictim.to_string()}, .eku = "clientAuth"});
  Conn s, c;
  // A serverAuth-only certificate cannot authenticate a client …
  auto r = w.client_presents(server_only.credentials(kVictim), &s);
  CHECK_FALSE(r.server.ok());
  CHECK_FALSE(s.v.peer.has_value());
  // … nor a clientAuth-only one a server.
  r = w.server_presents(client_only.credentials(kVictim), &c);
  CHECK_FALSE(r.client.ok());
  CHECK_FALSE(c.v.peer.has_value());
}

TEST_CASE("CVE-2022-21657: a leaf under an intermediate CA restricted to emailProtection is refused") {
  ForgeWorld w;
  ForgedCa mail_ca = w.root.intermediate({.eku = "emailProtection"});
  test::Forged leaf = mail_ca.issue({.uris = {kVictim.to_string()}, .eku = "serverAuth,clientAuth"});
  REQUIRE(leaf.chain_above.size() == 1);
  Conn s, c;
  auto r = w.client_presents(leaf.credentials(kVictim), &s);
  CHECK_FALSE(r.server.ok());
  CHECK_MESSAGE(r.server.message().find("chain certificate at depth 1: unsuitable certificate purpose") !=
                    std::string::npos,
                r.server.message());
  CHECK_FALSE(s.v.peer.has_value());
  r = w.server_presents(leaf.credentials(kVictim), &c);
  CHECK_FALSE(r.client.ok());
  CHECK_FALSE(c.v.peer.has_value());
  // The same leaf under an unrestricted intermediate is fine: the EKU is what was refused.
  ForgedCa open_ca = w.root.intermediate({});
  test::Forged ok = open_ca.issue({.uris = {kVictim.to_string()}, .eku = "serverAuth,clientAuth"});
  r = w.client_presents(ok.credentials(kVictim), &s);
  CHECK_MESSAGE(r.server.ok(), r.server.ToString());
}

// CVE-2022-21654 (Envoy): a resumed TLS session skipped certificate validation, so a peer kept
// its access after the trust roots (or the SAN matcher) changed. ztunnel does not resume: every
// connection is a full handshake that runs the verifier. Shown from both sides with a peer that
// would resume if it could — a stock OpenSSL context with tickets and a session cache on.
TEST_CASE("CVE-2022-21654: the server issues no resumable session, a second handshake is full") {
  auto ca = *CertificateAuthority::create_root("cluster.local", 24h * 365);
  auto bundle = *TrustBundle::from_pem(ca.root_pem(), "cluster.local");
  auto creds = [&](const SpiffeId& who) {
    auto key = *PrivateKey::generate_p256();
    std::string chain;
    auto pems = ca.sign_key(key.get(), who, 24h);  // kept: a range-for over *temporary dangles
    REQUIRE(pems.ok());
    for (auto& p : *pems) chain += p;
    return *tls::Credentials::from_pem(chain, key.to_pem());
  };
  auto srv = *tls::TlsContext::server(creds(kServer), bundle);
  // The stock client: our credentials, resumption as OpenSSL ships it.
  SslCtxPtr stock(SSL_CTX_new(TLS_client_method()));
  tls::Credentials cc = creds(kClient);
  REQUIRE(SSL_CTX_use_certificate(stock.get(), cc.chain[0].get()) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey(stock.get(), cc.key.get()) == 1);
  SSL_CTX_set_session_cache_mode(stock.get(), SSL_SESS_CACHE_CLIENT);
  static const unsigned char h2[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(stock.get(), h2, sizeof(h2));

  SSL_SESSION* saved = nullptr;
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    SslPtr c(SSL_new(stock.get()));
    SSL_set_connect_state(c.get());
    if (saved) REQUIRE(SSL_set_session(c.get(), saved) == 1);
    Conn s(srv);
    auto r = test::handshake_in_memory(c.get(), s.ssl.get());
    REQUIRE_MESSAGE(r.server.ok(), r.server.ToString());
    // Application data carries TLS 1.3 NewSessionTicket messages, were there any.
    REQUIRE(test::exchange(c.get(), s.ssl.get(), "x"));
    // And the client reads, so it has processed everything the server sent after the handshake.
    REQUIRE(SSL_write(s.ssl.get(), "y", 1) == 1);
    char y = 0;
    REQUIRE(SSL_read(c.get(), &y, 1) == 1);
    CHECK(SSL_session_reused(c.get()) == 0);
    CHECK(SSL_session_reused(s.ssl.get()) == 0);
    // The verifier ran for this connection: the identity comes from a fresh chain check.
    REQUIRE(s.v.peer.has_value());
    CHECK(*s.v.peer == kClient);
    if (!saved) {
      saved = SSL_get1_session(c.get());
      REQUIRE(saved != nullptr);
      CHECK(SSL_SESSION_is_resumable(saved) == 0);  // no ticket was issued
    }
  }
  SSL_SESSION_free(saved);
  CHECK(SSL_CTX_sess_number(srv->get()) == 0);  // and no server-side cache entry
}

TEST_CASE("CVE-2022-21654: after the trust roots change, a client of the old roots is refused") {
  // Rotation builds a new context over the new bundle; with no resumption there is no session
  // from before the change that could bypass it.
  auto old_ca = *CertificateAuthority::create_root("cluster.local", 24h * 365);
  auto new_ca = *CertificateAuthority::create_root("cluster.local", 24h * 365);
  auto old_bundle = *TrustBundle::from_pem(old_ca.root_pem(), "cluster.local");
  auto new_bundle = *TrustBundle::from_pem(new_ca.root_pem(), "cluster.local");
  auto creds = [](const CertificateAuthority& ca, const SpiffeId& who) {
    auto key = *PrivateKey::generate_p256();
    std::string chain;
    auto pems = ca.sign_key(key.get(), who, 24h);  // kept: a range-for over *temporary dangles
    REQUIRE(pems.ok());
    for (auto& p : *pems) chain += p;
    return *tls::Credentials::from_pem(chain, key.to_pem());
  };
  auto cli = *tls::TlsContext::client(creds(old_ca, kClient), old_bundle);
  auto before = *tls::TlsContext::server(creds(old_ca, kServer), old_bundle);
  Conn c1(cli), s1(before);
  auto r = test::handshake_in_memory(c1.ssl.get(), s1.ssl.get());
  REQUIRE_MESSAGE(r.server.ok(), r.server.ToString());
  REQUIRE(test::exchange(c1.ssl.get(), s1.ssl.get(), "x"));
  // Even a client that offers its earlier session gets a full handshake, and fails it.
  SSL_SESSION* earlier = SSL_get1_session(c1.ssl.get());
  auto after = *tls::TlsContext::server(creds(new_ca, kServer), new_bundle);
  auto cli2 = *tls::TlsContext::client(creds(old_ca, kClient), new_bundle);  // trusts the new server
  Conn c2(cli2), s2(after);
  SSL_set_session(c2.ssl.get(), earlier);
  r = test::handshake_in_memory(c2.ssl.get(), s2.ssl.get());
  SSL_SESSION_free(earlier);
  CHECK_FALSE(r.server.ok());
  CHECK_MESSAGE(r.server.message().find("does not lead to a trusted mesh root") != std::string::npos,
                r.server.message());
  CHECK_FALSE(s2.v.peer.has_value());
}

// CVE-2025-66220: a SAN with an embedded NUL ("victim\0evil") matched an exact rule for "victim"
// in code that read it as a C string. Our SAN bytes are read with their length, and SPIFFE IDs
// with a NUL are refused — the peer is never taken for the victim.
TEST_CASE("CVE-2025-66220: a URI SAN of victim, NUL, evil is not the victim") {
  const std::string nul_uri("spiffe://cluster.local/ns/a/sa/victim\0evil", 42);
  REQUIRE(nul_uri.size() == 42);
  auto parsed = SpiffeId::parse(nul_uri);
  REQUIRE_FALSE(parsed.ok());
  CHECK_MESSAGE(parsed.status().message().find("\\x00") != std::string::npos, parsed.status().message());

  ForgeWorld w;
  test::Forged forged = w.root.issue({.uris = {nul_uri}, .eku = "serverAuth,clientAuth"});
  REQUIRE(forged.cert.uri_sans() == std::vector<std::string>{nul_uri});  // read whole, NUL and all
  CHECK_FALSE(forged.cert.spiffe_id().ok());
  CHECK_FALSE(verify_chain({forged.cert}, *w.bundle, Purpose::kClient).ok());
  Conn s, c;
  auto r = w.client_presents(forged.credentials(kVictim), &s);
  CHECK_FALSE(r.server.ok());
  CHECK_MESSAGE(r.server.message().find("no valid SPIFFE URI SAN") != std::string::npos, r.server.message());
  CHECK_FALSE(s.v.peer.has_value());
  r = w.server_presents(forged.credentials(kVictim), &c);
  CHECK_FALSE(r.client.ok());
  CHECK_FALSE(c.v.peer.has_value());
  // A NUL SAN next to a valid one: the identity is the valid one, never the NUL one's prefix.
  test::Forged two = w.root.issue({.uris = {nul_uri, "spiffe://cluster.local/ns/x/sa/evil"},
                                   .eku = "serverAuth,clientAuth"});
  r = w.client_presents(two.credentials(kVictim), &s);
  REQUIRE_MESSAGE(r.server.ok(), r.server.ToString());
  CHECK(s.v.peer->to_string() == "spiffe://cluster.local/ns/x/sa/evil");
}

// CVE-2020-15104 (Envoy): a wildcard SAN "*.example.com" matched "a.b.example.com". SPIFFE IDs
// have no wildcards: '*' is not a valid character anywhere in one, a certificate claiming one is
// refused, and the client's expected identities match exactly.
TEST_CASE("CVE-2020-15104: no wildcard matching of SPIFFE IDs") {
  for (const char* uri : {"spiffe://cluster.local/ns/*/sa/victim", "spiffe://cluster.local/ns/a/sa/*",
                          "spiffe://*.local/ns/a/sa/victim", "spiffe://*/ns/a/sa/victim"}) {
    CAPTURE(uri);
    auto p = SpiffeId::parse(uri);
    CHECK_FALSE(p.ok());
    CHECK_MESSAGE(p.status().message().find("invalid character '*'") != std::string::npos, p.status().message());
  }
  ForgeWorld w;
  test::Forged wild = w.root.issue({.uris = {"spiffe://cluster.local/ns/a/sa/*"}, .eku = "serverAuth,clientAuth"});
  Conn s, c;
  auto r = w.client_presents(wild.credentials(kVictim), &s);
  CHECK_FALSE(r.server.ok());
  CHECK_FALSE(s.v.peer.has_value());
  // The client expecting one identity does not accept a sibling or a deeper one.
  for (const char* other : {"spiffe://cluster.local/ns/a/sa/victim2", "spiffe://cluster.local/ns/aa/sa/victim"}) {
    CAPTURE(other);
    SpiffeId other_id = *SpiffeId::parse(other);
    auto srv = *tls::TlsContext::server(w.good(other_id).credentials(other_id), w.bundle);
    auto cli = *tls::TlsContext::client(w.good(kClient).credentials(kClient), w.bundle);
    Conn cc(cli, {kVictim}), ss(srv);
    auto rr = test::handshake_in_memory(cc.ssl.get(), ss.ssl.get());
    CHECK_FALSE(rr.client.ok());
    CHECK_FALSE(cc.v.peer.has_value());
  }
}
