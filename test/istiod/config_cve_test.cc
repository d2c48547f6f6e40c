// Control-plane config ingestion regressions (issue 10): GHSA-7p2q-4xvg-vxc6, an istiod
// crash on a waypoint addressed by IP in ambient config. Objects of that shape are fed through
// the parser and the ambient index: each is either used or refused with a reason naming the
// field, never a crash. A property test then mutates valid config at random (a fixed seed, so a
// failure replays) and feeds the results through the same path.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "common/base/strings.h"
#include "istiod/ambient/authorization.h"
#include "istiod/ambient/index.h"
#include "istiod/config/source.h"
#include "istiod/config/yaml_parser.h"

using namespace ambit;
using namespace ambit::istiod;
using namespace ambit::istiod::ambient;

namespace {

const char* kMeshYaml = R"(apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: demo, labels: {app: a}}
spec: {serviceAccountName: a, nodeName: n1}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: demo}
spec: {selector: {app: a}, clusterIP: 10.96.0.1, ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: demo, labels: {istio.io/waypoint-for: all}}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
  addresses: [{type: IPAddress, value: 10.96.0.10}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: pol, namespace: demo}
spec:
  action: DENY
  rules:
  - from: [{source: {principals: ["*/sa/evil"], ipBlocks: ["10.1.0.0/16"]}}]
    to: [{operation: {ports: ["8080"]}}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: w, namespace: demo}
spec:
  selector: {matchLabels: {app: a}}
  mtls: {mode: PERMISSIVE}
  portLevelMtls: {9090: {mode: STRICT}}
---
apiVersion: v1
kind: Service
metadata: {name: wp, namespace: demo, labels: {gateway.networking.k8s.io/gateway-name: wp}}
spec: {selector: {gateway.networking.k8s.io/gateway-name: wp}, ports: [{name: mesh, port: 15008}]}
---
apiVersion: v1
kind: Pod
metadata: {name: wp-0, namespace: demo, labels: {gateway.networking.k8s.io/gateway-name: wp}}
status: {podIP: 10.0.0.9, conditions: [{type: Ready, status: "True"}]}
)";

// Everything istiod does with config once parsed: the ambient index (workloads, services,
// waypoints) from scratch and incrementally, and the policy conversions.
void ingest(const std::vector<ObjectPtr>& objs) {
  AmbientIndex idx{MeshConfig{}};
  idx.resync(objs);
  std::vector<ConfigEvent> events;
  for (const auto& o : objs) events.push_back({EventType::kUpdate, o});
  for (const auto& o : objs) events.push_back({EventType::kDelete, o});
  idx.apply(events);
  for (const auto& o : objs) {
    (void)convert_authorization_policy(*o, MeshConfig{});
    (void)convert_peer_authentication(*o, nullptr, nullptr, MeshConfig{});
  }
}

std::string gateway(const std::string& addresses) {
  return str_cat(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: demo, labels: {istio.io/waypoint-for: all}}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
  addresses: )", addresses, "\n");
}

}  // namespace

