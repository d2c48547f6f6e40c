#include <doctest/doctest.h>

#include "istiod/config/yaml_parser.h"

using namespace ambit::istiod;

namespace {
ParseResult parse(const std::string& text) {
  auto r = parse_yaml(text, "t.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}
std::string only_rejection(const std::string& text) {
  ParseResult r = parse(text);
  CHECK(r.objects.empty());
  REQUIRE(r.rejections.size() == 1);
  return r.rejections[0].to_string();
}
}  // namespace

TEST_CASE("multi-document YAML: every kind parses into typed objects") {
  ParseResult r = parse(R"(
apiVersion: v1
kind: Namespace
metadata:
  name: demo
  labels: {istio.io/dataplane-mode: ambient}
---
apiVersion: v1
kind: Pod
metadata: {name: sleep-1, namespace: demo, uid: u1, labels: {app: sleep}}
spec:
  nodeName: node1
  serviceAccountName: sleep
  containers:
  - name: main
    image: ambit-echo
    command: [ambit-echo]
    args: ["--port", "8080"]
    ports: [{name: http, containerPort: 8080}]
status:
  podIPs: [{ip: 10.10.1.5}]
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: demo}
spec:
  selector: {app: echo}
  clusterIP: 10.96.0.10
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: tcp, port: 9000, targetPort: 9001}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sleep, namespace: demo}
---
apiVersion: v1
kind: Node
metadata: {name: node1}
status: {addresses: [{type: InternalIP, address: 172.30.0.1}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-sleep, namespace: demo}
spec:
  selector: {matchLabels: {app: echo}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/demo/sa/sleep"], ipBlocks: ["10.0.0.0/8"]}}]
    to: [{operation: {ports: ["8080"]}}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: demo}
spec:
  selector: {matchLabels: {app: echo}}
  mtls: {mode: STRICT}
  portLevelMtls: {9001: {mode: PERMISSIVE}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: demo, labels: {istio.io/waypoint-for: service}}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: demo}
spec: {parentRefs: [{name: echo, kind: Service, group: ""}]}
)");
  CHECK(r.rejections.empty());
  REQUIRE(r.objects.size() == 9);
  const auto& pod = r.objects[1]->as<Pod>();
  CHECK(r.objects[1]->meta.ns == "demo");
  CHECK(pod.node_name == "node1");
  CHECK(pod.service_account == "sleep");
  CHECK(pod.ips == std::vector<std::string>{"10.10.1.5"});
  CHECK(pod.ready == true);
  CHECK(pod.containers.at(0).args == std::vector<std::string>{"--port", "8080"});
  const auto& svc = r.objects[2]->as<Service>();
  CHECK(svc.cluster_ips == std::vector<std::string>{"10.96.0.10"});
  CHECK(svc.ports.at(0).target_port.name == "http");
  CHECK(svc.ports.at(1).target_port.number == 9001);
  CHECK(r.objects[4]->as<Node>().addresses.at(0) == "172.30.0.1");
  const auto& ap = r.objects[5]->as<AuthorizationPolicy>();
  CHECK(ap.selector->match_labels.at("app") == "echo");
  CHECK(ap.rules.at(0).from.at(0).ip_blocks.at(0) == "10.0.0.0/8");
  const auto& pa = r.objects[6]->as<PeerAuthentication>();
  CHECK(pa.mode == PeerAuthentication::Mode::kStrict);
  CHECK(pa.port_level.at(9001) == PeerAuthentication::Mode::kPermissive);
  CHECK(r.objects[7]->as<Gateway>().gateway_class == "istio-waypoint");
  const auto& route = r.objects[8]->as<HTTPRoute>();
  REQUIRE(route.parent_refs.size() == 1);
  CHECK(route.parent_refs[0].kind == "Service");
  CHECK(route.parent_refs[0].group == "");
  REQUIRE(route.rules.size() == 1);  // the CRD's default rule
  CHECK(route.rules[0].matches.at(0).path.value == "/");
  CHECK(r.objects[1]->source == "t.yaml#2");
}

