// TLS contexts for HBONE and the control plane: TLS 1.3 only, AES-GCM suites, ALPN "h2",
// mutual authentication against the mesh roots, peer identity from the SPIFFE URI SAN.
//
// A context is built once per (role, credentials) and reused for every connection, so the
// algorithm fetches and certificate parsing that make OpenSSL 3.0 handshakes slow happen once.
//
//   AMBIT_ASSIGN_OR_RETURN(auto srv, TlsContext::server(creds, bundle));
//   PeerVerification v;                      // lives as long as the connection
//   AMBIT_ASSIGN_OR_RETURN(SslPtr ssl, srv->new_connection(&v));
//   ... handshake ...
//   v.peer   // the client's SPIFFE ID, set only if the chain and trust domain checked out
//
// Client side: put the acceptable server identities in v.expected before the handshake
// (ztunnel's upstream SANs); the handshake fails if the server's identity is not one of them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/certificate.h"
#include "common/crypto/openssl.h"
#include "common/crypto/private_key.h"
#include "common/crypto/trust.h"

namespace ambit::tls {

struct Credentials {
  std::vector<crypto::Certificate> chain;  // leaf first
  crypto::PrivateKey key;
  SpiffeId identity;

  // Builds from PEM, checking the key matches the leaf and reading the identity from the leaf.
  static absl::StatusOr<Credentials> from_pem(std::string_view chain_pem, std::string_view key_pem);
};

// Per-connection verification state; owned by the connection, attached to its SSL.
struct PeerVerification {
  std::vector<SpiffeId> expected;  // client: acceptable server identities (empty: any in-domain)
  std::optional<SpiffeId> peer;    // set when verification succeeded
  std::string error;               // why verification failed
};

enum class Role { kServer, kClient };

class TlsContext {
 public:
  static constexpr const char* kCipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";
  static constexpr const char* kGroups = "X25519:P-256:P-384";

  // Server: requires and verifies a client certificate.
  static absl::StatusOr<std::shared_ptr<const TlsContext>> server(
      const Credentials& creds, std::shared_ptr<const crypto::TrustBundle> bundle);
  // Client: presents `creds` if given (mesh clients always do) and verifies the server.
  static absl::StatusOr<std::shared_ptr<const TlsContext>> client(
      const std::optional<Credentials>& creds, std::shared_ptr<const crypto::TrustBundle> bundle);

  SSL_CTX* get() const { return ctx_.get(); }
  Role role() const { return role_; }
  const crypto::TrustBundle& bundle() const { return *bundle_; }

  // A new SSL in the right mode, with `v` attached for the verifier. `v` must outlive the SSL.
  absl::StatusOr<crypto::SslPtr> new_connection(PeerVerification* v) const;

  // The PeerVerification attached to `ssl` (nullptr if none).
  static PeerVerification* verification(SSL* ssl);

  // After a failed handshake: the verifier's reason if it had one, else OpenSSL's error queue.
  static absl::Status handshake_error(SSL* ssl, int ret, std::string_view what);

 private:
  TlsContext(Role role, crypto::SslCtxPtr ctx, std::shared_ptr<const crypto::TrustBundle> b)
      : role_(role), ctx_(std::move(ctx)), bundle_(std::move(b)) {}
  static int verify_callback(X509_STORE_CTX* store_ctx, void* arg);

  Role role_;
  crypto::SslCtxPtr ctx_;
  std::shared_ptr<const crypto::TrustBundle> bundle_;
};

}  // namespace ambit::tls