TEST_CASE("GHSA-7p2q-4xvg-vxc6: a waypoint addressed by IP is ingested, and its users still resolve it") {
  auto r = parse_yaml(kMeshYaml, "mesh.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  for (const auto& rej : r->rejections) FAIL(rej.to_string());
  REQUIRE(r->objects.size() == 8);  // with the waypoint's Service and a ready pod: it binds
  const auto& gw = r->objects[3]->as<Gateway>();
  REQUIRE(gw.addresses.size() == 1);
  CHECK(gw.addresses[0].type == "IPAddress");
  CHECK(gw.addresses[0].value == "10.96.0.10");
  AmbientIndex idx{MeshConfig{}};
  idx.resync(r->objects);
  auto res = idx.find(kAddressType, "demo/a.demo.svc.cluster.local");
  REQUIRE(res != nullptr);
  istio::workload::Address a;
  REQUIRE(a.ParseFromString(res->bytes));
  REQUIRE(a.service().has_waypoint());
  CHECK(a.service().waypoint().hostname().hostname() == "wp.demo.svc.cluster.local");
  ingest(r->objects);
}

TEST_CASE("GHSA-7p2q-4xvg-vxc6: malformed waypoint addresses are refused with the field named") {
  struct Case {
    const char* addresses;
    const char* why;
  };
  const Case cases[] = {
      {"[{type: IPAddress, value: 10.96.0.999}]", "spec.addresses[0].value: '10.96.0.999' is not an IP address"},
      {"[{value: not-an-ip}]", "spec.addresses[0].value: 'not-an-ip' is not an IP address"},
      {"[{type: IPAddress, value: \"10.96.0.10\\0evil\"}]", "spec.addresses[0].value: '10.96.0.10\\x00evil' is not an IP address"},
      {"[{type: IPAddress, value: 10.96.0.0/16}]", "is not an IP address"},
      {"[{type: IPAddress}]", "spec.addresses[0].value: required"},
      {"[{type: IPAddress, value: \"\"}]", "spec.addresses[0].value: must not be empty"},
      {"[{type: Hostname, value: \"-bad-.example\"}]", "spec.addresses[0].value: '-bad-.example' is not a DNS name"},
      {"[{type: Socket, value: 10.96.0.10}]", "spec.addresses[0].type: 'Socket' is not IPAddress, Hostname or NamedAddress"},
      {"[{type: IPAddress, value: 10.96.0.10, port: 1}]", "spec.addresses[0].port: unknown field"},
      {"10.96.0.10", "spec.addresses: want a list"},
      {"[10.96.0.10]", "spec.addresses[0]: want an object"},
      {"{value: 10.96.0.10}", "spec.addresses: want a list"},
      {"[{type: IPAddress, value: [10.96.0.10]}]", "spec.addresses[0].value: want a string"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.addresses);
    auto r = parse_yaml(gateway(c.addresses), "gw.yaml");
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->objects.empty());
    REQUIRE(r->rejections.size() == 1);
    CHECK_MESSAGE(r->rejections[0].reason.find(c.why) != std::string::npos, r->rejections[0].to_string());
    CHECK(r->rejections[0].kind == "Gateway");
    CHECK(r->rejections[0].name == "wp");
  }
}

TEST_CASE("GHSA-7p2q-4xvg-vxc6: use-waypoint labels that name an IP bind nothing and crash nothing") {
  // An IP is a valid label value and even a valid Gateway name; it must resolve like any other
  // name (here to nothing: no such Gateway), with the workload and service still served.
  for (const char* labels : {"{istio.io/use-waypoint: 10.96.0.10}",
                             "{istio.io/use-waypoint: wp, istio.io/use-waypoint-namespace: 10.0.0.1}",
                             "{istio.io/use-waypoint: \"\"}"}) {
    CAPTURE(labels);
    std::string yaml = str_cat(R"(apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: demo, labels: )", labels, R"(}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: demo, labels: )", labels, R"(}
spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}
)");
    auto r = parse_yaml(yaml, "t.yaml");
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    for (const auto& rej : r->rejections) FAIL(rej.to_string());
    AmbientIndex idx{MeshConfig{}};
    idx.resync(r->objects);
    auto res = idx.find(kAddressType, "demo/a.demo.svc.cluster.local");
    REQUIRE(res != nullptr);
    istio::workload::Address a;
    REQUIRE(a.ParseFromString(res->bytes));
    CHECK_FALSE(a.service().has_waypoint());
    ingest(r->objects);
  }
  // A Gateway whose *name* is an IP is a waypoint like any other.
  std::string yaml = str_cat(R"(apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: 10.96.0.10}}
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: demo}
spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: 10.96.0.10, namespace: demo}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
status: {addresses: [{type: Hostname, value: 10.96.0.10.demo.svc.cluster.local}]}
---
apiVersion: v1
kind: Pod
metadata: {name: wp-0, namespace: demo, labels: {gateway.networking.k8s.io/gateway-name: 10.96.0.10}}
status: {podIP: 10.0.0.9, conditions: [{type: Ready, status: "True"}]}
)");
  auto r = parse_yaml(yaml, "t.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  for (const auto& rej : r->rejections) FAIL(rej.to_string());
  AmbientIndex idx{MeshConfig{}};
  idx.resync(r->objects);
  istio::workload::Address a;
  REQUIRE(a.ParseFromString(idx.find(kAddressType, "demo/a.demo.svc.cluster.local")->bytes));
  CHECK(a.service().waypoint().hostname().hostname() == "10.96.0.10.demo.svc.cluster.local");
}

