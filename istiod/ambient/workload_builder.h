// Pure translation of Kubernetes objects into Istio's WDS messages, as istiod's ambient index
// does it (pilot/pkg/serviceregistry/ambient/{workloads,services,waypoints}.go): Pod → Workload,
// Service → Service, canonical names, resource names
// and aliases. No I/O, no global scans: the caller (AmbientIndex) passes in exactly the objects
// a translation depends on, which is what keeps one change's cost independent of unrelated objects.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "istio/workload/workload.pb.h"
#include "istiod/ambient/mesh_config.h"
#include "istiod/ambient/waypoints.h"
#include "istiod/model/objects.h"

namespace ambit::istiod::ambient {

// True if the pod is captured by ambient: its own istio.io/dataplane-mode=ambient, or its
// namespace's, unless the pod says "none".
bool pod_enrolled(const ObjectMeta& pod, const Labels* ns_labels);

std::string service_hostname(const std::string& ns, const std::string& name, const MeshConfig& mesh);
std::string workload_uid(const ObjectMeta& pod, const MeshConfig& mesh);  // "<cluster>//Pod/<ns>/<name>"

struct CanonicalService {
  std::string name;
  std::string revision;
};
CanonicalService canonical_service(const Labels& labels, const std::string& workload_name);

struct WorkloadName {
  std::string name;
  istio::workload::WorkloadType type = istio::workload::POD;
};
WorkloadName workload_name_and_type(const ObjectMeta& pod);

istio::workload::AppProtocol app_protocol(const ServicePort& p);

struct WorkloadInputs {
  const ConfigObject* pod = nullptr;
  const Labels* ns_labels = nullptr;            // nullptr if the Namespace object does not exist
  std::vector<const ConfigObject*> services;    // Services of the pod's namespace
  std::vector<std::string> authorization_policies;  // "ns/name", already sorted
  const ConfigObject* node = nullptr;           // for locality, may be nullptr
  // Workload.waypoint: the pod's binding (ambient/waypoints.h), set only when it is bound.
  std::optional<istio::workload::GatewayAddress> waypoint;
};

// nullopt for pods istiod does not publish (no IP yet, Succeeded/Failed).
std::optional<istio::workload::Workload> build_workload(const WorkloadInputs& in, const MeshConfig& mesh);

// nullopt for Services istiod does not publish (ExternalName). `waypoint`: the Service's binding
// (ambient/waypoints.h), set only when it is bound.
std::optional<istio::workload::Service> build_service(
    const ConfigObject& svc, const std::optional<istio::workload::GatewayAddress>& waypoint, const MeshConfig& mesh);

// Resource name and aliases of an Address (Workload → uid; Service → "ns/hostname").
std::string address_resource_name(const istio::workload::Address& a);
std::vector<std::string> address_aliases(const istio::workload::Address& a);

// Raw 4/16-byte form of a textual IP (empty if invalid) and back.
std::string ip_bytes(const std::string& ip);
std::string ip_string(const std::string& bytes);

}  // namespace ambit::istiod::ambient
