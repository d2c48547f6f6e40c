// Who is calling istiod (xDS and CA share this): a node's ztunnel presenting its bootstrap token,
// a pod presenting its service-account token (the waypoint, for its own certificate), or a
// workload presenting a mesh certificate over mTLS. Mirrors istiod's authenticator chain
// (security/pkg/server/ca/authenticate): the first authenticator that recognises the credential
// decides; a credential that is present but invalid is an error, not "try the next one".
//
// Plaintext (the debugging port) is decided by where the caller is, before any credential:
//  - a loopback peer may present a node token, or nothing (anonymous) unless anonymous
//    plaintext is disabled (--plaintext-requires-auth);
//  - a non-loopback peer is refused whatever it sends: without TLS there is no client
//    certificate, and a node token sent in clear could have been read on the way and is never
//    accepted (it would stay valid for anyone who saw it). Such callers must use the TLS port.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/trust.h"
#include "common/identity/sa_token.h"
#include "common/identity/spiffe.h"
#include "istiod/security/node_token.h"

namespace ambit::istiod::security {

struct Caller {
  SpiffeId identity;
  std::string node;    // set for node (ztunnel) callers
  std::string method;  // "node-token", "pod-token", "client-certificate", "anonymous"
};

// Pod service-account tokens (common/identity/sa_token.h), the local stand-in for projected
// tokens that istiod checks with a TokenReview: the key, and istiod's view of the pods a token
// is bound to. A token is accepted only if its MAC is valid and the pod it names
//  - exists, with the token's uid (a re-created pod needs a new token),
//  - is not terminated (phase Succeeded or Failed),
//  - runs as the token's service account,
//  - and is the caller: the call comes from one of the pod's addresses. A bearer token proves
//    nothing about who holds it; in the local mesh every pod's traffic leaves from its own
//    address, so a token copied into another pod is refused there.
// The caller is then spiffe://<td>/ns/<namespace>/sa/<service account>.
struct PodView {
  std::string uid, service_account, phase;
  std::vector<std::string> ips;
};
using PodLookup = std::function<std::optional<PodView>(const std::string& ns, const std::string& name)>;
struct PodTokens {
  identity::ServiceAccountTokens keys;
  PodLookup lookup;
};

// Credentials pulled out of a gRPC call, so authentication is testable without a server.
struct CallCredentials {
  std::optional<std::string> bearer;          // from `authorization: Bearer ...`
  std::optional<std::string> peer_cert_pem;   // verified TLS client certificate, if any
  bool secure = false;                        // arrived over TLS
  bool loopback = false;                      // the peer is this host (loopback or Unix socket)
  std::string peer;                           // gRPC's peer string, for messages
};
CallCredentials credentials_of(const grpc::ServerContextBase& ctx);

class Authenticator {
 public:
  Authenticator(std::optional<NodeTokenIssuer> tokens, std::shared_ptr<const crypto::TrustBundle> roots,
                std::string trust_domain, bool allow_anonymous_plaintext,
                std::optional<PodTokens> pod_tokens = std::nullopt);
  // UNAUTHENTICATED with the reason when no credential is acceptable.
  absl::StatusOr<Caller> authenticate(const CallCredentials& c) const;

  // Identity a node token stands for: the ztunnel service account in istio-system.
  SpiffeId node_identity() const;

 private:
  absl::StatusOr<Caller> authenticate_pod(const CallCredentials& c) const;

  std::optional<NodeTokenIssuer> tokens_;
  std::optional<PodTokens> pod_tokens_;
  std::shared_ptr<const crypto::TrustBundle> roots_;
  std::string trust_domain_;
  bool allow_anonymous_plaintext_;
};

}  // namespace ambit::istiod::security
