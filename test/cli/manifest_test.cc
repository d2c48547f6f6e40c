// Pure tests for ambitctl's manifest handling (cli/local/manifest.h): parsing, file names,
// service VIPs, workload expansion, the realized Pod istiod sees, and labels.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "cli/local/manifest.h"

using namespace ambit::cli;

namespace {

std::vector<Manifest> parse_ok(const std::string& text, const std::string& default_ns = "default") {
  auto r = parse_manifests(text, "src.yaml", default_ns);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}

Manifest one(const std::string& text) {
  auto ms = parse_ok(text);
  REQUIRE(ms.size() == 1);
  return ms[0];
}

std::vector<PodTemplate> expand_ok(const Manifest& m) {
  auto r = expand_workload(m);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}

std::string expand_error(const std::string& text) {
  Manifest m = one(text);
  auto r = expand_workload(m);
  REQUIRE_MESSAGE(!r.ok(), "expected an error for:\n", text);
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

std::string labels_of(const YAML::Node& meta) {
  std::string out;
  if (!meta["labels"]) return out;
  for (const auto& kv : meta["labels"]) out += kv.first.Scalar() + "=" + kv.second.Scalar() + ",";
  return out;
}

const char* const kPod = R"(
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: demo
  labels: {app: web, version: v1}
  annotations: {note: hello}
spec:
  nodeName: node2
  serviceAccountName: web-sa
  restartPolicy: Never
  containers:
  - name: server
    command: [/bin/echo-server, --port]
    args: ["8080", --verbose]
    env:
    - {name: MODE, value: fast}
    - {name: EMPTY}
  - name: sidecar
    args: [sleep, "3600"]
)";

std::string deployment(const std::string& replicas_line, const std::string& command = "[/bin/echo-server]",
                       const std::string& labels = "{app: web}") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: demo\n  labels: {owner: team}\n"
         "spec:\n" +
         replicas_line +
         "  selector: {matchLabels: {app: web}}\n"
         "  template:\n"
         "    metadata:\n"
         "      labels: " +
         labels +
         "\n"
         "    spec:\n"
         "      containers:\n"
         "      - name: server\n"
         "        command: " +
         command + "\n";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// parse_manifests

TEST_CASE("parse_manifests: every document becomes a Manifest, in order, naming its source") {
  auto ms = parse_ok(R"(apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec: {ports: [{port: 80}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-web}
spec: {}
)");
  REQUIRE(ms.size() == 3);
  CHECK(ms[0].kind == "Namespace");
  CHECK(ms[0].api_version == "v1");
  CHECK(ms[0].name == "demo");
  CHECK(ms[0].ns == "");  // cluster-scoped: no namespace filled in
  CHECK_FALSE(ms[0].node["metadata"]["namespace"]);
  CHECK(ms[0].source == "src.yaml (document 1)");
  CHECK(ms[1].kind == "Service");
  CHECK(ms[1].ns == "demo");
  CHECK(ms[1].source == "src.yaml (document 2)");
  CHECK(ms[2].kind == "AuthorizationPolicy");
  CHECK(ms[2].api_version == "security.istio.io/v1");
  CHECK(ms[2].name == "allow-web");
  CHECK(ms[2].source == "src.yaml (document 3)");
}

TEST_CASE("parse_manifests: an absent metadata.namespace is the default, in the object as well") {
  auto ms = parse_ok(R"(apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {containers: [{name: c, command: [x]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: explicit}
spec: {containers: [{name: c, command: [x]}]}
---
apiVersion: v1
kind: Node
metadata: {name: node1}
)",
                     "team-a");
  REQUIRE(ms.size() == 3);
  CHECK(ms[0].ns == "team-a");
  CHECK(ms[0].node["metadata"]["namespace"].Scalar() == "team-a");
  CHECK(YAML::Load(ms[0].yaml())["metadata"]["namespace"].Scalar() == "team-a");
  CHECK(ms[1].ns == "explicit");
  CHECK(ms[1].node["metadata"]["namespace"].Scalar() == "explicit");
  CHECK(ms[2].ns == "");
  CHECK_FALSE(ms[2].namespaced());
}

TEST_CASE("parse_manifests: a List is flattened into its items") {
  auto ms = parse_ok(R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: one}
  spec: {}
- apiVersion: v1
  kind: ServiceAccount
  metadata: {name: two, namespace: other}
---
apiVersion: v1
kind: Namespace
metadata: {name: three}
)");
  REQUIRE(ms.size() == 3);
  CHECK(ms[0].kind == "Service");
  CHECK(ms[0].name == "one");
  CHECK(ms[0].ns == "default");
  CHECK(ms[0].source.find("src.yaml (document 1)") != std::string::npos);
  CHECK(ms[1].kind == "ServiceAccount");
  CHECK(ms[1].ns == "other");
  CHECK(ms[1].source.find("items[1]") != std::string::npos);
  CHECK(ms[2].kind == "Namespace");
  CHECK(ms[2].source == "src.yaml (document 2)");
}

