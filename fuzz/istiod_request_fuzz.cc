// libFuzzer target: istiod's request path on the wire bytes of its two RPCs. The input is parsed
// both as an `envoy.service.discovery.v3.DeltaDiscoveryRequest` (delta ADS) and as an
// `istio.v1.auth.IstioCertificateRequest` (CA); each that parses goes through istiod's pure
// handling. Invariants on every input:
//  - xDS: parse_node_id accepts only "<type>~<ip>~<pod>.<ns>~<domain>" with a known type, an IP
//    and a DNS-label namespace, and its parts rebuild the id; the type URL and the subscribed
//    names can be looked up in a fixed ambient index; the name-length bound either passes or
//    refuses with INVALID_ARGUMENT naming the field;
//  - CA: CaService::issue (a fixed in-memory root CA, node1's ztunnel presenting its node token,
//    and a workload presenting its mesh certificate; the CSR, TTL and ImpersonatedIdentity come
//    from the input) either refuses with INVALID_ARGUMENT or PERMISSION_DENIED and a reason, or
//    returns [leaf, root] whose leaf names an identity that caller may have, with a lifetime
//    within the 90 d maximum. Nothing else: the callers are authenticated, and a CSR that
//    parsed must sign.
#include <google/protobuf/stubs/logging.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/base/log.h"
#include "common/crypto/ca.h"
#include "common/crypto/certificate.h"
#include "common/crypto/private_key.h"
#include "common/crypto/trust.h"
#include "common/metrics/registry.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "istio/v1/auth/ca.pb.h"
#include "istiod/ambient/index.h"
#include "istiod/ca/ca_service.h"
#include "istiod/config/yaml_parser.h"
#include "istiod/security/authenticator.h"
#include "istiod/security/node_token.h"
#include "istiod/xds/ads_server.h"
#include "istiod/xds/node_id.h"
#include "istiod/xds/stream_limits.h"

namespace {

using namespace ambit;
using namespace ambit::istiod;

void require(bool ok) {
  if (!ok) std::abort();
}

template <typename T>
T must(absl::StatusOr<T> v) {
  require(v.ok());
  return std::move(*v);
}

constexpr const char* kPods = R"(
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata: {name: sleep-1, namespace: demo, labels: {app: sleep}}
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
kind: Service
metadata: {name: sleep, namespace: demo}
spec: {selector: {app: sleep}, clusterIP: 10.96.0.20, ports: [{port: 80, targetPort: 8080}]}
)";

// Everything istiod holds while serving, built once.
struct Istiod {
  crypto::CertificateAuthority ca =
      must(crypto::CertificateAuthority::create_root("cluster.local", std::chrono::hours(24 * 3650)));
  std::string root_pem = ca.root_pem();
  security::NodeTokenIssuer tokens{std::string(security::NodeTokenIssuer::kKeyBytes, 'k')};
  std::shared_ptr<const crypto::TrustBundle> bundle = must(crypto::TrustBundle::from_pem(root_pem, "cluster.local"));
  security::Authenticator auth{tokens, bundle, "cluster.local", false};
  ambient::AmbientIndex index{ambient::MeshConfig{}};
  metrics::Registry reg;
  ca::CaService svc{&ca, &auth,
                    [this](const std::string& node, const std::string& ns, const std::string& sa) {
                      return index.node_runs(node, ns, sa);
                    },
                    &reg, ca::CaService::Options{}};
  SpiffeId node_identity = auth.node_identity();
  SpiffeId sleep = must(SpiffeId::parse("spiffe://cluster.local/ns/demo/sa/sleep"));
  SpiffeId client = must(SpiffeId::parse("spiffe://cluster.local/ns/demo/sa/client"));
  security::CallCredentials node1;     // node1's ztunnel
  security::CallCredentials workload;  // demo/client with its mesh certificate

  Istiod() {
    auto objs = must(parse_yaml(kPods, "pods.yaml"));
    require(objs.rejections.empty());
    index.resync(objs.objects);
    node1.bearer = must(tokens.issue("node1"));
    node1.secure = true;
    auto key = must(crypto::PrivateKey::generate_p256());
    workload.peer_cert_pem = must(ca.sign_key(key.get(), client, std::chrono::hours(24 * 365)))[0];
    workload.secure = true;
  }
};

Istiod& server() {
  static Istiod* i = new Istiod();  // never destroyed: shared by every input
  return *i;
}

void check_node_id(const std::string& id) {
  auto n = xds::parse_node_id(id);
  if (!n.ok()) {
    require(n.status().code() == absl::StatusCode::kInvalidArgument && !n.status().message().empty());
    return;
  }
  require(n->raw == id);
  require(n->type == "ztunnel" || n->type == "waypoint" || n->type == "sidecar" || n->type == "router");
  require(valid_ip(n->ip));
  require(valid_dns1123_label(n->ns) && !n->pod_name.empty());
  require(n->type + "~" + n->ip + "~" + n->pod_name + "." + n->ns + "~" + n->domain == id);
}

void handle_xds(const envoy::service::discovery::v3::DeltaDiscoveryRequest& r) {
  const Istiod& i = server();
  // The length bound either passes or names a field, with INVALID_ARGUMENT.
  if (auto v = xds::check_name_lengths(r, xds::StreamLimits{})) {
    require(v->limit == "name_length" && v->status.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
            !v->status.error_message().empty());
  }
  check_node_id(r.node().id());
  require(!xds::metric_type(r.type_url()).empty() || r.type_url().empty());
  for (const auto& n : r.resource_names_subscribe()) {
    if (!i.index.find(r.type_url(), n)) (void)i.index.resolve_alias(n);
  }
  for (const auto& n : r.resource_names_unsubscribe()) (void)i.index.find(r.type_url(), n);
  for (const auto& [n, _] : r.initial_resource_versions()) (void)i.index.find(r.type_url(), n);
}

void issue(const security::CallCredentials& creds, const std::vector<SpiffeId>& may_get,
           const istio::v1::auth::IstioCertificateRequest& req) {
  const Istiod& i = server();
  auto chain = i.svc.issue(creds, req);
  if (!chain.ok()) {
    auto code = chain.status().code();
    require(code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kPermissionDenied);
    require(!chain.status().message().empty());
    return;
  }
  require(chain->size() == 2 && (*chain)[1] == i.root_pem);
  auto leaf = must(crypto::Certificate::from_pem((*chain)[0]));
  std::vector<std::string> sans = leaf.uri_sans();
  require(sans.size() == 1);
  bool allowed = false;
  for (const auto& id : may_get) allowed = allowed || sans[0] == id.to_string();
  require(allowed);
  require(leaf.not_after() - leaf.not_before() <=
          ca::CaService::Options{}.max_ttl + crypto::CertificateAuthority::kClockSkewGrace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Protobuf logs every invalid-UTF-8 string it meets; the fuzzer meets many. istiod's own logs
  // (issued certificates) would drown the fuzzer's output too.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    (void)ambit::log::set_levels("ca:off,xds:off");
    return true;
  }();
  (void)quiet;
  const Istiod& i = server();

  envoy::service::discovery::v3::DeltaDiscoveryRequest xds;
  if (xds.ParseFromArray(data, static_cast<int>(size))) handle_xds(xds);

  istio::v1::auth::IstioCertificateRequest csr;
  if (csr.ParseFromArray(data, static_cast<int>(size))) {
    // node1's ztunnel: its own identity, or a pod running on node1 (demo/sleep).
    issue(i.node1, {i.node_identity, i.sleep}, csr);
    // A workload: only its own identity.
    issue(i.workload, {i.client}, csr);
  }
  return 0;
}
