// Certificates the mesh CA would never issue, for tests of what the verifiers refuse: any EKU,
// CA or not, URI SANs given as raw bytes (embedded NULs, wildcards). Signed by a test root the
// test trusts, so every refusal is about the field under test, not the issuer.
//
//   ForgedCa root = ForgedCa::root("cluster.local");
//   auto bundle = *TrustBundle::from_pem(root.cert.to_pem(), "cluster.local");
//   Forged leaf = root.issue({.uris = {std::string("spiffe://…/victim\0evil", n)},
//                             .eku = "emailProtection"});
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/crypto/certificate.h"
#include "common/crypto/private_key.h"
#include "common/tls/tls_context.h"

namespace ambit::test {

struct ForgeSpec {
  // Every field has a default member initializer, so designated initializers may omit any.
  std::vector<std::string> uris{};   // URI SANs, raw bytes
  std::optional<std::string> eku{};  // extendedKeyUsage in openssl's config syntax; none if unset
  bool ca = false;                   // basicConstraints CA:TRUE (and keyCertSign)
};

struct Forged {
  crypto::Certificate cert;
  crypto::PrivateKey key;
  std::vector<crypto::Certificate> chain_above;  // issuers below the root, nearest first

  // TLS credentials presenting this certificate (and its intermediates). The identity field is
  // what the test claims; verifiers never read it from here.
  tls::Credentials credentials(const SpiffeId& claimed) const;
};

struct ForgedCa {
  Forged self;
  static ForgedCa root(std::string_view org);
  Forged issue(const ForgeSpec& spec) const;
  // An intermediate CA under this one (its own EKU as given in `spec`).
  ForgedCa intermediate(const ForgeSpec& spec) const;
};

}  // namespace ambit::test
