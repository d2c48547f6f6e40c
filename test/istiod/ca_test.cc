// The CA service's signing rules, driven through CaService::issue with a real CertificateAuthority,
// a real Authenticator (node tokens + mesh client certificates) and the ambient index as the
// source of "which pods run on which node"; then one real CreateCertificate over TLS gRPC against
// a running istiod.
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/base/strings.h"
#include "common/crypto/ca.h"
#include "common/crypto/certificate.h"
#include "common/crypto/csr.h"
#include "common/crypto/private_key.h"
#include "common/crypto/trust.h"
#include "common/metrics/registry.h"
#include "istio/v1/auth/ca.grpc.pb.h"
#include "istiod/ambient/index.h"
#include "istiod/ca/ca_service.h"
#include "istiod/config/yaml_parser.h"
#include "istiod/security/authenticator.h"
#include "istiod/security/node_token.h"
#include "istiod/server.h"
#include "test/support/harness.h"
#include "test/support/root.h"

using namespace ambit;
using namespace ambit::istiod;
using namespace std::chrono_literals;
using istio::v1::auth::IstioCertificateRequest;

namespace {

const char* kPods = R"(
apiVersion: v1
kind: Pod
metadata: {name: sleep-1, namespace: demo}
spec: {nodeName: node1, serviceAccountName: sleep}
status: {phase: Running, podIP: 10.10.1.5}
---
apiVersion: v1
kind: Pod
metadata: {name: remote-1, namespace: demo}
spec: {nodeName: node2, serviceAccountName: remote}
status: {phase: Running, podIP: 10.10.2.5}
---
apiVersion: v1
kind: Pod
metadata: {name: done-1, namespace: demo}
spec: {nodeName: node1, serviceAccountName: batch}
status: {phase: Failed, podIP: 10.10.1.6}
)";

SpiffeId id(const std::string& s) {
  auto r = SpiffeId::parse(s);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}

