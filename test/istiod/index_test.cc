// Translation tables for the ambient index: Kubernetes YAML in, the exact WDS protobuf out, and
// the incremental change sets the delta server pushes.
#include <doctest/doctest.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>

#include "istiod/ambient/index.h"
#include "istiod/config/yaml_parser.h"

using namespace ambit::istiod;
using namespace ambit::istiod::ambient;

namespace {

std::vector<ObjectPtr> objs(const std::string& yaml) {
  auto r = parse_yaml(yaml, "t.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  for (const auto& rej : r->rejections) FAIL("unexpected rejection: ", rej.to_string());
  return r->objects;
}

template <typename T>
T parse_text(const std::string& text) {
  T m;
  REQUIRE_MESSAGE(google::protobuf::TextFormat::ParseFromString(text, &m), text);
  return m;
}

istio::workload::Address address(const AmbientIndex& idx, const std::string& name) {
  auto r = idx.find(kAddressType, name);
  REQUIRE_MESSAGE(r != nullptr, "no Address ", name);
  istio::workload::Address a;
  REQUIRE(a.ParseFromString(r->bytes));
  return a;
}

void check_equal(const google::protobuf::Message& got, const google::protobuf::Message& want) {
  std::string diff;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  CHECK_MESSAGE(d.Compare(want, got), "got:\n", got.DebugString(), "\nwant:\n", want.DebugString(), "\ndiff:\n", diff);
}

// What the deployment controller and the supervisor produce for a ready waypoint "wp" in demo:
// its Service and one ready pod of its Deployment.
const char* kWaypointRunning = R"(
---
apiVersion: v1
kind: Service
metadata: {name: wp, namespace: demo, labels: {gateway.networking.k8s.io/gateway-name: wp}}
spec: {selector: {gateway.networking.k8s.io/gateway-name: wp}, ports: [{name: mesh, port: 15008}]}
---
apiVersion: v1
kind: Pod
metadata: {name: wp-0, namespace: demo, labels: {gateway.networking.k8s.io/gateway-name: wp, istio.io/dataplane-mode: none}}
spec: {serviceAccountName: wp}
status: {podIP: 10.0.0.99, conditions: [{type: Ready, status: "True"}]}
)";

const char* kBase = R"(
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata:
  name: echo-5d8f-x2x
  namespace: demo
  labels: {app: echo, version: v2, pod-template-hash: 5d8f}
  ownerReferences: [{kind: ReplicaSet, name: echo-5d8f}]
spec:
  nodeName: node2
  serviceAccountName: echo
  containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]
status:
  podIP: 10.10.2.7
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: demo}
spec:
  selector: {app: echo}
  clusterIP: 10.96.0.20
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: tcp-raw, port: 9000, targetPort: 9000}
  - {name: grpc-api, port: 90, targetPort: grpc}
)";

}  // namespace

