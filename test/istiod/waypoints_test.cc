// Waypoint binding (ambient/waypoints.h): the binding table, the implicit allow policy's
// semantics at ztunnel, and the index's incremental behaviour (readiness, label changes).
#include <doctest/doctest.h>

#include "istiod/ambient/index.h"
#include "istiod/ambient/waypoints.h"
#include "istiod/config/yaml_parser.h"
#include "ztunnel/rbac/rbac.h"

using namespace ambit::istiod;
using namespace ambit::istiod::ambient;

namespace {

std::vector<ObjectPtr> objs(const std::string& yaml) {
  auto r = parse_yaml(yaml, "t.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  for (const auto& rej : r->rejections) FAIL("unexpected rejection: ", rej.to_string());
  return r->objects;
}

ObjectPtr one(const std::string& yaml) {
  auto v = objs(yaml);
  REQUIRE(v.size() == 1);
  return v[0];
}

std::string gateway_yaml(const std::string& labels, const std::string& listener, const std::string& cls = "istio-waypoint") {
  return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: wp, namespace: infra, labels: {" +
         labels + "}}\nspec: {gatewayClassName: " + cls + ", listeners: [" + listener + "]}\n";
}

const char* kMesh = "{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: All}}}";

}  // namespace

TEST_CASE("bind_waypoint: the binding table") {
  struct Case {
    const char* what;
    std::string obj_labels;   // on the Service/Pod (in namespace app)
    std::string ns_labels;    // on namespace app
    std::string gw_labels;    // on the Gateway infra/wp ("" = no Gateway when gw_listener empty)
    std::string gw_listener;  // "" = no Gateway at all
    std::string class_labels; // on a GatewayClass istio-waypoint object, "-" = none
    bool address, pod_ready;
    BindKind kind;
    const char* reason;  // "" = no binding asked
    bool report;
  };
  const std::string to_wp = "istio.io/use-waypoint: wp, istio.io/use-waypoint-namespace: infra";
  const Case cases[] = {
      {"service bound through its namespace", "", to_wp, "", kMesh, "-", true, true, BindKind::kService, kReasonBound, true},
      {"service's own label beats the namespace's none", to_wp, "istio.io/use-waypoint: none", "", kMesh, "-", true,
       true, BindKind::kService, kReasonBound, true},
      {"service opts out with none", "istio.io/use-waypoint: none", to_wp, "", kMesh, "-", true, true,
       BindKind::kService, "", false},
      {"no label anywhere", "", "", "", kMesh, "-", true, true, BindKind::kService, "", false},
      {"missing Gateway", to_wp, "", "", "", "-", true, true, BindKind::kService, kReasonNoSuchWaypoint, true},
      {"not ready: no address", to_wp, "", "", kMesh, "-", false, true, BindKind::kService, kReasonNotReady, true},
      {"not ready: no ready pod", to_wp, "", "", kMesh, "-", true, false, BindKind::kService, kReasonNotReady, true},
      {"no HBONE listener", to_wp, "", "", "{name: http, port: 80, protocol: HTTP}", "-", true, true,
       BindKind::kService, kReasonNotAWaypoint, true},
      {"HBONE on another port", to_wp, "", "", "{name: mesh, port: 15009, protocol: HBONE}", "-", true, true,
       BindKind::kService, kReasonNotAWaypoint, true},
      {"allowedRoutes Same refuses another namespace", to_wp, "", "", "{name: mesh, port: 15008, protocol: HBONE}",
       "-", true, true, BindKind::kService, kReasonNotAllowed, true},
      {"allowedRoutes Selector admits a matching namespace", to_wp, "team: a", "",
       "{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: Selector, selector: "
       "{matchLabels: {team: a}}}}}",
       "-", true, true, BindKind::kService, kReasonBound, true},
      {"allowedRoutes Selector refuses another namespace", to_wp, "team: b", "",
       "{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: Selector, selector: "
       "{matchLabels: {team: a}}}}}",
       "-", true, true, BindKind::kService, kReasonNotAllowed, true},
      {"waypoint-for workload refuses a service", to_wp, "", "istio.io/waypoint-for: workload", kMesh, "-", true, true,
       BindKind::kService, kReasonWrongTrafficType, true},
      {"waypoint-for none refuses a service", to_wp, "", "istio.io/waypoint-for: none", kMesh, "-", true, true,
       BindKind::kService, kReasonWrongTrafficType, true},
      {"pod with a service waypoint through its namespace: not bound, not reported", "", to_wp, "", kMesh, "-", true,
       true, BindKind::kWorkload, kReasonWrongTrafficType, false},
      {"pod asking a service waypoint itself: reported", to_wp, "", "", kMesh, "-", true, true, BindKind::kWorkload,
       kReasonWrongTrafficType, true},
      {"pod with a workload waypoint", "", to_wp, "istio.io/waypoint-for: workload", kMesh, "-", true, true,
       BindKind::kWorkload, kReasonBound, true},
      {"pod with an all waypoint", "", to_wp, "istio.io/waypoint-for: all", kMesh, "-", true, true,
       BindKind::kWorkload, kReasonBound, true},
      {"GatewayClass label is the default", "", to_wp, "", kMesh, "istio.io/waypoint-for: workload", true, true,
       BindKind::kWorkload, kReasonBound, true},
      {"the Gateway's label beats its class's", "", to_wp, "istio.io/waypoint-for: service", kMesh,
       "istio.io/waypoint-for: workload", true, true, BindKind::kWorkload, kReasonWrongTrafficType, false},
      {"a waypoint's own pod is never bound", "gateway.networking.k8s.io/gateway-name: wp", to_wp,
       "istio.io/waypoint-for: all", kMesh, "-", true, true, BindKind::kWorkload, "", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    ObjectPtr gw = std::string(c.gw_listener).empty() ? nullptr : one(gateway_yaml(c.gw_labels, c.gw_listener));
    ObjectPtr cls = std::string(c.class_labels) == "-"
                        ? nullptr
                        : one("apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: "
                              "istio-waypoint, labels: {" + c.class_labels + "}}\nspec: {controllerName: istio.io/mesh-controller}\n");
    ObjectPtr obj = one(std::string("apiVersion: v1\nkind: ") + (c.kind == BindKind::kService ? "Service" : "Pod") +
                        "\nmetadata: {name: x, namespace: app, labels: {" + c.obj_labels + "}}\n");
    ObjectPtr ns = one("apiVersion: v1\nkind: Namespace\nmetadata: {name: app, labels: {" + c.ns_labels + "}}\n");
    WaypointLookup lookup = [&](const std::string& wns, const std::string& wname) {
      WaypointFacts f;
      if (wns == "infra" && wname == "wp" && gw) {
        f.gateway = gw.get();
        f.gateway_class = cls.get();
        f.has_address = c.address;
        f.ready_pods = c.pod_ready ? 1 : 0;
      }
      return f;
    };
    Binding b = bind_waypoint(obj->meta, &ns->meta.labels, c.kind, lookup, MeshConfig{});
    CHECK(b.reason == c.reason);
    CHECK(b.report == c.report);
    CHECK(b.bound() == (std::string(c.reason) == kReasonBound));
    if (b.bound()) {
      CHECK(b.address->hostname().hostname() == "wp.infra.svc.cluster.local");
      CHECK(b.address->hostname().namespace_() == "infra");
      CHECK(b.address->hbone_mtls_port() == 15008);
      CHECK(b.message == "bound to infra/wp");
    } else if (b.report) {
      CHECK_MESSAGE(b.message.find("infra/wp") != std::string::npos, b.message);
    }
  }
}

namespace {

const char* kApp = R"(
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-0, namespace: demo, labels: {app: echo}}
spec: {nodeName: node1, serviceAccountName: echo}
status: {podIP: 10.0.0.5, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: demo}
spec: {selector: {app: echo}, clusterIP: 10.96.0.5, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: demo}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
)";

const char* kWpService = R"(
apiVersion: v1
kind: Service
metadata: {name: wp, namespace: demo, labels: {gateway.networking.k8s.io/gateway-name: wp}}
spec: {selector: {gateway.networking.k8s.io/gateway-name: wp}, ports: [{name: mesh, port: 15008}]}
)";

std::string wp_pod(bool ready) {
  return std::string(R"(
apiVersion: v1
kind: Pod
metadata: {name: wp-0, namespace: demo, labels: {gateway.networking.k8s.io/gateway-name: wp, istio.io/dataplane-mode: none}}
spec: {nodeName: node2, serviceAccountName: wp}
status: {podIP: 10.0.0.99, conditions: [{type: Ready, status: ")") + (ready ? "True" : "False") + "\"}]}\n";
}

istio::workload::Address address(const AmbientIndex& idx, const std::string& name) {
  auto r = idx.find(kAddressType, name);
  REQUIRE_MESSAGE(r != nullptr, "no Address ", name);
  istio::workload::Address a;
  REQUIRE(a.ParseFromString(r->bytes));
  return a;
}

const std::string kSvc = "demo/echo.demo.svc.cluster.local";
const std::string kPod = "Kubernetes//Pod/demo/echo-0";

}  // namespace

TEST_CASE("index: a waypoint binds only once it has its Service and a ready pod, and unbinds when it loses one") {
  AmbientIndex idx{MeshConfig{}};
  idx.resync(objs(kApp));
  CHECK_FALSE(address(idx, kSvc).service().has_waypoint());
  const Binding& b0 = idx.waypoint_bindings().at(ObjectKey{Kind::kService, "demo", "echo"});
  CHECK(b0.reason == kReasonNotReady);
  CHECK_MESSAGE(b0.message.find("no address") != std::string::npos, b0.message);

  Changes c = idx.apply({ConfigEvent{EventType::kAdd, one(kWpService)}});
  CHECK_FALSE(address(idx, kSvc).service().has_waypoint());  // still no ready pod
  CHECK(idx.waypoint_bindings().at(ObjectKey{Kind::kService, "demo", "echo"}).message.find("no pod") != std::string::npos);

  ObjectPtr unready = one(wp_pod(false));
  c = idx.apply({ConfigEvent{EventType::kAdd, unready}});
  CHECK_FALSE(address(idx, kSvc).service().has_waypoint());  // a pod that is not ready does not count
  CHECK_FALSE(c.addresses.count(kSvc));

  c = idx.apply({ConfigEvent{EventType::kUpdate, one(wp_pod(true))}});
  CHECK(c.addresses.count(kSvc));  // readiness changed: the bound Service is pushed
  REQUIRE(address(idx, kSvc).service().has_waypoint());
  CHECK(address(idx, kSvc).service().waypoint().hostname().hostname() == "wp.demo.svc.cluster.local");
  CHECK(idx.waypoint_bindings().at(ObjectKey{Kind::kService, "demo", "echo"}).reason == kReasonBound);
  CHECK(idx.waypoint_facts("demo", "wp").ready_pods == 1);

  c = idx.apply({ConfigEvent{EventType::kDelete, one(wp_pod(true))}});
  CHECK(c.addresses.count(kSvc));
  CHECK_FALSE(address(idx, kSvc).service().has_waypoint());
}

TEST_CASE("index: a label change re-pushes only the affected objects") {
  AmbientIndex idx{MeshConfig{}};
  idx.resync(objs(std::string(kApp) + "---\n" + kWpService + "---\n" + wp_pod(true)));
  REQUIRE(address(idx, kSvc).service().has_waypoint());
  // The Service opts out with its own label: only it changes.
  Changes c = idx.apply({ConfigEvent{EventType::kUpdate, one(R"(
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: demo, labels: {istio.io/use-waypoint: none}}
spec: {selector: {app: echo}, clusterIP: 10.96.0.5, ports: [{name: http, port: 80, targetPort: 8080}]}
)")}});
  CHECK_FALSE(address(idx, kSvc).service().has_waypoint());
  CHECK(c.addresses.count(kSvc));
  CHECK_FALSE(idx.waypoint_bindings().count(ObjectKey{Kind::kService, "demo", "echo"}));
  // waypoint-for all: the pod gets Workload.waypoint too.
  c = idx.apply({ConfigEvent{EventType::kUpdate, one(R"(
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: demo, labels: {istio.io/waypoint-for: all}}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
)")}});
  CHECK(c.addresses.count(kPod));
  CHECK(address(idx, kPod).workload().has_waypoint());
}

namespace {

std::vector<std::string> policies_of(const AmbientIndex& idx) {
  auto w = address(idx, kPod).workload();
  return {w.authorization_policies().begin(), w.authorization_policies().end()};
}

// ztunnel's decision for a connection to echo-0 from `principal`, with the policies the index
// sends for that pod (scope NAMESPACE/GLOBAL ones of its namespace included, as ztunnel does).
bool ztunnel_allows(const AmbientIndex& idx, const std::string& principal) {
  std::vector<istio::security::Authorization> held;
  for (const auto& r : idx.all(kAuthorizationType)) {
    istio::security::Authorization a;
    REQUIRE(a.ParseFromString(r->bytes));
    held.push_back(a);
  }
  std::vector<std::string> names = policies_of(idx);
  std::vector<const istio::security::Authorization*> applied;
  for (const auto& a : held) {
    bool listed = std::find(names.begin(), names.end(), a.namespace_() + "/" + a.name()) != names.end();
    bool scoped = (a.scope() == istio::security::NAMESPACE && a.namespace_() == "demo") ||
                  a.scope() == istio::security::GLOBAL;
    if (listed || scoped) applied.push_back(&a);
  }
  ambit::ztunnel::RbacConnection conn;
  conn.src_ip = *ambit::net::IpAddr::parse("10.0.0.7");
  conn.dst_ip = *ambit::net::IpAddr::parse("10.0.0.5");
  conn.dst_port = 8080;
  auto id = ambit::SpiffeId::parse("spiffe://" + principal);
  REQUIRE(id.ok());
  conn.src_identity = *id;
  return ambit::ztunnel::evaluate_rbac(applied, conn).allowed;
}

}  // namespace

TEST_CASE("bypass protection: attached only once an ALLOW applies, so no policy never becomes default-deny") {
  const std::string base = std::string(kApp) + "---\n" + kWpService + "---\n" + wp_pod(true);
  const std::string implicit = "demo/istio_allow_waypoint_demo_wp";
  const std::string waypoint_id = "cluster.local/ns/demo/sa/wp";
  const std::string client_id = "cluster.local/ns/demo/sa/client";

  SUBCASE("no ALLOW policy: nothing attached, the pod stays reachable directly") {
    AmbientIndex idx{MeshConfig{}};
    idx.resync(objs(base));
    CHECK(idx.find(kAuthorizationType, implicit) != nullptr);  // sent, but not referenced
    CHECK(policies_of(idx).empty());
    CHECK(ztunnel_allows(idx, client_id));
    CHECK(ztunnel_allows(idx, waypoint_id));
  }
  SUBCASE("an L7 ALLOW on the waypoint: direct traffic is refused, the waypoint gets through") {
    AmbientIndex idx{MeshConfig{}};
    idx.resync(objs(base + R"(
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: l7, namespace: demo}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: wp}]
  rules: [{to: [{operation: {methods: [GET]}}]}]
)"));
    CHECK(policies_of(idx) == std::vector<std::string>{implicit});
    CHECK_FALSE(ztunnel_allows(idx, client_id));
    CHECK(ztunnel_allows(idx, waypoint_id));
  }
  SUBCASE("an L7 ALLOW targeting the Service has the same effect") {
    AmbientIndex idx{MeshConfig{}};
    idx.resync(objs(base + R"(
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: l7, namespace: demo}
spec:
  targetRefs: [{kind: Service, group: "", name: echo}]
  rules: [{to: [{operation: {paths: ["/public"]}}]}]
)"));
    CHECK(policies_of(idx) == std::vector<std::string>{implicit});
    CHECK_FALSE(ztunnel_allows(idx, client_id));
  }
  SUBCASE("an L4 ALLOW for the pod keeps working and does not lock the waypoint out") {
    AmbientIndex idx{MeshConfig{}};
    idx.resync(objs(base + R"(
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: l4, namespace: demo}
spec:
  selector: {matchLabels: {app: echo}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/demo/sa/client"]}}]}]
)"));
    CHECK(policies_of(idx) == std::vector<std::string>{"demo/l4", implicit});
    CHECK(ztunnel_allows(idx, client_id));
    CHECK(ztunnel_allows(idx, waypoint_id));
    CHECK_FALSE(ztunnel_allows(idx, "cluster.local/ns/demo/sa/other"));
  }
  SUBCASE("a namespace-wide ALLOW added later re-pushes the pod with the policy") {
    AmbientIndex idx{MeshConfig{}};
    idx.resync(objs(base));
    CHECK(policies_of(idx).empty());
    Changes c = idx.apply({ConfigEvent{EventType::kAdd, one(R"(
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ns-wide, namespace: demo}
spec:
  rules: [{from: [{source: {namespaces: [demo]}}]}]
)")}});
    CHECK(c.addresses.count(kPod));
    CHECK(policies_of(idx) == std::vector<std::string>{implicit});
  }
  SUBCASE("switched off: never attached (Istio's default)") {
    MeshConfig mesh;
    mesh.waypoint_bypass_protection = false;
    AmbientIndex idx{mesh};
    idx.resync(objs(base + R"(
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: l7, namespace: demo}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: wp}]
  rules: [{to: [{operation: {methods: [GET]}}]}]
)"));
    CHECK(idx.find(kAuthorizationType, implicit) == nullptr);
    CHECK(policies_of(idx).empty());
    CHECK(ztunnel_allows(idx, client_id));  // the bypass Istio users report
  }
  SUBCASE("the policy allows exactly the waypoint's service account") {
    auto a = implicit_waypoint_policy(WaypointRef{"demo", "wp"}, "wp", MeshConfig{});
    CHECK(a.name() == "istio_allow_waypoint_demo_wp");
    CHECK(a.namespace_() == "demo");
    CHECK(a.action() == istio::security::ALLOW);
    CHECK(a.scope() == istio::security::WORKLOAD_SELECTOR);
    CHECK(a.rules(0).clauses(0).matches(0).principals(0).exact() == "cluster.local/ns/demo/sa/wp");
  }
}

TEST_CASE("index: a pod labelled for a Gateway that does not exist, selected by a bound Service, terminates") {
  // Found by the config mutation property test: rebuilding such a pod refreshed its (missing)
  // waypoint, which looked changed every time and rebuilt the Service's pods again, forever.
  AmbientIndex idx{MeshConfig{}};
  idx.resync(objs(std::string(kApp) + "---\n" + kWpService + "---\n" + wp_pod(true) + R"(
---
apiVersion: v1
kind: Pod
metadata: {name: echo-1, namespace: demo, labels: {app: echo, gateway.networking.k8s.io/gateway-name: nope}}
status: {podIP: 10.0.0.6, conditions: [{type: Ready, status: "True"}]}
)"));
  CHECK(address(idx, kSvc).service().has_waypoint());
  Changes c = idx.apply({ConfigEvent{EventType::kDelete, one(wp_pod(true))}});
  CHECK(c.addresses.count(kSvc));
  CHECK_FALSE(address(idx, kSvc).service().has_waypoint());
}
