// `ambitctl waypoint` against an in-memory object store: the Gateway it declares, the namespace
// label it sets, --overwrite, --wait, delete by name/--all/--revision, and istioctl's list and
// status tables.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <tuple>

#include "cli/object_store.h"
#include "cli/waypoint/commands.h"
#include "cli/waypoint/waypoint.h"

using namespace ambit::cli;
using namespace ambit::cli::waypoint;

namespace {

// Follows ObjectStore's contract: status is never applied; get/list return what a status writer
// reported; `reject` stands in for istiod refusing an object.
class FakeStore : public ObjectStore {
 public:
  using Key = std::tuple<std::string, std::string, std::string>;
  std::map<Key, Manifest> objects;
  std::map<Key, YAML::Node> statuses;
  std::function<std::string(const Manifest&)> reject;  // "" accepts
  std::function<void(FakeStore&)> on_get;              // a controller acting between polls
  int gets = 0;

  static Key key(std::string_view kind, std::string_view ns, std::string_view name) {
    return {std::string(kind), kind == "Namespace" || kind == "GatewayClass" ? "" : std::string(ns), std::string(name)};
  }
  // Copies, as a real store returns: a YAML::Node copy would share the stored document.
  Manifest with_status(const Key& k, Manifest m) const {
    m.node = YAML::Clone(m.node);
    if (auto it = statuses.find(k); it != statuses.end()) m.node["status"] = it->second;
    return m;
  }
  absl::StatusOr<std::optional<Manifest>> get(std::string_view kind, std::string_view ns, std::string_view name) override {
    ++gets;
    if (on_get) on_get(*this);
    auto it = objects.find(key(kind, ns, name));
    if (it == objects.end()) return std::optional<Manifest>();
    return std::optional<Manifest>(with_status(it->first, it->second));
  }
  absl::StatusOr<std::vector<Manifest>> list(std::string_view kind, std::string_view ns) override {
    std::vector<Manifest> out;
    for (const auto& [k, m] : objects) {
      if (std::get<0>(k) == kind && (ns.empty() || std::get<1>(k) == ns)) out.push_back(with_status(k, m));
    }
    return out;
  }
  absl::StatusOr<std::vector<Applied>> apply(std::vector<Manifest> objs) override {
    std::vector<Applied> out;
    for (auto& m : objs) {
      m.node.remove("status");
      if (reject) {
        if (std::string why = reject(m); !why.empty()) {
          out.push_back({m.kind + "/" + m.name, "rejected", why});
          continue;
        }
      }
      auto k = key(m.kind, m.ns, m.name);
      bool existed = objects.count(k) > 0;
      m.node = YAML::Clone(m.node);
      objects[k] = m;
      out.push_back({m.kind + "/" + m.name, existed ? "configured" : "created", ""});
    }
    return out;
  }
  absl::StatusOr<bool> remove(std::string_view kind, std::string_view ns, std::string_view name) override {
    return objects.erase(key(kind, ns, name)) > 0;
  }

  void set_condition(const std::string& ns, const std::string& name, const std::string& type, const std::string& st,
                     const std::string& reason, const std::string& message) {
    YAML::Node c;
    c["type"] = type;
    c["status"] = st;
    c["reason"] = reason;
    c["message"] = message;
    YAML::Node s;
    s["conditions"].push_back(c);
    statuses[key("Gateway", ns, name)] = s;
  }
  std::string label(std::string_view kind, std::string_view ns, std::string_view name, const std::string& k) {
    auto it = objects.find(key(kind, ns, name));
    if (it == objects.end()) return "<missing>";
    YAML::Node l = it->second.node["metadata"]["labels"][k];
    return l ? l.as<std::string>() : "";
  }
};

Manifest gateway(const std::string& ns, const std::string& name, const std::string& cls = "istio-waypoint",
                 const std::string& rev = "") {
  Spec s;
  s.ns = ns;
  s.name = name;
  s.revision = rev;
  Manifest m = *make_gateway(s);
  m.node["spec"]["gatewayClassName"] = cls;
  return m;
}

Manifest ns_object(const std::string& name, std::map<std::string, std::string> labels) {
  Manifest m;
  m.kind = "Namespace";
  m.api_version = "v1";
  m.name = name;
  m.node["apiVersion"] = "v1";
  m.node["kind"] = "Namespace";
  m.node["metadata"]["name"] = name;
  for (const auto& [k, v] : labels) m.node["metadata"]["labels"][k] = v;
  return m;
}

}  // namespace

