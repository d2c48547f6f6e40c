// Typed Kubernetes-shaped objects that istiod understands: the subset of each schema that the
// ambient index, the CA and local mode read. The YAML parser (config/yaml_parser.h) fills these
// and validates them; everything downstream can trust the invariants written next to each field.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "istiod/model/gateway_api.h"
#include "istiod/model/labels.h"

namespace ambit::istiod {

enum class Kind {
  kNamespace,
  kPod,
  kService,
  kServiceAccount,
  kNode,
  kAuthorizationPolicy,
  kPeerAuthentication,
  kGatewayClass,
  kGateway,
  kHTTPRoute,
  kGRPCRoute,
};
inline constexpr Kind kAllKinds[] = {Kind::kNamespace, Kind::kPod, Kind::kService, Kind::kServiceAccount,
                                     Kind::kNode, Kind::kAuthorizationPolicy, Kind::kPeerAuthentication,
                                     Kind::kGatewayClass, Kind::kGateway, Kind::kHTTPRoute, Kind::kGRPCRoute};

// "Pod", "AuthorizationPolicy", ... as in YAML.
const char* kind_name(Kind k);
// apiVersion each kind is accepted under (group/version, or "v1").
const char* kind_api_version(Kind k);
bool kind_is_namespaced(Kind k);

struct OwnerReference {
  std::string kind;  // ReplicaSet, Job, ...
  std::string name;
};

struct ObjectMeta {
  std::string name;
  std::string ns;  // empty for cluster-scoped kinds
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;  // metadata.generation (0 when absent, as in local mode's files)
  Labels labels;
  Labels annotations;
  std::vector<OwnerReference> owner_references;
  bool deleting = false;  // metadata.deletionTimestamp set
};

struct Namespace {};

struct ContainerPort {
  std::string name;
  uint16_t port = 0;
  std::string protocol = "TCP";
};

struct EnvVar {
  std::string name;
  std::string value;
};

struct Container {
  std::string name;
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  std::vector<ContainerPort> ports;
};

struct Pod {
  std::string node_name;
  std::string service_account = "default";
  bool host_network = false;
  std::string restart_policy = "Always";
  std::vector<Container> containers;
  // status
  std::string phase;              // Pending, Running, Succeeded, Failed, Unknown, or ""
  std::vector<std::string> ips;   // status.podIPs (or podIP), validated textual IPs
  std::optional<bool> ready;      // the Ready condition, if reported
};

// A port number or a named container port.
struct IntOrString {
  uint16_t number = 0;
  std::string name;
  bool is_name() const { return !name.empty(); }
};

struct ServicePort {
  std::string name;
  uint16_t port = 0;
  IntOrString target_port;  // defaults to `port`
  std::string protocol = "TCP";
  std::string app_protocol;
};

struct Service {
  std::optional<Labels> selector;   // absent: the Service selects no pods
  std::vector<ServicePort> ports;
  std::vector<std::string> cluster_ips;  // validated IPs; empty for headless/None
  std::string type = "ClusterIP";
  std::string traffic_distribution;  // spec.trafficDistribution (PreferClose)
};

struct ServiceAccount {};

struct Node {
  std::vector<std::string> addresses;  // InternalIP first
};

// security.istio.io/v1 AuthorizationPolicy.
struct AuthorizationPolicy {
  enum class Action { kAllow, kDeny, kAudit, kCustom };
  struct Source {
    std::vector<std::string> principals, not_principals;
    std::vector<std::string> request_principals, not_request_principals;
    std::vector<std::string> namespaces, not_namespaces;
    std::vector<std::string> ip_blocks, not_ip_blocks;
    std::vector<std::string> remote_ip_blocks, not_remote_ip_blocks;
    std::vector<std::string> service_accounts, not_service_accounts;
  };
  struct Operation {
    std::vector<std::string> hosts, not_hosts;
    std::vector<std::string> ports, not_ports;  // strings in the schema; validated numeric
    std::vector<std::string> methods, not_methods;
    std::vector<std::string> paths, not_paths;
  };
  struct Condition {
    std::string key;
    std::vector<std::string> values, not_values;
  };
  struct Rule {
    std::vector<Source> from;
    std::vector<Operation> to;
    std::vector<Condition> when;
  };
  struct TargetRef {
    std::string group, kind, name, ns;
  };
  std::optional<LabelSelector> selector;
  std::vector<TargetRef> target_refs;
  Action action = Action::kAllow;
  std::string provider;  // CUSTOM only
  std::vector<Rule> rules;
};

// security.istio.io/v1 PeerAuthentication.
struct PeerAuthentication {
  enum class Mode { kUnset, kDisable, kPermissive, kStrict };
  std::optional<LabelSelector> selector;
  Mode mode = Mode::kUnset;  // spec.mtls.mode
  std::map<uint16_t, Mode> port_level;
};

using Spec = std::variant<Namespace, Pod, Service, ServiceAccount, Node, AuthorizationPolicy,
                          PeerAuthentication, GatewayClass, Gateway, HTTPRoute, GRPCRoute>;

struct ObjectKey {
  Kind kind;
  std::string ns;
  std::string name;
  auto operator<=>(const ObjectKey&) const = default;
  std::string to_string() const;  // "Pod default/sleep"
};

// One object as stored: immutable once built, shared by the store, the index and debug views.
struct ConfigObject {
  Kind kind;
  ObjectMeta meta;
  Spec spec;
  std::string source;  // where it came from ("dir/file.yaml#3", "kube")
  // Hash of the object's canonical content: equal fingerprints mean nothing changed, so a
  // re-saved file does not trigger pushes.
  std::string fingerprint;

  ObjectKey key() const { return ObjectKey{kind, meta.ns, meta.name}; }
  template <typename T>
  const T& as() const {
    return std::get<T>(spec);
  }
};

using ObjectPtr = std::shared_ptr<const ConfigObject>;

}  // namespace ambit::istiod
