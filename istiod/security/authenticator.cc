#include "istiod/security/authenticator.h"

#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/net/ip_addr.h"
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
                             bool allow_anonymous_plaintext, std::optional<PodTokens> pod_tokens)
    : tokens_(std::move(tokens)),
      pod_tokens_(std::move(pod_tokens)),
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
  if (c.bearer && identity::ServiceAccountTokens::looks_like_token(*c.bearer)) return authenticate_pod(c);
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
      "no credential: send `authorization: Bearer <node or pod token>` or a mesh client certificate");
}

absl::StatusOr<Caller> Authenticator::authenticate_pod(const CallCredentials& c) const {
  if (!pod_tokens_) return absl::UnauthenticatedError("pod service-account tokens are not accepted by this istiod");
  auto claims = pod_tokens_->keys.verify(*c.bearer);
  if (!claims.ok()) return absl::UnauthenticatedError(str_cat("bearer token rejected: ", claims.status().message()));
  std::string pod_name = str_cat(claims->ns, "/", claims->pod);
  auto reject = [&](const auto&... why) {
    return absl::UnauthenticatedError(str_cat("pod token for ", pod_name, " rejected: ", why...));
  };
  auto pod = pod_tokens_->lookup(claims->ns, claims->pod);
  if (!pod) return reject("no such pod (deleted, or not known to istiod yet)");
  if (pod->uid != claims->uid) {
    return reject("it was issued to pod uid ", claims->uid, " but the pod now has uid ",
                  pod->uid.empty() ? "(none)" : pod->uid, " (re-created: a token does not outlive its pod)");
  }
  if (pod->phase == "Succeeded" || pod->phase == "Failed") return reject("the pod is terminated (phase ", pod->phase, ")");
  if (pod->service_account != claims->service_account) {
    return reject("it names service account ", claims->service_account, " but the pod runs as ", pod->service_account);
  }
  auto from = peer_ip(c.peer);
  auto from_ip = from ? net::IpAddr::parse(*from) : std::nullopt;
  if (!from_ip) return reject("the caller's address is unknown (", c.peer, "); a pod token is accepted only from its pod");
  bool from_pod = false;
  for (const auto& ip : pod->ips) {
    auto a = net::IpAddr::parse(ip);
    from_pod = from_pod || (a && *a == *from_ip);
  }
  if (!from_pod) {
    return reject("presented from ", from_ip->to_string(), ", which is not the pod's address (",
                  pod->ips.empty() ? "none yet" : join(pod->ips, ", "), ")");
  }
  auto id = SpiffeId::make(trust_domain_, claims->ns, claims->service_account);
  if (!id.ok()) return reject(id.status().message());
  return Caller{*id, "", "pod-token"};
}

}  // namespace ambit::istiod::security
