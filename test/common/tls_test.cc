#include <doctest/doctest.h>

#include <chrono>

#include "common/crypto/ca.h"
#include "common/tls/tls_context.h"
#include "test/support/tls_pair.h"

using namespace ambit;
using namespace ambit::crypto;
using namespace std::chrono_literals;

namespace {

SpiffeId id(const char* s) { return *SpiffeId::parse(s); }

struct Mesh {
  CertificateAuthority ca = *CertificateAuthority::create_root("cluster.local", 24h * 365);
  std::shared_ptr<const TrustBundle> bundle = *TrustBundle::from_pem(ca.root_pem(), "cluster.local");

  tls::Credentials creds(const SpiffeId& who, std::chrono::seconds ttl = 24h,
                         Clock::time_point now = Clock::now()) const {
    auto key = *PrivateKey::generate_p256();
    auto pems = *ca.sign_key(key.get(), who, ttl, {}, now);
    std::string chain;
    for (auto& p : pems) chain += p;
    auto c = tls::Credentials::from_pem(chain, key.to_pem());
    REQUIRE(c.ok());
    return *c;
  }
};

struct Conn {
  tls::PeerVerification v;
  SslPtr ssl;
};

Conn open(const std::shared_ptr<const tls::TlsContext>& ctx, std::vector<SpiffeId> expected = {}) {
  Conn c;
  c.v.expected = std::move(expected);
  auto s = ctx->new_connection(&c.v);
  REQUIRE(s.ok());
  c.ssl = std::move(*s);
  return c;
}

const SpiffeId kClient = *SpiffeId::parse("spiffe://cluster.local/ns/a/sa/client");
const SpiffeId kServer = *SpiffeId::parse("spiffe://cluster.local/ns/b/sa/server");

}  // namespace

TEST_CASE("mutual TLS 1.3 with h2: both sides learn the other's SPIFFE identity") {
  Mesh m;
  auto srv = tls::TlsContext::server(m.creds(kServer), m.bundle);
  auto cli = tls::TlsContext::client(m.creds(kClient), m.bundle);
  REQUIRE(srv.ok());
  REQUIRE(cli.ok());
  // Contexts are reused across connections: run several handshakes on the same pair.
  for (int i = 0; i < 3; ++i) {
    Conn c = open(*cli, {kServer});
    Conn s = open(*srv);
    auto r = test::handshake_in_memory(c.ssl.get(), s.ssl.get());
    REQUIRE_MESSAGE(r.client.ok(), r.client.ToString());
    REQUIRE_MESSAGE(r.server.ok(), r.server.ToString());
    REQUIRE(c.v.peer.has_value());
    REQUIRE(s.v.peer.has_value());
    CHECK(*c.v.peer == kServer);
    CHECK(*s.v.peer == kClient);
    CHECK(SSL_version(c.ssl.get()) == TLS1_3_VERSION);
    const unsigned char* alpn = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(c.ssl.get(), &alpn, &len);
    CHECK(std::string(reinterpret_cast<const char*>(alpn), len) == "h2");
    std::string cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(c.ssl.get()));
    CHECK(cipher.find("GCM") != std::string::npos);
    CHECK(SSL_session_reused(c.ssl.get()) == 0);
    CHECK(test::exchange(c.ssl.get(), s.ssl.get(), "hello through the tunnel"));
  }
}

TEST_CASE("the client refuses a server whose identity it did not expect") {
  Mesh m;
  auto srv = *tls::TlsContext::server(m.creds(kServer), m.bundle);
  auto cli = *tls::TlsContext::client(m.creds(kClient), m.bundle);
  Conn c = open(cli, {id("spiffe://cluster.local/ns/b/sa/someone-else")});
  Conn s = open(srv);
  auto r = test::handshake_in_memory(c.ssl.get(), s.ssl.get());
  REQUIRE_FALSE(r.client.ok());
  CHECK(r.client.message().find("is not one of the expected") != std::string::npos);
  CHECK_FALSE(c.v.peer.has_value());
  CHECK_FALSE(r.server.ok());  // the server sees the alert
}