std::vector<ObjectPtr> objs(const std::string& yaml) {
  auto r = parse_yaml(yaml, "pods.yaml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  REQUIRE(r->rejections.empty());
  return r->objects;
}

// Value of an unlabelled series in the Prometheus text exposition (-1 if absent).
double metric(const metrics::Registry& reg, const std::string& name) {
  std::string text = reg.expose();
  for (std::string_view line : split(text, '\n')) {
    if (line.substr(0, name.size() + 1) == name + " ") return std::stod(std::string(line.substr(name.size() + 1)));
  }
  return -1;
}

struct KeyAndCsr {
  crypto::PrivateKey key;
  std::string csr;
};

KeyAndCsr csr_for(const SpiffeId& who) {
  auto key = crypto::PrivateKey::generate_p256();
  REQUIRE(key.ok());
  auto csr = crypto::create_csr(*key, who);
  REQUIRE_MESSAGE(csr.ok(), csr.status().ToString());
  return {std::move(*key), std::move(*csr)};
}

IstioCertificateRequest request(const std::string& csr, int64_t ttl_s, const std::string& impersonate = "") {
  IstioCertificateRequest r;
  r.set_csr(csr);
  r.set_validity_duration(ttl_s);
  if (!impersonate.empty()) {
    (*r.mutable_metadata()->mutable_fields())["ImpersonatedIdentity"].set_string_value(impersonate);
  }
  return r;
}

struct Fixture {
  crypto::CertificateAuthority ca = [] {
    auto c = crypto::CertificateAuthority::create_root("cluster.local", std::chrono::hours(24 * 3650));
    REQUIRE(c.ok());
    return std::move(*c);
  }();
  security::NodeTokenIssuer tokens{std::string(security::NodeTokenIssuer::kKeyBytes, 'k')};
  std::shared_ptr<const crypto::TrustBundle> bundle = [this] {
    auto b = crypto::TrustBundle::from_pem(ca.root_pem(), "cluster.local");
    REQUIRE(b.ok());
    return *b;
  }();
  // As istiod's TLS port: anonymous callers are not allowed.
  security::Authenticator auth{tokens, bundle, "cluster.local", false};
  ambient::AmbientIndex index{ambient::MeshConfig{}};
  metrics::Registry reg;
  ca::CaService svc{&ca, &auth,
                    [this](const std::string& node, const std::string& ns, const std::string& sa) {
                      return index.node_runs(node, ns, sa);
                    },
                    &reg, ca::CaService::Options{}};

  Fixture() { index.resync(objs(kPods)); }

  security::CallCredentials node(const std::string& n) const {
    security::CallCredentials c;
    auto t = tokens.issue(n);
    REQUIRE(t.ok());
    c.bearer = *t;
    c.secure = true;
    return c;
  }
  // A caller presenting a mesh client certificate for `who` (as gRPC hands it over).
  security::CallCredentials client_cert(const SpiffeId& who) const {
    auto key = crypto::PrivateKey::generate_p256();
    REQUIRE(key.ok());
    auto chain = ca.sign_key(key->get(), who, 1h);
    REQUIRE(chain.ok());
    security::CallCredentials c;
    c.peer_cert_pem = (*chain)[0];
    c.secure = true;
    return c;
  }
};

// Parses and verifies an issued chain; returns the leaf.
crypto::Certificate check_chain(const Fixture& f, const std::vector<std::string>& chain, const SpiffeId& want,
                                const crypto::PrivateKey& key) {
  REQUIRE(chain.size() == 2);  // [leaf, root] for a root CA
  for (const auto& pem : chain) CHECK(pem.back() == '\n');
  CHECK(chain[1] == f.ca.root_pem());
  auto parsed = crypto::parse_pem_chain(chain[0] + chain[1]);
  REQUIRE(parsed.ok());
  const crypto::Certificate& leaf = (*parsed)[0];
  CHECK(leaf.uri_sans() == std::vector<std::string>{want.to_string()});
  CHECK(leaf.subject().empty());
  CHECK_FALSE(leaf.is_ca());
  auto verified = crypto::verify_chain(*parsed, *f.bundle, crypto::Purpose::kClient);
  REQUIRE_MESSAGE(verified.ok(), verified.status().ToString());
  CHECK(*verified == want);
  // The certificate is for the key that made the CSR.
  CHECK(X509_check_private_key(leaf.get(), key.get()) == 1);
  return leaf;
}

std::chrono::seconds lifetime(const crypto::Certificate& c) {
  return std::chrono::duration_cast<std::chrono::seconds>(c.not_after() - c.not_before());
}

}  // namespace

TEST_CASE("a node caller impersonating a pod on its node gets [leaf, root] for that identity, TTL honoured") {
  Fixture f;
  SpiffeId sleep = id("spiffe://cluster.local/ns/demo/sa/sleep");
  auto kc = csr_for(sleep);
  auto before = crypto::Clock::now();
  auto chain = f.svc.issue(f.node("node1"), request(kc.csr, 3600, sleep.to_string()));
  REQUIRE_MESSAGE(chain.ok(), chain.status().ToString());
  crypto::Certificate leaf = check_chain(f, *chain, sleep, kc.key);
  // NotBefore is backdated by the clock-skew grace; NotAfter is now + TTL.
  CHECK(lifetime(leaf) == 3600s + crypto::CertificateAuthority::kClockSkewGrace);
  CHECK(leaf.not_after() >= std::chrono::time_point_cast<std::chrono::seconds>(before) + 3600s);
  CHECK(leaf.not_after() <= crypto::Clock::now() + 3600s);
}

