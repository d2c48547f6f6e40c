// libFuzzer target: PEM certificate chains and CSRs — the bytes a CA and a TLS peer accept from
// strangers. Checks: no crash/leak/UB; an accepted CSR names a valid SPIFFE ID; a parsed chain
// round-trips through PEM.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/crypto/certificate.h"
#include "common/crypto/csr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto req = ambit::crypto::CertificateRequest::parse(in);
  if (req.ok()) {
    if (!ambit::SpiffeId::parse(req->identity().to_string()).ok()) std::abort();
  } else if (req.status().message().empty()) {
    std::abort();
  }
  auto chain = ambit::crypto::parse_pem_chain(in);
  if (chain.ok()) {
    std::string pem = ambit::crypto::chain_to_pem(*chain);
    auto again = ambit::crypto::parse_pem_chain(pem);
    if (!again.ok() || again->size() != chain->size()) std::abort();
    for (const auto& c : *chain) {
      (void)c.spiffe_id();
      (void)c.uri_sans();
      (void)c.serial_hex();
      (void)c.not_after();
    }
  }
  return 0;
}
