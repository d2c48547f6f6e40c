#include "common/identity/workload_cert.h"

#include <algorithm>

#include "common/base/strings.h"
#include "common/crypto/csr.h"

namespace ambit::identity {

absl::StatusOr<KeyAndCsr> new_key_and_csr(const SpiffeId& id) {
  auto key = crypto::PrivateKey::generate_p256();
  if (!key.ok()) return key.status();
  auto csr = crypto::create_csr(*key, id);
  if (!csr.ok()) return csr.status();
  return KeyAndCsr{std::move(*key), std::move(*csr)};
}

absl::StatusOr<WorkloadCertPtr> make_workload_cert(const std::vector<std::string>& chain, const crypto::PrivateKey& key,
                                                   const SpiffeId& want,
                                                   std::shared_ptr<const crypto::TrustBundle> roots) {
  std::string pem;
  for (const auto& c : chain) pem += c;
  auto creds = tls::Credentials::from_pem(pem, key.to_pem());
  if (!creds.ok()) return creds.status();
  if (creds->identity != want) {
    return absl::PermissionDeniedError(
        str_cat("CA returned a certificate for ", creds->identity.to_string(), ", want ", want.to_string()));
  }
  auto server = tls::TlsContext::server(*creds, roots);
  if (!server.ok()) return server.status();
  auto client = tls::TlsContext::client(*creds, roots);
  if (!client.ok()) return client.status();
  auto nb = creds->chain[0].not_before();
  auto na = creds->chain[0].not_after();
  return std::make_shared<const WorkloadCert>(
      WorkloadCert{std::move(*creds), std::move(*server), std::move(*client), nb, na});
}

std::chrono::steady_clock::duration refresh_after(const WorkloadCert& cert, crypto::Clock::time_point now) {
  auto half = cert.not_before + (cert.not_after - cert.not_before) / 2;
  return std::max<std::chrono::steady_clock::duration>(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(half - now), std::chrono::milliseconds(100));
}

std::chrono::milliseconds next_backoff(std::chrono::milliseconds previous, const RenewalPolicy& p) {
  return previous.count() == 0 ? p.initial_backoff : std::min(previous * 2, p.max_backoff);
}

}  // namespace ambit::identity
