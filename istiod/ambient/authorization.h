// AuthorizationPolicy and PeerAuthentication → istio.security.Authorization, the L4 policy istiod
// sends to ztunnel (type.googleapis.com/istio.security.Authorization, resource name "ns/name"),
// and the names istiod lists in Workload.authorization_policies. Pure functions: no store, no
// I/O, so the ambient index can call them on every change and tests can table them.
//
// Everything here mirrors istio/istio pilot/pkg/serviceregistry/ambient:
//   authorization.go  convertAuthorizationPolicy, handleRule, stringToMatch/IP/Port,
//                     stringToServiceAccountMatch, convertPeerAuthentication,
//                     convertedSelectorPeerAuthentications
//   policies.go       PolicyCollections (AuthzDerivedPolicies, PeerAuthDerivedPolicies,
//                     DefaultPolicy = the static STRICT policy)
//   workloads.go      buildWorkloadPolicies, fetchPeerAuthentications
// including its quirks (kept on purpose, since ztunnels may be fed by either istiod).
//
//   MeshConfig mesh;
//   if (auto a = convert_authorization_policy(*ap, mesh)) send(*a);  // as "ns/name"
//   if (any PeerAuthentication exists) send(static_strict_policy(mesh));
//   const ConfigObject* ns_pa = namespace_peer_authentication(ns_pas);
//   const ConfigObject* mesh_pa = namespace_peer_authentication(root_pas);
//   if (auto a = convert_peer_authentication(*pa, ns_pa, mesh_pa, mesh)) send(*a);
//   std::vector<std::string> names = workload_authorization_policies(
//       pod.ns, pod.labels, ns_aps, root_aps, ns_pas, root_pas, mesh);
//
// Inputs are the objects of one namespace as `std::span<const ConfigObject* const>` (a
// std::vector<const ConfigObject*> binds to it), so the index passes the workload's namespace and
// the root namespace without a global scan. Objects of another kind or namespace are ignored.
//
// Creation order: istiod resolves conflicting PeerAuthentications at one level (two mesh-wide,
// two namespace-wide, two selecting the same workload) by the oldest creationTimestamp. Ambit
// objects carry no timestamp, so every list of PeerAuthentications passed here must be oldest
// first; the first qualifying one wins.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "istio/security/authorization.pb.h"
#include "istiod/ambient/mesh_config.h"
#include "istiod/model/objects.h"