TEST_CASE("a client without a certificate is refused") {
  Mesh m;
  auto srv = *tls::TlsContext::server(m.creds(kServer), m.bundle);
  auto cli = *tls::TlsContext::client(std::nullopt, m.bundle);
  Conn c = open(cli);
  Conn s = open(srv);
  auto r = test::handshake_in_memory(c.ssl.get(), s.ssl.get());
  REQUIRE_FALSE(r.server.ok());
  CHECK_MESSAGE(r.server.message().find("peer did not return a certificate") != std::string::npos,
                r.server.message());
  CHECK_FALSE(r.client.ok());
  CHECK_FALSE(s.v.peer.has_value());
}

TEST_CASE("a TLS 1.2 client is refused") {
  Mesh m;
  auto srv = *tls::TlsContext::server(m.creds(kServer), m.bundle);
  SslCtxPtr old(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_max_proto_version(old.get(), TLS1_2_VERSION);
  SslPtr c(SSL_new(old.get()));
  SSL_set_connect_state(c.get());
  Conn s = open(srv);
  auto r = test::handshake_in_memory(c.get(), s.ssl.get());
  REQUIRE_FALSE(r.server.ok());
  CHECK_MESSAGE(r.server.message().find("unsupported protocol") != std::string::npos,
                r.server.message());
  CHECK_FALSE(r.client.ok());
}

TEST_CASE("a client that offers ALPN without h2 is refused") {
  Mesh m;
  auto srv = *tls::TlsContext::server(m.creds(kServer), m.bundle);
  auto cli = *tls::TlsContext::client(m.creds(kClient), m.bundle);
  Conn c = open(cli);
  static const unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_set_alpn_protos(c.ssl.get(), http11, sizeof(http11));
  Conn s = open(srv);
  auto r = test::handshake_in_memory(c.ssl.get(), s.ssl.get());
  REQUIRE_FALSE(r.server.ok());
  CHECK_MESSAGE(r.server.message().find("no application protocol") != std::string::npos,
                r.server.message());
}

TEST_CASE("client certificates are checked: trust domain, expiry, issuer") {
  Mesh m;
  auto srv = *tls::TlsContext::server(m.creds(kServer), m.bundle);
  struct Case {
    const char* name;
    tls::Credentials creds;
    const char* why;
  };
  Mesh other;
  auto now = Clock::now();
  std::vector<Case> cases = {
      {"wrong trust domain", m.creds(id("spiffe://evil.example/ns/a/sa/b")),
       "trust domain 'evil.example', want 'cluster.local'"},
      {"expired", m.creds(kClient, 1h, now - 3h), "certificate has expired"},
      {"not yet valid", m.creds(kClient, 1h, now + 1h), "not yet valid"},
      {"other CA", other.creds(kClient), "does not lead to a trusted mesh root"},
  };
  for (auto& c : cases) {
    CAPTURE(c.name);
    auto cli = *tls::TlsContext::client(c.creds, m.bundle);
    Conn cc = open(cli);
    Conn s = open(srv);
    auto r = test::handshake_in_memory(cc.ssl.get(), s.ssl.get());
    REQUIRE_FALSE(r.server.ok());
    CHECK_MESSAGE(r.server.message().find(c.why) != std::string::npos, r.server.message());
    CHECK(absl::IsUnauthenticated(r.server));
    CHECK_FALSE(s.v.peer.has_value());
  }
}

TEST_CASE("the client checks the server chain too") {
  Mesh m, other;
  auto srv = *tls::TlsContext::server(other.creds(kServer), other.bundle);
  auto cli = *tls::TlsContext::client(m.creds(kClient), m.bundle);
  Conn c = open(cli, {kServer});
  Conn s = open(srv);
  auto r = test::handshake_in_memory(c.ssl.get(), s.ssl.get());
  REQUIRE_FALSE(r.client.ok());
  CHECK_MESSAGE(r.client.message().find("does not lead to a trusted mesh root") != std::string::npos, r.client.message());
}

TEST_CASE("credentials whose key does not match the certificate are refused") {
  Mesh m;
  auto a = m.creds(kClient);
  auto other_key = *PrivateKey::generate_p256();
  auto bad = tls::Credentials::from_pem(chain_to_pem(a.chain), other_key.to_pem());
  REQUIRE_FALSE(bad.ok());
  CHECK_MESSAGE(bad.status().message().find("does not match") != std::string::npos, bad.status().message());
}