TEST_CASE("TTL: 0 or negative means the 24h default, the 90d maximum is allowed, above it is INVALID_ARGUMENT") {
  Fixture f;
  SpiffeId sleep = id("spiffe://cluster.local/ns/demo/sa/sleep");
  for (int64_t ttl : {0, -5}) {
    CAPTURE(ttl);
    auto kc = csr_for(sleep);
    auto chain = f.svc.issue(f.node("node1"), request(kc.csr, ttl, sleep.to_string()));
    REQUIRE_MESSAGE(chain.ok(), chain.status().ToString());
    CHECK(lifetime(check_chain(f, *chain, sleep, kc.key)) == 24h + crypto::CertificateAuthority::kClockSkewGrace);
  }
  auto kc = csr_for(sleep);
  auto max = f.svc.issue(f.node("node1"), request(kc.csr, 90 * 24 * 3600, sleep.to_string()));
  REQUIRE_MESSAGE(max.ok(), max.status().ToString());
  CHECK(lifetime(check_chain(f, *max, sleep, kc.key)) ==
        std::chrono::hours(90 * 24) + crypto::CertificateAuthority::kClockSkewGrace);

  auto too_long = f.svc.issue(f.node("node1"), request(kc.csr, 90 * 24 * 3600 + 1, sleep.to_string()));
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_MESSAGE(too_long.status().message().find("max") != absl::string_view::npos, too_long.status().ToString());
}

TEST_CASE("impersonation is refused for a pod on another node, naming node and service account") {
  Fixture f;
  SpiffeId remote = id("spiffe://cluster.local/ns/demo/sa/remote");
  auto kc = csr_for(remote);
  auto r = f.svc.issue(f.node("node1"), request(kc.csr, 3600, remote.to_string()));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kPermissionDenied);
  std::string msg(r.status().message());
  CHECK_MESSAGE(msg.find("node1") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("demo/remote") != std::string::npos, msg);
  // The same request from the right node succeeds: the refusal was about placement.
  auto ok = f.svc.issue(f.node("node2"), request(kc.csr, 3600, remote.to_string()));
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  check_chain(f, *ok, remote, kc.key);

  // A terminated (Failed) pod does not count as running on the node.
  SpiffeId batch = id("spiffe://cluster.local/ns/demo/sa/batch");
  auto kb = csr_for(batch);
  auto done = f.svc.issue(f.node("node1"), request(kb.csr, 3600, batch.to_string()));
  CHECK(done.status().code() == absl::StatusCode::kPermissionDenied);
  // Nor does a namespace/service account that runs nowhere, or another trust domain.
  SpiffeId other_td = id("spiffe://other.domain/ns/demo/sa/sleep");
  auto ko = csr_for(other_td);
  CHECK(f.svc.issue(f.node("node1"), request(ko.csr, 3600, other_td.to_string())).status().code() ==
        absl::StatusCode::kPermissionDenied);
}

