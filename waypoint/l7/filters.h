// Gateway API filters and per-rule traffic policy as pure functions on the request/response
// model (http_message.h). Compiled from ambit.waypoint.v1.Filter by the route table; the proxy
// applies them in rule order to the normalized request.
//
//   for (const CompiledFilter& f : rule.filters) {
//     if (auto* m = std::get_if<RequestHeaderModifier>(&f)) apply(m->mod, &req.headers);
//     if (auto* r = std::get_if<RequestRedirect>(&f)) return redirect_response(*r, ctx);
//     ...
//   }
//
// Semantics (Gateway API v1 httproute_types.go, spec text quoted where it decides):
//  - header modifiers: remove, then set (replaces every value), then add (appends), names
//    case-insensitive.
//  - RequestRedirect: Location = scheme://host[:port]path[?query]; an empty scheme or hostname
//    keeps the request's; without a port, "the redirect port MUST be the well-known port
//    associated with the redirect scheme" when a scheme is set, else the listener's (here: the
//    service port); the port is left out for http:80 and https:443. Status 302 by default;
//    301, 302, 303, 307, 308 allowed.
//  - URLRewrite: hostname replaces the authority; ReplaceFullPath replaces the path;
//    ReplacePrefixMatch replaces the matched PathPrefix, keeping one '/' between the new
//    prefix and the rest (replace_prefix_match, the spec's table). The query is kept.
//  - RequestMirror: mirrored when draw % denominator < numerator.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "ambit/waypoint/v1/route.pb.h"
#include "waypoint/l7/http_message.h"
#include "waypoint/l7/resource_key.h"

namespace ambit::waypoint::l7 {

struct HeaderModifier {
  std::vector<Header> set;  // names lower case
  std::vector<Header> add;
  std::vector<std::string> remove;
};

struct PathModifier {
  enum class Kind { kNone, kFullPath, kPrefixMatch } kind = Kind::kNone;
  std::string value;
};

// Where a request goes: a WDS service, a WDS workload, or nowhere (istiod could not resolve
// the reference: answered with 500).
struct BackendTarget {
  std::optional<ServiceKey> service;
  std::string workload_uid;
  std::string invalid;  // non-empty: the reason
  uint16_t port = 0;
  bool valid() const { return invalid.empty(); }
};

struct RequestHeaderModifier {
  HeaderModifier mod;
};
struct ResponseHeaderModifier {
  HeaderModifier mod;
};
struct RequestRedirect {
  std::string scheme;
  std::string hostname;
  uint16_t port = 0;
  PathModifier path;
  uint16_t status = 302;
};
struct UrlRewrite {
  std::string hostname;
  PathModifier path;
};
struct RequestMirror {
  BackendTarget backend;
  uint32_t numerator = 100;
  uint32_t denominator = 100;
};

using CompiledFilter = std::variant<RequestHeaderModifier, ResponseHeaderModifier,
                                    RequestRedirect, UrlRewrite, RequestMirror>;

struct RetryPolicy {
  uint32_t attempts = 0;  // retries after the first attempt
  std::vector<uint16_t> codes;
  std::chrono::milliseconds backoff{25};
  bool connection_errors = false;

  bool retriable_status(uint16_t status) const;
  // May attempt number `retry` (1 = the first retry) happen?
  bool allows_retry(uint32_t retry) const { return retry >= 1 && retry <= attempts; }
  // Envoy's back-off: a random wait in [0, (2^retry - 1) * backoff], capped at 10 * backoff;
  // `draw` is the random number.
  std::chrono::milliseconds backoff_before(uint32_t retry, uint64_t draw) const;
};

struct Timeouts {
  std::optional<std::chrono::milliseconds> request;          // nullopt: none
  std::optional<std::chrono::milliseconds> backend_request;  // nullopt: none
};

// Compiles one filter; `where` names it in errors. `prefix_match_ok`: the rule's matches are all
// PathPrefix (required by ReplacePrefixMatch).
absl::StatusOr<CompiledFilter> compile_filter(const ::ambit::waypoint::v1::Filter& f,
                                              bool prefix_match_ok, std::string_view where);
absl::StatusOr<BackendTarget> compile_backend_ref(const ::ambit::waypoint::v1::BackendRef& b,
                                                  std::string_view where);
absl::StatusOr<RetryPolicy> compile_retry(const ::ambit::waypoint::v1::Retry& r,
                                          std::string_view where);
absl::StatusOr<Timeouts> compile_timeouts(const ::ambit::waypoint::v1::Timeouts& t,
                                          std::string_view where);

void apply_header_modifier(const HeaderModifier& m, HeaderMap* headers);

// The Gateway API ReplacePrefixMatch rewrite of `path` whose matched PathPrefix is `prefix`.
std::string replace_prefix_match(std::string_view path, std::string_view prefix,
                                 std::string_view replacement);

// What a redirect or rewrite needs to know about the request being served.
struct RequestContext {
  std::string_view scheme = "http";
  std::string_view authority;      // as received
  std::string_view path;           // normalized path, no query
  std::string_view query;          // without '?'
  bool has_query = false;
  std::string_view matched_prefix; // the PathPrefix that matched ("" if the match was not one)
  uint16_t listener_port = 0;      // the service port the request was sent to
};

std::string rewrite_path(const PathModifier& m, const RequestContext& ctx);

struct Redirect {
  uint16_t status = 302;
  std::string location;
};
Redirect redirect_response(const RequestRedirect& r, const RequestContext& ctx);

// Applies a URLRewrite to `req` (authority, and :path = new path + query).
void apply_url_rewrite(const UrlRewrite& r, const RequestContext& ctx, Request* req);

bool mirror_selected(const RequestMirror& m, uint64_t draw);

}  // namespace ambit::waypoint::l7
