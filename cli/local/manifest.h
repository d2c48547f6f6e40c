// Kubernetes-shaped manifests as `ambitctl local apply` handles them. Pure: YAML text in, objects
// and file contents out, every error naming the source and document.
//
//   auto objs = parse_manifests(text, "examples/echo.yaml", "default");
//   for (auto& o : *objs) if (o.kind == "Service") assign_cluster_ip(o, used_vips);
//
// Pods and apps/v1 Deployments are *workloads*: the supervisor realizes them (netns, address,
// CNI, processes) and writes the resulting Pod — with node, IP and uid — for istiod to see.
// Every other object goes to istiod's config directory as is (istiod validates it and reports
// rejections on /debug/config_rejections).
#pragma once

#include <map>
#include <optional>
#include <utility>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/status/statusor.h"

namespace ambit::cli {

struct Manifest {
  std::string api_version, kind, ns, name;
  YAML::Node node;
  std::string source;  // "file.yaml (document 2)"

  // YAML::Node's assignment writes through to the document the left side refers to (a Node is a
  // reference), so assigning Manifests — std::sort does — would overwrite one object's YAML with
  // another's. Assignment here rebinds the reference instead; copies share the document, as a
  // YAML::Node copy does (YAML::Clone for an independent one).
  Manifest() = default;
  Manifest(const Manifest&) = default;
  Manifest(Manifest&&) = default;
  Manifest& operator=(const Manifest& o) {
    if (this != &o) {
      api_version = o.api_version;
      kind = o.kind;
      ns = o.ns;
      name = o.name;
      node.reset(o.node);
      source = o.source;
    }
    return *this;
  }
  Manifest& operator=(Manifest&& o) { return *this = static_cast<const Manifest&>(o); }

  bool namespaced() const { return kind != "Namespace" && kind != "Node"; }
  bool workload() const { return kind == "Pod" || kind == "Deployment"; }
  // One file per object: "<kind>-<ns>.<name>.yaml" (lowercase kind; no ns for cluster-scoped).
  // A namespace is one DNS label (no '.'), so the first '.' separates it: no two objects collide.
  std::string file_name() const;
  std::string yaml() const;  // the object, emitted back
};

// Splits multi-document YAML; fills metadata.namespace with `default_ns` where absent. A `List`
// is flattened. Documents without kind/metadata.name are errors; an empty document is skipped.
absl::StatusOr<std::vector<Manifest>> parse_manifests(const std::string& text, const std::string& source,
                                                      const std::string& default_ns);

// Gives a Service without spec.clusterIP the lowest free VIP in 10.96.0.10–10.96.255.254
// (skipping `used`, which it extends). A present clusterIP is kept (and recorded in `used`).
absl::Status assign_cluster_ip(Manifest& svc, std::set<std::string>& used);

// A pod as the supervisor runs it.
struct Container {
  std::string name;
  std::vector<std::string> command;  // command + args
  std::map<std::string, std::string> env;
};
struct PodTemplate {
  std::string ns, name;
  std::map<std::string, std::string> labels, annotations;
  std::string node_name;  // "" = schedule
  std::string service_account = "default";
  std::string restart_policy = "Always";  // Always | OnFailure | Never
  std::vector<Container> containers;
  std::string owner;  // "Deployment/<name>" for replicas
  // The first container's readinessProbe.httpGet (path, port), if any. With one, the pod is Ready
  // only while every container runs and GET 127.0.0.1:<port><path> in the pod answers 200;
  // without, it is Ready as soon as it is scheduled (the local mesh's behaviour before probes).
  std::optional<std::pair<std::string, int>> readiness_http;
  // For replicas: the ReplicaSet a Deployment controller would have made ("<deploy>-<hash>") and
  // its pod-template-hash, so istiod derives the workload name (the Deployment's) as in Kubernetes.
  std::string replica_set, template_hash;
  // Fingerprint of everything but labels/annotations: a change means the pod is recreated;
  // a label change is applied in place (that is how enroll/release work on a running pod).
  std::string spec_hash() const;
};

// A Pod is one template; a Deployment with N replicas is N pods "<name>-<i>" (i from 0).
absl::StatusOr<std::vector<PodTemplate>> expand_workload(const Manifest& m);

// The Pod object the supervisor writes for istiod: labels, node, service account, uid, and a
// Running status with the pod IP.
std::string realized_pod_yaml(const PodTemplate& pod, const std::string& node, const std::string& ip,
                              const std::string& uid, bool ready = true);

// Sets (value non-empty) or removes a label on a manifest's metadata (or a Deployment's
// pod template). Returns whether anything changed.
bool set_label(Manifest& m, const std::string& key, const std::string& value);

}  // namespace ambit::cli