TEST_CASE("Pod -> Workload: uid, address, HBONE via namespace label, ports, canonical names, type") {
  AmbientIndex idx{MeshConfig{}};
  idx.resync(objs(kBase));
  check_equal(address(idx, "Kubernetes//Pod/demo/echo-5d8f-x2x"), parse_text<istio::workload::Address>(R"(
    workload {
      uid: "Kubernetes//Pod/demo/echo-5d8f-x2x" name: "echo-5d8f-x2x" namespace: "demo"
      addresses: "\n\n\002\007" tunnel_protocol: HBONE service_account: "echo" node: "node2"
      canonical_name: "echo" canonical_revision: "v2" workload_type: DEPLOYMENT workload_name: "echo"
      services {
        key: "demo/echo.demo.svc.cluster.local"
        value { ports { service_port: 80 target_port: 8080 } ports { service_port: 9000 target_port: 9000 } }
      }
      status: HEALTHY cluster_id: "Kubernetes"
    })"));
  auto r = idx.find(kAddressType, "Kubernetes//Pod/demo/echo-5d8f-x2x");
  CHECK(r->aliases == std::vector<std::string>{"/10.10.2.7"});
  CHECK(r->type_url == "type.googleapis.com/istio.workload.Address");
}

TEST_CASE("Service -> Service: hostname, VIP, ports with numeric target ports, app protocol") {
  AmbientIndex idx{MeshConfig{}};
  idx.resync(objs(kBase));
  check_equal(address(idx, "demo/echo.demo.svc.cluster.local"), parse_text<istio::workload::Address>(R"(
    service {
      name: "echo" namespace: "demo" hostname: "echo.demo.svc.cluster.local"
      addresses { address: "\n`\000\024" }
      ports { service_port: 80 target_port: 0 app_protocol: HTTP11 }
      ports { service_port: 9000 target_port: 9000 app_protocol: TCP }
      ports { service_port: 90 target_port: 0 app_protocol: GRPC }
    })"));
  CHECK(idx.find(kAddressType, "demo/echo.demo.svc.cluster.local")->aliases == std::vector<std::string>{"/10.96.0.20"});
}

TEST_CASE("enrollment: pod label wins over namespace, none opts out, no label means no tunnel") {
  struct Case {
    const char* ns_label;
    const char* pod_label;
    bool hbone;
  } cases[] = {
      {"ambient", "", true},   {"ambient", "none", false}, {"", "ambient", true},
      {"", "", false},         {"none", "ambient", true},  {"ambient", "sidecar", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.ns_label);
    CAPTURE(c.pod_label);
    std::string y = "apiVersion: v1\nkind: Namespace\nmetadata: {name: n";
    if (*c.ns_label) y += std::string(", labels: {istio.io/dataplane-mode: ") + c.ns_label + "}";
    y += "}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: n";
    if (*c.pod_label) y += std::string(", labels: {istio.io/dataplane-mode: ") + c.pod_label + "}";
    y += "}\nstatus: {podIP: 10.0.0.1}\n";
    AmbientIndex idx{MeshConfig{}};
    idx.resync(objs(y));
    auto w = address(idx, "Kubernetes//Pod/n/p").workload();
    CHECK(w.tunnel_protocol() == (c.hbone ? istio::workload::HBONE : istio::workload::NONE));
  }
}

TEST_CASE("pods without an IP or in a terminal phase are not published, not-ready pods are UNHEALTHY") {
  AmbientIndex idx{MeshConfig{}};
  idx.resync(objs(R"(
apiVersion: v1
kind: Pod
metadata: {name: noip}
---
apiVersion: v1
kind: Pod
metadata: {name: done}
status: {podIP: 10.0.0.2, phase: Succeeded}
---
apiVersion: v1
kind: Pod
metadata: {name: notready}
status: {podIP: 10.0.0.3, phase: Running, conditions: [{type: Ready, status: "False"}]}
)"));
  CHECK(idx.find(kAddressType, "Kubernetes//Pod/default/noip") == nullptr);
  CHECK(idx.find(kAddressType, "Kubernetes//Pod/default/done") == nullptr);
  CHECK(address(idx, "Kubernetes//Pod/default/notready").workload().status() == istio::workload::UNHEALTHY);
}

TEST_CASE("waypoint binding: namespace, service and pod labels, waypoint-for, missing gateway, none") {
  const std::string gw = R"(
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: demo, labels: {istio.io/waypoint-for: WPFOR}}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
)" + std::string(kWaypointRunning);
  const std::string wp_addr = R"(hostname { namespace: "demo" hostname: "wp.demo.svc.cluster.local" } hbone_mtls_port: 15008)";
  auto with = [&](const std::string& wpfor, const std::string& extra) {
    std::string g = gw;
    g.replace(g.find("WPFOR"), 5, wpfor);
    AmbientIndex idx{MeshConfig{}};
    idx.resync(objs(std::string(R"(
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: demo, labels: {app: a}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: demo}
spec: {selector: {app: a}, clusterIP: 10.96.0.1, ports: [{port: 80}]}
)") + g + extra));
    return std::make_pair(address(idx, "Kubernetes//Pod/demo/a").workload(),
                          address(idx, "demo/a.demo.svc.cluster.local").service());
  };
  auto want = parse_text<istio::workload::GatewayAddress>(wp_addr);

  SUBCASE("waypoint-for service (default): services use it, workloads do not") {
    auto [w, s] = with("service", "");
    CHECK_FALSE(w.has_waypoint());
    REQUIRE(s.has_waypoint());
    check_equal(s.waypoint(), want);
  }
  SUBCASE("waypoint-for workload") {
    auto [w, s] = with("workload", "");
    REQUIRE(w.has_waypoint());
    check_equal(w.waypoint(), want);
    CHECK_FALSE(s.has_waypoint());
  }
  SUBCASE("waypoint-for all") {
    auto [w, s] = with("all", "");
    CHECK(w.has_waypoint());
    CHECK(s.has_waypoint());
  }
  SUBCASE("waypoint-for none") {
    auto [w, s] = with("none", "");
    CHECK_FALSE(w.has_waypoint());
    CHECK_FALSE(s.has_waypoint());
  }
}

TEST_CASE("waypoint: a missing Gateway binds nothing until it appears, use-waypoint: none opts out") {
  AmbientIndex idx{MeshConfig{}};
  idx.resync(objs(R"(
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/use-waypoint: wp}}
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: demo}
spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: demo, labels: {istio.io/use-waypoint: none}}
spec: {clusterIP: 10.96.0.2, ports: [{port: 80}]}
)" + std::string(kWaypointRunning)));
  CHECK_FALSE(address(idx, "demo/a.demo.svc.cluster.local").service().has_waypoint());
  auto gw = objs(R"(
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: demo}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
)");
  Changes c = idx.apply({ConfigEvent{EventType::kAdd, gw[0]}});
  CHECK(c.addresses == std::set<std::string>{"demo/a.demo.svc.cluster.local"});  // not b
  CHECK(address(idx, "demo/a.demo.svc.cluster.local").service().has_waypoint());
  CHECK_FALSE(address(idx, "demo/b.demo.svc.cluster.local").service().has_waypoint());
  c = idx.apply({ConfigEvent{EventType::kDelete, gw[0]}});
  CHECK(c.addresses == std::set<std::string>{"demo/a.demo.svc.cluster.local"});
  CHECK_FALSE(address(idx, "demo/a.demo.svc.cluster.local").service().has_waypoint());
}

