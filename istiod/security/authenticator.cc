#include "istiod/security/authenticator.h"

#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "istiod/security/loopback.h"

namespace ambit::istiod::security {

CallCredentials credentials_of(const grpc::ServerContextBase& ctx) {
  CallCredentials c;
  c.peer = ctx.peer();
  c.loopback = peer_is_loopback(c.peer);
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it != md.end()) {
    std::string v(it->second.data(), it->second.size());
    if (v.rfind("Bearer ", 0) == 0) c.bearer = v.substr(7);
    else c.bearer = v;  // reported as malformed by authenticate()
  }
  auto auth = ctx.auth_context();
  if (auth) {
    auto pems = auth->FindPropertyValues("x509_pem_cert");
    if (!pems.empty()) c.peer_cert_pem = std::string(pems.front().data(), pems.front().size());
    auto type = auth->FindPropertyValues("transport_security_type");
    c.secure = !type.empty() && std::string(type.front().data(), type.front().size()) == "ssl";
  }
  return c;
}

Authenticator::Authenticator(std::optional<NodeTokenIssuer> tokens,
                             std::shared_ptr<const crypto::TrustBundle> roots, std::string trust_domain,
                             bool allow_anonymous_plaintext)
    : tokens_(std::move(tokens)),
      roots_(std::move(roots)),
      trust_domain_(std::move(trust_domain)),
      allow_anonymous_plaintext_(allow_anonymous_plaintext) {}

SpiffeId Authenticator::node_identity() const {
  return *SpiffeId::make(trust_domain_, "istio-system", "ztunnel");
}

absl::StatusOr<Caller> Authenticator::authenticate(const CallCredentials& c) const {
  if (!c.secure && !c.loopback) {
    if (c.bearer) {
      return absl::UnauthenticatedError(
          str_cat("node tokens are never accepted over plaintext from a non-loopback peer (", c.peer,
                  "): the token travelled in clear; use the TLS port"));
    }
    return absl::UnauthenticatedError(str_cat("plaintext from non-loopback peer ", c.peer,
                                              " is refused: no credential can be verified without TLS; use the TLS port"));
  }
  if (c.bearer) {
    if (!tokens_) return absl::UnauthenticatedError("bearer tokens are not accepted by this istiod");
    auto node = tokens_->verify(*c.bearer);
    if (!node.ok()) return absl::UnauthenticatedError(str_cat("bearer token rejected: ", node.status().message()));
    return Caller{node_identity(), *node, "node-token"};
  }
  if (c.peer_cert_pem) {
    // gRPC already verified the chain against our roots (REQUEST_AND_VERIFY); check it again
    // here with our own verifier so trust domain and validity rules are the mesh's, not gRPC's.
    auto chain = crypto::parse_pem_chain(*c.peer_cert_pem);
    if (!chain.ok()) return absl::UnauthenticatedError(str_cat("client certificate: ", chain.status().message()));
    auto id = crypto::verify_chain(*chain, *roots_, crypto::Purpose::kClient);
    if (!id.ok()) return absl::UnauthenticatedError(str_cat("client certificate: ", id.status().message()));
    return Caller{*id, "", "client-certificate"};
  }
  if (!c.secure && allow_anonymous_plaintext_) {
    return Caller{*SpiffeId::make(trust_domain_, "anonymous", "anonymous"), "", "anonymous"};
  }
  return absl::UnauthenticatedError(
      "no credential: send `authorization: Bearer <node token>` or a mesh client certificate");
}

}  // namespace ambit::istiod::security
