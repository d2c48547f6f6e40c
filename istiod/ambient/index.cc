#include "istiod/ambient/index.h"

#include <functional>
#include <mutex>

#include "common/base/strings.h"
#include "istiod/ambient/authorization.h"
#include "istiod/waypoint/l7_config.h"

namespace ambit::istiod::ambient {

AmbientIndex::AmbientIndex(MeshConfig mesh) : mesh_(std::move(mesh)) {}

AmbientIndex::NsMap& AmbientIndex::inputs(Kind k) {
  switch (k) {
    case Kind::kNamespace: return namespaces_;
    case Kind::kPod: return pods_;
    case Kind::kService: return services_;
    case Kind::kServiceAccount: return service_accounts_;
    case Kind::kNode: return nodes_;
    case Kind::kAuthorizationPolicy: return authz_;
    case Kind::kPeerAuthentication: return peer_authn_;
    case Kind::kGatewayClass: return gateway_classes_;
    case Kind::kGateway: return gateways_;
    case Kind::kHTTPRoute: return routes_;
    case Kind::kGRPCRoute: return grpc_routes_;
  }
  return routes_;
}

const ConfigObject* AmbientIndex::get(Kind k, const std::string& ns, const std::string& name) const {
  const NsMap& m = const_cast<AmbientIndex*>(this)->inputs(k);
  auto it = m.find(ns);
  if (it == m.end()) return nullptr;
  auto jt = it->second.find(name);
  return jt == it->second.end() ? nullptr : jt->second.get();
}

Changes AmbientIndex::apply(const std::vector<ConfigEvent>& events) {
  Changes out;
  for (const auto& e : events) {
    if (e.type == EventType::kDelete) {
      remove(e.obj, &out);
    } else {
      upsert(e.obj, &out);
    }
  }
  if (waypoint_config_dirty_) rebuild_waypoint_configs(&out);
  return out;
}

Changes AmbientIndex::resync(const std::vector<ObjectPtr>& all) {
  Changes out;
  std::set<ObjectKey> keep;
  for (const auto& o : all) keep.insert(o->key());
  std::vector<ObjectPtr> gone;
  for (Kind k : kAllKinds) {
    for (const auto& [ns, objs] : inputs(k)) {
      for (const auto& [name, o] : objs) {
        if (!keep.count(o->key())) gone.push_back(o);
      }
    }
  }
  for (const auto& o : gone) remove(o, &out);
  // Namespaces and gateways first so that pods see their namespace labels and waypoints on the
  // first build.
  auto early = [](Kind k) { return k == Kind::kNamespace || k == Kind::kGatewayClass || k == Kind::kGateway; };
  for (const auto& o : all) {
    if (early(o->kind)) upsert(o, &out);
  }
  for (const auto& o : all) {
    if (!early(o->kind)) upsert(o, &out);
  }
  if (waypoint_config_dirty_) rebuild_waypoint_configs(&out);
  return out;
}

void AmbientIndex::upsert(const ObjectPtr& obj, Changes* out) {
  auto& slot = inputs(obj->kind)[obj->meta.ns][obj->meta.name];
  ObjectPtr before = slot;
  if (before && before->fingerprint == obj->fingerprint && !obj->fingerprint.empty()) return;
  slot = obj;
  on_changed(before.get(), obj.get(), out);
}

void AmbientIndex::remove(const ObjectPtr& obj, Changes* out) {
  auto& m = inputs(obj->kind);
  auto it = m.find(obj->meta.ns);
  if (it == m.end()) return;
  auto jt = it->second.find(obj->meta.name);
  if (jt == it->second.end()) return;
  ObjectPtr before = jt->second;
  it->second.erase(jt);
  if (it->second.empty()) m.erase(it);
  on_changed(before.get(), nullptr, out);
}

void AmbientIndex::on_changed(const ConfigObject* before, const ConfigObject* after, Changes* out) {
  const ConfigObject* any = after ? after : before;
  const std::string& ns = any->meta.ns;
  const std::string& name = any->meta.name;
  // Pods reach the waypoint config only through Service bindings (rebuild_service marks those).
  if (any->kind != Kind::kPod && any->kind != Kind::kNode && any->kind != Kind::kServiceAccount &&
      any->kind != Kind::kPeerAuthentication) {
    waypoint_config_dirty_ = true;
  }
  switch (any->kind) {
    case Kind::kNamespace:
      if (!before || !after || before->meta.labels != after->meta.labels) rebuild_namespace(name, out);
      break;
    case Kind::kPod:
      rebuild_pod(ns, name, out);
      break;
    case Kind::kService: {
      rebuild_service(ns, name, out);
      auto selects = [](const ConfigObject* s, const Labels& l) {
        if (!s) return false;
        const auto& sel = s->as<Service>().selector;
        return sel && !sel->empty() && selector_matches(*sel, l);
      };
      rebuild_pods_matching(ns, [&](const Labels& l) { return selects(before, l) || selects(after, l); }, out);
      // A waypoint's address is its Service.
      if (get(Kind::kGateway, ns, name)) refresh_waypoint(WaypointRef{ns, name}, out);
      break;
    }
    case Kind::kAuthorizationPolicy: {
      rebuild_authorization(ns, name, out);
      auto selects = [](const ConfigObject* p, const Labels& l) {
        if (!p) return false;
        const auto& sel = p->as<AuthorizationPolicy>().selector;
        return sel.has_value() && sel->matches(l);
      };
      auto pred = [&](const Labels& l) { return selects(before, l) || selects(after, l); };
      if (ns == mesh_.root_namespace) {
        for (const auto& [pns, _] : pods_) rebuild_pods_matching(pns, pred, out);
      } else {
        rebuild_pods_matching(ns, pred, out);
      }
      // Whether an ALLOW applies to a pod behind a waypoint decides its implicit waypoint policy;
      // namespace-wide, mesh-wide and targetRefs policies are not found through selectors.
      auto scoped = [](const ConfigObject* p) {
        return p && p->as<AuthorizationPolicy>().selector.has_value() && p->as<AuthorizationPolicy>().target_refs.empty();
      };
      if (mesh_.waypoint_bypass_protection && (!scoped(before) || !scoped(after))) {
        rebuild_waypoint_protected_pods(out);
      }
      break;
    }
    case Kind::kPeerAuthentication: {
      rebuild_peer_authentication(ns, name, out);
      rebuild_static_policies(out);
      auto selects = [](const ConfigObject* p, const Labels& l) {
        if (!p) return false;
        const auto& sel = p->as<PeerAuthentication>().selector;
        return !sel.has_value() || sel->matches(l);
      };
      auto pred = [&](const Labels& l) { return selects(before, l) || selects(after, l); };
      if (ns == mesh_.root_namespace) {
        for (const auto& [pns, _] : pods_) rebuild_pods_matching(pns, pred, out);
      } else {
        rebuild_pods_matching(ns, pred, out);
      }
      break;
    }
    case Kind::kGateway:
      refresh_waypoint(WaypointRef{ns, name}, out);
      rebuild_waypoint_users(WaypointRef{ns, name}, out);
      break;
    case Kind::kGatewayClass: {
      // Its istio.io/waypoint-for label is the default of its Gateways.
      std::vector<WaypointRef> refs;
      for (const auto& [gns, gws] : gateways_) {
        for (const auto& [gname, g] : gws) {
          if (g->as<Gateway>().gateway_class == name) refs.push_back(WaypointRef{gns, gname});
        }
      }
      for (const auto& r : refs) rebuild_waypoint_users(r, out);
      break;
    }
    case Kind::kNode:
    case Kind::kServiceAccount:
    case Kind::kHTTPRoute:
    case Kind::kGRPCRoute:
      break;  // stored for debug views and later consumers; no WDS output depends on them
  }
}

void AmbientIndex::rebuild_namespace(const std::string& ns, Changes* out) {
  rebuild_pods_matching(ns, [](const Labels&) { return true; }, out);
  auto it = services_.find(ns);
  if (it == services_.end()) return;
  std::vector<std::string> names;
  for (const auto& [n, _] : it->second) names.push_back(n);
  for (const auto& n : names) rebuild_service(ns, n, out);
}

void AmbientIndex::rebuild_pods_matching(const std::string& ns,
                                         const std::function<bool(const Labels&)>& pred, Changes* out) {
  auto it = pods_.find(ns);
  if (it == pods_.end()) return;
  std::vector<std::string> names;
  for (const auto& [n, p] : it->second) {
    if (pred(p->meta.labels)) names.push_back(n);
  }
  for (const auto& n : names) rebuild_pod(ns, n, out);
}

void AmbientIndex::set_output(const std::string& type_url, const std::string& name, ResourcePtr r,
                              Changes* out) {
  bool address = type_url == kAddressType;
  auto& m = address ? addresses_ : authorizations_;
  std::unique_lock lock(mu_);
  auto it = m.find(name);
  if (it != m.end() && r && it->second->version == r->version) return;
  if (address && it != m.end()) {
    for (const auto& a : it->second->aliases) alias_to_name_.erase(a);
  }
  if (!r) {
    if (it == m.end()) return;
    m.erase(it);
  } else {
    if (address) {
      for (const auto& a : r->aliases) alias_to_name_[a] = name;
    }
    m[name] = std::move(r);
  }
  (address ? out->addresses : out->authorizations).insert(name);
}

std::vector<std::string> AmbientIndex::workload_policies(const ConfigObject& pod) const {
  std::vector<const ConfigObject*> local, root, pa_local, pa_root;
  auto collect = [&](const NsMap& m, const std::string& ns, std::vector<const ConfigObject*>* v) {
    auto it = m.find(ns);
    if (it == m.end()) return;
    for (const auto& [_, o] : it->second) v->push_back(o.get());
  };
  collect(authz_, pod.meta.ns, &local);
  collect(peer_authn_, pod.meta.ns, &pa_local);
  if (pod.meta.ns != mesh_.root_namespace) {
    collect(authz_, mesh_.root_namespace, &root);
    collect(peer_authn_, mesh_.root_namespace, &pa_root);
  }
  return workload_authorization_policies(pod.meta.ns, pod.meta.labels, local, root, pa_local, pa_root, mesh_);
}

void AmbientIndex::rebuild_pod(const std::string& ns, const std::string& name, Changes* out) {
  const ConfigObject* pod = get(Kind::kPod, ns, name);
  auto key = std::make_pair(ns, name);
  ObjectKey okey{Kind::kPod, ns, name};

  std::string new_uid;
  ResourcePtr res;
  std::optional<WaypointRef> wref;
  std::vector<WaypointRef> behind;  // bound waypoints: its own and its Services'
  if (pod) {
    const ConfigObject* nso = get(Kind::kNamespace, "", ns);
    const Labels* ns_labels = nso ? &nso->meta.labels : nullptr;
    WorkloadInputs in;
    in.pod = pod;
    in.ns_labels = ns_labels;
    std::vector<const ConfigObject*> selecting;
    if (auto it = services_.find(ns); it != services_.end()) {
      for (const auto& [_, s] : it->second) {
        in.services.push_back(s.get());
        const auto& sel = s->as<Service>().selector;
        if (sel && !sel->empty() && selector_matches(*sel, pod->meta.labels)) selecting.push_back(s.get());
      }
    }
    in.authorization_policies = workload_policies(*pod);
    in.node = pod->as<Pod>().node_name.empty() ? nullptr : get(Kind::kNode, "", pod->as<Pod>().node_name);
    Binding b = bind_waypoint(pod->meta, ns_labels, BindKind::kWorkload,
                              [this](const std::string& gns, const std::string& gname) { return waypoint_facts(gns, gname); },
                              mesh_);
    in.waypoint = b.address;
    wref = b.ref;
    if (b.bound()) behind.push_back(*b.ref);
    for (const ConfigObject* s : selecting) {
      auto bit = bindings_.find(s->key());
      if (bit != bindings_.end() && bit->second.bound()) behind.push_back(*bit->second.ref);
    }
    std::sort(behind.begin(), behind.end());
    behind.erase(std::unique(behind.begin(), behind.end()), behind.end());
    if (mesh_.waypoint_bypass_protection && !behind.empty()) {
      std::vector<std::string> svc_names;
      for (const ConfigObject* s : selecting) svc_names.push_back(s->meta.name);
      std::vector<const ConfigObject*> ns_aps, root_aps, wp_aps;
      auto collect = [&](const std::string& cns, std::vector<const ConfigObject*>* v) {
        if (auto it = authz_.find(cns); it != authz_.end()) {
          for (const auto& [_, o] : it->second) v->push_back(o.get());
        }
      };
      collect(ns, &ns_aps);
      if (ns != mesh_.root_namespace) collect(mesh_.root_namespace, &root_aps);
      for (const auto& w : behind) {
        if (w.ns != ns && w.ns != mesh_.root_namespace) collect(w.ns, &wp_aps);
      }
      if (allow_policy_applies(ns, pod->meta.labels, behind, svc_names, ns_aps, root_aps, wp_aps, mesh_)) {
        for (const auto& w : behind) {
          in.authorization_policies.push_back(str_cat(w.ns, "/", implicit_waypoint_policy_name(w)));
        }
      }
    }
    if (auto w = build_workload(in, mesh_)) {
      istio::workload::Address addr;
      *addr.mutable_workload() = std::move(*w);
      new_uid = addr.workload().uid();
      res = make_resource(new_uid, kAddressType, addr, address_aliases(addr));
    }
    if (b.ref) {
      bindings_[okey] = std::move(b);
    } else {
      bindings_.erase(okey);
    }
  } else {
    bindings_.erase(okey);
  }
  if (behind.empty()) {
    pod_waypoints_.erase(okey);
  } else {
    pod_waypoints_[okey] = behind;
  }
  auto old = pod_uid_.find(key);
  if (old != pod_uid_.end() && old->second != new_uid) {
    set_output(kAddressType, old->second, nullptr, out);
    pod_uid_.erase(old);
  }
  if (res) {
    set_output(kAddressType, new_uid, std::move(res), out);
    pod_uid_[key] = new_uid;
  }
  set_user(okey, wref);

  // Waypoint membership: a ready pod of a waypoint's Deployment counts towards its readiness.
  std::optional<WaypointRef> member_was;
  if (auto m = member_of_.find(key); m != member_of_.end()) {
    member_was = m->second;
    ready_members_[m->second].erase(name);
    if (ready_members_[m->second].empty()) ready_members_.erase(m->second);
    member_of_.erase(m);
  }
  std::optional<WaypointRef> member_now;
  if (pod) {
    auto gl = pod->meta.labels.find(kGatewayNameLabel);
    const Pod& p = pod->as<Pod>();
    bool terminal = p.phase == "Succeeded" || p.phase == "Failed";
    bool ready = !p.ips.empty() && !terminal && !pod->meta.deleting &&
                 p.ready.value_or(p.phase.empty() || p.phase == "Running");
    if (gl != pod->meta.labels.end() && ready) {
      member_now = WaypointRef{ns, gl->second};
      member_of_[key] = *member_now;
      ready_members_[*member_now].insert(name);
    }
  }
  if (member_was) refresh_waypoint(*member_was, out);
  if (member_now && member_now != member_was) refresh_waypoint(*member_now, out);

  // Node -> (ns, sa) counts for the CA's impersonation check: swap this pod's contribution.
  std::unique_lock lock(mu_);
  if (auto pl = pod_placement_.find(key); pl != pod_placement_.end()) {
    auto& counts = node_pods_[pl->second.first];
    auto c = counts.find({ns, pl->second.second});
    if (c != counts.end() && --c->second == 0) counts.erase(c);
    if (counts.empty()) node_pods_.erase(pl->second.first);
    pod_placement_.erase(pl);
  }
  pod_bindings_.erase(key);
  if (pod) {
    const Pod& p = pod->as<Pod>();
    bool terminal = p.phase == "Succeeded" || p.phase == "Failed";
    if (!p.node_name.empty() && !terminal) {
      node_pods_[p.node_name][{ns, p.service_account}]++;
      pod_placement_[key] = {p.node_name, p.service_account};
    }
    pod_bindings_[key] = PodBinding{pod->meta.uid, p.service_account, p.phase, p.ips};
  }
}

bool AmbientIndex::node_runs(const std::string& node, const std::string& ns, const std::string& sa) const {
  std::shared_lock lock(mu_);
  auto it = node_pods_.find(node);
  return it != node_pods_.end() && it->second.count({ns, sa}) > 0;
}

std::optional<AmbientIndex::PodBinding> AmbientIndex::pod_binding(const std::string& ns,
                                                                  const std::string& name) const {
  std::shared_lock lock(mu_);
  auto it = pod_bindings_.find({ns, name});
  if (it == pod_bindings_.end()) return std::nullopt;
  return it->second;
}

void AmbientIndex::rebuild_service(const std::string& ns, const std::string& name, Changes* out) {
  const ConfigObject* svc = get(Kind::kService, ns, name);
  std::string rname = str_cat(ns, "/", service_hostname(ns, name, mesh_));
  ObjectKey okey{Kind::kService, ns, name};
  ResourcePtr res;
  std::optional<WaypointRef> wref;
  if (svc) {
    const ConfigObject* nso = get(Kind::kNamespace, "", ns);
    const Labels* ns_labels = nso ? &nso->meta.labels : nullptr;
    Binding b = bind_waypoint(svc->meta, ns_labels, BindKind::kService,
                              [this](const std::string& gns, const std::string& gname) { return waypoint_facts(gns, gname); },
                              mesh_);
    if (auto s = build_service(*svc, b.address, mesh_)) {
      istio::workload::Address addr;
      *addr.mutable_service() = std::move(*s);
      res = make_resource(rname, kAddressType, addr, address_aliases(addr));
    }
    wref = b.ref;
    if (b.ref) {
      bindings_[okey] = std::move(b);
    } else {
      bindings_.erase(okey);
    }
  } else {
    bindings_.erase(okey);
  }
  set_output(kAddressType, rname, std::move(res), out);
  set_user(okey, wref);
  waypoint_config_dirty_ = true;  // which Services a waypoint serves may have changed
}

void AmbientIndex::set_user(const ObjectKey& key, const std::optional<WaypointRef>& ref) {
  if (auto w = waypoint_of_.find(key); w != waypoint_of_.end()) {
    waypoint_users_[w->second].erase(key);
    if (waypoint_users_[w->second].empty()) waypoint_users_.erase(w->second);
    waypoint_of_.erase(w);
  }
  if (ref) {
    waypoint_of_[key] = *ref;
    waypoint_users_[*ref].insert(key);
  }
}

WaypointFacts AmbientIndex::waypoint_facts(const std::string& ns, const std::string& name) const {
  WaypointFacts f;
  f.gateway = get(Kind::kGateway, ns, name);
  if (!f.gateway) return f;
  const Gateway& g = f.gateway->as<Gateway>();
  f.gateway_class = get(Kind::kGatewayClass, "", g.gateway_class);
  // status.addresses: what the object carries (Kubernetes), or what istiod writes once the
  // waypoint's Service exists (gateway/status.h).
  f.has_address = !g.status_addresses.empty() || get(Kind::kService, ns, name) != nullptr;
  auto it = ready_members_.find(WaypointRef{ns, name});
  f.ready_pods = it == ready_members_.end() ? 0 : static_cast<int>(it->second.size());
  return f;
}

void AmbientIndex::refresh_waypoint(const WaypointRef& ref, Changes* out) {
  WaypointFacts f = waypoint_facts(ref.ns, ref.name);
  // The implicit allow policy exists while the Gateway is a waypoint, ready or not (workloads
  // reference it only while bound).
  std::string pname = str_cat(ref.ns, "/", implicit_waypoint_policy_name(ref));
  ResourcePtr res;
  if (mesh_.waypoint_bypass_protection && f.gateway && is_waypoint(f.gateway->as<Gateway>())) {
    // The generated Deployment runs as the ServiceAccount named after the Gateway (Istio's
    // waypoint template does the same).
    res = make_resource(pname, kAuthorizationType, implicit_waypoint_policy(ref, ref.name, mesh_));
  }
  set_output(kAuthorizationType, pname, std::move(res), out);

  // Users are rebuilt when readiness, or the reason it is not ready, changes: the reason is their
  // WaypointBound message. Rebuilding an object whose WDS output stays the same pushes nothing.
  // No Gateway is state "", the same as never seen: pods labelled for a Gateway that does not
  // exist must not look like a change on every rebuild.
  std::string why;
  std::string state = !f.gateway ? std::string() : waypoint_ready(f, &why) ? std::string("ready") : why;
  auto it = waypoint_ready_.find(ref);
  std::string was = it == waypoint_ready_.end() ? std::string() : it->second;
  if (state.empty()) {
    waypoint_ready_.erase(ref);
  } else {
    waypoint_ready_[ref] = state;
  }
  if (state != was) rebuild_waypoint_users(ref, out);
}

void AmbientIndex::rebuild_waypoint_users(const WaypointRef& ref, Changes* out) {
  auto it = waypoint_users_.find(ref);
  if (it == waypoint_users_.end()) return;
  // A user can also be a member of a waypoint (config may label anything), and rebuilding a
  // member refreshes its waypoint: never re-enter the same waypoint's users.
  if (!rebuilding_users_.insert(ref).second) return;
  struct Done {
    std::set<WaypointRef>* s;
    WaypointRef r;
    ~Done() { s->erase(r); }
  } done{&rebuilding_users_, ref};
  std::set<ObjectKey> users = it->second;  // rebuilding edits the reverse index
  for (const auto& k : users) {
    if (k.kind == Kind::kPod) rebuild_pod(k.ns, k.name, out);
    if (k.kind == Kind::kService) {
      rebuild_service(k.ns, k.name, out);
      // Its pods' implicit waypoint policies follow the Service's binding.
      if (const ConfigObject* s = get(Kind::kService, k.ns, k.name)) {
        const auto& sel = s->as<Service>().selector;
        if (sel && !sel->empty()) {
          Labels copy = *sel;
          rebuild_pods_matching(k.ns, [&](const Labels& l) { return selector_matches(copy, l); }, out);
        }
      }
    }
  }
}

void AmbientIndex::rebuild_waypoint_protected_pods(Changes* out) {
  std::vector<ObjectKey> pods;
  for (const auto& [k, _] : pod_waypoints_) pods.push_back(k);
  for (const auto& k : pods) rebuild_pod(k.ns, k.name, out);
}

void AmbientIndex::rebuild_authorization(const std::string& ns, const std::string& name, Changes* out) {
  const ConfigObject* ap = get(Kind::kAuthorizationPolicy, ns, name);
  ResourcePtr res;
  if (ap) {
    if (auto a = convert_authorization_policy(*ap, mesh_)) {
      res = make_resource(str_cat(ns, "/", name), kAuthorizationType, *a);
    }
  }
  set_output(kAuthorizationType, str_cat(ns, "/", name), std::move(res), out);
}

namespace {
std::vector<const ConfigObject*> list_of(const std::map<std::string, ObjectPtr>* m) {
  std::vector<const ConfigObject*> out;
  if (m) {
    for (const auto& [_, o] : *m) out.push_back(o.get());
  }
  return out;
}
}  // namespace

void AmbientIndex::rebuild_peer_authentication(const std::string& ns, const std::string& name, Changes* out) {
  // A converted policy merges a selector PeerAuthentication with the namespace-wide and
  // mesh-wide ones, so a change to a namespace-wide (or mesh-wide) one re-converts its dependants.
  auto convert = [&](const std::string& pns, const std::string& pname) {
    std::string rname = str_cat(pns, "/", kConvertedPeerAuthenticationPrefix, pname);
    const ConfigObject* pa = get(Kind::kPeerAuthentication, pns, pname);
    ResourcePtr res;
    if (pa) {
      auto nit = peer_authn_.find(pns);
      auto rit = peer_authn_.find(mesh_.root_namespace);
      auto ns_list = list_of(nit == peer_authn_.end() ? nullptr : &nit->second);
      auto root_list = list_of(rit == peer_authn_.end() ? nullptr : &rit->second);
      if (auto a = convert_peer_authentication(*pa, namespace_peer_authentication(ns_list),
                                               namespace_peer_authentication(root_list), mesh_)) {
        res = make_resource(rname, kAuthorizationType, *a);
      }
    }
    set_output(kAuthorizationType, rname, std::move(res), out);
  };
  convert(ns, name);
  const ConfigObject* pa = get(Kind::kPeerAuthentication, ns, name);
  bool scoped = pa && pa->as<PeerAuthentication>().selector.has_value();
  if (scoped) return;
  for (const auto& [pns, pas] : peer_authn_) {
    if (pns != ns && ns != mesh_.root_namespace) continue;
    for (const auto& [pname, _] : pas) {
      if (!(pns == ns && pname == name)) convert(pns, pname);
    }
  }
}

void AmbientIndex::rebuild_static_policies(Changes* out) {
  std::string rname = str_cat(mesh_.root_namespace, "/", kStaticStrictPolicyName);
  ResourcePtr res;
  if (!peer_authn_.empty()) res = make_resource(rname, kAuthorizationType, static_strict_policy(mesh_));
  set_output(kAuthorizationType, rname, std::move(res), out);
}

ResourcePtr AmbientIndex::find(const std::string& type_url, const std::string& name) const {
  std::shared_lock lock(mu_);
  const auto& m = type_url == kAddressType ? addresses_ : authorizations_;
  auto it = m.find(name);
  return it == m.end() ? nullptr : it->second;
}

std::string AmbientIndex::resolve_alias(const std::string& alias) const {
  std::shared_lock lock(mu_);
  auto it = alias_to_name_.find(alias);
  return it == alias_to_name_.end() ? std::string() : it->second;
}

std::vector<ResourcePtr> AmbientIndex::all(const std::string& type_url) const {
  std::shared_lock lock(mu_);
  const auto& m = type_url == kAddressType ? addresses_ : authorizations_;
  std::vector<ResourcePtr> out;
  out.reserve(m.size());
  for (const auto& [_, r] : m) out.push_back(r);
  return out;
}

size_t AmbientIndex::size(const std::string& type_url) const {
  std::shared_lock lock(mu_);
  return type_url == kAddressType ? addresses_.size() : authorizations_.size();
}

std::vector<ObjectPtr> AmbientIndex::objects(Kind kind) const {
  std::vector<ObjectPtr> out;
  for (const auto& [_, m] : const_cast<AmbientIndex*>(this)->inputs(kind)) {
    for (const auto& [__, o] : m) out.push_back(o);
  }
  return out;
}

// ---- waypoint L7 config ----------------------------------------------------------------------

void AmbientIndex::rebuild_waypoint_configs(Changes* out) {
  waypoint_config_dirty_ = false;
  // A waypoint serves the Services bound to it, and those only waiting for it to become ready:
  // its listeners are in place before clients are sent to it, so the first requests never meet
  // a waypoint that does not know their service yet (400).
  std::map<WaypointRef, std::set<std::pair<std::string, std::string>>> served;
  for (const auto& [key, b] : bindings_) {
    if (key.kind != Kind::kService || !b.ref) continue;
    if (b.bound() || b.reason == kReasonNotReady) served[*b.ref].insert({key.ns, key.name});
  }
  std::vector<const ConfigObject*> routes, policies;
  for (const NsMap* m : {&routes_, &grpc_routes_}) {
    for (const auto& [_, objs] : *m) {
      for (const auto& [__, o] : objs) routes.push_back(o.get());
    }
  }
  for (const auto& [_, objs] : authz_) {
    for (const auto& [__, o] : objs) policies.push_back(o.get());
  }

  std::map<WaypointRef, std::map<std::string, ResourcePtr>> next;
  std::map<WaypointRef, std::vector<std::string>> problems;
  for (const auto& [gns, gws] : gateways_) {
    for (const auto& [gname, g] : gws) {
      if (!is_waypoint(g->as<Gateway>())) continue;
      waypoint::WaypointScope scope;
      scope.waypoint = WaypointRef{gns, gname};
      scope.gateway = g.get();
      scope.services = served[scope.waypoint];
      scope.find_service = [this](const std::string& ns, const std::string& name) {
        return get(Kind::kService, ns, name);
      };
      scope.namespace_labels = [this](const std::string& ns) -> const Labels* {
        const ConfigObject* o = get(Kind::kNamespace, "", ns);
        return o ? &o->meta.labels : nullptr;
      };
      scope.mesh = mesh_;
      waypoint::WaypointConfig cfg = waypoint::translate_waypoint(scope, routes, policies);
      auto& res = next[scope.waypoint];
      for (const auto& [key, r] : cfg.resources) res[key] = make_resource(key, kWaypointResourceType, r);
      if (!cfg.problems.empty()) problems[scope.waypoint] = std::move(cfg.problems);
    }
  }
  waypoint_problems_ = std::move(problems);

  // Only keys whose bytes changed, and keys gone (a removed waypoint loses them all).
  std::unique_lock lock(mu_);
  for (const auto& [wp, res] : next) {
    auto old = waypoint_config_.find(wp);
    for (const auto& [key, r] : res) {
      if (old != waypoint_config_.end()) {
        auto it = old->second.find(key);
        if (it != old->second.end() && it->second->bytes == r->bytes) continue;
      }
      out->waypoints[wp].insert(key);
    }
    if (old == waypoint_config_.end()) continue;
    for (const auto& [key, _] : old->second) {
      if (!res.count(key)) out->waypoints[wp].insert(key);
    }
  }
  for (const auto& [wp, old] : waypoint_config_) {
    if (next.count(wp)) continue;
    for (const auto& [key, _] : old) out->waypoints[wp].insert(key);
  }
  // Unchanged resources keep their pointers (readers may hold them; the bytes are equal anyway).
  for (auto& [wp, res] : next) {
    auto old = waypoint_config_.find(wp);
    if (old == waypoint_config_.end()) continue;
    for (auto& [key, r] : res) {
      auto it = old->second.find(key);
      if (it != old->second.end() && it->second->bytes == r->bytes) r = it->second;
    }
  }
  waypoint_config_ = std::move(next);
}

ResourcePtr AmbientIndex::find_waypoint_resource(const WaypointRef& wp, const std::string& name) const {
  std::shared_lock lock(mu_);
  auto it = waypoint_config_.find(wp);
  if (it == waypoint_config_.end()) return nullptr;
  auto jt = it->second.find(name);
  return jt == it->second.end() ? nullptr : jt->second;
}

std::vector<ResourcePtr> AmbientIndex::waypoint_resources(const WaypointRef& wp) const {
  std::shared_lock lock(mu_);
  std::vector<ResourcePtr> out;
  auto it = waypoint_config_.find(wp);
  if (it == waypoint_config_.end()) return out;
  for (const auto& [_, r] : it->second) out.push_back(r);
  return out;
}

std::vector<std::string> AmbientIndex::waypoint_config_problems(const WaypointRef& wp) const {
  auto it = waypoint_problems_.find(wp);
  return it == waypoint_problems_.end() ? std::vector<std::string>{} : it->second;
}

}  // namespace ambit::istiod::ambient