// A NUL in an IP field: inet_pton stops at it, so "10.0.0.1\0x" used to pass as 10.0.0.1.
TEST_CASE("GHSA-7p2q-4xvg-vxc6: IP fields with an embedded NUL are refused") {
  auto r = parse_yaml(R"(apiVersion: v1
kind: Pod
metadata: {name: a, namespace: demo}
status: {podIP: "10.0.0.1\0x"}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: pol, namespace: demo}
spec:
  rules: [{from: [{source: {ipBlocks: ["10.0.0.0\0/8"]}}]}]
)", "t.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->objects.empty());
  REQUIRE(r->rejections.size() == 2);
  CHECK_MESSAGE(r->rejections[0].reason.find("status.podIP: '10.0.0.1\\x00x' is not an IP address") != std::string::npos,
                r->rejections[0].to_string());
  CHECK_MESSAGE(r->rejections[1].reason.find("is not an IP address or CIDR") != std::string::npos,
                r->rejections[1].to_string());
  CHECK(valid_ip("10.0.0.1"));
  CHECK_FALSE(valid_ip(std::string_view("10.0.0.1\0x", 10)));
  CHECK_FALSE(validate_cidr(std::string_view("10.0.0.0/8\0", 11)).ok());
}

// The property: no mutation of valid config crashes the parser or what consumes its output.
// Under ASan/UBSan (the test build), "no crash" includes no memory error and no UB.
TEST_CASE("GHSA-7p2q-4xvg-vxc6: random mutations of valid config never crash parsing or ingestion") {
  const std::string base = kMeshYaml;
  // Fragments that tend to matter to a YAML or a config parser.
  const std::vector<std::string> tokens = {
      ":", "- ", "[", "]", "{", "}", ",", "\n", "  ", "&a ", "*a", "<<: *a", "!!binary ", "~", "null",
      "\"", "'", "#", "0", "-1", "65536", "99999999999999999999", "10.96.0.10", "::1", "1.2.3.4/33",
      "\"\\0\"", "\"\\u0000\"", "IPAddress", "Hostname", "addresses", "value", "type", "istio-waypoint",
      "istio.io/use-waypoint", "spiffe://", "*", "true", "yes", "\xff", "\xc3\x28", "---\n", "...\n",
      "kind: Gateway", "kind: List\nitems: ", "apiVersion: v1"};
  std::mt19937 rng(20261205);  // fixed: a failure replays exactly
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  constexpr int kIterations = 3000;
  int parsed = 0, refused_whole = 0, objects = 0, rejections = 0;
  for (int i = 0; i < kIterations; ++i) {
    std::string s = base;
    int edits = 1 + static_cast<int>(pick(4));
    for (int e = 0; e < edits; ++e) {
      size_t pos = pick(s.size() + 1);
      switch (pick(5)) {
        case 0:  // insert a token
          s.insert(pos, tokens[pick(tokens.size())]);
          break;
        case 1:  // delete a range
          s.erase(pos, pick(32));
          break;
        case 2:  // flip a byte
          if (pos < s.size()) s[pos] = static_cast<char>(s[pos] ^ (1 << pick(8)));
          break;
        case 3: {  // duplicate a range elsewhere
          size_t from = pick(s.size());
          std::string piece = s.substr(from, pick(64));
          s.insert(pos, piece);
          break;
        }
        default:  // replace a byte with a random one
          if (pos < s.size()) s[pos] = static_cast<char>(pick(256));
          break;
      }
    }
    CAPTURE(i);
    auto r = parse_yaml(s, "mutated.yaml");
    if (!r.ok()) {
      ++refused_whole;
      CHECK_FALSE(r.status().message().empty());
      continue;
    }
    ++parsed;
    objects += static_cast<int>(r->objects.size());
    rejections += static_cast<int>(r->rejections.size());
    for (const auto& rej : r->rejections) CHECK_FALSE(rej.reason.empty());
    ingest(r->objects);
  }
  // The mutations reached every outcome, or the property would be vacuous.
  CHECK(parsed > 0);
  CHECK(refused_whole > 0);
  CHECK(objects > 0);
  CHECK(rejections > 0);
  MESSAGE("parsed ", parsed, " (", objects, " objects, ", rejections, " rejections), refused ", refused_whole);
}
