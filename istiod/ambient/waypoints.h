// Waypoint binding, pure: which Gateways are waypoints, which waypoint a Service or Pod is bound
// to, and why not. Mirrors Istio pilot/pkg/serviceregistry/ambient/waypoints.go
// (fetchWaypointForTarget, fetchWaypointForInstance, makeWaypoint) with the rules summarised here:
//
//  - A Gateway is a waypoint when its class is `istio-waypoint` and it has a listener on port
//    15008 with protocol HBONE (istioctl and Istio's template name it `mesh`; Istio itself does
//    not check the name, and neither does this).
//  - `istio.io/waypoint-for` (service, the default | workload | all | none) on the Gateway, else
//    on its GatewayClass, says which traffic it takes.
//  - `istio.io/use-waypoint` (+ `istio.io/use-waypoint-namespace`) on the object beats the one on
//    its namespace; `none` opts out. The waypoint's own Service and pods are never bound.
//  - The HBONE listener's allowedRoutes.namespaces must admit the object's namespace (Same: the
//    waypoint's own; All; Selector: the namespace's labels).
//  - A waypoint binds only when ready: it has an address (status.addresses, which istiod sets once
//    the waypoint's Service exists) and at least one ready pod of its Deployment. A waypoint that
//    is not ready means **no waypoint**: clients go straight to the destination, as in Istio, and
//    the object's WaypointBound condition says why.
//
// The result is also the object's `istio.io/WaypointBound` condition (gateway/status.h writes it).
//
//   WaypointLookup lookup = [&](const std::string& ns, const std::string& name) { return index_facts(ns, name); };
//   Binding b = bind_waypoint(svc.meta, ns_labels, BindKind::kService, lookup, mesh);
//   if (b.address) *service.mutable_waypoint() = *b.address;
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "istio/security/authorization.pb.h"
#include "istio/workload/workload.pb.h"
#include "istiod/ambient/mesh_config.h"
#include "istiod/model/objects.h"