namespace ambit::istiod::ambient {

// Names istiod reserves ('_' is illegal in Kubernetes names, so they cannot collide).
inline constexpr const char* kStaticStrictPolicyName = "istio_converted_static_strict";
inline constexpr const char* kConvertedPeerAuthenticationPrefix = "converted_peer_authentication_";
inline constexpr const char* kDryRunAnnotation = "istio.io/dry-run";

struct AuthorizationOptions {
  // istiod's AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY (off by default). Off: a policy annotated
  // istio.io/dry-run=true is not sent to ztunnel at all. On: it is sent with dry_run set.
  bool enable_dry_run = false;
};

// ---- Istio's value conversions (authorization.go stringToPort / stringToIP /
// stringToServiceAccountMatch), shared with the waypoint's L7 policies (istiod/waypoint/policies.h)
// so that an L4 key means the same thing at ztunnel and at the waypoint.

// Decimal ports 0..65535; anything else is skipped, as istiod does.
void add_ports(const std::vector<std::string>& values, google::protobuf::RepeatedField<uint32_t>* out);
// "ip" (full-length prefix) or "ip/bits" (the address as written, not masked), 4 or 16 bytes;
// unparsable values are skipped.
void add_addresses(const std::vector<std::string>& values,
                   google::protobuf::RepeatedPtrField<istio::security::Address>* out);
// "ns/sa", or a bare "sa" in `policy_ns`.
void add_service_accounts(const std::vector<std::string>& values, std::string_view policy_ns,
                          google::protobuf::RepeatedPtrField<istio::security::ServiceAccountMatch>* out);

// ---- AuthorizationPolicy (convertAuthorizationPolicy) ----------------------------------------

// The Authorization ztunnel gets for one AuthorizationPolicy, or nullopt when istiod sends none:
// targetRef(s) set (a waypoint policy), CUSTOM or AUDIT action, dry-run without
// `enable_dry_run`, or an object that is not an AuthorizationPolicy.
//   scope: WORKLOAD_SELECTOR if a selector is present (even an empty one), else GLOBAL in the
//          root namespace, else NAMESPACE.
//   rules: one Rule per policy rule; its clauses are, in order, `to` (one Match per operation:
//          ports), `from` (one Match per source: principals, namespaces, ipBlocks,
//          serviceAccounts and their not-forms), then one clause per `when` condition.
//   L7 attributes (hosts, methods, paths, requestPrincipals, remoteIpBlocks, non-L4 `when` keys)
//          are dropped from their Match. In an ALLOW policy the whole rule is dropped instead
//          (so an ALLOW whose rules are all L7 allows nothing). In a DENY policy the rule stays
//          without them: broader where the Match keeps an L4 field, inert where the Match ends up
//          empty (ztunnel skips empty Matches).
// `status`, when given, receives istiod's "UnsupportedValue" status message, or "" when none.
std::optional<istio::security::Authorization> convert_authorization_policy(
    const ConfigObject& ap, const MeshConfig& mesh, const AuthorizationOptions& opts = {},
    std::string* status = nullptr);

// True when convert_authorization_policy returns a policy (the early exits above only).
bool is_ztunnel_authorization_policy(const ConfigObject& ap, const AuthorizationOptions& opts = {});

// ---- PeerAuthentication (convertPeerAuthentication, DefaultPolicy) ---------------------------

// `<root>/istio_converted_static_strict`: WORKLOAD_SELECTOR, DENY when the peer has no identity
// (not_principals: [presence]). istiod sends it whenever at least one PeerAuthentication exists
// in the cluster; workloads reference it by name when their effective mode is STRICT.
istio::security::Authorization static_strict_policy(const MeshConfig& mesh);

// The namespace-wide PeerAuthentication among `pas` (one namespace, oldest first): the first
// without a selector, or nullptr. Pass the root namespace's list for the mesh-wide one.
const ConfigObject* namespace_peer_authentication(std::span<const ConfigObject* const> pas);

// `<ns>/converted_peer_authentication_<name>` for a selector PeerAuthentication with
// portLevelMtls outside the root namespace, merged with the effective parent modes
// (`namespace_pa`, `root_pa`: from namespace_peer_authentication, may be null). nullopt when
// istiod sends nothing: no selector, root namespace, no port-level modes, STRICT with only STRICT
// ports (the static policy covers it), or no port that changes the effective mode.
std::optional<istio::security::Authorization> convert_peer_authentication(
    const ConfigObject& pa, const ConfigObject* namespace_pa, const ConfigObject* root_pa,
    const MeshConfig& mesh);

// The PeerAuthentication-derived names for one workload (fetchPeerAuthentications +
// convertedSelectorPeerAuthentications), sorted: the static STRICT policy when the effective
// mode is STRICT, and/or the workload's converted policy when its port-level modes need it.
// `namespace_pas`: the workload namespace's PeerAuthentications; `root_pas`: the root
// namespace's (ignored when the workload lives in the root namespace). Both oldest first.
std::vector<std::string> peer_authentication_policy_names(
    std::string_view ns, const Labels& labels, std::span<const ConfigObject* const> namespace_pas,
    std::span<const ConfigObject* const> root_pas, const MeshConfig& mesh);

// ---- Workload.authorization_policies (buildWorkloadPolicies) ---------------------------------

// Workload.authorization_policies for a workload in `ns` with `labels`: the sorted "ns/name" of
// every AuthorizationPolicy sent to ztunnel whose selector has labels and selects the workload,
// taken from the workload's namespace and the root namespace (root-namespace selector policies
// apply mesh-wide); then the PeerAuthentication-derived names. GLOBAL and NAMESPACE policies are
// not listed (ztunnel applies them by scope). `namespace_*`: the workload namespace's
// AuthorizationPolicies and PeerAuthentications; `root_*`: the root namespace's (ignored when the
// workload lives in the root namespace). PeerAuthentications oldest first. The implicit waypoint
// policies (istio_allow_waypoint_*) are the waypoint code's job.
std::vector<std::string> workload_authorization_policies(
    std::string_view ns, const Labels& labels, std::span<const ConfigObject* const> namespace_aps,
    std::span<const ConfigObject* const> root_aps,
    std::span<const ConfigObject* const> namespace_pas,
    std::span<const ConfigObject* const> root_pas, const MeshConfig& mesh,
    const AuthorizationOptions& opts = {});

}  // namespace ambit::istiod::ambient