TEST_CASE("canonical name and revision, workload name and type") {
  CHECK(canonical_service({{"service.istio.io/canonical-name", "x"}, {"app", "y"}}, "w").name == "x");
  CHECK(canonical_service({{"app.kubernetes.io/name", "k"}, {"app", "y"}}, "w").name == "k");
  CHECK(canonical_service({}, "w").name == "w");
  CHECK(canonical_service({}, "w").revision == "latest");
  CHECK(canonical_service({{"version", "v3"}}, "w").revision == "v3");
  ObjectMeta job;
  job.name = "backup-29000000-abcde";
  job.owner_references = {{"Job", "backup-29000000"}};
  CHECK(workload_name_and_type(job).name == "backup");
  CHECK(workload_name_and_type(job).type == istio::workload::CRONJOB);
  job.owner_references = {{"Job", "migrate"}};
  CHECK(workload_name_and_type(job).type == istio::workload::JOB);
  ObjectMeta bare;
  bare.name = "p";
  CHECK(workload_name_and_type(bare).type == istio::workload::POD);
}

TEST_CASE("incremental: a pod change touches only its workload, cost does not depend on other pods") {
  std::string y = "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n";
  for (int i = 0; i < 200; ++i) {
    y += "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p" + std::to_string(i) +
         ", namespace: n, labels: {app: a}}\nstatus: {podIP: 10.0." + std::to_string(i / 250) + "." +
         std::to_string(i % 250 + 1) + "}\n";
  }
  AmbientIndex idx{MeshConfig{}};
  Changes all = idx.resync(objs(y));
  CHECK(all.addresses.size() == 200);
  auto p = objs("apiVersion: v1\nkind: Pod\nmetadata: {name: p7, namespace: n, labels: {app: a, v: x}}\nstatus: {podIP: 10.9.9.9}\n");
  Changes c = idx.apply({ConfigEvent{EventType::kUpdate, p[0]}});
  CHECK(c.addresses == std::set<std::string>{"Kubernetes//Pod/n/p7"});
  CHECK(c.authorizations.empty());
  // Re-applying identical content changes nothing.
  CHECK(idx.apply({ConfigEvent{EventType::kUpdate, p[0]}}).empty());
  c = idx.apply({ConfigEvent{EventType::kDelete, p[0]}});
  CHECK(c.addresses == std::set<std::string>{"Kubernetes//Pod/n/p7"});
  CHECK(idx.find(kAddressType, "Kubernetes//Pod/n/p7") == nullptr);
  CHECK(idx.resolve_alias("/10.9.9.9").empty());
  CHECK(idx.resolve_alias("/10.0.0.1") == "Kubernetes//Pod/n/p0");
}

