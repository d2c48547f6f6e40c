// The waypoint's routing table: every Route resource (HTTPRoute, GRPCRoute) compiled once into
// an immutable, pre-sorted table that answers "which rule serves this request?".
//
//   std::vector<std::string> errors;
//   std::shared_ptr<const RouteTable> t = RouteTable::build(routes, &errors);
//   RouteDecision d = t->match(service, port, RouteRequest{host, path, query, method, &headers});
//   switch (d.kind) {
//     case RouteDecision::Kind::kDefault:  send to `service`:`port` itself; break;
//     case RouteDecision::Kind::kNotFound: respond 404; break;
//     case RouteDecision::Kind::kRoute:
//       const Backend* b = pick_backend(*d.rule, rng());  // nullptr or !b->target.valid(): 500
//   }
//
// GAMMA semantics (Gateway API GEP-1426; Istio's waypoint; agentgateway's http/route.rs):
//  - routes attach to a Service (and optionally one of its ports) or to the waypoint itself.
//    Routes of the Service win: when any applies to (service, port), only they are considered.
//    Otherwise the waypoint's routes whose hostnames match the request host or the service
//    hostname (no hostnames: every host) are. Routes exist but none matches → 404. No route at all → the service itself.
//  - precedence across all considered rules (Gateway API HTTPRoute spec): an Exact path, then
//    the longest PathPrefix, then a RegularExpression (longest first; regex precedence is
//    implementation-specific, this is Istio's order); then a method match; then the most header
//    matches; then the most query-param matches; then the oldest route (creation timestamp, 0 =
//    unknown sorts last); then "<namespace>/<name>" alphabetically; then rule order, then match
//    order within the rule.
//  - GRPCRoute method matches become path matches, as Istio translates them: service+method →
//    Exact "/svc/method", service only → PathPrefix "/svc", method only → RegularExpression
//    "/[^/]+/method"; RegularExpression type → "/svcre/methodre". A match with neither is
//    refused (Gateway API requires one).
//  - paths are matched after normalization (path_normalize.h); header names case-insensitively
//    and each value of a repeated header on its own (any value may match); query params by exact
//    name against percent-decoded values (any value of a repeated one may match).
//  - a route that does not compile (a bad regex, a filter the rule cannot have) is left out
//    whole, and its error returned by build(): istiod validates first, so this is a bug there,
//    and leaving the route out makes its parent fall back as if it did not exist.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ambit/waypoint/v1/route.pb.h"
#include "waypoint/l7/filters.h"
#include "waypoint/l7/http_message.h"
#include "waypoint/l7/resource_key.h"

namespace re2 {
class RE2;
}

namespace ambit::waypoint::l7 {

struct CompiledMatch {
  enum class PathKind { kExact, kPrefix, kRegex };
  struct ValueMatch {
    std::string name;   // header: lower case; query: as written
    std::string exact;  // when re is null
    std::shared_ptr<const re2::RE2> re;
    bool matches(std::string_view v) const;
  };

  PathKind path_kind = PathKind::kPrefix;
  // The exact path, the prefix without its trailing '/' (so PathPrefix "/" is ""), or the
  // regex text. Default: PathPrefix "/".
  std::string path;
  std::shared_ptr<const re2::RE2> path_re;
  std::string method;  // "" = any
  std::vector<ValueMatch> headers;
  std::vector<ValueMatch> query;

  bool path_matches(std::string_view path) const;
};

struct Backend {
  BackendTarget target;
  uint32_t weight = 1;
  std::vector<CompiledFilter> filters;
};

struct CompiledRule {
  std::string name;
  std::vector<CompiledMatch> matches;  // never empty: an absent list became PathPrefix "/"
  std::vector<CompiledFilter> filters;
  std::vector<Backend> backends;
  uint64_t total_weight = 0;
  Timeouts timeouts;
  std::optional<RetryPolicy> retry;
};

struct RouteParent {
  bool waypoint = false;  // attached to the waypoint itself; else to `service`
  ServiceKey service;
  uint32_t port = 0;  // 0 = every port
};

struct CompiledRoute {
  ::ambit::waypoint::v1::Route::Kind kind{};
  std::string ns;
  std::string name;
  int64_t creation_timestamp = 0;
  std::vector<RouteParent> parents;
  std::vector<std::string> hostnames;  // lower case
  std::vector<CompiledRule> rules;
  std::string key() const { return ns + "/" + name; }
};

struct RouteRequest {
  std::string_view host;   // :authority as received
  std::string_view path;   // normalized, no query
  std::string_view query;  // raw, without '?'
  std::string_view method;
  const HeaderMap* headers = nullptr;
};

struct RouteDecision {
  enum class Kind { kRoute, kNotFound, kDefault };
  Kind kind = Kind::kDefault;
  const CompiledRoute* route = nullptr;
  const CompiledRule* rule = nullptr;
  const CompiledMatch* match = nullptr;
  // The PathPrefix that matched (for ReplacePrefixMatch); "" for other path kinds.
  std::string_view matched_prefix;
};

class RouteTable {
 public:
  // Compiles `routes` (one per Route resource). Routes that do not compile are left out and
  // their errors ("route HTTPRoute ns/name: rules[0].matches[1].path: ...") appended to
  // `errors` (may be null).
  static std::shared_ptr<const RouteTable> build(
      const std::vector<const ::ambit::waypoint::v1::Route*>& routes,
      std::vector<std::string>* errors);

  RouteDecision match(const ServiceKey& service, uint16_t port, const RouteRequest& req) const;

  size_t route_count() const { return routes_.size(); }

  // One (route, rule, match) in precedence order, for a parent.
  struct Entry {
    const CompiledRoute* route;
    const CompiledRule* rule;
    const CompiledMatch* match;
    uint32_t parent_port;  // 0 = every port
  };

 private:
  std::vector<std::unique_ptr<CompiledRoute>> routes_;
  std::map<ServiceKey, std::vector<Entry>> by_service_;
  std::vector<Entry> waypoint_;
};

// One compiled route, or why not (exposed for tests and for istiod-side validation).
absl::StatusOr<CompiledRoute> compile_route(const ::ambit::waypoint::v1::Route& route);

// The backend for a random `draw`: weighted, in rule order. nullptr when the rule has no
// backend with weight (Gateway API: 500).
const Backend* pick_backend(const CompiledRule& rule, uint64_t draw);

// Gateway API hostname match: "*.example.com" matches one or more labels before
// ".example.com"; otherwise exact. `host` lower case without port.
bool hostname_matches(std::string_view pattern, std::string_view host);

}  // namespace ambit::waypoint::l7
