// istio.v1.auth.IstioCertificateService/CreateCertificate with istiod's signing rules
// (security/pkg/server/ca/server.go, node_auth.go):
//   - the caller must authenticate (node token or mesh client certificate);
//   - the certificate's SAN is the caller's identity, or the ImpersonatedIdentity from the
//     request metadata when the caller is a trusted node account (istio-system/ztunnel) and a
//     non-terminal pod with that namespace/service account runs on the caller's node;
//   - the CSR's own SAN must name the identity being granted;
//   - TTL: <= 0 means the default (24 h); above the maximum (90 d) is an error;
//   - the response chain is [leaf, intermediates..., root].
// Distinct gRPC codes: UNAUTHENTICATED (no/invalid credential), PERMISSION_DENIED (authenticated
// but not allowed that identity), INVALID_ARGUMENT (bad CSR, bad TTL, malformed identity).
#pragma once

#include <chrono>
#include <functional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "common/crypto/ca.h"
#include "common/metrics/registry.h"
#include "istio/v1/auth/ca.grpc.pb.h"
#include "istiod/security/authenticator.h"

namespace ambit::istiod::ca {

class CaService final : public istio::v1::auth::IstioCertificateService::Service {
 public:
  struct Options {
    std::chrono::seconds default_ttl{24 * 3600};
    std::chrono::seconds max_ttl{90 * 24 * 3600};
    std::set<std::string> trusted_node_accounts{"istio-system/ztunnel"};  // "ns/sa"
  };
  // node_runs(node, ns, sa): whether a non-terminal pod with ns/sa runs on node.
  using NodeRuns = std::function<bool(const std::string&, const std::string&, const std::string&)>;

  CaService(const crypto::CertificateAuthority* ca, const security::Authenticator* auth, NodeRuns node_runs,
            metrics::Registry* metrics, Options options);

  grpc::Status CreateCertificate(grpc::ServerContext* ctx, const istio::v1::auth::IstioCertificateRequest* req,
                                 istio::v1::auth::IstioCertificateResponse* resp) override;

  // The decision and signing, without gRPC.
  absl::StatusOr<std::vector<std::string>> issue(const security::CallCredentials& creds,
                                                 const istio::v1::auth::IstioCertificateRequest& req) const;

 private:
  const crypto::CertificateAuthority* ca_;
  const security::Authenticator* auth_;
  NodeRuns node_runs_;
  Options opts_;
  metrics::Counter& csr_count_;
  metrics::Counter& auth_failures_;
  metrics::Counter& parse_errors_;
  metrics::Counter& denied_;
  metrics::Counter& sign_errors_;
  metrics::Counter& issued_;
};

grpc::Status to_grpc(const absl::Status& s);

}  // namespace ambit::istiod::ca
