// What a codec reports when it refuses a message: the HTTP status to answer with (400 for a
// malformed or ambiguous request, 431 for headers over the limits, 501 for a transfer coding or
// upgrade we do not implement, ...) and a reason that names what was wrong, in words a client's
// operator can act on. The reason quotes untrusted bytes only through `printable`.
#pragma once

#include <string>
#include <utility>

#include "absl/status/status.h"

namespace ambit::waypoint::http {

struct HttpError {
  int status = 400;
  std::string reason;

  HttpError() = default;
  HttpError(int s, std::string r) : status(s), reason(std::move(r)) {}
  absl::Status to_status() const;
};

}  // namespace ambit::waypoint::http