TEST_CASE("parse_manifests: empty documents are skipped") {
  struct Case {
    std::string name;
    std::string text;
    size_t objects;
  };
  const std::string ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n";
  const std::vector<Case> cases = {
      {"empty text", "", 0},
      {"only comments", "# nothing here\n", 0},
      {"only separators", "---\n---\n", 0},
      {"empty documents around one object", "---\n---\n" + ns + "---\n# trailing comment\n---\n", 1},
      {"empty document between two objects", ns + "---\n---\n" + ns, 2},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto r = parse_manifests(c.text, "src.yaml", "default");
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->size() == c.objects);
  }
}

TEST_CASE("parse_manifests: errors name the source, the document and the problem") {
  const std::string ok_doc = "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n";
  struct Case {
    std::string name;
    std::string text;
    std::vector<std::string> expect;  // substrings of the message
  };
  const std::vector<Case> cases = {
      // The syntax error is on line 7 of the stream (document 2's third line), counted across documents.
      {"YAML syntax error", ok_doc + "---\napiVersion: v1\nkind: Pod\nmetadata: name: x\n---\n" + ok_doc,
       {"src.yaml", "YAML error at line 7"}},
      {"YAML syntax error in the first line", "kind: Pod\n  bad: indent: here\n", {"src.yaml", "YAML error at line 2"}},
      {"missing kind", ok_doc + "---\napiVersion: v1\nmetadata: {name: x}\n", {"src.yaml (document 2)", "missing kind"}},
      {"empty kind", "apiVersion: v1\nkind: \"\"\nmetadata: {name: x}\n", {"src.yaml (document 1)", "missing kind"}},
      {"missing metadata.name", "apiVersion: v1\nkind: Service\nmetadata: {namespace: demo}\n",
       {"src.yaml (document 1)", "Service missing metadata.name"}},
      {"missing metadata", ok_doc + "---\n" + ok_doc + "---\napiVersion: v1\nkind: Service\nspec: {}\n",
       {"src.yaml (document 3)", "Service missing metadata"}},
      {"missing apiVersion", "kind: Service\nmetadata: {name: x}\n", {"src.yaml (document 1)", "Service missing apiVersion"}},
      {"name with upper case", "apiVersion: v1\nkind: Pod\nmetadata: {name: Web}\n",
       {"src.yaml (document 1)", "\"Web\"", "is not a DNS-1123 name"}},
      {"name with an underscore", ok_doc + "---\napiVersion: v1\nkind: Service\nmetadata: {name: my_svc}\n",
       {"src.yaml (document 2)", "\"my_svc\"", "is not a DNS-1123 name"}},
      {"name with a slash", "apiVersion: v1\nkind: Pod\nmetadata: {name: a/b}\n", {"\"a/b\"", "is not a DNS-1123 name"}},
      {"name with a space", "apiVersion: v1\nkind: Pod\nmetadata: {name: a b}\n", {"\"a b\"", "is not a DNS-1123 name"}},
      {"name starting with a dash", "apiVersion: v1\nkind: Pod\nmetadata: {name: -web}\n",
       {"\"-web\"", "is not a DNS-1123 name"}},
      {"name ending with a dash", "apiVersion: v1\nkind: Pod\nmetadata: {name: web-}\n",
       {"\"web-\"", "is not a DNS-1123 name"}},
      {"name that is a relative path", "apiVersion: v1\nkind: Pod\nmetadata: {name: ..}\n",
       {"\"..\"", "is not a DNS-1123 name"}},
      {"name with an empty dot label", "apiVersion: v1\nkind: Service\nmetadata: {name: a..b}\n",
       {"\"a..b\"", "is not a DNS-1123 name"}},
      {"name longer than 253", "apiVersion: v1\nkind: Service\nmetadata: {name: " + std::string(254, 'a') + "}\n",
       {"is not a DNS-1123 name"}},
      {"namespace with a slash", "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: ../etc}\n",
       {"src.yaml (document 1)", "namespace \"../etc\"", "is not a DNS-1123"}},
      {"namespace with a dot", "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: a.b}\n",
       {"namespace \"a.b\"", "is not a DNS-1123"}},
      {"namespace longer than 63", "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: " + std::string(64, 'n') + "}\n",
       {"is not a DNS-1123"}},
      {"Deployment with extensions/v1beta1",
       ok_doc + "---\n" + ok_doc + "---\napiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: web}\n",
       {"src.yaml (document 3)", "Deployment apiVersion must be apps/v1", "extensions/v1beta1"}},
      {"Deployment with v1", "apiVersion: v1\nkind: Deployment\nmetadata: {name: web}\n",
       {"src.yaml (document 1)", "must be apps/v1, not v1"}},
      {"document that is not a mapping", ok_doc + "---\n- a\n- b\n", {"src.yaml (document 2)", "not a mapping"}},
      {"List without items", "apiVersion: v1\nkind: List\n", {"src.yaml (document 1)", "List without items"}},
      {"List item without a name",
       "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: ok}}\n"
       "- {apiVersion: v1, kind: Service, metadata: {}}\n",
       {"src.yaml (document 1) items[1]", "missing metadata.name"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto r = parse_manifests(c.text, "src.yaml", "default");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string msg(r.status().message());
    for (const auto& want : c.expect) {
      CAPTURE(want);
      CHECK_MESSAGE(msg.find(want) != std::string::npos, msg);
    }
  }
}

TEST_CASE("parse_manifests: DNS-1123 names and namespaces that Kubernetes accepts are accepted") {
  for (const std::string& name : std::vector<std::string>{"a", "web-1", "0", "1abc", "echo.demo", "a-b.c-d", std::string(253, 'x')}) {
    CAPTURE(name);
    auto r = parse_manifests("apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: team-1}\n",
                             "src.yaml", "default");
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    REQUIRE(r->size() == 1);
    CHECK((*r)[0].name == name);
    CHECK((*r)[0].ns == "team-1");
  }
}

// ---------------------------------------------------------------------------------------------
// Manifest::file_name

TEST_CASE("Manifest::file_name: lower-case kind, then namespace for namespaced kinds, then name") {
  struct Case {
    std::string text, file;
    bool namespaced, workload;
  };
  const std::vector<Case> cases = {
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n", "pod-default.web.yaml", true, true},
      {"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: demo}\n", "deployment-demo.web.yaml",
       true, true},
      {"apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: demo}\n", "service-demo.echo.yaml", true,
       false},
      {"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-all, namespace: prod}\n",
       "authorizationpolicy-prod.deny-all.yaml", true, false},
      {"apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n", "namespace-demo.yaml", false, false},
      {"apiVersion: v1\nkind: Node\nmetadata: {name: node1}\n", "node-node1.yaml", false, false},
      // Namespaces are single DNS labels (no '.'), so "a/b-c" and "a-b/c" cannot collide.
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: b-c, namespace: a}\n", "pod-a.b-c.yaml", true, true},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: a-b}\n", "pod-a-b.c.yaml", true, true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    Manifest m = one(c.text);
    CHECK(m.file_name() == c.file);
    CHECK(m.namespaced() == c.namespaced);
    CHECK(m.workload() == c.workload);
  }
}

// ---------------------------------------------------------------------------------------------
// assign_cluster_ip

namespace {
Manifest service(const std::string& spec = "{ports: [{port: 80}]}") {
  return one("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\nspec: " + spec + "\n");
}
std::string assign(std::set<std::string>& used, const std::string& spec = "{ports: [{port: 80}]}") {
  Manifest svc = service(spec);
  auto s = assign_cluster_ip(svc, used);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  std::string ip = svc.node["spec"]["clusterIP"].Scalar();
  CHECK(YAML::Load(svc.yaml())["spec"]["clusterIP"].Scalar() == ip);
  return ip;
}
}  // namespace

TEST_CASE("assign_cluster_ip: a given clusterIP is kept and recorded as used") {
  std::set<std::string> used;
  CHECK(assign(used, "{clusterIP: 10.96.0.10, ports: [{port: 80}]}") == "10.96.0.10");
  CHECK(used == std::set<std::string>{"10.96.0.10"});
  // The next Service without one does not collide with it.
  CHECK(assign(used) == "10.96.0.11");
  CHECK(assign(used, "{clusterIP: 10.96.7.7}") == "10.96.7.7");
  CHECK(used.count("10.96.7.7") == 1);
}

TEST_CASE("assign_cluster_ip: the lowest free address from 10.96.0.10 on, skipping used ones") {
  struct Case {
    std::string name;
    std::set<std::string> used;
    std::string want;
  };
  std::set<std::string> full_first_block;
  for (int i = 10; i <= 254; ++i) full_first_block.insert("10.96.0." + std::to_string(i));
  std::set<std::string> two_blocks = full_first_block;
  for (int i = 1; i <= 254; ++i) two_blocks.insert("10.96.1." + std::to_string(i));
  const std::vector<Case> cases = {
      {"nothing used", {}, "10.96.0.10"},
      {"addresses below .10 do not matter", {"10.96.0.1", "10.96.0.9"}, "10.96.0.10"},
      {"first two used", {"10.96.0.10", "10.96.0.11"}, "10.96.0.12"},
      {"a hole is filled", {"10.96.0.10", "10.96.0.12"}, "10.96.0.11"},
      {".255 and the next .0 are skipped", full_first_block, "10.96.1.1"},
      {"again in the next block", two_blocks, "10.96.2.1"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    std::set<std::string> used = c.used;
    std::string ip = assign(used);
    CHECK(ip == c.want);
    CHECK(used.count(ip) == 1);
    CHECK(used.size() == c.used.size() + 1);
  }
}

TEST_CASE("assign_cluster_ip: consecutive Services get distinct consecutive addresses") {
  std::set<std::string> used;
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i) got.push_back(assign(used));
  CHECK(got == std::vector<std::string>{"10.96.0.10", "10.96.0.11", "10.96.0.12", "10.96.0.13", "10.96.0.14"});
}

TEST_CASE("assign_cluster_ip: a Service without spec is an error naming it") {
  Manifest svc = one("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\n");
  std::set<std::string> used;
  auto s = assign_cluster_ip(svc, used);
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()).find("src.yaml (document 1)") != std::string::npos);
  CHECK(std::string(s.message()).find("web") != std::string::npos);
  CHECK(used.empty());
}

