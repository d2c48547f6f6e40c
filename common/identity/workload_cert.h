// A workload certificate as a proxy uses it, and the rules for obtaining and renewing one, shared
// by ztunnel's per-pod SecretManager and the single-identity RotatingCertificate (the waypoint's):
//  - a fresh P-256 key and a CSR naming the identity per request;
//  - the returned leaf must carry exactly the requested identity;
//  - TLS contexts are built once per certificate (server for inbound HBONE, client for outbound);
//  - refresh at half-life (istio/ztunnel src/tls/certificate.rs refresh_at), retry failures with
//    exponential backoff (500 ms doubling to 150 s), keep using the current certificate until it
//    expires.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/certificate.h"
#include "common/crypto/private_key.h"
#include "common/crypto/trust.h"
#include "common/identity/spiffe.h"
#include "common/tls/tls_context.h"

namespace ambit::identity {

struct WorkloadCert {
  tls::Credentials creds;
  std::shared_ptr<const tls::TlsContext> server;
  std::shared_ptr<const tls::TlsContext> client;
  crypto::Clock::time_point not_before, not_after;
};
using WorkloadCertPtr = std::shared_ptr<const WorkloadCert>;

struct RenewalPolicy {
  std::chrono::seconds ttl{24 * 3600};
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{150000};
};

// A new key and a CSR for `id`: what one CreateCertificate call sends.
struct KeyAndCsr {
  crypto::PrivateKey key;
  std::string csr_pem;
};
absl::StatusOr<KeyAndCsr> new_key_and_csr(const SpiffeId& id);

// The CA's answer made usable: credentials from `chain` (leaf first) and `key`, checked to be
// for `want` (PermissionDenied naming both otherwise), with TLS contexts against `roots`.
absl::StatusOr<WorkloadCertPtr> make_workload_cert(const std::vector<std::string>& chain, const crypto::PrivateKey& key,
                                                   const SpiffeId& want,
                                                   std::shared_ptr<const crypto::TrustBundle> roots);

// When to renew `cert`: at half its lifetime, but never sooner than 100 ms from `now`.
std::chrono::steady_clock::duration refresh_after(const WorkloadCert& cert, crypto::Clock::time_point now);
// The wait after a failure, given the previous wait (zero after a success).
std::chrono::milliseconds next_backoff(std::chrono::milliseconds previous, const RenewalPolicy& p);

}  // namespace ambit::identity
