// X.509 certificates: parse/format PEM, read validity, serial and URI SANs, extract the SPIFFE
// identity the way ztunnel does (the first URI SAN that parses as a SPIFFE ID).
//
//   AMBIT_ASSIGN_OR_RETURN(auto chain, parse_pem_chain(pem));   // leaf first, root last
//   AMBIT_ASSIGN_OR_RETURN(SpiffeId id, chain[0].spiffe_id());
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/openssl.h"
#include "common/identity/spiffe.h"

namespace ambit::crypto {

using Clock = std::chrono::system_clock;

class Certificate {
 public:
  // Exactly one certificate; more is an error (use parse_pem_chain).
  static absl::StatusOr<Certificate> from_pem(std::string_view pem);
  static absl::StatusOr<Certificate> from_der(std::string_view der);
  // Takes a new reference to `x` (the caller keeps its own).
  static Certificate ref(X509* x);
  static Certificate adopt(X509Ptr x) { return Certificate(std::move(x)); }

  Certificate(const Certificate& o) : x_(nullptr) { *this = o; }
  Certificate& operator=(const Certificate& o);
  Certificate(Certificate&&) = default;
  Certificate& operator=(Certificate&&) = default;

  X509* get() const { return x_.get(); }
  std::string to_pem() const;  // ends in "\n", as istiod's cert_chain elements do
  std::string to_der() const;

  Clock::time_point not_before() const;
  Clock::time_point not_after() const;
  std::string serial_hex() const;
  std::string subject() const;  // RFC 2253; "" for the empty subject of workload certs
  bool is_ca() const;
  std::vector<std::string> uri_sans() const;
  absl::StatusOr<SpiffeId> spiffe_id() const;

 private:
  explicit Certificate(X509Ptr x) : x_(std::move(x)) {}
  X509Ptr x_;
};

// Every CERTIFICATE block in `pem`, in order. At least one is required; a malformed block is an
// error naming its position.
absl::StatusOr<std::vector<Certificate>> parse_pem_chain(std::string_view pem);
std::string chain_to_pem(const std::vector<Certificate>& chain);

// ISO-8601 UTC ("2026-11-25T20:00:00Z"), as ztunnel's config_dump prints validity.
std::string format_time(Clock::time_point t);

// Files: read whole; write via a temp file + rename so readers never see half a file.
absl::StatusOr<std::string> read_file(const std::string& path);
absl::Status write_file_atomic(const std::string& path, std::string_view data, int mode = 0644);

}  // namespace ambit::crypto