TEST_CASE("waypoint generate: istioctl's Gateway, labels only when asked") {
  Spec s;
  s.ns = "bookinfo";
  auto m = make_gateway(s);
  REQUIRE(m.ok());
  CHECK(m->name == "waypoint");
  CHECK(m->node["apiVersion"].as<std::string>() == "gateway.networking.k8s.io/v1");
  CHECK(m->node["spec"]["gatewayClassName"].as<std::string>() == "istio-waypoint");
  const auto& l = m->node["spec"]["listeners"][0];
  CHECK(l["name"].as<std::string>() == "mesh");
  CHECK(l["port"].as<int>() == 15008);
  CHECK(l["protocol"].as<std::string>() == "HBONE");
  CHECK_FALSE(m->node["metadata"]["labels"]);  // istiod decides the traffic type

  s.traffic_for = "workload";
  s.revision = "canary";
  m = make_gateway(s);
  REQUIRE(m.ok());
  CHECK(m->node["metadata"]["labels"]["istio.io/waypoint-for"].as<std::string>() == "workload");
  CHECK(m->node["metadata"]["labels"]["istio.io/rev"].as<std::string>() == "canary");
}

TEST_CASE("waypoint generate: bad names and traffic types are refused with the reason") {
  struct Case {
    Spec spec;
    std::string want;
  };
  std::vector<Case> cases = {
      {{"none", "default", "", ""}, "'none' is a reserved value"},
      {{"Way_Point", "default", "", ""}, "invalid waypoint name"},
      {{std::string(64, 'a'), "default", "", ""}, "invalid waypoint name"},
      {{"waypoint", "Bad.NS", "", ""}, "invalid namespace"},
      {{"waypoint", "default", "everything", ""}, "invalid traffic type: everything"},
  };
  for (const auto& c : cases) {
    auto m = make_gateway(c.spec);
    REQUIRE_FALSE(m.ok());
    CHECK(std::string(m.status().message()).find(c.want) != std::string::npos);
  }
}

TEST_CASE("waypoint apply --enroll-namespace labels the namespace after the Gateway") {
  FakeStore store;
  store.objects[FakeStore::key("Namespace", "", "bookinfo")] = ns_object("bookinfo", {{"istio.io/dataplane-mode", "ambient"}});
  Spec s;
  s.ns = "bookinfo";
  ApplyFlags f;
  f.enroll_namespace = true;
  CHECK(apply(store, s, f) == 0);
  CHECK(store.objects.count(FakeStore::key("Gateway", "bookinfo", "waypoint")) == 1);
  CHECK(store.label("Namespace", "", "bookinfo", "istio.io/use-waypoint") == "waypoint");
  CHECK(store.label("Namespace", "", "bookinfo", "istio.io/dataplane-mode") == "ambient");  // other labels kept
}

TEST_CASE("waypoint apply --enroll-namespace creates a namespace object that does not exist yet") {
  FakeStore store;
  Spec s;
  s.ns = "fresh";
  ApplyFlags f;
  f.enroll_namespace = true;
  CHECK(apply(store, s, f) == 0);
  CHECK(store.label("Namespace", "", "fresh", "istio.io/use-waypoint") == "waypoint");
}

TEST_CASE("waypoint apply: a namespace using another waypoint keeps it unless --overwrite") {
  FakeStore store;
  store.objects[FakeStore::key("Namespace", "", "ns1")] = ns_object("ns1", {{"istio.io/use-waypoint", "old"}});
  Spec s;
  s.ns = "ns1";
  s.name = "new";
  ApplyFlags f;
  f.enroll_namespace = true;
  CHECK(apply(store, s, f) == 0);  // a warning, as istioctl
  CHECK(store.objects.count(FakeStore::key("Gateway", "ns1", "new")) == 0);
  CHECK(store.label("Namespace", "", "ns1", "istio.io/use-waypoint") == "old");
  f.overwrite = true;
  CHECK(apply(store, s, f) == 0);
  CHECK(store.objects.count(FakeStore::key("Gateway", "ns1", "new")) == 1);
  CHECK(store.label("Namespace", "", "ns1", "istio.io/use-waypoint") == "new");
}

TEST_CASE("waypoint apply: a rejected Gateway fails and leaves the namespace unlabeled") {
  FakeStore store;
  store.reject = [](const Manifest& m) { return m.kind == "Gateway" ? std::string("spec.listeners[0]: bad") : ""; };
  Spec s;
  ApplyFlags f;
  f.enroll_namespace = true;
  CHECK(apply(store, s, f) == 1);
  CHECK(store.objects.count(FakeStore::key("Gateway", "default", "waypoint")) == 0);
  CHECK(store.objects.count(FakeStore::key("Namespace", "", "default")) == 0);
}

TEST_CASE("waypoint apply --wait returns once istiod reports Programmed=True") {
  FakeStore store;
  store.on_get = [](FakeStore& st) {
    if (st.gets == 3) st.set_condition("default", "waypoint", "Programmed", "True", "Programmed", "ok");
  };
  Spec s;
  ApplyFlags f;
  f.wait = true;
  f.timeout = std::chrono::seconds(30);
  CHECK(apply(store, s, f) == 0);
  CHECK(store.gets >= 3);
}

