// Who is calling istiod (xDS and CA share this): a node's ztunnel presenting its bootstrap token,
// or a workload presenting a mesh certificate over mTLS. Mirrors istiod's authenticator chain
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

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/trust.h"
#include "common/identity/spiffe.h"
#include "istiod/security/node_token.h"

namespace ambit::istiod::security {

struct Caller {
  SpiffeId identity;
  std::string node;    // set for node (ztunnel) callers
  std::string method;  // "node-token", "client-certificate", "anonymous"
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
                std::string trust_domain, bool allow_anonymous_plaintext);
  // UNAUTHENTICATED with the reason when no credential is acceptable.
  absl::StatusOr<Caller> authenticate(const CallCredentials& c) const;

  // Identity a node token stands for: the ztunnel service account in istio-system.
  SpiffeId node_identity() const;

 private:
  std::optional<NodeTokenIssuer> tokens_;
  std::shared_ptr<const crypto::TrustBundle> roots_;
  std::string trust_domain_;
  bool allow_anonymous_plaintext_;
};

}  // namespace ambit::istiod::security
