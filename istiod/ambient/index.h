// The ambient index: the store's objects, translated incrementally into the WDS Address and
// Authorization resources that istiod serves to ztunnels.
//
// Each input event recomputes only the outputs that depend on it — a Pod change rebuilds one
// Workload; a Service change rebuilds the Service and the pods its old or new selector picks; a
// Namespace label change rebuilds that namespace; a policy change rebuilds the policy and the
// workloads it selects; a Gateway change rebuilds what refers to it — so the cost of one change
// does not grow with unrelated objects. Waypoints (ambient/waypoints.h) add three triggers: a
// Gateway, its GatewayClass, its Service and its pods' readiness decide whether it is ready, and a
// change of that rebuilds exactly the Services and Pods that ask for it. apply() reports the
// resource names whose content changed
// (added, updated or removed), which is exactly what the delta xDS server pushes.
//
// Each waypoint also gets its L7 config (istiod/waypoint/l7_config.h). That one is re-translated
// whole, per waypoint, whenever a batch touched something it reads (not for Pod or Node
// changes): a few waypoints times their routes and policies, cheap next to a push. What is
// reported — and pushed — is only the keys whose encoded bytes differ from the last translation,
// so one edited HTTPRoute is one Route on the wire.
//
// Threading: apply() runs on one thread (the config thread). Readers (xDS connections, debug
// views) may call the const accessors concurrently; outputs are guarded by a shared mutex and
// handed out as immutable shared pointers.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "istio/security/authorization.pb.h"
#include "istio/workload/workload.pb.h"
#include "istiod/ambient/mesh_config.h"
#include "istiod/ambient/resource.h"
#include "istiod/ambient/waypoints.h"
#include "istiod/ambient/workload_builder.h"
#include "istiod/config/source.h"

namespace ambit::istiod::ambient {

struct Changes {
  std::set<std::string> addresses;       // Address resource names
  std::set<std::string> authorizations;  // Authorization resource names
  // Per waypoint: names of its L7 config resources (kWaypointResourceType) that changed.
  std::map<WaypointRef, std::set<std::string>> waypoints;
  bool empty() const { return addresses.empty() && authorizations.empty() && waypoints.empty(); }
  void merge(const Changes& o) {
    addresses.insert(o.addresses.begin(), o.addresses.end());
    authorizations.insert(o.authorizations.begin(), o.authorizations.end());
    for (const auto& [w, names] : o.waypoints) waypoints[w].insert(names.begin(), names.end());
  }
};

class AmbientIndex {
 public:
  explicit AmbientIndex(MeshConfig mesh);

  // Apply events / a full replacement; returns what changed.
  Changes apply(const std::vector<ConfigEvent>& events);
  Changes resync(const std::vector<ObjectPtr>& all);

  // Readers.
  ResourcePtr find(const std::string& type_url, const std::string& name) const;
  // Address resource name for an alias ("network/ip"), or "" (on-demand subscriptions).
  std::string resolve_alias(const std::string& alias) const;
  std::vector<ResourcePtr> all(const std::string& type_url) const;
  size_t size(const std::string& type_url) const;
  // The ns/sa of every non-terminal pod on `node` (CA impersonation checks).
  bool node_runs(const std::string& node, const std::string& ns, const std::string& sa) const;
  // What a pod service-account token is bound to (istiod's authenticator): the pod's uid, service
  // account, phase and addresses; nullopt if there is no such pod.
  struct PodBinding {
    std::string uid, service_account, phase;
    std::vector<std::string> ips;
  };
  std::optional<PodBinding> pod_binding(const std::string& ns, const std::string& name) const;
  // Input objects for debug views and the gateway controllers. Control thread only.
  std::vector<ObjectPtr> objects(Kind kind) const;
  const ConfigObject* object(Kind k, const std::string& ns, const std::string& name) const { return get(k, ns, name); }
  const MeshConfig& mesh() const { return mesh_; }

  // Waypoint state for the status writer and the deployment controller. Control thread only.
  WaypointFacts waypoint_facts(const std::string& ns, const std::string& name) const;
  // The binding of every Service and Pod that asks for a waypoint (Binding::ref set).
  const std::map<ObjectKey, Binding>& waypoint_bindings() const { return bindings_; }

  // The L7 config of one waypoint (istiod/waypoint/l7_config.h), as kWaypointResourceType
  // resources named by their keys. Empty for a Gateway that is not a waypoint. Thread-safe.
  ResourcePtr find_waypoint_resource(const WaypointRef& wp, const std::string& name) const;
  std::vector<ResourcePtr> waypoint_resources(const WaypointRef& wp) const;
  // What the last translation of its config could not resolve or had to fail closed (routes'
  // unresolved backendRefs, policies' unknown keys...). Control thread only.
  std::vector<std::string> waypoint_config_problems(const WaypointRef& wp) const;

