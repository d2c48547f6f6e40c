// HTTP GET against a component's admin port inside a simulated node's network namespace (the
// root namespace has no route there, by design). Blocking, bounded by a timeout; enough for
// admin endpoints that answer with a small body and close.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"

namespace ambit::cli {

struct HttpReply {
  int status = 0;
  std::string body;
};

// GET http://127.0.0.1:<port><path> from inside /run/netns/<netns>.
absl::StatusOr<HttpReply> http_get_in_netns(const std::string& netns, int port, const std::string& path,
                                            std::chrono::milliseconds timeout = std::chrono::seconds(3));

}  // namespace ambit::cli
