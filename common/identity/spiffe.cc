#include "common/identity/spiffe.h"

#include <vector>

#include "common/base/strings.h"


namespace ambit {
absl::Status validate_trust_domain(std::string_view td) {
  if (td.empty()) return absl::InvalidArgumentError("empty trust domain");
  if (td.size() > 255) return absl::InvalidArgumentError("trust domain longer than 255 characters");
  for (char c : td) {
    // SPIFFE-ID spec §2.1: lowercase letters, digits, dots, dashes and underscores only.
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    if (!ok) {
      return absl::InvalidArgumentError(
          str_cat("trust domain '", printable(td), "' has invalid character '",
                       printable(std::string_view(&c, 1)), "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status validate_path_segment(std::string_view what, std::string_view seg) {
  if (seg.empty()) return absl::InvalidArgumentError(str_cat("empty ", what));
  if (seg == "." || seg == "..") {
    return absl::InvalidArgumentError(str_cat(what, " may not be '.' or '..'"));
  }
  for (char c : seg) {
    // SPIFFE-ID spec §2.2: letters, digits, dots, dashes and underscores; no percent-encoding.
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_';
    if (!ok) {
      return absl::InvalidArgumentError(str_cat(what, " '", printable(seg),
                                                     "' has invalid character '",
                                                     printable(std::string_view(&c, 1)), "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SpiffeId> SpiffeId::parse(std::string_view uri) {
  if (uri.size() > kMaxLength) {
    return absl::InvalidArgumentError(
        str_cat("SPIFFE ID longer than ", kMaxLength, " bytes"));
  }
  if (uri.substr(0, kScheme.size()) != kScheme) {
    return absl::InvalidArgumentError(
        str_cat("SPIFFE ID '", printable(uri), "' does not start with spiffe://"));
  }
  std::string_view rest = uri.substr(kScheme.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return absl::InvalidArgumentError(
        str_cat("SPIFFE ID '", printable(uri), "' has no path; want /ns/<ns>/sa/<sa>"));
  }
  std::string_view td = rest.substr(0, slash);
  if (auto s = validate_trust_domain(td); !s.ok()) {
    return absl::InvalidArgumentError(str_cat("SPIFFE ID '", printable(uri), "': ", s.message()));
  }
  std::vector<std::string_view> segs = split(rest.substr(slash + 1), '/');
  if (segs.size() != 4 || segs[0] != "ns" || segs[2] != "sa") {
    return absl::InvalidArgumentError(str_cat(
        "SPIFFE ID '", printable(uri), "' path is not /ns/<namespace>/sa/<service-account>"));
  }
  if (auto s = validate_path_segment("namespace", segs[1]); !s.ok()) {
    return absl::InvalidArgumentError(str_cat("SPIFFE ID '", printable(uri), "': ", s.message()));
  }
  if (auto s = validate_path_segment("service account", segs[3]); !s.ok()) {
    return absl::InvalidArgumentError(str_cat("SPIFFE ID '", printable(uri), "': ", s.message()));
  }
  return SpiffeId(std::string(td), std::string(segs[1]), std::string(segs[3]));
}

absl::StatusOr<SpiffeId> SpiffeId::make(std::string_view trust_domain, std::string_view ns,
                                        std::string_view sa) {
  return parse(str_cat(kScheme, trust_domain, "/ns/", ns, "/sa/", sa));
}

std::string SpiffeId::to_string() const { return str_cat(kScheme, principal()); }

std::string SpiffeId::principal() const {
  return str_cat(trust_domain_, "/ns/", ns_, "/sa/", sa_);
}

}  // namespace ambit
