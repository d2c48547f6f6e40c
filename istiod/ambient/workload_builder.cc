#include "istiod/ambient/workload_builder.h"

#include <arpa/inet.h>

#include <algorithm>

#include "common/base/strings.h"

namespace ambit::istiod::ambient {
namespace {

const std::string* label(const Labels& l, const char* key) {
  auto it = l.find(key);
  return it == l.end() ? nullptr : &it->second;
}

}  // namespace

std::string ip_bytes(const std::string& ip) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 16);
  return {};
}

std::string ip_string(const std::string& bytes) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (bytes.size() == 4) inet_ntop(AF_INET, bytes.data(), buf, sizeof(buf));
  else if (bytes.size() == 16) inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

std::string service_hostname(const std::string& ns, const std::string& name, const MeshConfig& mesh) {
  return str_cat(name, ".", ns, ".svc.", mesh.domain_suffix);
}

std::string workload_uid(const ObjectMeta& pod, const MeshConfig& mesh) {
  return str_cat(mesh.cluster_id, "//Pod/", pod.ns, "/", pod.name);
}

bool pod_enrolled(const ObjectMeta& pod, const Labels* ns_labels) {
  if (const std::string* v = label(pod.labels, kDataplaneModeLabel)) return *v == kDataplaneModeAmbient;
  if (ns_labels) {
    if (const std::string* v = label(*ns_labels, kDataplaneModeLabel)) return *v == kDataplaneModeAmbient;
  }
  return false;
}

CanonicalService canonical_service(const Labels& labels, const std::string& workload_name) {
  // Istio pkg/config/labels CanonicalService: first label present wins.
  CanonicalService cs;
  for (const char* k : {kCanonicalNameLabel, "app.kubernetes.io/name", "app"}) {
    if (const std::string* v = label(labels, k)) {
      cs.name = *v;
      break;
    }
  }
  if (cs.name.empty()) cs.name = workload_name;
  for (const char* k : {kCanonicalRevisionLabel, "app.kubernetes.io/version", "version"}) {
    if (const std::string* v = label(labels, k)) {
      cs.revision = *v;
      break;
    }
  }
  if (cs.revision.empty()) cs.revision = "latest";
  return cs;
}

