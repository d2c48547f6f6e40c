// L4 authorization: decides whether one connection may reach a local workload, given the
// `istio.security.Authorization` policies that apply to it (wds::State::policies_for). Mirrors
// ztunnel's src/rbac.rs (`Authorization::matches`) and `assert_rbac` in src/state.rs, including
// its log wording ("explicitly denied by: ns/name", "allow policies exist, but none allowed").
//
//   RbacConnection conn{src_ip, peer_identity, dst_ip, dst_port};
//   RbacResult r = evaluate_rbac(state.policies_for(*dst), conn);
//   if (!r.allowed) { log(r.reason); respond 401; }
//
// Semantics (Istio AuthorizationPolicy, L4 subset):
//  - a DENY policy that matches denies; otherwise, if any ALLOW policy applies and none matches,
//    deny; otherwise allow. dry_run policies never change the decision: they are evaluated on
//    the side and reported in RbacResult::dry_run.
//  - a policy with no rules matches nothing (an ALLOW with no rules is "allow nothing").
//    Rules are OR-ed; the clauses of a rule are AND-ed (a rule with no clauses, or a clause with
//    no matches, matches everything); the Matches of a clause are OR-ed; a Match with no
//    usable field matches nothing.
//  - inside a Match the field kinds are AND-ed, the values of one kind OR-ed, and not_* means
//    none of the values may match. Entries upstream cannot represent (a StringMatch with no
//    match_type, an Address that is not 4/16 bytes or whose length exceeds the family's
//    bits) are dropped, as ztunnel drops them when converting from xDS; wds::State rejects such
//    policies at ingest anyway.
//  - principals are compared against the source identity without "spiffe://"; namespaces
//    against its namespace; service_accounts against its (namespace, service account). A
//    connection with no identity (plaintext) matches no principal, namespace or service
//    account value, not even `presence`; so `not_principals: [presence]` (Istio's STRICT
//    PeerAuthentication policy) matches it.
//  - CIDRs compare within one family: a 16-byte Address is an IPv6 network even if it is
//    IPv4-mapped, while connection IPs are normalised (mapped -> IPv4), as ztunnel does
//    (byte_to_ip + socket::to_canonical).
//  - ports above 65535 in a policy match no port (ztunnel truncates them to u16; we do not).
//  - an action other than DENY counts as ALLOW (ztunnel and wds::State reject unknown actions
//    at ingest; were one to get here, it would switch on default-deny rather than open up).
//
// Everything here is a pure function of its arguments: no locks, no allocation beyond strings
// in the result, safe on any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/identity/spiffe.h"
#include "common/net/ip_addr.h"
#include "istio/security/authorization.pb.h"
#include "common/wds/state.h"

namespace ambit::ztunnel {

// What RBAC sees of a connection (ztunnel's rbac::Connection).
struct RbacConnection {
  net::IpAddr src_ip;
  std::optional<SpiffeId> src_identity;  // nullopt: plaintext / unauthenticated
  net::IpAddr dst_ip;
  uint16_t dst_port = 0;
};

// "src_ip(identity or None)->dst_ip:port", the form ztunnel logs a connection in.
std::string to_string(const RbacConnection& conn);

struct RbacDecision {
  bool allowed = true;
  std::string policy;  // "ns/name" of the deciding policy; empty for a default decision
  std::string reason;  // one line for the access log
};

struct RbacResult {
  bool allowed = true;
  std::string policy;  // "ns/name" of the deciding policy; empty for a default decision
  std::string reason;  // one line for the access log
  // Set when at least one dry_run policy applied: what the decision would have been had the
  // dry_run policies been enforced together with the others. Never affects `allowed`.
  std::optional<RbacDecision> dry_run;
};

// The key ztunnel reports a policy by: "<namespace>/<name>".
std::string policy_key(const istio::security::Authorization& policy);

// One StringMatch against a value (exact / prefix / suffix / presence = non-empty). A
// StringMatch with no match_type matches nothing.
bool string_matches(const istio::security::StringMatch& m, std::string_view value);

// One Match (see the header comment). An empty Match matches nothing.
bool match_matches(const istio::security::Match& m, const RbacConnection& conn);

// Does the policy's rule set match the connection? Ignores action and dry_run.
bool policy_matches(const istio::security::Authorization& policy, const RbacConnection& conn);

// The decision for a connection given every policy that applies to its destination workload.
// Order matters only for which policy is reported when several DENY policies match.
RbacResult evaluate_rbac(const std::vector<wds::PolicyPtr>& policies, const RbacConnection& conn);
RbacResult evaluate_rbac(const std::vector<const istio::security::Authorization*>& policies,
                         const RbacConnection& conn);

}  // namespace ambit::ztunnel