TEST_CASE("defaults: namespace default, service account default, targetPort = port") {
  ParseResult r = parse(R"(
apiVersion: v1
kind: Pod
metadata: {name: p}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {ports: [{port: 80}]}
)");
  REQUIRE(r.objects.size() == 2);
  CHECK(r.objects[0]->meta.ns == "default");
  CHECK(r.objects[0]->as<Pod>().service_account == "default");
  CHECK(r.objects[1]->as<Service>().ports[0].target_port.number == 80);
  CHECK_FALSE(r.objects[1]->as<Service>().selector.has_value());
}

TEST_CASE("invalid objects are rejected one by one with file, kind, name and reason") {
  struct Case {
    const char* yaml;
    const char* want;
  } cases[] = {
      {"apiVersion: v1\nkind: Pod\nmetadata: {namespace: a}\n", "t.yaml#1: Pod: metadata.name: required"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\n", "metadata.name: 'Bad_Name' is not a valid DNS-1123 subdomain"},
      {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 70000}]}\n",
       "t.yaml#1: Service default/s: spec.ports[0].port: 70000 is out of range 1-65535"},
      {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: eighty}]}\n",
       "spec.ports[0].port: want an integer, got 'eighty'"},
      {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 10.0.0.300, ports: [{port: 80}]}\n",
       "spec.clusterIPs: '10.0.0.300' is not an IP address"},
      {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}, {port: 81}]}\n",
       "every port needs a name"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: 'bad value!'}}\n",
       "metadata.labels.app: label value 'bad value!' has an invalid character"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {podIP: not-an-ip}\n", "status.podIP: 'not-an-ip' is not an IP address"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: {name: c}}\n", "spec.containers: want a list"},
      {"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  action: MAYBE\n",
       "spec.action: unknown action 'MAYBE'"},
      {"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  rules: [{from: [{source: {ipBlocks: [10.0.0.0/33]}}]}]\n",
       "spec.rules[0].from[0].source.ipBlocks[0]: '10.0.0.0/33' has an invalid prefix length"},
      {"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  rules: [{from: [{source: {ipBlocks: [300.0.0.0/8]}}]}]\n",
       "'300.0.0.0/8' is not an IP address or CIDR"},
      {"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  selector: {matchExpressions: [{key: app, operator: Near, values: [a]}]}\n",
       "spec.selector.matchExpressions[0].operator: unknown operator 'Near'"},
      {"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  selector: {matchExpressions: [{key: app, operator: In}]}\n",
       "spec.selector.matchExpressions[0].values: required for operator In"},
      {"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  rules: [{to: [{operation: {ports: [http]}}]}]\n",
       "spec.rules[0].to[0].operation.ports[0]: want a port number, got 'http'"},
      {"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec: {mtls: {mode: SOMETIMES}}\n",
       "spec.mtls.mode: unknown mTLS mode 'SOMETIMES'"},
      {"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec: {portLevelMtls: {80: {mode: STRICT}}}\n",
       "portLevelMtls requires a workload selector"},
      {"apiVersion: v1\nkind: Namespace\nmetadata: {name: n, namespace: x}\n", "Namespace is cluster-scoped"},
      {"apiVersion: v2\nkind: Pod\nmetadata: {name: p}\n", "unsupported apiVersion 'v2' for Pod"},
      {"kind: Pod\nmetadata: {name: p}\n", "apiVersion: required"},
      {"- a\n- b\n", "a document must be an object"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.yaml);
    std::string got = only_rejection(c.yaml);
    CHECK_MESSAGE(got.find(c.want) != std::string::npos, got);
  }
}

