// AuthorizationPolicy / PeerAuthentication → istio.security.Authorization, one case per rule of
// istio/istio pilot/pkg/serviceregistry/ambient/{authorization,policies,workloads}.go.
// Each case is "YAML in, exact protobuf out".
#include "istiod/ambient/authorization.h"

#include <doctest/doctest.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>

#include "common/base/strings.h"
#include "istiod/config/yaml_parser.h"

using namespace ambit;
using namespace ambit::istiod;
using namespace ambit::istiod::ambient;
namespace sec = istio::security;

namespace {

const MeshConfig kMesh;  // root namespace istio-system
using Names = std::vector<std::string>;
const char* kStatic = "istio-system/istio_converted_static_strict";
const char* kConvertedW = "ns1/converted_peer_authentication_w";
const char* kSelectA = "spec:\n  selector:\n    matchLabels: {app: a}\n";

std::vector<ObjectPtr> parse(std::string_view yaml) {
  auto r = parse_yaml(yaml, "test.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  for (const auto& rej : r->rejections) FAIL(rej.to_string());
  return r->objects;
}

// Borrowed pointers, as the functions under test take them; the objects live until exit.
std::vector<const ConfigObject*> ptrs(std::string_view yaml) {
  static std::vector<ObjectPtr> keep;
  std::vector<const ConfigObject*> out;
  for (auto& o : parse(yaml)) {
    out.push_back(o.get());
    keep.push_back(o);
  }
  return out;
}

const ConfigObject& one(std::string_view yaml) {
  auto objs = ptrs(yaml);
  REQUIRE(objs.size() == 1);
  return *objs[0];
}

// A document of `kind` named `name` in `ns`; `rest` starts at column 0 ("spec:\n  ...").
std::string doc(std::string_view kind, std::string_view name, std::string_view ns,
                std::string_view rest) {
  return str_cat("apiVersion: security.istio.io/v1\nkind: ", kind, "\nmetadata:\n  name: ", name,
                 "\n  namespace: ", ns, "\n", rest, "\n---\n");
}
std::string ap(std::string_view ns, std::string_view rest) {
  return doc("AuthorizationPolicy", "pol", ns, rest);
}
std::string pa(std::string_view name, std::string_view ns, std::string_view rest) {
  return doc("PeerAuthentication", name, ns, rest);
}

void expect_proto(const std::optional<sec::Authorization>& got, std::string_view want_text) {
  REQUIRE_MESSAGE(got.has_value(), "expected a policy, got none");
  sec::Authorization want;
  REQUIRE_MESSAGE(google::protobuf::TextFormat::ParseFromString(std::string(want_text), &want),
                  want_text);
  bool equal = google::protobuf::util::MessageDifferencer::Equals(*got, want);
  CHECK_MESSAGE(equal, "got:\n" << got->DebugString() << "want:\n" << want.DebugString());
}

std::optional<sec::Authorization> convert(std::string_view yaml, std::string* status = nullptr,
                                          AuthorizationOptions opts = {}) {
  return convert_authorization_policy(one(yaml), kMesh, opts, status);
}

}  // namespace

// ---- AuthorizationPolicy: scope and action ---------------------------------------------------

TEST_CASE("scope: GLOBAL in the root ns, NAMESPACE elsewhere, WORKLOAD_SELECTOR with a selector") {
  expect_proto(
      convert(ap("istio-system", "spec:\n  rules: [{}]")),
      R"txt(name: "pol" namespace: "istio-system" scope: GLOBAL action: ALLOW rules {})txt");
  expect_proto(convert(ap("ns1", "spec:\n  rules: [{}]")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE rules {})txt");
  expect_proto(convert(ap("ns1", str_cat(kSelectA, "  rules: [{}]"))),
               R"txt(name: "pol" namespace: "ns1" scope: WORKLOAD_SELECTOR rules {})txt");
  expect_proto(convert(ap("istio-system", str_cat(kSelectA, "  rules: [{}]"))),
               R"txt(name: "pol" namespace: "istio-system" scope: WORKLOAD_SELECTOR rules {})txt");
  // An empty selector is still a selector (and attaches to no workload, see below).
  expect_proto(convert(ap("ns1", "spec:\n  selector: {}\n  rules: [{}]")),
               R"txt(name: "pol" namespace: "ns1" scope: WORKLOAD_SELECTOR rules {})txt");
}

TEST_CASE("action: ALLOW and DENY") {
  expect_proto(convert(ap("ns1", "spec:\n  action: ALLOW\n  rules: [{}]")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE action: ALLOW rules {})txt");
  expect_proto(convert(ap("ns1", "spec:\n  action: DENY\n  rules: [{}]")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE action: DENY rules {})txt");
}

TEST_CASE("empty spec: an ALLOW policy without rules (denies all at ztunnel)") {
  expect_proto(convert(ap("ns1", "spec: {}")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE action: ALLOW)txt");
  expect_proto(convert(ap("ns1", "spec:\n  action: DENY")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE action: DENY)txt");
}

TEST_CASE("rules: [{}] is one rule without clauses (matches everything)") {
  expect_proto(convert(ap("ns1", "spec:\n  rules:\n  - {}\n  - {}")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE rules {} rules {})txt");
}

// ---- AuthorizationPolicy: skipped -------------------------------------------------------------

TEST_CASE("targetRef and targetRefs policies are for waypoints, not ztunnel") {
  std::string status = "x";
  CHECK_FALSE(convert(ap("ns1", "spec:\n  targetRefs: [{kind: Service, name: svc}]\n  rules: [{}]"),
                      &status));
  CHECK(status.empty());
  CHECK_FALSE(convert(ap("ns1", R"(spec:
  targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}
  action: DENY)")));
}

TEST_CASE("CUSTOM and AUDIT are not sent, with istiod's status message") {
  std::string status;
  CHECK_FALSE(convert(ap("ns1", "spec:\n  action: AUDIT\n  rules: [{}]"), &status));
  CHECK(status == "ztunnel does not support the AUDIT action");
  CHECK_FALSE(convert(ap("ns1", "spec:\n  action: CUSTOM\n  provider: {name: ext}\n  rules: [{}]"),
                      &status));
  CHECK(status == "ztunnel does not support the CUSTOM action");
}

TEST_CASE("dry-run: not sent unless enabled, then sent with dry_run") {
  std::string yaml = R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: pol
  namespace: ns1
  annotations: {istio.io/dry-run: "true"}
spec:
  action: DENY
  rules: [{}])";
  std::string status;
  CHECK_FALSE(convert(yaml, &status));
  CHECK(status ==
        "found policy \"ns1/pol\" using dry-run annotation, but support for ambient dry-run "
        "authorizationPolicies isn't enabled");
  expect_proto(convert(yaml, &status, {.enable_dry_run = true}),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE action: DENY dry_run: true
                    rules {})txt");
  // strconv.ParseBool failure: not a dry run.
  yaml.replace(yaml.find("\"true\""), 6, "\"yes\"");
  expect_proto(convert(yaml),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE action: DENY rules {})txt");
}

// ---- AuthorizationPolicy: L4 attributes --------------------------------------------------------

TEST_CASE("principals: * is presence, *x suffix, x* prefix, otherwise exact, passed as written") {
  expect_proto(convert(ap("ns1", R"(spec:
  rules:
  - from:
    - source:
        principals: ["*", "cluster.local/ns/a/sa/b", "*/sa/b", "cluster.local/ns/a/*"]
        notPrincipals: ["*/ns/c/*", "spiffe://cluster.local/ns/d/sa/e"])")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE
                    rules { clauses { matches {
                      principals { presence {} }
                      principals { exact: "cluster.local/ns/a/sa/b" }
                      principals { suffix: "/sa/b" }
                      principals { prefix: "cluster.local/ns/a/" }
                      not_principals { suffix: "/ns/c/*" }
                      not_principals { exact: "spiffe://cluster.local/ns/d/sa/e" }
                    } } })txt");
}

TEST_CASE("namespaces and notNamespaces") {
  expect_proto(convert(ap("ns1", R"(spec:
  rules:
  - from:
    - source: {namespaces: ["foo", "bar-*"], notNamespaces: ["*-test"]})")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE
                    rules { clauses { matches {
                      namespaces { exact: "foo" } namespaces { prefix: "bar-" }
                      not_namespaces { suffix: "-test" }
                    } } })txt");
}

TEST_CASE("ipBlocks v4: raw bytes, prefix length as written (address not masked), /32 for a host") {
  expect_proto(convert(ap("ns1", R"(spec:
  rules:
  - from:
    - source: {ipBlocks: ["10.0.0.0/8", "192.168.1.7"], notIpBlocks: ["10.1.2.3/16"]})")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE
                    rules { clauses { matches {
                      source_ips { address: "\x0a\x00\x00\x00" length: 8 }
                      source_ips { address: "\xc0\xa8\x01\x07" length: 32 }
                      not_source_ips { address: "\x0a\x01\x02\x03" length: 16 }
                    } } })txt");
}

TEST_CASE("ipBlocks v6: 16 bytes, /128 for a host, IPv4-mapped stays 16 bytes") {
  expect_proto(convert(ap("ns1", R"(spec:
  rules:
  - from:
    - source: {ipBlocks: ["2001:db8::/32", "::1"], notIpBlocks: ["::ffff:10.0.0.1"]})")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE
                    rules { clauses { matches {
                      source_ips { address: "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\0" length: 32 }
                      source_ips { address: "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" length: 128 }
                      not_source_ips { address: "\0\0\0\0\0\0\0\0\0\0\xff\xff\x0a\0\0\x01"
                                       length: 128 }
                    } } })txt");
}

TEST_CASE("serviceAccounts: bare names are in the policy's namespace") {
  expect_proto(convert(ap("ns1", R"(spec:
  rules:
  - from:
    - source: {serviceAccounts: ["sleep", "other/client"], notServiceAccounts: ["bad"]})")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE
                    rules { clauses { matches {
                      service_accounts { namespace: "ns1" serviceAccount: "sleep" }
                      service_accounts { namespace: "other" serviceAccount: "client" }
                      not_service_accounts { namespace: "ns1" serviceAccount: "bad" }
                    } } })txt");
}

TEST_CASE("ports and notPorts: one Match per operation, OR-ed in the `to` clause") {
  expect_proto(convert(ap("ns1", R"(spec:
  rules:
  - to:
    - operation: {ports: ["80", "8080"]}
    - operation: {notPorts: ["9090"]})")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE
                    rules { clauses {
                      matches { destination_ports: [80, 8080] }
                      matches { not_destination_ports: 9090 }
                    } })txt");
}

TEST_CASE("clause order is to, from, then one clause per when, each source is its own Match") {
  expect_proto(convert(ap("ns1", R"(spec:
  action: DENY
  rules:
  - from:
    - source: {namespaces: ["a"]}
    - source: {principals: ["cluster.local/ns/b/sa/c"]}
    to:
    - operation: {ports: ["443"]}
    when:
    - {key: destination.port, values: ["443"]}
  - from:
    - source: {notNamespaces: ["x"]})")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE action: DENY
                    rules {
                      clauses { matches { destination_ports: 443 } }
                      clauses {
                        matches { namespaces { exact: "a" } }
                        matches { principals { exact: "cluster.local/ns/b/sa/c" } }
                      }
                      clauses { matches { destination_ports: 443 } }
                    }
                    rules { clauses { matches { not_namespaces { exact: "x" } } } })txt");
}

TEST_CASE("when: each L4 key and its notValues") {
  expect_proto(convert(ap("ns1", R"(spec:
  rules:
  - when:
    - {key: source.ip, values: ["10.0.0.0/8"], notValues: ["10.1.0.0/16"]}
    - {key: source.namespace, values: ["foo*"], notValues: ["foo-test"]}
    - {key: source.principal, values: ["*"], notValues: ["cluster.local/ns/x/sa/y"]}
    - {key: destination.ip, values: ["fd00::1"], notValues: ["192.0.2.1"]}
    - {key: destination.port, values: ["8080"], notValues: ["9090"]})")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE
                    rules {
                      clauses { matches {
                        source_ips { address: "\x0a\0\0\0" length: 8 }
                        not_source_ips { address: "\x0a\x01\0\0" length: 16 }
                      } }
                      clauses { matches {
                        namespaces { prefix: "foo" } not_namespaces { exact: "foo-test" }
                      } }
                      clauses { matches {
                        principals { presence {} }
                        not_principals { exact: "cluster.local/ns/x/sa/y" }
                      } }
                      clauses { matches {
                        destination_ips { address: "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01"
                                          length: 128 }
                        not_destination_ips { address: "\xc0\x00\x02\x01" length: 32 }
                      } }
                      clauses { matches { destination_ports: 8080 not_destination_ports: 9090 } }
                    })txt");
}

// ---- AuthorizationPolicy: L7 attributes --------------------------------------------------------

TEST_CASE("ALLOW: a rule using L7 attributes is dropped, all-L7 allows nothing") {
  std::string status;
  expect_proto(convert(ap("ns1", R"(spec:
  rules:
  - to:
    - operation: {methods: ["GET"], ports: ["80"]}
  - from:
    - source: {requestPrincipals: ["iss/sub"]}
  - when:
    - {key: request.auth.presenter, values: ["x"]})"),
                       &status),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE action: ALLOW)txt");
  CHECK(status ==
        "ztunnel does not support HTTP attributes (found: methods, request.auth.presenter, "
        "requestPrincipals). In ambient mode you must use a waypoint proxy to enforce HTTP rules. "
        "Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more "
        "restrictive than requested.");
  // The L4 rules survive.
  expect_proto(convert(ap("ns1", R"(spec:
  rules:
  - to:
    - operation: {paths: ["/admin"]}
  - to:
    - operation: {ports: ["80"]})")),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE
                    rules { clauses { matches { destination_ports: 80 } } })txt");
}

TEST_CASE("DENY: L7 fields are dropped from their Match, the L4 rest stays (broader)") {
  std::string status;
  expect_proto(convert(ap("ns1", R"(spec:
  action: DENY
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/foo/sa/bar"], notRequestPrincipals: ["iss/sub"]}
    to:
    - operation: {ports: ["8080"], methods: ["POST"], hosts: ["a.example"]})"),
                       &status),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE action: DENY
                    rules {
                      clauses { matches { destination_ports: 8080 } }
                      clauses { matches { principals { exact: "cluster.local/ns/foo/sa/bar" } } }
                    })txt");
  CHECK(status ==
        "ztunnel does not support HTTP attributes (found: hosts, methods, notRequestPrincipals). "
        "In ambient mode you must use a waypoint proxy to enforce HTTP rules. DENY policy with "
        "HTTP attributes is enforced without the HTTP rules. This will be more restrictive than "
        "requested.");
}

TEST_CASE("DENY: a Match left empty by L7 removal keeps its clause, which ztunnel never matches") {
  std::string status;
  expect_proto(convert(ap("ns1", R"(spec:
  action: DENY
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/foo/sa/bar"]}
    when:
    - {key: "request.headers[x-token]", values: ["secret"]}
  - from:
    - source: {remoteIpBlocks: ["1.2.3.4"]})"),
                       &status),
               R"txt(name: "pol" namespace: "ns1" scope: NAMESPACE action: DENY
                    rules {
                      clauses { matches { principals { exact: "cluster.local/ns/foo/sa/bar" } } }
                      clauses { matches {} }
                    }
                    rules { clauses { matches {} } })txt");
  CHECK(status ==
        "ztunnel does not support HTTP attributes (found: remoteIpBlocks, "
        "request.headers[x-token]). In ambient mode you must use a waypoint proxy to enforce HTTP "
        "rules. After omitting unsupported HTTP attributes, this DENY policy has no enforceable "
        "rules at ztunnel and will have no effect. Deploy a waypoint proxy and use a targetRef to "
        "enforce this policy.");
}

// ---- PeerAuthentication ----------------------------------------------------------------------

TEST_CASE("static strict policy") {
  expect_proto(static_strict_policy(kMesh),
               R"txt(name: "istio_converted_static_strict" namespace: "istio-system"
                    scope: WORKLOAD_SELECTOR action: DENY
                    rules { clauses { matches { not_principals { presence {} } } } })txt");
}

namespace {

// A mesh-wide PeerAuthentication (istio-system/mesh), a namespace-wide one (ns1/ns-wide) and a
// selector one (ns1/w, selects app=a), each optional.
struct PaWorld {
  std::vector<const ConfigObject*> root, ns1;
  const ConfigObject* w = nullptr;
  std::optional<sec::Authorization> converted() const {
    REQUIRE(w != nullptr);
    return convert_peer_authentication(*w, namespace_peer_authentication(ns1),
                                       namespace_peer_authentication(root), kMesh);
  }
  Names names(const Labels& labels = {{"app", "a"}}) const {
    return peer_authentication_policy_names("ns1", labels, ns1, root, kMesh);
  }
};

// mesh / ns: "" for none, else an mTLS mode ("UNSET" leaves `mtls` out). workload: the YAML
// after the selector in ns1/w's spec, or "" for none.
PaWorld world(std::string_view mesh, std::string_view ns, std::string_view workload) {
  auto mode = [](std::string_view m) {
    return m == "UNSET" ? std::string("spec: {}") : str_cat("spec:\n  mtls: {mode: ", m, "}");
  };
  PaWorld w;
  if (!mesh.empty()) w.root = ptrs(pa("mesh", "istio-system", mode(mesh)));
  if (!ns.empty()) w.ns1 = ptrs(pa("ns-wide", "ns1", mode(ns)));
  if (!workload.empty()) {
    w.w = &one(pa("w", "ns1", str_cat(kSelectA, workload)));
    w.ns1.push_back(w.w);
  }
  return w;
}

}  // namespace

TEST_CASE("mesh and namespace PeerAuthentication: only the static policy, by effective mode") {
  CHECK(world("", "", "").names() == Names{});
  CHECK(world("STRICT", "", "").names() == Names{kStatic});
  CHECK(world("PERMISSIVE", "", "").names() == Names{});
  CHECK(world("DISABLE", "", "").names() == Names{});
  CHECK(world("STRICT", "PERMISSIVE", "").names() == Names{});
  CHECK(world("STRICT", "DISABLE", "").names() == Names{});
  CHECK(world("PERMISSIVE", "STRICT", "").names() == Names{kStatic});
  CHECK(world("", "STRICT", "").names() == Names{kStatic});
  CHECK(world("STRICT", "UNSET", "").names() == Names{kStatic});  // inherits
}

TEST_CASE("the oldest (first) policy of a level wins") {
  auto root = ptrs(pa("old", "istio-system", "spec:\n  mtls: {mode: PERMISSIVE}") +
                   pa("new", "istio-system", "spec:\n  mtls: {mode: STRICT}"));
  CHECK(peer_authentication_policy_names("ns1", {}, {}, root, kMesh) == Names{});
  std::reverse(root.begin(), root.end());
  CHECK(peer_authentication_policy_names("ns1", {}, {}, root, kMesh) == Names{kStatic});
  CHECK(namespace_peer_authentication(root)->meta.name == "new");
}

TEST_CASE("selector PeerAuthentication without ports: mode only, nothing converted") {
  CHECK(world("", "", "  mtls: {mode: STRICT}").names() == Names{kStatic});
  CHECK_FALSE(world("", "", "  mtls: {mode: STRICT}").converted());
  CHECK(world("", "STRICT", "  mtls: {mode: PERMISSIVE}").names() == Names{});
  CHECK(world("STRICT", "", "  mtls: {mode: DISABLE}").names() == Names{});
  CHECK(world("STRICT", "", "  mtls: {mode: UNSET}").names() == Names{kStatic});
  // Not selecting the workload: ignored.
  CHECK(world("", "", "  mtls: {mode: STRICT}").names({{"app", "b"}}) == Names{});
}

TEST_CASE("portLevelMtls: STRICT workload with a PERMISSIVE port is exempted on that port") {
  PaWorld w = world("", "", "  mtls: {mode: STRICT}\n  portLevelMtls: {8080: {mode: PERMISSIVE}}");
  expect_proto(w.converted(), R"txt(name: "converted_peer_authentication_w" namespace: "ns1"
                                   scope: WORKLOAD_SELECTOR action: DENY
                                   rules {
                                     clauses { matches { not_principals { presence {} } } }
                                     clauses { matches { not_destination_ports: 8080 } }
                                   })txt");
  CHECK(w.names() == Names{kConvertedW});
  // Under a STRICT namespace the parent's STRICT is merged in again.
  w = world("", "STRICT", "  mtls: {mode: STRICT}\n  portLevelMtls: {8080: {mode: DISABLE}}");
  expect_proto(w.converted(), R"txt(name: "converted_peer_authentication_w" namespace: "ns1"
                                   scope: WORKLOAD_SELECTOR action: DENY
                                   rules {
                                     clauses { matches { not_principals { presence {} } } }
                                     clauses { matches { not_destination_ports: 8080 } }
                                     clauses { matches { not_principals { presence {} } } }
                                   })txt");
  CHECK(w.names() == Names{kConvertedW});
}

TEST_CASE("portLevelMtls: STRICT with only STRICT ports is just the static policy") {
  PaWorld w = world("", "", "  mtls: {mode: STRICT}\n  portLevelMtls: {8080: {mode: STRICT}}");
  CHECK_FALSE(w.converted());
  CHECK(w.names() == Names{kStatic});
}

TEST_CASE("portLevelMtls: PERMISSIVE workload with a STRICT port gets a per-port rule") {
  PaWorld w = world("", "", "  mtls: {mode: PERMISSIVE}\n  portLevelMtls: {9090: {mode: STRICT}}");
  expect_proto(w.converted(), R"txt(name: "converted_peer_authentication_w" namespace: "ns1"
                                   scope: WORKLOAD_SELECTOR action: DENY
                                   rules { clauses { matches {
                                     not_principals { presence {} } destination_ports: 9090
                                   } } })txt");
  CHECK(w.names() == Names{kConvertedW});
  // PERMISSIVE/DISABLE ports under a non-STRICT mode change nothing.
  w = world("", "", "  mtls: {mode: DISABLE}\n  portLevelMtls: {9090: {mode: PERMISSIVE}}");
  CHECK_FALSE(w.converted());
  CHECK(w.names() == Names{});
}

TEST_CASE("portLevelMtls: UNSET workload mode follows the parents") {
  // STRICT port under a PERMISSIVE mesh.
  PaWorld w = world("PERMISSIVE", "", "  portLevelMtls: {9090: {mode: STRICT}}");
  expect_proto(w.converted(), R"txt(name: "converted_peer_authentication_w" namespace: "ns1"
                                   scope: WORKLOAD_SELECTOR action: DENY
                                   rules { clauses { matches {
                                     not_principals { presence {} } destination_ports: 9090
                                   } } })txt");
  CHECK(w.names() == Names{kConvertedW});
  // STRICT port under a STRICT namespace: already enforced.
  w = world("", "STRICT", "  portLevelMtls: {9090: {mode: STRICT}}");
  CHECK_FALSE(w.converted());
  CHECK(w.names() == Names{kStatic});
  // PERMISSIVE port under a STRICT mesh: exempted, with the mesh STRICT merged in.
  w = world("STRICT", "", "  portLevelMtls: {8080: {mode: PERMISSIVE}}");
  expect_proto(w.converted(), R"txt(name: "converted_peer_authentication_w" namespace: "ns1"
                                   scope: WORKLOAD_SELECTOR action: DENY
                                   rules {
                                     clauses { matches { not_destination_ports: 8080 } }
                                     clauses { matches { not_principals { presence {} } } }
                                   })txt");
  CHECK(w.names() == Names{kConvertedW});
  // PERMISSIVE port with no STRICT parent: nothing to do.
  w = world("", "", "  portLevelMtls: {8080: {mode: PERMISSIVE}}");
  CHECK_FALSE(w.converted());
  CHECK(w.names() == Names{});
}

TEST_CASE("portLevelMtls: several STRICT ports are OR-ed rules, in port order") {
  PaWorld w = world("", "", R"(  mtls: {mode: PERMISSIVE}
  portLevelMtls: {9091: {mode: STRICT}, 9090: {mode: STRICT}, 80: {mode: UNSET}})");
  expect_proto(w.converted(), R"txt(name: "converted_peer_authentication_w" namespace: "ns1"
                                   scope: WORKLOAD_SELECTOR action: DENY
                                   rules { clauses { matches {
                                     not_principals { presence {} } destination_ports: 9090 } } }
                                   rules { clauses { matches {
                                     not_principals { presence {} } destination_ports: 9091 } } }
                                   )txt");
}

TEST_CASE("portLevelMtls: upstream quirks are reproduced") {
  // A DISABLE port under an inherited STRICT: the converted policy is sent, but the workload
  // keeps the static STRICT policy (istiod only looks for PERMISSIVE ports there).
  PaWorld w = world("STRICT", "", "  portLevelMtls: {8080: {mode: DISABLE}}");
  CHECK(w.converted().has_value());
  CHECK(w.names() == Names{kStatic});
  // A PERMISSIVE workload's STRICT port under a STRICT mesh is skipped as "enforced by the
  // parent", so nothing is sent, yet the workload references the converted name.
  w = world("STRICT", "", "  mtls: {mode: PERMISSIVE}\n  portLevelMtls: {9090: {mode: STRICT}}");
  CHECK_FALSE(w.converted());
  CHECK(w.names() == Names{kConvertedW});
  // Same under an UNSET namespace policy: convertPeerAuthentication reads it as non-STRICT and
  // skips the PERMISSIVE port, while the workload inherits STRICT and references the name.
  w = world("STRICT", "UNSET", "  portLevelMtls: {8080: {mode: PERMISSIVE}}");
  CHECK_FALSE(w.converted());
  CHECK(w.names() == Names{kConvertedW});
}

TEST_CASE("PeerAuthentications istiod never converts") {
  // Root namespace, even with a selector and ports...
  const ConfigObject& root = one(pa("w", "istio-system", R"(spec:
  selector: {matchLabels: {app: a}}
  mtls: {mode: PERMISSIVE}
  portLevelMtls: {9090: {mode: STRICT}})"));
  CHECK_FALSE(convert_peer_authentication(root, nullptr, nullptr, kMesh));
  // ...and root-namespace selector policies apply to no workload, even in the root namespace.
  std::vector<const ConfigObject*> roots{&root};
  CHECK(peer_authentication_policy_names("ns1", {{"app", "a"}}, {}, roots, kMesh) == Names{});
  CHECK(peer_authentication_policy_names("istio-system", {{"app", "a"}}, roots, roots, kMesh) ==
        Names{});
  // No selector: namespace-wide, never converted.
  CHECK_FALSE(convert_peer_authentication(one(pa("n", "ns1", "spec:\n  mtls: {mode: STRICT}")),
                                          nullptr, nullptr, kMesh));
}

// ---- Workload.authorization_policies -----------------------------------------------------------

TEST_CASE("workload list: matching selector APs of its ns and the root, sorted, then PA names") {
  auto ap_doc = [](std::string_view name, std::string_view ns, std::string_view rest) {
    return doc("AuthorizationPolicy", name, ns, rest);
  };
  auto ns1_aps = ptrs(
      ap_doc("b-sel", "ns1", str_cat(kSelectA, "  rules: [{}]")) +
      ap_doc("a-sel", "ns1", str_cat(kSelectA, "  action: DENY")) +
      ap_doc("nosel", "ns1", "spec:\n  rules: [{}]") +                        // NAMESPACE
      ap_doc("other", "ns1", "spec:\n  selector: {matchLabels: {app: b}}") +  // no match
      ap_doc("expr", "ns1",
             "spec:\n  selector:\n    matchExpressions: [{key: app, operator: In, values: [a]}]") +
      ap_doc("empty-sel", "ns1", "spec:\n  selector: {}") +                     // attaches nowhere
      ap_doc("audit", "ns1", str_cat(kSelectA, "  action: AUDIT")) +            // not sent
      ap_doc("wp", "ns1", "spec:\n  targetRefs: [{kind: Service, name: s}]") +  // waypoint
      ap_doc("ns2-pol", "ns2", kSelectA));                                      // other namespace
  auto root_aps = ptrs(ap_doc("root-sel", "istio-system", kSelectA) +
                       ap_doc("root-global", "istio-system", "spec: {}"));
  auto root_pas = ptrs(pa("mesh", "istio-system", "spec:\n  mtls: {mode: STRICT}"));
  std::vector<const ConfigObject*> ns1_pas;
  Labels labels{{"app", "a"}, {"version", "v1"}};

  CHECK(
      workload_authorization_policies("ns1", labels, ns1_aps, root_aps, ns1_pas, root_pas, kMesh) ==
      Names{"istio-system/root-sel", "ns1/a-sel", "ns1/b-sel", "ns1/expr", kStatic});

  // A converted PeerAuthentication replaces the static name.
  ns1_pas = ptrs(pa("w", "ns1", str_cat(kSelectA, "  portLevelMtls: {8080: {mode: PERMISSIVE}}")));
  CHECK(
      workload_authorization_policies("ns1", labels, ns1_aps, root_aps, ns1_pas, root_pas, kMesh) ==
      Names{"istio-system/root-sel", "ns1/a-sel", "ns1/b-sel", "ns1/expr", kConvertedW});

  // Other labels: only the PeerAuthentication-derived name.
  CHECK(workload_authorization_policies("ns1", {{"app", "c"}}, ns1_aps, root_aps, ns1_pas, root_pas,
                                        kMesh) == Names{kStatic});

  // In the root namespace, the root lists are read once.
  Names in_root = workload_authorization_policies("istio-system", labels, root_aps, root_aps,
                                                  root_pas, root_pas, kMesh);
  CHECK(in_root == Names{"istio-system/root-sel", kStatic});
}

TEST_CASE("workload list: dry-run policies are listed only when dry-run is enabled") {
  auto aps = ptrs(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: dry
  namespace: ns1
  annotations: {istio.io/dry-run: "true"}
spec:
  selector: {matchLabels: {app: a}})");
  Labels labels{{"app", "a"}};
  CHECK(workload_authorization_policies("ns1", labels, aps, {}, {}, {}, kMesh) == Names{});
  CHECK(workload_authorization_policies("ns1", labels, aps, {}, {}, {}, kMesh,
                                        {.enable_dry_run = true}) == Names{"ns1/dry"});
}