// ---------------------------------------------------------------------------------------------
// expand_workload

TEST_CASE("expand_workload: a Pod is one template with everything the supervisor needs") {
  auto pods = expand_ok(one(kPod));
  REQUIRE(pods.size() == 1);
  const PodTemplate& p = pods[0];
  CHECK(p.ns == "demo");
  CHECK(p.name == "web");
  CHECK(p.labels == std::map<std::string, std::string>{{"app", "web"}, {"version", "v1"}});
  CHECK(p.annotations == std::map<std::string, std::string>{{"note", "hello"}});
  CHECK(p.node_name == "node2");
  CHECK(p.service_account == "web-sa");
  CHECK(p.restart_policy == "Never");
  CHECK(p.owner == "");
  CHECK(p.replica_set == "");
  CHECK(p.template_hash == "");
  REQUIRE(p.containers.size() == 2);
  CHECK(p.containers[0].name == "server");
  CHECK(p.containers[0].command == std::vector<std::string>{"/bin/echo-server", "--port", "8080", "--verbose"});
  CHECK(p.containers[0].env == std::map<std::string, std::string>{{"MODE", "fast"}, {"EMPTY", ""}});
  CHECK(p.containers[1].name == "sidecar");
  CHECK(p.containers[1].command == std::vector<std::string>{"sleep", "3600"});  // args alone
  CHECK(p.containers[1].env.empty());
}