TEST_CASE("pod placement follows the index: a pod that moves away takes the node's right with it") {
  Fixture f;
  SpiffeId sleep = id("spiffe://cluster.local/ns/demo/sa/sleep");
  auto kc = csr_for(sleep);
  REQUIRE(f.svc.issue(f.node("node1"), request(kc.csr, 3600, sleep.to_string())).ok());
  auto moved = objs(R"(
apiVersion: v1
kind: Pod
metadata: {name: sleep-1, namespace: demo}
spec: {nodeName: node3, serviceAccountName: sleep}
status: {phase: Running, podIP: 10.10.3.5}
)");
  f.index.apply({ConfigEvent{EventType::kUpdate, moved[0]}});
  CHECK(f.svc.issue(f.node("node1"), request(kc.csr, 3600, sleep.to_string())).status().code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(f.svc.issue(f.node("node3"), request(kc.csr, 3600, sleep.to_string())).ok());
}

TEST_CASE("a non-node caller (mesh client certificate) may not impersonate, but gets its own identity") {
  Fixture f;
  SpiffeId sleep = id("spiffe://cluster.local/ns/demo/sa/sleep");
  SpiffeId other = id("spiffe://cluster.local/ns/demo/sa/other");

  // A workload with a mesh certificate asks for a pod identity on node1: refused.
  auto kc = csr_for(sleep);
  auto r = f.svc.issue(f.client_cert(other), request(kc.csr, 3600, sleep.to_string()));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK_MESSAGE(r.status().message().find("not a trusted node account") != absl::string_view::npos,
                r.status().ToString());
  // Even a certificate *for* the ztunnel account is no node credential (it names no node).
  auto zt = f.svc.issue(f.client_cert(id("spiffe://cluster.local/ns/istio-system/sa/ztunnel")),
                        request(kc.csr, 3600, sleep.to_string()));
  CHECK(zt.status().code() == absl::StatusCode::kPermissionDenied);

  // Without impersonation it renews its own identity.
  auto ko = csr_for(other);
  auto own = f.svc.issue(f.client_cert(other), request(ko.csr, 3600));
  REQUIRE_MESSAGE(own.ok(), own.status().ToString());
  check_chain(f, *own, other, ko.key);
}

TEST_CASE("a node caller without impersonation gets the ztunnel identity") {
  Fixture f;
  SpiffeId zt = id("spiffe://cluster.local/ns/istio-system/sa/ztunnel");
  auto kc = csr_for(zt);
  auto chain = f.svc.issue(f.node("node1"), request(kc.csr, 600));
  REQUIRE_MESSAGE(chain.ok(), chain.status().ToString());
  check_chain(f, *chain, zt, kc.key);
}

TEST_CASE("the CSR's SAN must be the identity granted: PERMISSION_DENIED otherwise") {
  Fixture f;
  SpiffeId sleep = id("spiffe://cluster.local/ns/demo/sa/sleep");
  SpiffeId other = id("spiffe://cluster.local/ns/demo/sa/other");
  // Impersonating sleep with a CSR for other.
  auto kc = csr_for(other);
  auto r = f.svc.issue(f.node("node1"), request(kc.csr, 3600, sleep.to_string()));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK_MESSAGE(r.status().message().find(other.to_string()) != absl::string_view::npos, r.status().ToString());
  // A node caller asking for a pod identity without impersonating.
  auto ks = csr_for(sleep);
  CHECK(f.svc.issue(f.node("node1"), request(ks.csr, 3600)).status().code() == absl::StatusCode::kPermissionDenied);
  // A certificate caller asking for someone else.
  CHECK(f.svc.issue(f.client_cert(other), request(ks.csr, 3600)).status().code() ==
        absl::StatusCode::kPermissionDenied);
}

TEST_CASE("bad CSRs and bad metadata are INVALID_ARGUMENT") {
  Fixture f;
  SpiffeId sleep = id("spiffe://cluster.local/ns/demo/sa/sleep");
  for (const std::string& bad : {std::string("not a csr"), std::string(""),
                                 std::string("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"),
                                 f.ca.root_pem()}) {
    auto r = f.svc.issue(f.node("node1"), request(bad, 3600, sleep.to_string()));
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.status().code() == absl::StatusCode::kInvalidArgument, r.status().ToString());
  }
  auto kc = csr_for(sleep);
  CHECK(f.svc.issue(f.node("node1"), request(kc.csr, 3600, "not-a-spiffe-id")).status().code() ==
        absl::StatusCode::kInvalidArgument);
  IstioCertificateRequest num = request(kc.csr, 3600);
  (*num.mutable_metadata()->mutable_fields())["ImpersonatedIdentity"].set_number_value(1);
  CHECK(f.svc.issue(f.node("node1"), num).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("no credential, an anonymous caller or a bad token is UNAUTHENTICATED") {
  Fixture f;
  SpiffeId sleep = id("spiffe://cluster.local/ns/demo/sa/sleep");
  auto kc = csr_for(sleep);
  auto req = request(kc.csr, 3600, sleep.to_string());

  security::CallCredentials none;
  none.secure = true;
  CHECK(f.svc.issue(none, req).status().code() == absl::StatusCode::kUnauthenticated);

  // On a plaintext port that admits anonymous xDS, the CA still refuses anonymous callers.
  security::Authenticator lax{f.tokens, f.bundle, "cluster.local", true};
  metrics::Registry reg;
  ca::CaService lax_svc{&f.ca, &lax, [](auto&&...) { return true; }, &reg, ca::CaService::Options{}};
  CHECK(lax_svc.issue(security::CallCredentials{}, req).status().code() == absl::StatusCode::kUnauthenticated);

  auto good = f.tokens.issue("node1");
  REQUIRE(good.ok());
  security::NodeTokenIssuer other_key{std::string(security::NodeTokenIssuer::kKeyBytes, 'x')};
  std::string tampered = *good;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  std::string renamed = *good;  // the node name changed under the same MAC
  renamed.replace(renamed.find("node1"), 5, "node2");
  for (const std::string& bad : {std::string("garbage"), tampered, renamed, *other_key.issue("node1"), std::string()}) {
    CAPTURE(bad);
    security::CallCredentials c;
    c.bearer = bad;
    c.secure = true;
    auto r = f.svc.issue(c, req);
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.status().code() == absl::StatusCode::kUnauthenticated, r.status().ToString());
  }
  // A client certificate from another CA is no credential either.
  auto foreign = crypto::CertificateAuthority::create_root("cluster.local", 24h);
  REQUIRE(foreign.ok());
  auto fk = crypto::PrivateKey::generate_p256();
  REQUIRE(fk.ok());
  auto fchain = foreign->sign_key(fk->get(), sleep, 1h);
  REQUIRE(fchain.ok());
  security::CallCredentials fc;
  fc.peer_cert_pem = (*fchain)[0];
  fc.secure = true;
  CHECK(f.svc.issue(fc, request(kc.csr, 3600)).status().code() == absl::StatusCode::kUnauthenticated);
}

TEST_CASE("citadel_* counters move with each outcome") {
  Fixture f;
  auto m = [&](const char* n) { return metric(f.reg, n); };
  REQUIRE(m("citadel_server_csr_count") == 0);
  SpiffeId sleep = id("spiffe://cluster.local/ns/demo/sa/sleep");
  auto kc = csr_for(sleep);

  REQUIRE(f.svc.issue(f.node("node1"), request(kc.csr, 3600, sleep.to_string())).ok());
  CHECK(m("citadel_server_csr_count") == 1);
  CHECK(m("citadel_server_success_cert_issue_count") == 1);

  security::CallCredentials none;
  none.secure = true;
  (void)f.svc.issue(none, request(kc.csr, 3600));
  CHECK(m("citadel_server_authentication_failure_count") == 1);

  (void)f.svc.issue(f.node("node1"), request("junk", 3600));
  CHECK(m("citadel_server_csr_parsing_err_count") == 1);

  (void)f.svc.issue(f.node("node2"), request(kc.csr, 3600, sleep.to_string()));
  CHECK(m("citadel_server_authorization_failure_count") == 1);

  CHECK(m("citadel_server_csr_count") == 4);
  CHECK(m("citadel_server_success_cert_issue_count") == 1);
  CHECK(m("citadel_server_csr_sign_err_count") == 0);
  double expiry = m("citadel_server_root_cert_expiry_timestamp");
  CHECK(expiry == static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                          f.ca.root().not_after().time_since_epoch())
                                          .count()));
}

