// The waypoint deployment controller (what it generates, idempotence, deletion, orphans after a
// restart), local mode's DirectoryWriter, and the status store (content, transition times,
// removal).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <yaml-cpp/yaml.h>

#include "common/crypto/certificate.h"
#include "istiod/ambient/index.h"
#include "istiod/config/directory_writer.h"
#include "istiod/config/yaml_parser.h"
#include "istiod/gateway/deployment_controller.h"
#include "istiod/gateway/status.h"

using namespace ambit;
using namespace ambit::istiod;
using namespace ambit::istiod::gateway;

namespace {

std::vector<ObjectPtr> objs(const std::string& yaml) {
  auto r = parse_yaml(yaml, "t.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  for (const auto& rej : r->rejections) FAIL("unexpected rejection: ", rej.to_string());
  return r->objects;
}

const char* kWaypoint = R"(
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: demo, uid: u-1}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
)";

class FakeWriter : public ConfigWriter {
 public:
  std::string name() const override { return "fake"; }
  absl::Status apply(const GeneratedObject& o) override {
    applies++;
    store[{o.kind, o.ns, o.name}] = o.yaml;
    return absl::OkStatus();
  }
  absl::Status remove(const GeneratedKey& k) override {
    removes++;
    store.erase(k);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<GeneratedKey>> list_labeled(const std::string&, const std::string&) override {
    std::vector<GeneratedKey> out;
    for (const auto& [k, _] : store) out.push_back(k);
    return out;
  }
  std::map<GeneratedKey, std::string> store;
  int applies = 0, removes = 0;
};

std::string temp_dir() {
  char tmpl[] = "/tmp/ambit-gw-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

}  // namespace

TEST_CASE("waypoint_objects: ServiceAccount, Deployment and Service as Istio's template names and labels them") {
  auto gw = objs(kWaypoint);
  auto out = waypoint_objects(*gw[0], WaypointTemplateOptions{.xds_address = "172.31.1.1:15012"});
  REQUIRE(out.size() == 3);
  CHECK(out[0].kind == "ServiceAccount");
  CHECK(out[1].kind == "Deployment");
  CHECK(out[2].kind == "Service");
  for (const auto& o : out) {
    CHECK(o.name == "waypoint");
    CHECK(o.ns == "demo");
    YAML::Node n = YAML::Load(o.yaml);
    CHECK(n["metadata"]["labels"]["gateway.istio.io/managed"].as<std::string>() == "istio.io-mesh-controller");
    CHECK(n["metadata"]["labels"]["gateway.networking.k8s.io/gateway-name"].as<std::string>() == "waypoint");
    CHECK(n["metadata"]["ownerReferences"][0]["kind"].as<std::string>() == "Gateway");
    CHECK(n["metadata"]["ownerReferences"][0]["uid"].as<std::string>() == "u-1");
  }
  CHECK(out[1].file_name() == "deployment-demo.waypoint.yaml");
  YAML::Node d = YAML::Load(out[1].yaml);
  CHECK(d["spec"]["replicas"].as<int>() == 1);
  YAML::Node pod = d["spec"]["template"];
  CHECK(pod["metadata"]["labels"]["istio.io/dataplane-mode"].as<std::string>() == "none");
  CHECK(pod["metadata"]["labels"]["gateway.networking.k8s.io/gateway-name"].as<std::string>() == "waypoint");
  CHECK(pod["spec"]["serviceAccountName"].as<std::string>() == "waypoint");
  CHECK(pod["spec"]["containers"][0]["command"].as<std::vector<std::string>>() ==
        std::vector<std::string>{"waypoint", "--name", "waypoint", "-n", "demo", "--xds-address", "172.31.1.1:15012"});
  CHECK(pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"].as<int>() == 15021);
  YAML::Node s = YAML::Load(out[2].yaml);
  CHECK(s["spec"]["selector"]["gateway.networking.k8s.io/gateway-name"].as<std::string>() == "waypoint");
  CHECK(s["spec"]["ports"][1]["name"].as<std::string>() == "mesh");
  CHECK(s["spec"]["ports"][1]["port"].as<int>() == 15008);
  CHECK(s["spec"]["ports"][1]["appProtocol"].as<std::string>() == "all");
  CHECK(s["spec"]["ports"][0]["port"].as<int>() == 15021);
  // What it generates is accepted by istiod's own parser.
  for (const auto& o : out) {
    if (o.kind == "Deployment") continue;  // not an istiod kind: the supervisor's
    CHECK(objs(o.yaml).size() == 1);
  }
}

TEST_CASE("DeploymentController: writes once, rewrites nothing, deletes with the Gateway, collects orphans") {
  FakeWriter w;
  // An orphan of a Gateway deleted while istiod was down, and an unrelated object it must keep.
  w.store[{"Service", "demo", "gone"}] = "x";
  DeploymentController c(&w, {});
  auto gws = objs(kWaypoint);
  REQUIRE(c.reconcile(gws).ok());
  CHECK(w.applies == 3);
  CHECK_FALSE(w.store.count({"Service", "demo", "gone"}));
  CHECK(w.store.count({"Deployment", "demo", "waypoint"}));
  REQUIRE(c.reconcile(gws).ok());
  CHECK(w.applies == 3);  // idempotent
  // Not a waypoint (no HBONE listener) or another class: nothing generated.
  auto other = objs(R"(
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ingress, namespace: demo}
spec: {gatewayClassName: istio, listeners: [{name: http, port: 80, protocol: HTTP}]}
)");
  REQUIRE(c.reconcile({gws[0], other[0]}).ok());
  CHECK(w.store.size() == 3);
  REQUIRE(c.reconcile({}).ok());  // the Gateway is deleted
  CHECK(w.store.empty());
  CHECK(w.removes == 4);
}

TEST_CASE("DirectoryWriter: Deployments to the workloads dir, the rest to the config dir, no rewrite when unchanged") {
  std::string base = temp_dir();
  std::string cfg = base + "/config", wl = base + "/workloads";
  ::mkdir(cfg.c_str(), 0755);
  ::mkdir(wl.c_str(), 0755);
  DirectoryWriter w(cfg, wl);
  auto out = waypoint_objects(*objs(kWaypoint)[0], {});
  for (const auto& o : out) REQUIRE(w.apply(o).ok());
  struct stat st1 {};
  REQUIRE(::stat((wl + "/deployment-demo.waypoint.yaml").c_str(), &st1) == 0);
  CHECK(::access((cfg + "/service-demo.waypoint.yaml").c_str(), F_OK) == 0);
  CHECK(::access((cfg + "/serviceaccount-demo.waypoint.yaml").c_str(), F_OK) == 0);
  ::sleep(1);
  REQUIRE(w.apply(out[1]).ok());
  struct stat st2 {};
  REQUIRE(::stat((wl + "/deployment-demo.waypoint.yaml").c_str(), &st2) == 0);
  CHECK(st1.st_ino == st2.st_ino);  // not replaced
  CHECK(st1.st_mtime == st2.st_mtime);
  auto listed = w.list_labeled(kManagedLabel, kManagedValue);
  REQUIRE(listed.ok());
  CHECK(listed->size() == 3);
  REQUIRE(w.remove({"Deployment", "demo", "waypoint"}).ok());
  CHECK(::access((wl + "/deployment-demo.waypoint.yaml").c_str(), F_OK) != 0);
  CHECK(w.remove({"Deployment", "demo", "waypoint"}).ok());  // absent: fine
  (void)std::system(("rm -rf " + base).c_str());
}

TEST_CASE("status: Gateway Accepted/Programmed/addresses and WaypointBound, transition times kept until a change") {
  const std::string app = std::string(kWaypoint) + R"(
---
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/use-waypoint: waypoint}}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: demo}
spec: {selector: {app: echo}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: waypoint, namespace: demo, labels: {gateway.networking.k8s.io/gateway-name: waypoint}}
spec: {selector: {gateway.networking.k8s.io/gateway-name: waypoint}, ports: [{name: mesh, port: 15008}]}
)";
  ambient::AmbientIndex idx{ambient::MeshConfig{}};
  idx.resync(objs(app));
  auto docs = compute_status(idx);
  REQUIRE(docs.size() == 2);  // the Gateway and Service echo (the waypoint's own Service is not bound)
  const StatusDoc* gw = docs[0].kind == "Gateway" ? &docs[0] : &docs[1];
  const StatusDoc* svc = docs[0].kind == "Gateway" ? &docs[1] : &docs[0];
  CHECK(gw->conditions.at(0).type == "Accepted");
  CHECK(gw->conditions.at(0).status);
  CHECK(gw->conditions.at(1).type == "Programmed");
  CHECK_FALSE(gw->conditions.at(1).status);
  CHECK(gw->conditions.at(1).reason == "Pending");
  REQUIRE(gw->addresses.size() == 1);
  CHECK(gw->addresses[0].type == "Hostname");
  CHECK(gw->addresses[0].value == "waypoint.demo.svc.cluster.local");
  CHECK(svc->file_name() == "service-demo.echo.yaml");
  CHECK(svc->conditions.at(0).type == "istio.io/WaypointBound");
  CHECK_FALSE(svc->conditions.at(0).status);
  CHECK(svc->conditions.at(0).reason == ambient::kReasonNotReady);

  std::string dir = temp_dir();
  DirectoryStatusStore store(dir);
  auto t0 = std::chrono::system_clock::from_time_t(1700000000);
  REQUIRE(store.sync(docs, t0).ok());
  auto text = crypto::read_file(dir + "/gateway-demo.waypoint.yaml");
  REQUIRE(text.ok());
  YAML::Node n = YAML::Load(*text);
  CHECK(n["apiVersion"].as<std::string>() == "gateway.networking.k8s.io/v1");
  CHECK(n["metadata"]["namespace"].as<std::string>() == "demo");
  CHECK(n["status"]["conditions"][1]["status"].as<std::string>() == "False");
  CHECK(n["status"]["conditions"][1]["lastTransitionTime"].as<std::string>() == "2023-11-14T22:13:20Z");
  CHECK(n["status"]["addresses"][0]["value"].as<std::string>() == "waypoint.demo.svc.cluster.local");

  // A ready pod arrives later: Programmed flips (new time), Accepted keeps its time.
  idx.apply({ConfigEvent{EventType::kAdd, objs(R"(
apiVersion: v1
kind: Pod
metadata: {name: waypoint-0, namespace: demo, labels: {gateway.networking.k8s.io/gateway-name: waypoint}}
status: {podIP: 10.0.0.9, conditions: [{type: Ready, status: "True"}]}
)")[0]}});
  // A restarted istiod (a new store on the same directory) keeps the transition times.
  DirectoryStatusStore store2(dir);
  auto t1 = t0 + std::chrono::seconds(60);
  REQUIRE(store2.sync(compute_status(idx), t1).ok());
  n = YAML::Load(*crypto::read_file(dir + "/gateway-demo.waypoint.yaml"));
  CHECK(n["status"]["conditions"][0]["lastTransitionTime"].as<std::string>() == "2023-11-14T22:13:20Z");
  CHECK(n["status"]["conditions"][1]["status"].as<std::string>() == "True");
  CHECK(n["status"]["conditions"][1]["lastTransitionTime"].as<std::string>() == "2023-11-14T22:14:20Z");
  n = YAML::Load(*crypto::read_file(dir + "/service-demo.echo.yaml"));
  CHECK(n["status"]["conditions"][0]["status"].as<std::string>() == "True");
  CHECK(n["status"]["conditions"][0]["message"].as<std::string>() == "bound to demo/waypoint");

  // Unchanged: not rewritten.
  struct stat st1 {};
  REQUIRE(::stat((dir + "/service-demo.echo.yaml").c_str(), &st1) == 0);
  REQUIRE(store2.sync(compute_status(idx), t1 + std::chrono::seconds(5)).ok());
  struct stat st2 {};
  REQUIRE(::stat((dir + "/service-demo.echo.yaml").c_str(), &st2) == 0);
  CHECK(st1.st_ino == st2.st_ino);

  // Deleted objects lose their status file.
  REQUIRE(store2.sync({}, t1).ok());
  CHECK(::access((dir + "/gateway-demo.waypoint.yaml").c_str(), F_OK) != 0);
  CHECK(::access((dir + "/service-demo.echo.yaml").c_str(), F_OK) != 0);
  (void)std::system(("rm -rf " + dir).c_str());
}
