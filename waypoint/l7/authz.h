// L7 authorization at the waypoint: Istio AuthorizationPolicy semantics over one HTTP request,
// from the compiled policies istiod sends (ambit.waypoint.v1.Authorization).
//
//   PolicySet set = PolicySet::build(policies, &errors);   // once per config change
//   AuthzDecision d = set.evaluate(service, AuthzRequest{...});
//   if (!d.allowed) respond(kDeniedStatus, kDeniedBody);     // 403 "RBAC: access denied"
//
// Semantics (Istio pilot/pkg/security/authz/builder/builder.go, as the Envoy waypoint runs it):
//  - order AUDIT → DENY → ALLOW. AUDIT policies never change the decision; the ones that match
//    are listed. A matching DENY denies. Otherwise, if any ALLOW policy applies and none
//    matches, deny ("allow policies exist, but none allowed"); else allow.
//  - policies apply by target: `waypoint` (every request through this waypoint) or a service.
//  - a policy with no rules matches nothing. Rules are OR-ed; a rule is from AND to AND when;
//    `from` sources are OR-ed, `to` operations are OR-ed, `when` conditions AND-ed. Inside a
//    source/operation/condition the fields are AND-ed, the values of a field OR-ed, and a
//    not_* field matches when none of its values does.
//  - L4 keys mean what they mean at ztunnel (ztunnel/rbac/rbac.h): principals compare with the
//    peer identity without "spiffe://", namespaces with its namespace, service accounts
//    literally (CVE-2026-39350: "." is a dot), CIDRs within one family (16-byte = IPv6), ports
//    with the destination (service) port. No peer identity matches no principal, namespace or
//    service account, not even "*".
//  - hosts fold case and match "host" or "host:port" (CVE-2021-39155); paths are the
//    normalized path without query or fragment (path_normalize.h); methods are exact (the codec
//    refuses lower-case methods, validate_method).
//  - request.headers[name] looks at every value of a repeated header on its own: values
//    match if any value matches, not_values if no value matches (CVE-2026-26308: "x-role:
//    user" + "x-role: admin" is denied by `values: [admin]`, and not allowed by
//    `not_values: [admin]`). An absent header matches no `values`, and every `not_values`.
//  - request.auth.*, request principals and connection.sni are never present (no JWT here):
//    their positive forms never match, their not_ forms always do.
//  - dry_run policies never change the decision; they are evaluated on the side
//    (AuthzDecision::dry_run), as ztunnel does.
//  - a policy that does not compile (an unknown key, a bad template, an empty source...) fails
//    closed: a DENY becomes deny-everything, an ALLOW allow-nothing; the error is returned by
//    build() and the policy is named in the decisions it causes.
//
// Everything is a pure function of the set and the request: safe to share between threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ambit/waypoint/v1/authorization.pb.h"
#include "common/identity/spiffe.h"
#include "common/net/ip_addr.h"
#include "waypoint/l7/http_message.h"
#include "waypoint/l7/resource_key.h"
#include "waypoint/l7/string_match.h"

namespace ambit::waypoint::l7 {

inline constexpr uint16_t kDeniedStatus = 403;
inline constexpr std::string_view kDeniedBody = "RBAC: access denied";

// What authorization sees of one request.
struct AuthzRequest {
  net::IpAddr source_ip;                 // the HBONE peer (source.ip)
  std::optional<SpiffeId> peer;          // its certificate identity; nullopt: none
  std::optional<net::IpAddr> remote_ip;  // remote.ip; nullopt: source_ip
  net::IpAddr destination_ip;            // the VIP or pod IP of the :authority
  uint16_t destination_port = 0;         // the service port
  std::string_view host;                 // :authority / Host as received
  std::string_view method;
  std::string_view path;                 // normalized, no query (NormalizedPath::path)
  const HeaderMap* headers = nullptr;    // nullptr: no headers
};

class CompiledPolicy;

struct AuthzVerdict {
  bool allowed = true;
  std::string policy;  // "ns/name" of the deciding policy; empty for a default decision
  std::string reason;  // one line for the access log
};

struct AuthzDecision {
  bool allowed = true;
  std::string policy;
  std::string reason;
  std::vector<std::string> audited;       // AUDIT policies that matched ("ns/name")
  std::optional<AuthzVerdict> dry_run;    // set when a dry_run policy applied
};

// One policy, compiled. Immutable.
class CompiledPolicy {
 public:
  using Action = ::ambit::waypoint::v1::Authorization::Action;

  static absl::StatusOr<CompiledPolicy> compile(const ::ambit::waypoint::v1::Authorization& p);
  // The fail-closed stand-in for a policy that did not compile (see the header comment).
  static CompiledPolicy broken(const ::ambit::waypoint::v1::Authorization& p, std::string error);

  const std::string& key() const { return key_; }  // "ns/name"
  Action action() const { return action_; }
  bool dry_run() const { return dry_run_; }
  bool targets_waypoint() const { return targets_waypoint_; }
  const std::vector<ServiceKey>& target_services() const { return services_; }
  const std::string& error() const { return error_; }  // non-empty for broken()

  bool matches(const AuthzRequest& req) const;

  // Compiled pieces (defined in authz.cc).
  struct Rule;

 private:
  std::string key_;
  Action action_{};
  bool dry_run_ = false;
  bool targets_waypoint_ = false;
  std::vector<ServiceKey> services_;
  std::vector<std::shared_ptr<const Rule>> rules_;
  std::string error_;
};

// Every policy of one waypoint, indexed by target.
class PolicySet {
 public:
  // Compiles each policy; one that does not compile is kept as CompiledPolicy::broken and its
  // error ("authorization ns/name: ...") appended to `errors` (may be null).
  static PolicySet build(const std::vector<const ::ambit::waypoint::v1::Authorization*>& policies,
                         std::vector<std::string>* errors);

  // The policies that apply to a request for `service`: waypoint-wide ones, then the service's,
  // each list ordered by key.
  std::vector<const CompiledPolicy*> applicable(const ServiceKey& service) const;

  AuthzDecision evaluate(const ServiceKey& service, const AuthzRequest& req) const;

  size_t size() const { return policies_.size(); }

 private:
  std::vector<CompiledPolicy> policies_;  // sorted by key
  std::vector<size_t> waypoint_;
  std::map<ServiceKey, std::vector<size_t>> by_service_;
};

// The decision for a request given the policies that apply (in the order reported).
AuthzDecision evaluate_policies(const std::vector<const CompiledPolicy*>& policies,
                                const AuthzRequest& req);

}  // namespace ambit::waypoint::l7
