// Pod service-account tokens at istiod: the Authenticator binds a token to a pod in the ambient
// index (exists, same uid, not terminated, same service account, call from the pod's address),
// as a TokenReview with pod binding does in Kubernetes; the CA then grants exactly the pod's own
// identity. Every refusal is UNAUTHENTICATED (or PERMISSION_DENIED at the CA) with the reason.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/crypto/ca.h"
#include "common/crypto/csr.h"
#include "common/crypto/private_key.h"
#include "common/crypto/trust.h"
#include "common/identity/sa_token.h"
#include "common/metrics/registry.h"
#include "istio/v1/auth/ca.grpc.pb.h"
#include "istiod/ambient/index.h"
#include "istiod/ca/ca_service.h"
#include "istiod/config/yaml_parser.h"
#include "istiod/security/authenticator.h"

using namespace ambit;
using namespace ambit::istiod;
using namespace std::chrono_literals;
using identity::PodClaims;
using identity::ServiceAccountTokens;

namespace {

const char* kPods = R"(
apiVersion: v1
kind: Pod
metadata: {name: alice, namespace: demo, uid: uid-alice}
spec: {nodeName: node1, serviceAccountName: alice}
status: {phase: Running, podIP: 10.40.1.5}
---
apiVersion: v1
kind: Pod
metadata: {name: bob, namespace: demo, uid: uid-bob}
spec: {nodeName: node2, serviceAccountName: bob}
status: {phase: Running, podIPs: [{ip: 10.40.2.7}, {ip: "fd00::2:7"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: done, namespace: demo, uid: uid-done}
spec: {nodeName: node1, serviceAccountName: batch}
status: {phase: Succeeded, podIP: 10.40.1.9}
---
apiVersion: v1
kind: Pod
metadata: {name: failed, namespace: demo, uid: uid-failed}
spec: {nodeName: node1, serviceAccountName: batch}
status: {phase: Failed, podIP: 10.40.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: pending, namespace: demo, uid: uid-pending}
spec: {serviceAccountName: late}
status: {phase: Pending}
)";

std::vector<ObjectPtr> objs(const std::string& yaml) {
  auto r = parse_yaml(yaml, "pods.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  REQUIRE(r->rejections.empty());
  return r->objects;
}

ServiceAccountTokens key(char fill) {
  return *ServiceAccountTokens::from_key(std::string(ServiceAccountTokens::kKeyBytes, fill));
}

struct Fixture {
  crypto::CertificateAuthority ca = *crypto::CertificateAuthority::create_root("cluster.local", 24h * 3650);
  std::shared_ptr<const crypto::TrustBundle> bundle = *crypto::TrustBundle::from_pem(ca.root_pem(), "cluster.local");
  ambient::AmbientIndex index{ambient::MeshConfig{}};
  ServiceAccountTokens keys = key('s');
  // As istiod wires it (istiod/server.cc): the index's view of pods.
  security::Authenticator auth{
      security::NodeTokenIssuer{std::string(security::NodeTokenIssuer::kKeyBytes, 'k')}, bundle, "cluster.local",
      false, security::PodTokens{keys, [this](const std::string& ns, const std::string& name)
                                            -> std::optional<security::PodView> {
                                   auto b = index.pod_binding(ns, name);
                                   if (!b) return std::nullopt;
                                   return security::PodView{b->uid, b->service_account, b->phase, b->ips};
                                 }}};
  metrics::Registry reg;
  ca::CaService svc{&ca, &auth, [](const std::string&, const std::string&, const std::string&) { return true; }, &reg,
                    ca::CaService::Options{}};

  Fixture() { index.resync(objs(kPods)); }

  std::string token(const PodClaims& c, const ServiceAccountTokens* with = nullptr) const {
    auto t = (with ? *with : keys).issue(c);
    REQUIRE_MESSAGE(t.ok(), t.status().ToString());
    return *t;
  }
  static security::CallCredentials call(const std::string& bearer, const std::string& peer) {
    security::CallCredentials c;
    c.bearer = bearer;
    c.secure = true;
    c.peer = peer;
    return c;
  }
};

const PodClaims kAlice{"demo", "alice", "uid-alice", "alice"};

istio::v1::auth::IstioCertificateRequest csr_request(const SpiffeId& who, const std::string& impersonate = "") {
  auto k = crypto::PrivateKey::generate_p256();
  REQUIRE(k.ok());
  auto csr = crypto::create_csr(*k, who);
  REQUIRE(csr.ok());
  istio::v1::auth::IstioCertificateRequest r;
  r.set_csr(*csr);
  r.set_validity_duration(3600);
  if (!impersonate.empty()) (*r.mutable_metadata()->mutable_fields())["ImpersonatedIdentity"].set_string_value(impersonate);
  return r;
}

}  // namespace

TEST_CASE("pod token: the pod, calling from its own address, is its service account") {
  Fixture f;
  struct Case {
    PodClaims claims;
    std::string peer;
    std::string want;
  } cases[] = {
      {kAlice, "ipv4:10.40.1.5:41000", "spiffe://cluster.local/ns/demo/sa/alice"},
      {{"demo", "bob", "uid-bob", "bob"}, "ipv4:10.40.2.7:41000", "spiffe://cluster.local/ns/demo/sa/bob"},
      // Any of the pod's addresses, in gRPC's IPv6 peer spellings.
      {{"demo", "bob", "uid-bob", "bob"}, "ipv6:[fd00::2:7]:41000", "spiffe://cluster.local/ns/demo/sa/bob"},
      {{"demo", "bob", "uid-bob", "bob"}, "ipv6:%5Bfd00::2:7%5D:41000", "spiffe://cluster.local/ns/demo/sa/bob"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.peer);
    auto caller = f.auth.authenticate(Fixture::call(f.token(c.claims), c.peer));
    REQUIRE_MESSAGE(caller.ok(), caller.status().ToString());
    CHECK(caller->identity.to_string() == c.want);
    CHECK(caller->method == "pod-token");
    CHECK(caller->node.empty());  // never a node: it may not impersonate
  }
}

TEST_CASE("pod token: forged, wrong-pod, wrong-SA, re-created, deleted, terminated and stolen tokens are UNAUTHENTICATED") {
  Fixture f;
  ServiceAccountTokens other = key('x');
  std::string alice = f.token(kAlice);
  std::string good_peer = "ipv4:10.40.1.5:41000";
  struct Case {
    const char* what;
    std::string token;
    std::string peer;
    const char* why;
  } cases[] = {
      {"forged: another key", f.token(kAlice, &other), good_peer, "bad signature"},
      {"forged: claims edited", "ambit-sa.v1.demo/alice/uid-alice/admin" + alice.substr(alice.rfind('.')), good_peer,
       "bad signature"},
      {"wrong pod: no such pod", f.token({"demo", "carol", "uid-carol", "alice"}), good_peer,
       "pod token for demo/carol rejected: no such pod"},
      {"wrong pod: another namespace", f.token({"prod", "alice", "uid-alice", "alice"}), good_peer,
       "pod token for prod/alice rejected: no such pod"},
      {"wrong SA", f.token({"demo", "alice", "uid-alice", "admin"}), good_peer,
       "it names service account admin but the pod runs as alice"},
      {"re-created pod (old uid)", f.token({"demo", "alice", "uid-old", "alice"}), good_peer,
       "issued to pod uid uid-old but the pod now has uid uid-alice"},
      {"terminated: Succeeded", f.token({"demo", "done", "uid-done", "batch"}), "ipv4:10.40.1.9:1",
       "the pod is terminated (phase Succeeded)"},
      {"terminated: Failed", f.token({"demo", "failed", "uid-failed", "batch"}), "ipv4:10.40.1.10:1",
       "the pod is terminated (phase Failed)"},
      {"stolen: used from another pod", alice, "ipv4:10.40.2.7:41000",
       "presented from 10.40.2.7, which is not the pod's address (10.40.1.5)"},
      {"stolen: used from istiod's host", alice, "ipv4:127.0.0.1:41000", "presented from 127.0.0.1"},
      {"no address: Unix socket", alice, "unix:/run/istiod.sock", "the caller's address is unknown"},
      {"pod without an address yet", f.token({"demo", "pending", "uid-pending", "late"}), "ipv4:10.40.1.11:1",
       "not the pod's address (none yet)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto r = f.auth.authenticate(Fixture::call(c.token, c.peer));
    REQUIRE_FALSE(r.ok());
    CHECK(absl::IsUnauthenticated(r.status()));
    CHECK_MESSAGE(r.status().message().find(c.why) != std::string_view::npos, r.status().ToString());
  }
}

TEST_CASE("pod token: deleting the pod revokes its token") {
  Fixture f;
  std::string alice = f.token(kAlice);
  auto call = Fixture::call(alice, "ipv4:10.40.1.5:41000");
  REQUIRE(f.auth.authenticate(call).ok());
  auto pods = objs(kPods);
  f.index.apply({ConfigEvent{EventType::kDelete, pods[0]}});
  auto r = f.auth.authenticate(call);
  REQUIRE_FALSE(r.ok());
  CHECK(absl::IsUnauthenticated(r.status()));
  CHECK(r.status().message().find("pod token for demo/alice rejected: no such pod") != std::string_view::npos);
  // Re-created under the same name (new uid, as the supervisor does): the old token stays dead.
  f.index.apply({ConfigEvent{EventType::kAdd, objs(R"(
apiVersion: v1
kind: Pod
metadata: {name: alice, namespace: demo, uid: uid-alice-2}
spec: {nodeName: node1, serviceAccountName: alice}
status: {phase: Running, podIP: 10.40.1.5}
)")[0]}});
  r = f.auth.authenticate(call);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("now has uid uid-alice-2") != std::string_view::npos);
  CHECK(f.auth.authenticate(Fixture::call(f.token({"demo", "alice", "uid-alice-2", "alice"}), "ipv4:10.40.1.5:1")).ok());
}

TEST_CASE("pod token: an istiod without the key refuses pod tokens, node tokens are unaffected") {
  Fixture f;
  security::NodeTokenIssuer nodes{std::string(security::NodeTokenIssuer::kKeyBytes, 'k')};
  security::Authenticator no_pods{nodes, f.bundle, "cluster.local", false};
  auto r = no_pods.authenticate(Fixture::call(f.token(kAlice), "ipv4:10.40.1.5:1"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("pod service-account tokens are not accepted by this istiod") != std::string_view::npos);
  // Node tokens still go the node way, in both authenticators.
  for (const security::Authenticator* a : {&no_pods, &f.auth}) {
    auto n = a->authenticate(Fixture::call(*nodes.issue("node1"), "ipv4:10.40.1.1:1"));
    REQUIRE_MESSAGE(n.ok(), n.status().ToString());
    CHECK(n->method == "node-token");
  }
  // Over plaintext from another host a pod token is refused before it is even checked.
  auto plain = Fixture::call(f.token(kAlice), "ipv4:10.40.1.5:1");
  plain.secure = false;
  auto p = f.auth.authenticate(plain);
  REQUIRE_FALSE(p.ok());
  CHECK(p.status().message().find("plaintext") != std::string_view::npos);
}

TEST_CASE("CA: a pod token gets exactly the pod's own identity") {
  Fixture f;
  SpiffeId alice = *SpiffeId::parse("spiffe://cluster.local/ns/demo/sa/alice");
  auto call = Fixture::call(f.token(kAlice), "ipv4:10.40.1.5:41000");
  auto chain = f.svc.issue(call, csr_request(alice));
  REQUIRE_MESSAGE(chain.ok(), chain.status().ToString());
  auto leaf = crypto::Certificate::from_pem((*chain)[0]);
  REQUIRE(leaf.ok());
  CHECK(leaf->uri_sans() == std::vector<std::string>{alice.to_string()});

  // Another identity in the CSR: PERMISSION_DENIED naming both.
  auto other = f.svc.issue(call, csr_request(*SpiffeId::parse("spiffe://cluster.local/ns/demo/sa/bob")));
  REQUIRE_FALSE(other.ok());
  CHECK(absl::IsPermissionDenied(other.status()));
  CHECK(other.status().message().find("may only get spiffe://cluster.local/ns/demo/sa/alice") != std::string_view::npos);

  // A pod is not a node: ImpersonatedIdentity is refused even for its own node's pods.
  SpiffeId bob = *SpiffeId::parse("spiffe://cluster.local/ns/demo/sa/bob");
  auto imp = f.svc.issue(call, csr_request(bob, bob.to_string()));
  REQUIRE_FALSE(imp.ok());
  CHECK(absl::IsPermissionDenied(imp.status()));
  CHECK(imp.status().message().find("is not a trusted node account") != std::string_view::npos);

  // A refused token: UNAUTHENTICATED at the CA too.
  auto stolen = f.svc.issue(Fixture::call(f.token(kAlice), "ipv4:10.40.2.7:1"), csr_request(alice));
  REQUIRE_FALSE(stolen.ok());
  CHECK(absl::IsUnauthenticated(stolen.status()));
}