TEST_CASE("expand_workload: Pod defaults are the default service account, restart Always and no node") {
  auto pods = expand_ok(one("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
                            "  - {name: c, command: [sleep, '1']}\n"));
  REQUIRE(pods.size() == 1);
  CHECK(pods[0].service_account == "default");
  CHECK(pods[0].restart_policy == "Always");
  CHECK(pods[0].node_name == "");
  CHECK(pods[0].ns == "default");
  CHECK(pods[0].labels.empty());
}

TEST_CASE("expand_workload: each valid restartPolicy is taken") {
  for (const std::string rp : {"Always", "OnFailure", "Never"}) {
    CAPTURE(rp);
    auto pods = expand_ok(one("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  restartPolicy: " + rp +
                              "\n  containers: [{name: c, command: [x]}]\n"));
    REQUIRE(pods.size() == 1);
    CHECK(pods[0].restart_policy == rp);
  }
}

TEST_CASE("expand_workload: invalid pods are errors naming the source, pod and problem") {
  const std::string head = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n";
  struct Case {
    std::string name;
    std::string text;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {"bad restartPolicy", head + "spec:\n  restartPolicy: Sometimes\n  containers: [{name: c, command: [x]}]\n",
       {"src.yaml (document 1)", "pod web", "restartPolicy \"Sometimes\""}},
      {"lower-case restartPolicy", head + "spec:\n  restartPolicy: never\n  containers: [{name: c, command: [x]}]\n",
       {"\"never\""}},
      {"no spec", head, {"src.yaml (document 1)", "pod web missing spec"}},
      {"spec that is a scalar", head + "spec: nothing\n", {"pod web missing spec"}},
      {"no containers", head + "spec: {nodeName: node1}\n", {"pod web needs spec.containers"}},
      {"empty containers", head + "spec: {containers: []}\n", {"pod web needs spec.containers"}},
      {"containers not a list", head + "spec: {containers: {name: c}}\n", {"needs spec.containers"}},
      {"container without command or args", head + "spec: {containers: [{name: c, image: busybox}]}\n",
       {"pod web containers[0]", "needs command"}},
      {"second container without command",
       head + "spec: {containers: [{name: a, command: [x]}, {name: b}]}\n", {"containers[1]", "needs command"}},
      {"container without name", head + "spec: {containers: [{command: [x]}]}\n", {"containers[0] missing name"}},
      {"command as a string", head + "spec: {containers: [{name: c, command: sleep 10}]}\n",
       {"containers[0].command must be a list of strings"}},
      {"args as a string", head + "spec: {containers: [{name: c, command: [sleep], args: '10'}]}\n",
       {"containers[0].args must be a list of strings"}},
      // Malformed shapes are errors too, never a yaml-cpp exception escaping `ambitctl local apply`.
      {"container that is a scalar", head + "spec: {containers: [server]}\n", {"src.yaml (document 1)"}},
      {"env entry that is a scalar", head + "spec: {containers: [{name: c, command: [x], env: [A=b]}]}\n",
       {"src.yaml (document 1)"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    std::string msg;
    REQUIRE_NOTHROW(msg = expand_error(c.text));
    for (const auto& want : c.expect) {
      CAPTURE(want);
      CHECK_MESSAGE(msg.find(want) != std::string::npos, msg);
    }
  }
}

TEST_CASE("expand_workload: a Deployment with N replicas is pods name-0..N-1 owned through a ReplicaSet") {
  for (int n : {1, 3, 50}) {
    CAPTURE(n);
    auto pods = expand_ok(one(deployment("  replicas: " + std::to_string(n) + "\n")));
    REQUIRE(pods.size() == static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      CAPTURE(i);
      const PodTemplate& p = pods[i];
      CHECK(p.name == "web-" + std::to_string(i));
      CHECK(p.ns == "demo");
      CHECK(p.owner == "Deployment/web");
      // Kubernetes' pod-template-hash shape: 10 characters from a vowel-free alphabet.
      REQUIRE(p.template_hash.size() == 10);
      CHECK(p.template_hash.find_first_not_of("bcdfghjklmnpqrstvwxz2456789") == std::string::npos);
      CHECK(p.replica_set == "web-" + p.template_hash);
      CHECK(p.labels.at("pod-template-hash") == p.template_hash);
      CHECK(p.labels.at("app") == "web");            // the template's labels
      CHECK(p.labels.count("owner") == 0);           // not the Deployment's own
      REQUIRE(p.containers.size() == 1);
      CHECK(p.containers[0].command == std::vector<std::string>{"/bin/echo-server"});
      // One template: every replica has the same hash and ReplicaSet.
      CHECK(p.template_hash == pods[0].template_hash);
      CHECK(p.spec_hash() == pods[0].spec_hash());
    }
  }
}

TEST_CASE("expand_workload: Deployment replicas default to 1 and may be 0") {
  auto dflt = expand_ok(one(deployment("")));
  REQUIRE(dflt.size() == 1);
  CHECK(dflt[0].name == "web-0");
  CHECK(expand_ok(one(deployment("  replicas: 0\n"))).empty());
}

TEST_CASE("expand_workload: the ReplicaSet hash follows the pod spec, not the labels") {
  auto base = expand_ok(one(deployment("  replicas: 2\n")));
  auto relabeled = expand_ok(one(deployment("  replicas: 2\n", "[/bin/echo-server]", "{app: web, extra: yes}")));
  auto new_command = expand_ok(one(deployment("  replicas: 2\n", "[/bin/echo-server, --v2]")));
  REQUIRE(base.size() == 2);
  REQUIRE(relabeled.size() == 2);
  REQUIRE(new_command.size() == 2);
  CHECK(relabeled[0].template_hash == base[0].template_hash);
  CHECK(new_command[0].template_hash != base[0].template_hash);
  CHECK(new_command[0].replica_set != base[0].replica_set);
}

TEST_CASE("expand_workload: invalid Deployments are errors") {
  struct Case {
    std::string name;
    std::string text;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {"negative replicas", deployment("  replicas: -1\n"), {"src.yaml (document 1)", "Deployment web", "replicas must be 0..50"}},
      {"too many replicas", deployment("  replicas: 51\n"), {"replicas must be 0..50"}},
      {"huge replicas", deployment("  replicas: 100000000000\n"), {"Deployment web"}},
      {"word replicas", deployment("  replicas: three\n"), {"Deployment web spec.replicas is not an integer"}},
      {"fractional replicas", deployment("  replicas: 2.5\n"), {"spec.replicas is not an integer"}},
      {"list replicas", deployment("  replicas: [2]\n"), {"spec.replicas is not an integer"}},
      {"no template", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1}\n",
       {"Deployment web missing spec.template"}},
      {"no spec", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n", {"Deployment web missing spec.template"}},
      {"template without containers",
       "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {}}}\n",
       {"pod web-0 needs spec.containers"}},
      {"template with a bad restartPolicy",
       "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
       "spec: {template: {spec: {restartPolicy: Maybe, containers: [{name: c, command: [x]}]}}}\n",
       {"restartPolicy \"Maybe\""}},
      // Malformed shapes are errors, never a yaml-cpp exception.
      {"spec that is a scalar", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: web\n",
       {"src.yaml (document 1)"}},
      {"template that is a scalar",
       "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: web}\n", {"src.yaml (document 1)"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    std::string msg;
    REQUIRE_NOTHROW(msg = expand_error(c.text));
    for (const auto& want : c.expect) {
      CAPTURE(want);
      CHECK_MESSAGE(msg.find(want) != std::string::npos, msg);
    }
  }
}

TEST_CASE("expand_workload: kinds other than Pod and Deployment are not workloads") {
  Manifest svc = one("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {}\n");
  auto r = expand_workload(svc);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(r.status().message()).find("Service is not a workload") != std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// PodTemplate::spec_hash

TEST_CASE("PodTemplate::spec_hash: changes with what recreates a pod, not with labels or annotations") {
  auto pods = expand_ok(one(kPod));
  REQUIRE(pods.size() == 1);
  const PodTemplate base = pods[0];
  const std::string h = base.spec_hash();
  CHECK(h == PodTemplate(base).spec_hash());  // deterministic

  struct Case {
    std::string name;
    void (*mutate)(PodTemplate&);
    bool changes;
  };
  const std::vector<Case> cases = {
      {"command changes", [](PodTemplate& p) { p.containers[0].command[0] = "/bin/other"; }, true},
      {"an argument is added", [](PodTemplate& p) { p.containers[0].command.push_back("--debug"); }, true},
      {"arguments are split differently",
       [](PodTemplate& p) { p.containers[1].command = {"sleep 3600"}; }, true},
      {"env value changes", [](PodTemplate& p) { p.containers[0].env["MODE"] = "slow"; }, true},
      {"env is added", [](PodTemplate& p) { p.containers[1].env["X"] = "1"; }, true},
      {"container renamed", [](PodTemplate& p) { p.containers[1].name = "helper"; }, true},
      {"container removed", [](PodTemplate& p) { p.containers.pop_back(); }, true},
      {"service account changes", [](PodTemplate& p) { p.service_account = "other"; }, true},
      {"node changes", [](PodTemplate& p) { p.node_name = "node1"; }, true},
      {"restart policy changes", [](PodTemplate& p) { p.restart_policy = "Always"; }, true},
      {"label added", [](PodTemplate& p) { p.labels["istio.io/dataplane-mode"] = "ambient"; }, false},
      {"label changed", [](PodTemplate& p) { p.labels["version"] = "v2"; }, false},
      {"labels cleared", [](PodTemplate& p) { p.labels.clear(); }, false},
      {"annotation changed", [](PodTemplate& p) { p.annotations["note"] = "bye"; }, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    PodTemplate p = base;
    c.mutate(p);
    if (c.changes) {
      CHECK(p.spec_hash() != h);
    } else {
      CHECK(p.spec_hash() == h);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// realized_pod_yaml

TEST_CASE("realized_pod_yaml: a plain Pod as istiod should see it") {
  auto pods = expand_ok(one(kPod));
  REQUIRE(pods.size() == 1);
  const std::string text = realized_pod_yaml(pods[0], "node2", "10.244.2.7", "3f2a-uid");
  YAML::Node y;
  REQUIRE_NOTHROW(y = YAML::Load(text));
  CHECK(y["apiVersion"].Scalar() == "v1");
  CHECK(y["kind"].Scalar() == "Pod");
  CHECK(y["metadata"]["name"].Scalar() == "web");
  CHECK(y["metadata"]["namespace"].Scalar() == "demo");
  CHECK(y["metadata"]["uid"].Scalar() == "3f2a-uid");
  CHECK(labels_of(y["metadata"]) == "app=web,version=v1,");
  CHECK(y["metadata"]["annotations"]["note"].Scalar() == "hello");
  CHECK_FALSE(y["metadata"]["ownerReferences"]);
  CHECK(y["spec"]["nodeName"].Scalar() == "node2");
  CHECK(y["spec"]["serviceAccountName"].Scalar() == "web-sa");
  REQUIRE(y["spec"]["containers"].IsSequence());
  REQUIRE(y["spec"]["containers"].size() == 2);
  CHECK(y["spec"]["containers"][0]["name"].Scalar() == "server");
  CHECK(y["spec"]["containers"][1]["name"].Scalar() == "sidecar");
  CHECK(y["status"]["phase"].Scalar() == "Running");
  CHECK(y["status"]["podIP"].Scalar() == "10.244.2.7");
  const YAML::Node conds = y["status"]["conditions"];
  REQUIRE(conds.IsSequence());
  REQUIRE(conds.size() == 1);
  CHECK(conds[0]["type"].Scalar() == "Ready");
  CHECK(conds[0]["status"].Scalar() == "True");
  // Quoted: Kubernetes' condition status is the string "True", not a boolean.
  CHECK(conds[0]["status"].Tag() == "!");
  CHECK(text.find("status: \"True\"") != std::string::npos);
}

TEST_CASE("realized_pod_yaml: a replica is owned by its ReplicaSet and carries pod-template-hash") {
  auto pods = expand_ok(one(deployment("  replicas: 2\n")));
  REQUIRE(pods.size() == 2);
  const PodTemplate& p = pods[1];
  YAML::Node y = YAML::Load(realized_pod_yaml(p, "node1", "10.244.1.9", "uid-1"));
  CHECK(y["kind"].Scalar() == "Pod");
  CHECK(y["metadata"]["name"].Scalar() == "web-1");
  CHECK(y["metadata"]["namespace"].Scalar() == "demo");
  CHECK(y["metadata"]["uid"].Scalar() == "uid-1");
  CHECK(y["metadata"]["labels"]["app"].Scalar() == "web");
  CHECK(y["metadata"]["labels"]["pod-template-hash"].Scalar() == p.template_hash);
  CHECK_FALSE(y["metadata"]["annotations"]);  // none given, none written
  const YAML::Node refs = y["metadata"]["ownerReferences"];
  REQUIRE(refs.IsSequence());
  REQUIRE(refs.size() == 1);
  CHECK(refs[0]["apiVersion"].Scalar() == "apps/v1");
  CHECK(refs[0]["kind"].Scalar() == "ReplicaSet");
  CHECK(refs[0]["name"].Scalar() == p.replica_set);
  CHECK(refs[0]["controller"].as<bool>() == true);
  CHECK(y["spec"]["nodeName"].Scalar() == "node1");
  CHECK(y["spec"]["serviceAccountName"].Scalar() == "default");
  CHECK(y["status"]["podIP"].Scalar() == "10.244.1.9");
  CHECK(y["status"]["conditions"][0]["status"].Scalar() == "True");
}

TEST_CASE("realized_pod_yaml: the node passed in wins over the template's nodeName") {
  auto pods = expand_ok(one(kPod));  // nodeName: node2
  YAML::Node y = YAML::Load(realized_pod_yaml(pods[0], "node3", "10.244.3.2", "u"));
  CHECK(y["spec"]["nodeName"].Scalar() == "node3");
}

TEST_CASE("realized_pod_yaml: a pod without labels still has a labels map") {
  auto pods = expand_ok(one("apiVersion: v1\nkind: Pod\nmetadata: {name: bare}\nspec: {containers: [{name: c, command: [x]}]}\n"));
  YAML::Node y = YAML::Load(realized_pod_yaml(pods[0], "node1", "10.244.1.2", "u"));
  CHECK(y["metadata"]["labels"].IsMap());
  CHECK(y["metadata"]["labels"].size() == 0);
  CHECK(y["metadata"]["namespace"].Scalar() == "default");
}

// ---------------------------------------------------------------------------------------------
// set_label

TEST_CASE("set_label: adds, changes and removes pod labels, reporting whether anything changed") {
  Manifest m = one("apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\n"
                   "spec: {containers: [{name: c, command: [x]}]}\n");
  struct Step {
    std::string name;
    std::string key, value;
    bool changed;
    std::string labels_after;
  };
  const std::vector<Step> steps = {
      {"add", "istio.io/dataplane-mode", "ambient", true, "app=web,istio.io/dataplane-mode=ambient,"},
      {"same value again", "istio.io/dataplane-mode", "ambient", false, "app=web,istio.io/dataplane-mode=ambient,"},
      {"change", "app", "api", true, "app=api,istio.io/dataplane-mode=ambient,"},
      {"remove", "istio.io/dataplane-mode", "", true, "app=api,"},
      {"remove again", "istio.io/dataplane-mode", "", false, "app=api,"},
      {"remove a label never set", "missing", "", false, "app=api,"},
      {"remove the last", "app", "", true, ""},
      {"add to an empty map", "tier", "db", true, "tier=db,"},
  };
  for (const auto& s : steps) {
    CAPTURE(s.name);
    CHECK(set_label(m, s.key, s.value) == s.changed);
    CHECK(labels_of(m.node["metadata"]) == s.labels_after);
    // What gets written back agrees.
    CHECK(labels_of(YAML::Load(m.yaml())["metadata"]) == s.labels_after);
  }
  // And the pod the supervisor runs sees the result.
  auto pods = expand_ok(m);
  CHECK(pods[0].labels == std::map<std::string, std::string>{{"tier", "db"}});
}

TEST_CASE("set_label: an object without labels gets them") {
  for (const std::string meta : {"{name: demo}", "{name: demo, labels: {}}", "{name: demo, labels: null}"}) {
    CAPTURE(meta);
    Manifest m = one("apiVersion: v1\nkind: Namespace\nmetadata: " + meta + "\n");
    CHECK_FALSE(set_label(m, "istio.io/dataplane-mode", ""));
    CHECK(set_label(m, "istio.io/dataplane-mode", "ambient"));
    YAML::Node y = YAML::Load(m.yaml());
    CHECK(y["metadata"]["labels"]["istio.io/dataplane-mode"].Scalar() == "ambient");
    CHECK(y["metadata"]["name"].Scalar() == "demo");
  }
}

TEST_CASE("set_label: on a Deployment it edits the pod template's labels") {
  Manifest m = one(deployment("  replicas: 2\n"));
  CHECK(set_label(m, "istio.io/dataplane-mode", "ambient"));
  CHECK(labels_of(m.node["spec"]["template"]["metadata"]) == "app=web,istio.io/dataplane-mode=ambient,");
  CHECK(labels_of(m.node["metadata"]) == "owner=team,");  // the Deployment's own labels are untouched
  CHECK_FALSE(set_label(m, "istio.io/dataplane-mode", "ambient"));
  CHECK_FALSE(set_label(m, "owner", ""));  // not a template label: nothing to remove
  CHECK(labels_of(m.node["metadata"]) == "owner=team,");

  auto pods = expand_ok(m);
  REQUIRE(pods.size() == 2);
  for (const auto& p : pods) CHECK(p.labels.at("istio.io/dataplane-mode") == "ambient");

  CHECK(set_label(m, "app", ""));
  CHECK(labels_of(m.node["spec"]["template"]["metadata"]) == "istio.io/dataplane-mode=ambient,");
}

TEST_CASE("readinessProbe.httpGet: a probed pod starts not Ready, the probe is part of the spec") {
  auto pods = expand_ok(one(R"(
apiVersion: v1
kind: Pod
metadata: {name: wp, namespace: demo}
spec:
  containers:
  - name: istio-proxy
    command: [waypoint]
    readinessProbe: {httpGet: {path: /healthz/ready, port: 15021}, periodSeconds: 1}
)"));
  REQUIRE(pods.size() == 1);
  REQUIRE(pods[0].readiness_http.has_value());
  CHECK(pods[0].readiness_http->first == "/healthz/ready");
  CHECK(pods[0].readiness_http->second == 15021);
  YAML::Node y = YAML::Load(realized_pod_yaml(pods[0], "node1", "10.40.1.2", "u", false));
  CHECK(y["status"]["conditions"][0]["type"].Scalar() == "Ready");
  CHECK(y["status"]["conditions"][0]["status"].Scalar() == "False");
  PodTemplate without = pods[0];
  without.readiness_http.reset();
  CHECK(without.spec_hash() != pods[0].spec_hash());  // adding a probe recreates the pod
  auto bad = parse_manifests("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n"
                             "    command: [x]\n    readinessProbe: {httpGet: {port: http}}\n",
                             "f.yaml", "default");
  REQUIRE(bad.ok());
  auto e = expand_workload((*bad)[0]);
  REQUIRE_FALSE(e.ok());
  CHECK(std::string(e.status().message()).find("readinessProbe.httpGet.port must be a port number") != std::string::npos);
}