TEST_CASE("incremental: a Service change rebuilds the service and the pods its selectors pick") {
  AmbientIndex idx{MeshConfig{}};
  idx.resync(objs(std::string(kBase) + R"(
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: demo, labels: {app: other}}
status: {podIP: 10.10.2.8}
)"));
  auto svc = objs(R"(
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: demo}
spec: {selector: {app: other}, clusterIP: 10.96.0.20, ports: [{name: http, port: 80}]}
)");
  Changes c = idx.apply({ConfigEvent{EventType::kUpdate, svc[0]}});
  CHECK(c.addresses == std::set<std::string>{"demo/echo.demo.svc.cluster.local", "Kubernetes//Pod/demo/echo-5d8f-x2x",
                                             "Kubernetes//Pod/demo/other"});
  CHECK(address(idx, "Kubernetes//Pod/demo/echo-5d8f-x2x").workload().services().empty());
  CHECK(address(idx, "Kubernetes//Pod/demo/other").workload().services().count("demo/echo.demo.svc.cluster.local") == 1);
}

TEST_CASE("incremental: a namespace label change re-enrolls its pods, policies reach selected pods") {
  AmbientIndex idx{MeshConfig{}};
  idx.resync(objs(kBase));
  auto ns = objs("apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n");
  Changes c = idx.apply({ConfigEvent{EventType::kUpdate, ns[0]}});
  CHECK(c.addresses.count("Kubernetes//Pod/demo/echo-5d8f-x2x") == 1);
  CHECK(address(idx, "Kubernetes//Pod/demo/echo-5d8f-x2x").workload().tunnel_protocol() == istio::workload::NONE);

  auto ap = objs(R"(
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-sleep, namespace: demo}
spec:
  selector: {matchLabels: {app: echo}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/demo/sa/sleep"]}}]}]
)");
  c = idx.apply({ConfigEvent{EventType::kAdd, ap[0]}});
  CHECK(c.authorizations == std::set<std::string>{"demo/only-sleep"});
  CHECK(c.addresses == std::set<std::string>{"Kubernetes//Pod/demo/echo-5d8f-x2x"});
  auto w = address(idx, "Kubernetes//Pod/demo/echo-5d8f-x2x").workload();
  REQUIRE(w.authorization_policies_size() == 1);
  CHECK(w.authorization_policies(0) == "demo/only-sleep");
}

TEST_CASE("PeerAuthentication: the static strict policy exists while any PeerAuthentication does") {
  AmbientIndex idx{MeshConfig{}};
  idx.resync(objs(kBase));
  CHECK(idx.find(kAuthorizationType, "istio-system/istio_converted_static_strict") == nullptr);
  auto pa = objs(R"(
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: demo}
spec: {mtls: {mode: STRICT}}
)");
  Changes c = idx.apply({ConfigEvent{EventType::kAdd, pa[0]}});
  CHECK(c.authorizations.count("istio-system/istio_converted_static_strict") == 1);
  CHECK(c.addresses.count("Kubernetes//Pod/demo/echo-5d8f-x2x") == 1);
  auto w = address(idx, "Kubernetes//Pod/demo/echo-5d8f-x2x").workload();
  CHECK(std::vector<std::string>(w.authorization_policies().begin(), w.authorization_policies().end()) ==
        std::vector<std::string>{"istio-system/istio_converted_static_strict"});
  c = idx.apply({ConfigEvent{EventType::kDelete, pa[0]}});
  CHECK(idx.find(kAuthorizationType, "istio-system/istio_converted_static_strict") == nullptr);
  CHECK(address(idx, "Kubernetes//Pod/demo/echo-5d8f-x2x").workload().authorization_policies().empty());
}

TEST_CASE("node_runs answers the CA's impersonation question") {
  AmbientIndex idx{MeshConfig{}};
  idx.resync(objs(kBase));
  CHECK(idx.node_runs("node2", "demo", "echo"));
  CHECK_FALSE(idx.node_runs("node1", "demo", "echo"));
  CHECK_FALSE(idx.node_runs("node2", "demo", "default"));
  auto p = objs("apiVersion: v1\nkind: Pod\nmetadata: {name: echo-5d8f-x2x, namespace: demo}\nspec: {nodeName: node2, serviceAccountName: echo}\nstatus: {phase: Failed}\n");
  idx.apply({ConfigEvent{EventType::kUpdate, p[0]}});
  CHECK_FALSE(idx.node_runs("node2", "demo", "echo"));
}