TEST_CASE("waypoint apply --wait fails at the timeout when the waypoint never becomes ready") {
  FakeStore store;
  store.on_get = [](FakeStore& st) {
    st.set_condition("default", "waypoint", "Programmed", "False", "NoResources", "no ready pods");
  };
  Spec s;
  ApplyFlags f;
  f.wait = true;
  f.enroll_namespace = true;
  f.timeout = std::chrono::milliseconds(300);
  CHECK(apply(store, s, f) == 1);
  // Not ready: the namespace is not pointed at it.
  CHECK(store.objects.count(FakeStore::key("Namespace", "", "default")) == 0);
}

TEST_CASE("waypoint delete: by name, --all or --revision, other Gateways untouched") {
  auto fill = [](FakeStore& st) {
    st.objects[FakeStore::key("Gateway", "ns", "a")] = gateway("ns", "a");
    st.objects[FakeStore::key("Gateway", "ns", "b")] = gateway("ns", "b", "istio-waypoint", "canary");
    st.objects[FakeStore::key("Gateway", "ns", "ingress")] = gateway("ns", "ingress", "istio");
    st.objects[FakeStore::key("Gateway", "other", "a")] = gateway("other", "a");
  };
  {
    FakeStore st;
    fill(st);
    CHECK(remove(st, "ns", {"a", "missing", "ingress"}, false, "") == 0);
    CHECK(st.objects.count(FakeStore::key("Gateway", "ns", "a")) == 0);
    CHECK(st.objects.count(FakeStore::key("Gateway", "ns", "ingress")) == 1);  // not a waypoint
    CHECK(st.objects.count(FakeStore::key("Gateway", "other", "a")) == 1);
  }
  {
    FakeStore st;
    fill(st);
    CHECK(remove(st, "ns", {}, true, "") == 0);
    CHECK(st.objects.count(FakeStore::key("Gateway", "ns", "a")) == 0);
    CHECK(st.objects.count(FakeStore::key("Gateway", "ns", "b")) == 0);
    CHECK(st.objects.count(FakeStore::key("Gateway", "ns", "ingress")) == 1);
  }
  {
    FakeStore st;
    fill(st);
    CHECK(remove(st, "ns", {}, false, "canary") == 0);
    CHECK(st.objects.count(FakeStore::key("Gateway", "ns", "a")) == 1);
    CHECK(st.objects.count(FakeStore::key("Gateway", "ns", "b")) == 0);
  }
  {
    FakeStore st;
    fill(st);
    CHECK(remove(st, "ns", {}, false, "") == 1);      // nothing named
    CHECK(remove(st, "ns", {"a"}, true, "") == 1);    // names with --all
    CHECK(st.objects.count(FakeStore::key("Gateway", "ns", "a")) == 1);
  }
}

TEST_CASE("waypoint list: istioctl's columns, effective traffic type, Programmed from status") {
  std::vector<Manifest> gws = {gateway("b-ns", "wp2", "istio-waypoint", "canary"), gateway("a-ns", "wp1"),
                               gateway("a-ns", "ingress", "istio")};
  gws[0].node["metadata"]["labels"]["istio.io/waypoint-for"] = "workload";
  YAML::Node c;
  c["type"] = "Programmed";
  c["status"] = "True";
  gws[1].node["status"]["conditions"].push_back(c);
  Manifest cls;
  cls.kind = "GatewayClass";
  cls.name = "istio-waypoint";
  cls.node["metadata"]["labels"]["istio.io/waypoint-for"] = "all";

  CHECK(list_table(gws, {}, true) ==
        "NAMESPACE NAME REVISION TRAFFIC TYPE PROGRAMMED\n"
        "a-ns      wp1  default  service      True\n"
        "b-ns      wp2  canary   workload     False\n");
  // The class's label is the default the Gateway's own label overrides.
  CHECK(list_table(gws, {cls}, false) ==
        "NAME REVISION TRAFFIC TYPE PROGRAMMED\n"
        "wp1  default  all          True\n"
        "wp2  canary   workload     False\n");
  CHECK(list_table({gws[2]}, {}, false) == "No waypoints found.\n");
}

TEST_CASE("waypoint status: the Programmed condition, or the last one reported, or Unknown") {
  std::vector<Manifest> gws = {gateway("ns", "ready"), gateway("ns", "pending"), gateway("ns", "silent")};
  YAML::Node acc, prog;
  acc["type"] = "Accepted";
  acc["status"] = "True";
  acc["reason"] = "Accepted";
  acc["message"] = "Resource accepted";
  prog["type"] = "Programmed";
  prog["status"] = "True";
  prog["reason"] = "Programmed";
  prog["message"] = "Resource programmed";
  gws[0].node["status"]["conditions"].push_back(acc);
  gws[0].node["status"]["conditions"].push_back(prog);
  gws[1].node["status"]["conditions"].push_back(acc);
  CHECK(status_table(gws, true) ==
        "NAMESPACE NAME    STATUS  TYPE       REASON     MESSAGE\n"
        "ns        pending True    Accepted   Accepted   Resource accepted\n"
        "ns        ready   True    Programmed Programmed Resource programmed\n"
        "ns        silent  Unknown Programmed Pending    istiod has not reported a status yet\n");
}