WorkloadName workload_name_and_type(const ObjectMeta& pod) {
  // Istio pkg/kube WorkloadNameAndType: derive the controller from owner references.
  for (const auto& o : pod.owner_references) {
    if (o.kind == "ReplicaSet") {
      const std::string* hash = label(pod.labels, "pod-template-hash");
      std::string suffix = hash ? "-" + *hash : "";
      if (hash && o.name.size() > suffix.size() &&
          o.name.compare(o.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        return {o.name.substr(0, o.name.size() - suffix.size()), istio::workload::DEPLOYMENT};
      }
      return {o.name, istio::workload::DEPLOYMENT};
    }
    if (o.kind == "Job") {
      // Jobs created by a CronJob are named "<cronjob>-<scheduled time digits>".
      auto dash = o.name.rfind('-');
      if (dash != std::string::npos && dash + 1 < o.name.size() &&
          o.name.find_first_not_of("0123456789", dash + 1) == std::string::npos) {
        return {o.name.substr(0, dash), istio::workload::CRONJOB};
      }
      return {o.name, istio::workload::JOB};
    }
    if (o.kind == "Deployment" || o.kind == "StatefulSet" || o.kind == "DaemonSet") {
      return {o.name, istio::workload::DEPLOYMENT};
    }
  }
  return {pod.name, istio::workload::POD};
}

istio::workload::AppProtocol app_protocol(const ServicePort& p) {
  std::string proto = p.app_protocol;
  if (proto.empty()) {
    // Istio's port-name convention: "<protocol>[-<suffix>]".
    proto = p.name.substr(0, p.name.find('-'));
  }
  for (char& c : proto) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (proto == "http") return istio::workload::HTTP11;
  if (proto == "http2" || proto == "kubernetes.io/h2c" || proto == "h2c") return istio::workload::HTTP2;
  if (proto == "grpc" || proto == "grpc-web") return istio::workload::GRPC;
  if (proto == "tcp") return istio::workload::TCP;
  if (proto == "tls" || proto == "https") return istio::workload::TLS;
  return istio::workload::UNKNOWN;
}

std::optional<istio::workload::Workload> build_workload(const WorkloadInputs& in, const MeshConfig& mesh) {
  const ConfigObject& obj = *in.pod;
  const Pod& pod = obj.as<Pod>();
  if (pod.ips.empty() || pod.phase == "Succeeded" || pod.phase == "Failed") return std::nullopt;

  istio::workload::Workload w;
  w.set_uid(workload_uid(obj.meta, mesh));
  w.set_name(obj.meta.name);
  w.set_namespace_(obj.meta.ns);
  for (const auto& ip : pod.ips) {
    std::string b = ip_bytes(ip);
    if (!b.empty()) w.add_addresses(b);
  }
  const std::string* net = label(obj.meta.labels, kNetworkLabel);
  w.set_network(net ? *net : mesh.network);
  if (pod_enrolled(obj.meta, in.ns_labels)) w.set_tunnel_protocol(istio::workload::HBONE);
  // Istio omits the trust domain when it is the default.
  if (mesh.trust_domain != "cluster.local") w.set_trust_domain(mesh.trust_domain);
  w.set_service_account(pod.service_account);
  if (in.waypoint) *w.mutable_waypoint() = *in.waypoint;
  w.set_node(pod.node_name);
  WorkloadName wn = workload_name_and_type(obj.meta);
  CanonicalService cs = canonical_service(obj.meta.labels, wn.name);
  w.set_canonical_name(cs.name);
  w.set_canonical_revision(cs.revision);
  w.set_workload_type(wn.type);
  w.set_workload_name(wn.name);

  for (const ConfigObject* so : in.services) {
    const Service& svc = so->as<Service>();
    if (!svc.selector || svc.selector->empty() || !selector_matches(*svc.selector, obj.meta.labels)) continue;
    if (svc.type == "ExternalName") continue;
    istio::workload::PortList pl;
    for (const auto& sp : svc.ports) {
      uint16_t target = sp.target_port.number;
      if (sp.target_port.is_name()) {
        target = 0;
        for (const auto& c : pod.containers) {
          for (const auto& cp : c.ports) {
            if (cp.name == sp.target_port.name) target = cp.port;
          }
        }
        if (target == 0) continue;  // the pod does not expose that named port
      }
      auto* p = pl.add_ports();
      p->set_service_port(sp.port);
      p->set_target_port(target);
    }
    (*w.mutable_services())[str_cat(so->meta.ns, "/", service_hostname(so->meta.ns, so->meta.name, mesh))] =
        std::move(pl);
  }
  for (const auto& p : in.authorization_policies) w.add_authorization_policies(p);
  bool healthy = pod.ready.value_or(pod.phase.empty() || pod.phase == "Running") && !obj.meta.deleting;
  w.set_status(healthy ? istio::workload::HEALTHY : istio::workload::UNHEALTHY);
  w.set_cluster_id(mesh.cluster_id);
  if (in.node) {
    const Labels& nl = in.node->meta.labels;
    const std::string* region = label(nl, "topology.kubernetes.io/region");
    const std::string* zone = label(nl, "topology.kubernetes.io/zone");
    const std::string* subzone = label(nl, "topology.istio.io/subzone");
    if (region || zone || subzone) {
      auto* loc = w.mutable_locality();
      if (region) loc->set_region(*region);
      if (zone) loc->set_zone(*zone);
      if (subzone) loc->set_subzone(*subzone);
    }
  }
  if (pod.host_network) w.set_network_mode(istio::workload::HOST_NETWORK);
  return w;
}

std::optional<istio::workload::Service> build_service(
    const ConfigObject& obj, const std::optional<istio::workload::GatewayAddress>& waypoint, const MeshConfig& mesh) {
  const Service& svc = obj.as<Service>();
  if (svc.type == "ExternalName") return std::nullopt;
  istio::workload::Service s;
  s.set_name(obj.meta.name);
  s.set_namespace_(obj.meta.ns);
  s.set_hostname(service_hostname(obj.meta.ns, obj.meta.name, mesh));
  for (const auto& ip : svc.cluster_ips) {
    auto* a = s.add_addresses();
    a->set_network(mesh.network);
    a->set_address(ip_bytes(ip));
  }
  for (const auto& sp : svc.ports) {
    auto* p = s.add_ports();
    p->set_service_port(sp.port);
    p->set_target_port(sp.target_port.is_name() ? 0 : sp.target_port.number);
    p->set_app_protocol(app_protocol(sp));
  }
  if (waypoint) *s.mutable_waypoint() = *waypoint;
  if (svc.traffic_distribution == "PreferClose") {
    auto* lb = s.mutable_load_balancing();
    for (auto scope : {istio::workload::LoadBalancing::NETWORK, istio::workload::LoadBalancing::REGION,
                       istio::workload::LoadBalancing::ZONE, istio::workload::LoadBalancing::SUBZONE}) {
      lb->add_routing_preference(scope);
    }
    lb->set_mode(istio::workload::LoadBalancing::FAILOVER);
  }
  return s;
}

std::string address_resource_name(const istio::workload::Address& a) {
  if (a.has_workload()) return a.workload().uid();
  return str_cat(a.service().namespace_(), "/", a.service().hostname());
}

std::vector<std::string> address_aliases(const istio::workload::Address& a) {
  std::vector<std::string> out;
  if (a.has_workload()) {
    for (const auto& b : a.workload().addresses()) out.push_back(str_cat(a.workload().network(), "/", ip_string(b)));
  } else {
    for (const auto& na : a.service().addresses()) {
      std::string alias = str_cat(na.network(), "/", ip_string(na.address()));
      if (na.has_length()) str_append(&alias, "/", na.length());
      out.push_back(std::move(alias));
    }
  }
  return out;
}

}  // namespace ambit::istiod::ambient