namespace ambit::istiod::ambient {

// The waypoint an object asks for through its labels (or its namespace's), before checking that
// the Gateway exists. nullopt: no waypoint (absent label or "none").
struct WaypointRef {
  std::string ns;
  std::string name;
  auto operator<=>(const WaypointRef&) const = default;
  std::string to_string() const { return ns + "/" + name; }
};
std::optional<WaypointRef> waypoint_ref(const ObjectMeta& meta, const Labels* ns_labels);

// The label every pod and Service generated for a waypoint carries (Istio's template).
inline constexpr const char* kGatewayNameLabel = "gateway.networking.k8s.io/gateway-name";
bool is_waypoint_member(const ObjectMeta& meta);

enum class TrafficType { kService, kWorkload, kAll, kNone };
const char* traffic_type_name(TrafficType t);
// istio.io/waypoint-for of the Gateway, else of its class, else service. An unknown value counts
// as service (Istio's default), since refusing the Gateway would unbind everything.
TrafficType waypoint_traffic_type(const ObjectMeta& gateway, const ConfigObject* gateway_class);

// The listener that makes a Gateway a waypoint (port 15008, HBONE), or nullptr.
const Gateway::Listener* waypoint_listener(const Gateway& g);
bool is_waypoint(const Gateway& g);

// The listener's allowedRoutes admits namespace `ns` (labels `ns_labels`, nullptr if the Namespace
// object does not exist) for a Gateway in `gw_ns`; `why` gets the reason it does not. Binding
// (istio.io/use-waypoint) and routes attaching to the waypoint Gateway both go through it.
bool namespace_allowed(const Gateway::Listener& l, const std::string& gw_ns, const std::string& ns,
                       const Labels* ns_labels, std::string* why);

// What istiod knows about a Gateway, gathered by the caller (the ambient index).
struct WaypointFacts {
  const ConfigObject* gateway = nullptr;        // nullptr: no such Gateway
  const ConfigObject* gateway_class = nullptr;  // its GatewayClass object, if one exists
  bool has_address = false;                     // status.addresses is (or would be) set
  int ready_pods = 0;                           // ready pods of its Deployment
};
using WaypointLookup = std::function<WaypointFacts(const std::string& ns, const std::string& name)>;

// Ready: is a waypoint, has an address and a ready pod. `why` (optional) gets the reason it is not.
bool waypoint_ready(const WaypointFacts& f, std::string* why = nullptr);

// The GatewayAddress clients use for a waypoint: its Service hostname (NamespacedHostname
// "<name>.<ns>.svc.<domain>", which ztunnel resolves to the Service's endpoints on
// hbone_mtls_port), or the IP of status.addresses when that is all the Gateway has.
istio::workload::GatewayAddress waypoint_address(const WaypointRef& ref, const WaypointFacts& f,
                                                 const MeshConfig& mesh);

enum class BindKind { kService, kWorkload };

// Reasons of the istio.io/WaypointBound condition.
inline constexpr const char* kReasonBound = "WaypointAccepted";
inline constexpr const char* kReasonNoSuchWaypoint = "NoSuchWaypoint";
inline constexpr const char* kReasonNotAWaypoint = "NotAWaypoint";
inline constexpr const char* kReasonNotReady = "WaypointNotReady";
inline constexpr const char* kReasonNotAllowed = "WaypointNotAllowed";
inline constexpr const char* kReasonWrongTrafficType = "WaypointTrafficTypeMismatch";

struct Binding {
  std::optional<WaypointRef> ref;  // what the labels ask for
  std::optional<istio::workload::GatewayAddress> address;  // set iff bound
  // Whether the object gets a WaypointBound condition. Services always do when they ask for a
  // waypoint. Pods do when their own label asks, or when the waypoint takes workload traffic: a
  // namespace-wide label with a service waypoint is the normal setup and not a pod's failure.
  bool report = false;
  std::string reason;   // one of kReason*
  std::string message;  // for people: "bound to demo/waypoint", "waypoint demo/wp is not ready: ..."
  bool bound() const { return address.has_value(); }
};

// The binding of a Service (kind kService) or a Pod (kWorkload). `ns_labels` are the labels of the
// object's namespace (nullptr if the Namespace object does not exist).
Binding bind_waypoint(const ObjectMeta& obj, const Labels* ns_labels, BindKind kind,
                      const WaypointLookup& lookup, const MeshConfig& mesh);

// ---- Waypoint bypass protection ----------------------------------------------------------------
//
// `<wp-ns>/istio_allow_waypoint_<wp-ns>_<wp-name>`: an ALLOW for the waypoint's service account
// (Istio pilot/pkg/serviceregistry/ambient/policies.go implicitWaypointPolicy; WORKLOAD_SELECTOR
// scope, attached to workloads by name).
//
// Istio sends it only with PILOT_AUTO_ALLOW_WAYPOINT_POLICY (off by default) and then attaches it
// to every workload behind a waypoint. ztunnel allows a connection when a workload has no ALLOW
// policy at all, but once one ALLOW applies only its matches pass: so Istio's way turns "no
// policy" into "only the waypoint", and with it off (the default) a client that connects to the
// pod directly skips the waypoint and every L7 policy on it — the bypass users keep reporting.
//
// Here it is on by default (MeshConfig::waypoint_bypass_protection) and attached only to a
// workload that some ALLOW policy already applies to — an ALLOW that ztunnel enforces for it
// (selector, namespace-wide or mesh-wide) or an ALLOW the waypoint enforces for it (targetRefs
// to its waypoint Gateway, to one of its Services, or to the istio-waypoint GatewayClass). Then:
//  - no ALLOW anywhere: nothing is attached, the pod stays reachable directly (as without a
//    waypoint: no default-deny appears from a label);
//  - an L7 ALLOW on the waypoint: the destination ztunnel holds exactly this policy, so only the
//    waypoint gets through and direct connections are refused (the bypass is closed);
//  - an L4 ALLOW for the pod: its own rules keep working, and the waypoint (whose identity
//    replaces the client's) is not locked out.
// A waypoint DENY alone does not attach it (a DENY policy never makes ztunnel refuse what it does
// not match); use an ALLOW to close the bypass.
std::string implicit_waypoint_policy_name(const WaypointRef& wp);  // "istio_allow_waypoint_<ns>_<name>"
// The Authorization for a waypoint whose pods run as `service_account` in `wp.ns`.
istio::security::Authorization implicit_waypoint_policy(const WaypointRef& wp, const std::string& service_account,
                                                        const MeshConfig& mesh);

// True when an ALLOW policy applies to a workload in `ns` with `labels`, behind `waypoints`,
// selected by `services` (their names in `ns`). `namespace_aps`: the AuthorizationPolicies of
// the workload's namespace; `root_aps`: the root namespace's; `waypoint_aps`: those of each
// waypoint's namespace (may repeat the others; duplicates are harmless).
bool allow_policy_applies(const std::string& ns, const Labels& labels, const std::vector<WaypointRef>& waypoints,
                          const std::vector<std::string>& services,
                          std::span<const ConfigObject* const> namespace_aps,
                          std::span<const ConfigObject* const> root_aps,
                          std::span<const ConfigObject* const> waypoint_aps, const MeshConfig& mesh);

}  // namespace ambit::istiod::ambient