 private:
  using NsMap = std::map<std::string, std::map<std::string, ObjectPtr>>;  // ns -> name -> obj
  NsMap& inputs(Kind k);
  const ConfigObject* get(Kind k, const std::string& ns, const std::string& name) const;

  void upsert(const ObjectPtr& obj, Changes* out);
  void remove(const ObjectPtr& obj, Changes* out);
  void on_changed(const ConfigObject* before, const ConfigObject* after, Changes* out);

  void rebuild_pod(const std::string& ns, const std::string& name, Changes* out);
  void rebuild_service(const std::string& ns, const std::string& name, Changes* out);
  void rebuild_namespace(const std::string& ns, Changes* out);
  void rebuild_pods_matching(const std::string& ns, const std::function<bool(const Labels&)>& pred,
                             Changes* out);
  void rebuild_authorization(const std::string& ns, const std::string& name, Changes* out);
  void rebuild_peer_authentication(const std::string& ns, const std::string& name, Changes* out);
  void rebuild_static_policies(Changes* out);
  std::vector<std::string> workload_policies(const ConfigObject& pod) const;
  // Waypoints: readiness, the implicit allow policy, and the objects bound to one.
  void refresh_waypoint(const WaypointRef& ref, Changes* out);
  void rebuild_waypoint_users(const WaypointRef& ref, Changes* out);
  void rebuild_waypoint_protected_pods(Changes* out);
  void set_user(const ObjectKey& key, const std::optional<WaypointRef>& ref);
  std::vector<std::string> implicit_waypoint_policies(const ConfigObject& pod, const Labels* ns_labels,
                                                      const std::optional<WaypointRef>& own,
                                                      const std::vector<const ConfigObject*>& services) const;

  void set_output(const std::string& type_url, const std::string& name, ResourcePtr r, Changes* out);
  // Re-translates every waypoint's L7 config and records the keys whose bytes changed. Run at the
  // end of apply()/resync() when an input it reads changed (waypoint_config_dirty_).
  void rebuild_waypoint_configs(Changes* out);

  MeshConfig mesh_;
  NsMap namespaces_, pods_, services_, service_accounts_, nodes_, authz_, peer_authn_, gateway_classes_, gateways_,
      routes_, grpc_routes_;
  // Outputs a pod/service currently owns (a pod's uid can change across re-creation).
  std::map<std::pair<std::string, std::string>, std::string> pod_uid_;
  // Reverse index: waypoint (ns, name) -> objects whose binding refers to it.
  std::map<WaypointRef, std::set<ObjectKey>> waypoint_users_;
  std::map<ObjectKey, WaypointRef> waypoint_of_;
  std::map<ObjectKey, Binding> bindings_;
  // Pods behind at least one bound waypoint (their own or their Services'): the ones whose
  // implicit allow policy depends on AuthorizationPolicies anywhere.
  std::map<ObjectKey, std::vector<WaypointRef>> pod_waypoints_;
  // Waypoint readiness: its ready member pods (label gateway-name), and the last state seen.
  std::map<WaypointRef, std::set<std::string>> ready_members_;
  std::map<std::pair<std::string, std::string>, WaypointRef> member_of_;  // pod -> its waypoint
  std::map<WaypointRef, std::string> waypoint_ready_;  // "ready", or why not
  std::set<WaypointRef> rebuilding_users_;
  // Set by changes to what a waypoint's L7 config reads: Services and their bindings, routes,
  // AuthorizationPolicies, Gateways, GatewayClasses, Namespaces (allowedRoutes selectors).
  bool waypoint_config_dirty_ = false;
  std::map<WaypointRef, std::vector<std::string>> waypoint_problems_;

  mutable std::shared_mutex mu_;
  std::map<std::string, ResourcePtr> addresses_;
  std::map<std::string, ResourcePtr> authorizations_;
  std::map<std::string, std::string> alias_to_name_;
  std::map<WaypointRef, std::map<std::string, ResourcePtr>> waypoint_config_;  // waypoint -> key -> resource
  std::map<std::string, std::map<std::pair<std::string, std::string>, int>> node_pods_;  // node -> (ns,sa) -> count
  std::map<std::pair<std::string, std::string>, std::pair<std::string, std::string>> pod_placement_;  // pod -> (node, sa)
  std::map<std::pair<std::string, std::string>, PodBinding> pod_bindings_;  // every pod, for token binding
};

}  // namespace ambit::istiod::ambient
