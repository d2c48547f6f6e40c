// The waypoint end to end in the local mesh, driven through `ambitctl` as a user would:
// `waypoint apply --enroll-namespace --wait`, HTTP from a client pod to a service VIP carried
// client → ztunnel → waypoint (its own identity) → ztunnel → server, an L7 DENY that holds
// against path-normalization bypasses, and the waypoint's reporter="waypoint" metrics. Root only.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/base/strings.h"
#include "test/e2e/local_mesh_fixture.h"
#include "test/support/root.h"

using namespace ambit;
using namespace ambit::test;

namespace {

constexpr const char* kApps = R"(apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: echo, namespace: demo}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: demo}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: echo}}
    spec:
      nodeName: node2
      serviceAccountName: echo
      containers: [{name: echo, command: [ambit-echo, serve, --http-port, "8080", --tcp-port, "9000"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: demo, labels: {app: client}}
spec:
  nodeName: node1
  serviceAccountName: client
  containers: [{name: main, command: [sleep, infinity]}]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: demo}
spec:
  clusterIP: 10.96.0.30
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: 8080}]
)";

constexpr const char* kDenyAdmin = R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: demo}
spec:
  targetRefs: [{kind: Service, group: "", name: echo}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
)";

// The pod's IP and node from `ambitctl local status -o json`.
std::pair<std::string, std::string> pod_ip_node(LocalMesh& m, const std::string& name) {
  auto r = m.ctl({"local", "status", "-o", "json"});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (!j.is_object()) return {};
  for (const auto& p : j.value("pods", nlohmann::json::array())) {
    if (p.value("name", "") == name) return {p.value("ip", ""), p.value("node", "")};
  }
  return {};
}

std::string curl(LocalMesh& m, const std::string& url, bool code_only) {
  std::vector<std::string> argv = {"curl", "-s", "-m", "10"};
  if (code_only) argv.insert(argv.end(), {"-o", "/dev/null", "-w", "%{http_code}"});
  argv.push_back(url);
  return m.exec_pod("demo", "client", argv).out;
}

}  // namespace

TEST_CASE("waypoint: applied with ambitctl, it carries HTTP to the service, enforces an L7 DENY and reports reporter=waypoint") {
  AMBIT_REQUIRE_ROOT();
  LocalMesh m;
  AMBIT_REQUIRE_OK(m.up());
  AMBIT_REQUIRE_OK(m.apply(kApps));

  auto applied = m.ctl({"waypoint", "apply", "-n", "demo", "--enroll-namespace", "--wait", "--waypoint-timeout", "120s"}, std::chrono::seconds(150));
  std::string applied_out = applied.out + applied.err;
  INFO(applied_out);
  REQUIRE(applied.exit_code == 0);
  CHECK(applied.out.find("waypoint demo/waypoint is ready") != std::string::npos);
  auto list = m.ctl({"waypoint", "list", "-n", "demo"});
  CHECK(list.out.find("waypoint default  service      True") != std::string::npos);

  auto [wp_ip, wp_node] = pod_ip_node(m, "waypoint-0");
  auto [client_ip, client_node] = pod_ip_node(m, "client");
  REQUIRE(!wp_ip.empty());
  REQUIRE(!client_ip.empty());

  // Through the waypoint: the server sees the waypoint's address, not the client's.
  std::string body;
  for (int i = 0; i < 50 && body.find("peer: " + wp_ip) == std::string::npos; ++i) {
    body = curl(m, "http://10.96.0.30/hello", false);
    if (body.find("peer: " + wp_ip) == std::string::npos) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  INFO(body);
  CHECK(body.find("path: /hello") != std::string::npos);
  CHECK(body.find("peer: " + wp_ip + ":") != std::string::npos);
  CHECK(body.find("peer: " + client_ip + ":") == std::string::npos);

  // An L7 DENY on the service, and the paths that used to bypass such rules.
  AMBIT_REQUIRE_OK(m.apply(kDenyAdmin, false));
  std::string code;
  for (int i = 0; i < 50 && code != "403"; ++i) {
    code = curl(m, "http://10.96.0.30/admin", true);
    if (code != "403") std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CHECK(code == "403");
  for (const char* p : {"/admin/../admin", "/%61dmin", "/x/../admin/users", "/admin?x=1"}) {
    CHECK_MESSAGE(curl(m, str_cat("http://10.96.0.30", p), true) == "403", p);
  }
  CHECK(curl(m, "http://10.96.0.30/public", true) == "200");

  // The waypoint's own metrics, Istio's family and labels.
  int node = wp_node == "node2" ? 2 : 1;
  std::string metrics = m.exec_node(node, {"curl", "-s", "-m", "5", str_cat("http://", wp_ip, ":15020/metrics")}).out;
  INFO(metrics.substr(0, 2000));
  CHECK(metrics.find("istio_requests_total{reporter=\"waypoint\"") != std::string::npos);
  CHECK(metrics.find("response_flags=\"RBAC\"") != std::string::npos);
  CHECK(metrics.find("response_code=\"403\"") != std::string::npos);
  CHECK(metrics.find("destination_service=\"echo.demo.svc.cluster.local\"") != std::string::npos);
  CHECK(metrics.find("source_principal=\"spiffe://cluster.local/ns/demo/sa/client\"") != std::string::npos);
}