// Finding 9 of the hardening review: an unknown field used to be dropped, so the rule that held
// it became broader than written (a `from` with only `trustDomains` matched every source).
TEST_CASE("unknown AuthorizationPolicy and PeerAuthentication fields are rejected, naming the field path") {
  const std::string ap = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: demo}\n";
  const std::string pa = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p, namespace: demo}\n";
  struct Case {
    std::string yaml;
    const char* want;
  } cases[] = {
      {ap + "spec:\n  rules: [{from: [{source: {trustDomains: [td]}}]}]\n",
       "t.yaml#1: AuthorizationPolicy demo/p: spec.rules[0].from[0].source.trustDomains: unknown field"},
      {ap + "spec:\n  action: DENY\n  rules: [{from: [{source: {principal: [cluster.local/ns/a/sa/b]}}]}]\n",
       "spec.rules[0].from[0].source.principal: unknown field"},
      {ap + "spec:\n  rules: [{from: [{source: {namespaces: [a]}}]}, {to: [{operation: {port: ['80']}}]}]\n",
       "spec.rules[1].to[0].operation.port: unknown field"},
      {ap + "spec:\n  rules: [{when: [{key: source.ip, value: [10.0.0.1]}]}]\n", "spec.rules[0].when[0].value: unknown field"},
      {ap + "spec:\n  rules: [{form: [{source: {namespaces: [a]}}]}]\n", "spec.rules[0].form: unknown field"},
      {ap + "spec:\n  rules: [{from: [{source: {namespaces: [a]}, sources: {}}]}]\n", "spec.rules[0].from[0].sources: unknown field"},
      {ap + "spec:\n  selector: {matchLabel: {app: echo}}\n", "spec.selector.matchLabel: unknown field"},
      {ap + "spec:\n  selector: {matchExpressions: [{key: app, operator: In, values: [a], value: b}]}\n",
       "spec.selector.matchExpressions[0].value: unknown field"},
      {ap + "spec:\n  targetRefs: [{kind: Gateway, name: w, namspace: x}]\n", "spec.targetRefs[0].namspace: unknown field"},
      {ap + "spec:\n  action: CUSTOM\n  provider: {name: ext, extra: 1}\n", "spec.provider.extra: unknown field"},
      {ap + "spec:\n  acton: DENY\n", "spec.acton: unknown field"},
      {ap + "sepc:\n  action: DENY\n", "sepc: unknown field"},
      {pa + "spec: {mtls: {mod: STRICT}}\n", "t.yaml#1: PeerAuthentication demo/p: spec.mtls.mod: unknown field"},
      {pa + "spec: {mTLS: {mode: STRICT}}\n", "spec.mTLS: unknown field"},
      {pa + "spec:\n  selector: {matchLabels: {app: a}}\n  portLevelMtls: {80: {mode: DISABLE, moed: STRICT}}\n",
       "spec.portLevelMtls.80.moed: unknown field"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.yaml);
    std::string got = only_rejection(c.yaml);
    CHECK_MESSAGE(got.find(c.want) != std::string::npos, got);
  }
}

TEST_CASE("every AuthorizationPolicy and PeerAuthentication field Istio defines is still accepted") {
  ParseResult r = parse(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: all, namespace: demo}
spec:
  selector:
    matchLabels: {app: echo}
    matchExpressions: [{key: tier, operator: In, values: [web]}]
  action: CUSTOM
  provider: {name: ext}
  rules:
  - from:
    - source:
        principals: [a]
        notPrincipals: [b]
        requestPrincipals: [c]
        notRequestPrincipals: [d]
        namespaces: [e]
        notNamespaces: [f]
        ipBlocks: [10.0.0.0/8]
        notIpBlocks: [10.1.0.0/16]
        remoteIpBlocks: [10.2.0.0/16]
        notRemoteIpBlocks: [10.3.0.0/16]
        serviceAccounts: [g]
        notServiceAccounts: [h]
    to:
    - operation: {hosts: [a], notHosts: [b], ports: ['80'], notPorts: ['81'], methods: [GET], notMethods: [PUT],
                  paths: [/a], notPaths: [/b]}
    when: [{key: source.ip, values: [10.0.0.1], notValues: [10.0.0.2]}]
status: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: refs, namespace: demo}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: w, namespace: demo}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ref, namespace: demo}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: w}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: pa, namespace: demo}
spec:
  selector: {matchLabels: {app: echo}}
  mtls: {mode: STRICT}
  portLevelMtls: {8080: {mode: PERMISSIVE}}
)");
  CHECK(r.rejections.empty());
  CHECK(r.objects.size() == 4);
}

