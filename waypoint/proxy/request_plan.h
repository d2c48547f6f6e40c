// What the waypoint does with one request, decided without I/O: validate, normalize the path,
// authorize (AUDIT → DENY → ALLOW), route (GAMMA), apply the rule's filters, pick a weighted
// backend. The session (http1_session.cc) then either answers locally or forwards to the
// backend the plan names. Pure, so every outcome is table-tested (test/waypoint/request_plan_test.cc).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/identity/spiffe.h"
#include "common/net/ip_addr.h"
#include "waypoint/http/message.h"
#include "waypoint/l7/filters.h"
#include "waypoint/state/l7_config.h"

namespace ambit::waypoint {

struct Peer {
  net::IpAddr ip;                   // the HBONE client (the source pod, via its ztunnel)
  std::optional<SpiffeId> identity; // its certificate's SPIFFE ID
};

struct Plan {
  enum class Kind { kRespond, kForward };
  Kind kind = Kind::kRespond;
  // kRespond
  int status = 0;
  std::string body;
  http::HeaderMap headers;  // extra response headers (Location)
  // kForward
  l7::BackendTarget backend;
  std::vector<l7::HeaderModifier> response_modifiers;
  l7::Timeouts timeouts;
  std::optional<l7::RetryPolicy> retry;
  // For the access log and metrics.
  std::string route;          // "ns/name" of the matched route, "" for the default
  std::string policy;         // the deciding authorization policy, if any
  std::string response_flags; // Envoy's: RBAC (denied), NR (no route), "" otherwise
  std::string detail;         // one line: why (for 4xx/5xx)
};

// Decides for `head` arriving on `listener` from `peer` to `dst_ip` (the VIP or pod IP of the
// CONNECT authority). Rewrites `head` in place for forwarding: the normalized path (the same
// one routes and policies saw), header modifiers, URL rewrites. `draw` is a random number
// (weighted backend choice).
Plan plan_request(const L7Snapshot& snap, const Listener& listener, const Peer& peer, const net::IpAddr& dst_ip,
                  http::RequestHead& head, uint64_t draw);

}  // namespace ambit::waypoint