TEST_CASE("CreateCertificate over TLS gRPC against a running istiod") {
  test::Harness h;
  std::string config = h.work_dir() + "/config", ca_dir = h.work_dir() + "/ca";
  REQUIRE(::mkdir(config.c_str(), 0755) == 0);
  AMBIT_REQUIRE_OK(crypto::write_file_atomic(config + "/pods.yaml", kPods));
  IstiodOptions o;
  o.config_dir = config;
  o.ca_dir = ca_dir;
  o.grpc_address = "127.0.0.1:0";
  o.plaintext_address = "127.0.0.1:0";
  o.http_port = 0;
  auto istiod = Istiod::start(o);
  AMBIT_REQUIRE_OK(istiod);
  auto root = crypto::read_file(ca_dir + "/root-cert.pem");
  AMBIT_REQUIRE_OK(root);
  auto token = issue_node_token(ca_dir, "node1");
  AMBIT_REQUIRE_OK(token);

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = *root;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("istiod.istio-system.svc");
  auto channel = grpc::CreateCustomChannel(str_cat("127.0.0.1:", (*istiod)->grpc_port()), grpc::SslCredentials(ssl), args);
  auto stub = istio::v1::auth::IstioCertificateService::NewStub(channel);

  SpiffeId sleep = id("spiffe://cluster.local/ns/demo/sa/sleep");
  auto kc = csr_for(sleep);
  auto call = [&](const IstioCertificateRequest& req, const std::string& bearer,
                  istio::v1::auth::IstioCertificateResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    if (!bearer.empty()) ctx.AddMetadata("authorization", "Bearer " + bearer);
    return stub->CreateCertificate(&ctx, req, resp);
  };

  istio::v1::auth::IstioCertificateResponse resp;
  grpc::Status st = call(request(kc.csr, 3600, sleep.to_string()), *token, &resp);
  REQUIRE_MESSAGE(st.ok(), st.error_code(), ": ", st.error_message());
  REQUIRE(resp.cert_chain_size() == 2);
  CHECK(resp.cert_chain(1) == *root);
  auto chain = crypto::parse_pem_chain(resp.cert_chain(0) + resp.cert_chain(1));
  REQUIRE(chain.ok());
  auto bundle = crypto::TrustBundle::from_pem(*root, "cluster.local");
  REQUIRE(bundle.ok());
  auto verified = crypto::verify_chain(*chain, **bundle, crypto::Purpose::kServer);
  REQUIRE_MESSAGE(verified.ok(), verified.status().ToString());
  CHECK(*verified == sleep);
  CHECK(X509_check_private_key((*chain)[0].get(), kc.key.get()) == 1);

  // The status codes survive the wire.
  istio::v1::auth::IstioCertificateResponse none;
  CHECK(call(request(kc.csr, 3600, sleep.to_string()), "", &none).error_code() == grpc::StatusCode::UNAUTHENTICATED);
  auto other_node = issue_node_token(ca_dir, "node2");
  REQUIRE(other_node.ok());
  st = call(request(kc.csr, 3600, sleep.to_string()), *other_node, &none);
  CHECK(st.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK_MESSAGE(st.error_message().find("node2") != std::string::npos, st.error_message());
  CHECK(call(request(kc.csr, 91 * 24 * 3600, sleep.to_string()), *token, &none).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(none.cert_chain_size() == 0);

  // A workload renewing over mTLS with its mesh certificate (no token): its own identity only.
  auto mesh_ca = crypto::CertificateAuthority::load_dir(ca_dir);
  REQUIRE(mesh_ca.ok());
  SpiffeId other = id("spiffe://cluster.local/ns/demo/sa/other");
  auto client_key = crypto::PrivateKey::generate_p256();
  REQUIRE(client_key.ok());
  auto client_chain = mesh_ca->sign_key(client_key->get(), other, 1h);
  REQUIRE(client_chain.ok());
  grpc::SslCredentialsOptions mtls = ssl;
  mtls.pem_private_key = client_key->to_pem();
  mtls.pem_cert_chain = (*client_chain)[0];
  auto mtls_stub = istio::v1::auth::IstioCertificateService::NewStub(grpc::CreateCustomChannel(
      str_cat("127.0.0.1:", (*istiod)->grpc_port()), grpc::SslCredentials(mtls), args));
  auto ko = csr_for(other);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    istio::v1::auth::IstioCertificateResponse own;
    st = mtls_stub->CreateCertificate(&ctx, request(ko.csr, 3600), &own);
    REQUIRE_MESSAGE(st.ok(), st.error_code(), ": ", st.error_message());
    REQUIRE(own.cert_chain_size() == 2);
    auto c = crypto::Certificate::from_pem(own.cert_chain(0));
    REQUIRE(c.ok());
    CHECK(c->uri_sans() == std::vector<std::string>{other.to_string()});
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    istio::v1::auth::IstioCertificateResponse denied;
    st = mtls_stub->CreateCertificate(&ctx, request(kc.csr, 3600, sleep.to_string()), &denied);
    CHECK(st.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  }
  (*istiod)->shutdown();
}
