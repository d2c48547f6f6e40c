#include "common/base/strings.h"
#include "common/tls/tls_context.h"

#include <openssl/err.h>

#include <algorithm>

#include "common/base/status.h"

namespace ambit::tls {
namespace {

constexpr unsigned char kAlpnH2[] = {2, 'h', '2'};

int ssl_ex_index() {
  static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnH2, sizeof(kAlpnH2), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    // The client offered ALPN but not h2: HBONE cannot proceed (no_application_protocol alert).
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

absl::StatusOr<crypto::SslCtxPtr> base_context(Role role) {
  crypto::SslCtxPtr ctx(SSL_CTX_new(role == Role::kServer ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return crypto::openssl_error("SSL_CTX_new", absl::StatusCode::kInternal);
  SSL_CTX* c = ctx.get();
  if (SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1) {
    return crypto::openssl_error("pin TLS 1.3", absl::StatusCode::kInternal);
  }
  if (SSL_CTX_set_ciphersuites(c, TlsContext::kCipherSuites) != 1) {
    return crypto::openssl_error("set TLS 1.3 cipher suites", absl::StatusCode::kInternal);
  }
  if (SSL_CTX_set1_groups_list(c, TlsContext::kGroups) != 1) {
    return crypto::openssl_error("set key exchange groups", absl::StatusCode::kInternal);
  }
  // ztunnel disables resumption: every connection proves its certificate afresh.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(c, 0);
  SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Idle connections give their 16 KiB record buffers back; non-blocking writes may move.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

absl::Status install_credentials(SSL_CTX* c, const Credentials& creds) {
  if (SSL_CTX_use_certificate(c, creds.chain.at(0).get()) != 1) {
    return crypto::openssl_error("use certificate");
  }
  for (size_t i = 1; i < creds.chain.size(); ++i) {
    // add1: the context takes its own reference.
    if (SSL_CTX_add1_chain_cert(c, creds.chain[i].get()) != 1) {
      return crypto::openssl_error("add chain certificate");
    }
  }
  if (SSL_CTX_use_PrivateKey(c, creds.key.get()) != 1) return crypto::openssl_error("use key");
  if (SSL_CTX_check_private_key(c) != 1) return crypto::openssl_error("key does not match certificate");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Credentials> Credentials::from_pem(std::string_view chain_pem,
                                                  std::string_view key_pem) {
  AMBIT_ASSIGN_OR_RETURN(auto chain, crypto::parse_pem_chain(chain_pem));
  AMBIT_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::from_pem(key_pem));
  if (X509_check_private_key(chain[0].get(), key.get()) != 1) {
    return crypto::openssl_error("private key does not match the leaf certificate");
  }
  AMBIT_ASSIGN_OR_RETURN(SpiffeId id, chain[0].spiffe_id());
  return Credentials{std::move(chain), std::move(key), std::move(id)};
}

int TlsContext::verify_callback(X509_STORE_CTX* store_ctx, void* arg) {
  auto* self = static_cast<TlsContext*>(arg);
  SSL* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store_ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  PeerVerification* v = ssl ? verification(ssl) : nullptr;
  auto id = crypto::verify_store_ctx(store_ctx, *self->bundle_);
  if (!id.ok()) {
    if (v) v->error = std::string(id.status().message());
    if (X509_STORE_CTX_get_error(store_ctx) == X509_V_OK) {
      X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
    }
    return 0;
  }
  if (v && !v->expected.empty() &&
      std::find(v->expected.begin(), v->expected.end(), *id) == v->expected.end()) {
    std::vector<std::string> want;
    for (const auto& e : v->expected) want.push_back(e.to_string());
    v->error = str_cat("peer identity ", id->to_string(), " is not one of the expected [",
                            join(want, ", "), "]");
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  if (v) v->peer = std::move(*id);
  return 1;
}

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::server(
    const Credentials& creds, std::shared_ptr<const crypto::TrustBundle> bundle) {
  AMBIT_ASSIGN_OR_RETURN(crypto::SslCtxPtr ctx, base_context(Role::kServer));
  AMBIT_RETURN_IF_ERROR(install_credentials(ctx.get(), creds));
  SSL_CTX_set1_cert_store(ctx.get(), bundle->store());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_alpn_select_cb(ctx.get(), alpn_select, nullptr);
  std::shared_ptr<TlsContext> out(new TlsContext(Role::kServer, std::move(ctx), std::move(bundle)));
  SSL_CTX_set_cert_verify_callback(out->ctx_.get(), verify_callback, out.get());
  return std::shared_ptr<const TlsContext>(std::move(out));
}

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::client(
    const std::optional<Credentials>& creds, std::shared_ptr<const crypto::TrustBundle> bundle) {
  AMBIT_ASSIGN_OR_RETURN(crypto::SslCtxPtr ctx, base_context(Role::kClient));
  if (creds) AMBIT_RETURN_IF_ERROR(install_credentials(ctx.get(), *creds));
  SSL_CTX_set1_cert_store(ctx.get(), bundle->store());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_set_alpn_protos(ctx.get(), kAlpnH2, sizeof(kAlpnH2)) != 0) {
    return crypto::openssl_error("set ALPN", absl::StatusCode::kInternal);
  }
  std::shared_ptr<TlsContext> out(new TlsContext(Role::kClient, std::move(ctx), std::move(bundle)));
  SSL_CTX_set_cert_verify_callback(out->ctx_.get(), verify_callback, out.get());
  return std::shared_ptr<const TlsContext>(std::move(out));
}

absl::StatusOr<crypto::SslPtr> TlsContext::new_connection(PeerVerification* v) const {
  crypto::SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl) return crypto::openssl_error("SSL_new", absl::StatusCode::kInternal);
  SSL_set_ex_data(ssl.get(), ssl_ex_index(), v);
  if (role_ == Role::kServer) {
    SSL_set_accept_state(ssl.get());
  } else {
    SSL_set_connect_state(ssl.get());  // no SNI, as ztunnel
  }
  return ssl;
}

PeerVerification* TlsContext::verification(SSL* ssl) {
  return static_cast<PeerVerification*>(SSL_get_ex_data(ssl, ssl_ex_index()));
}

absl::Status TlsContext::handshake_error(SSL* ssl, int ret, std::string_view what) {
  PeerVerification* v = verification(ssl);
  if (v && !v->error.empty()) {
    ERR_clear_error();
    return absl::UnauthenticatedError(str_cat(what, ": ", v->error));
  }
  int err = SSL_get_error(ssl, ret);
  if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    return absl::UnavailableError(str_cat(what, ": connection closed during handshake"));
  }
  return crypto::openssl_error(what, absl::StatusCode::kUnauthenticated);
}

}  // namespace ambit::tls