TEST_CASE("one bad object does not take its neighbours down") {
  ParseResult r = parse(R"(
apiVersion: v1
kind: Service
metadata: {name: good1}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: bad}
spec: {ports: [{port: 0}]}
---
apiVersion: v1
kind: Service
metadata: {name: good2}
spec: {ports: [{port: 81}]}
)");
  REQUIRE(r.objects.size() == 2);
  CHECK(r.objects[0]->meta.name == "good1");
  CHECK(r.objects[1]->meta.name == "good2");
  REQUIRE(r.rejections.size() == 1);
  CHECK(r.rejections[0].name == "bad");
  CHECK(r.rejections[0].source == "t.yaml#2");
}

TEST_CASE("unknown kinds are ignored with a notice, Lists are expanded") {
  ParseResult r = parse(R"(
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: x}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: a}}
- {apiVersion: v1, kind: Namespace, metadata: {name: b}}
)");
  CHECK(r.rejections.empty());
  REQUIRE(r.notices.size() == 1);
  CHECK(r.notices[0].find("ignoring unknown kind apps/v1/StatefulSet x") != std::string::npos);
  CHECK(r.objects.size() == 2);
}

TEST_CASE("a YAML syntax error refuses the whole text with line and column") {
  auto r = parse_yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: p\n", "f.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("f.yaml: YAML syntax error at line") != std::string::npos);
}

TEST_CASE("label selectors match like Kubernetes") {
  LabelSelector s;
  s.match_labels = {{"app", "a"}};
  s.match_expressions.push_back({"tier", LabelSelector::Requirement::Op::kIn, {"web", "api"}});
  s.match_expressions.push_back({"canary", LabelSelector::Requirement::Op::kDoesNotExist, {}});
  CHECK(s.matches({{"app", "a"}, {"tier", "web"}}));
  CHECK_FALSE(s.matches({{"app", "a"}, {"tier", "db"}}));
  CHECK_FALSE(s.matches({{"app", "a"}, {"tier", "web"}, {"canary", "1"}}));
  CHECK_FALSE(s.matches({{"tier", "web"}}));
  CHECK(LabelSelector{}.matches({}));
  CHECK(selector_matches({{"app", "a"}}, {{"app", "a"}, {"x", "y"}}));
  CHECK_FALSE(selector_matches({{"app", "a"}}, {{"app", "b"}}));
}

TEST_CASE("validators") {
  CHECK(valid_dns1123_label("my-svc"));
  CHECK_FALSE(valid_dns1123_label("-x"));
  CHECK_FALSE(valid_dns1123_label("x.y"));
  CHECK(valid_dns1123_subdomain("a.b-c.d"));
  CHECK(validate_cidr("fd00::/8").ok());
  CHECK(validate_cidr("10.1.2.3").ok());
  CHECK_FALSE(validate_cidr("fd00::/129").ok());
  CHECK(validate_label_key("istio.io/dataplane-mode").ok());
  CHECK_FALSE(validate_label_key("/x").ok());
}

TEST_CASE("strings must be valid UTF-8: a bad byte is refused naming the field, other scripts are fine") {
  std::string bad = only_rejection("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa, namespace: \"d\xff\"}\n");
  CHECK_MESSAGE(bad.find("not valid UTF-8") != std::string::npos, bad);
  CHECK_MESSAGE(bad.find("metadata.namespace") != std::string::npos, bad);
  // Overlong encoding of '/', a lone surrogate, and a truncated sequence.
  for (const char* s : {"\xc0\xaf", "\xed\xa0\x80", "ab\xe2\x82"}) {
    std::string r = only_rejection(std::string("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {serviceAccountName: \"") + s + "\"}\n");
    CHECK_MESSAGE(r.find("not valid UTF-8") != std::string::npos, r);
  }
  auto ok = parse_yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {note: \"caf\xc3\xa9 \xf0\x9f\x98\x80\"}}\n", "t.yaml");
  REQUIRE(ok.ok());
  CHECK_MESSAGE(ok->rejections.empty(), (ok->rejections.empty() ? std::string() : ok->rejections[0].to_string()));
  CHECK(ok->objects.size() == 1);
}
