// The waypoint's L7 config over delta ADS, end to end: a real istiod (ports 0, a temp config
// directory) and a real gRPC client with a mesh client certificate, connecting the way a waypoint
// must (docs/waypoint-config.md "Connecting"). It receives its WDS and its L7 resources (byte for
// byte what an index built from the same YAML holds), an edited HTTPRoute arrives as exactly that
// one Route, a deleted one as one removal, and streams that are not the waypoint are refused.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <set>

#include "ambit/waypoint/v1/resource.pb.h"
#include "common/crypto/ca.h"
#include "common/crypto/certificate.h"
#include "common/crypto/private_key.h"
#include "istiod/ambient/index.h"
#include "istiod/config/yaml_parser.h"
#include "istiod/server.h"
#include "test/istiod/xds_client.h"
#include "test/support/harness.h"
#include "test/support/root.h"

using namespace ambit;
using namespace ambit::istiod;
using namespace std::chrono_literals;
using namespace ambit::test::xds_client;

namespace {

constexpr const char* kWp = ambient::kWaypointResourceType;
const std::string kWaypointNode = "waypoint~10.10.0.2~wp-1.app~app.svc.cluster.local";

// A ready waypoint app/wp (its Service, a ready pod) serving app/echo through the namespace label.
const char* kMeshYaml = R"(apiVersion: v1
kind: Namespace
metadata: {name: app, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: app}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
---
apiVersion: v1
kind: Service
metadata: {name: wp, namespace: app, labels: {gateway.networking.k8s.io/gateway-name: wp}}
spec:
  selector: {gateway.networking.k8s.io/gateway-name: wp}
  clusterIP: 10.96.0.2
  ports: [{name: mesh, port: 15008}]
---
apiVersion: v1
kind: Pod
metadata: {name: wp-1, namespace: app, labels: {gateway.networking.k8s.io/gateway-name: wp}}
spec: {nodeName: node1, serviceAccountName: wp, containers: [{name: w}]}
status: {phase: Running, podIP: 10.10.0.2, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: app}
spec:
  selector: {app: echo}
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80}]
)";

std::string route(const std::string& name, const std::string& prefix) {
  return "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: " + name +
         ", namespace: app}\nspec:\n  parentRefs: [{group: \"\", kind: Service, name: echo}]\n"
         "  rules: [{matches: [{path: {type: PathPrefix, value: " +
         prefix + "}}], backendRefs: [{name: echo, port: 80}]}]\n";
}

const char* kPolicy = R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: app}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: wp}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
)";

const std::set<std::string> kInitialKeys = {"listener/app/echo.app.svc.cluster.local:80", "route/HTTPRoute/app/a",
                                            "route/HTTPRoute/app/b", "authorization/app/deny-admin", "mesh"};

class Fixture {
 public:
  Fixture() : config_(h_.work_dir() + "/config"), ca_dir_(h_.work_dir() + "/ca") {
    REQUIRE(::mkdir(config_.c_str(), 0755) == 0);
    write("mesh.yaml", kMeshYaml);
    write("a.yaml", route("a", "/a"));
    write("b.yaml", route("b", "/b"));
    write("policy.yaml", kPolicy);
    IstiodOptions o;
    o.config_dir = config_;
    o.ca_dir = ca_dir_;
    o.grpc_address = "127.0.0.1:0";
    o.plaintext_address = "127.0.0.1:0";
    o.http_port = 0;
    o.debounce_quiet = 5ms;
    o.debounce_max = 50ms;
    auto s = Istiod::start(o);
    AMBIT_REQUIRE_OK(s);
    istiod_ = std::move(*s);
    plain_ = AggregatedDiscoveryService::NewStub(
        grpc::CreateChannel(str_cat("127.0.0.1:", istiod_->plaintext_port()), grpc::InsecureChannelCredentials()));
  }
  ~Fixture() {
    if (istiod_) istiod_->shutdown();
  }

  void write(const std::string& name, const std::string& text) {
    files_[name] = text;
    AMBIT_REQUIRE_OK(crypto::write_file_atomic(config_ + "/" + name, text));
  }
  void remove(const std::string& name) {
    files_.erase(name);
    REQUIRE(::unlink((config_ + "/" + name).c_str()) == 0);
  }

  // A stub presenting a mesh certificate for spiffe://cluster.local/ns/<ns>/sa/<sa>.
  std::unique_ptr<AggregatedDiscoveryService::Stub> as(const std::string& ns, const std::string& sa) {
    auto ca = crypto::CertificateAuthority::load_dir(ca_dir_);
    AMBIT_REQUIRE_OK(ca);
    auto key = crypto::PrivateKey::generate_p256();
    AMBIT_REQUIRE_OK(key);
    auto id = SpiffeId::make("cluster.local", ns, sa);
    AMBIT_REQUIRE_OK(id);
    auto chain = ca->sign_key(key->get(), *id, 1h);
    AMBIT_REQUIRE_OK(chain);
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca->root_pem();
    ssl.pem_private_key = key->to_pem();
    ssl.pem_cert_chain = (*chain)[0];
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("istiod.istio-system.svc");
    return AggregatedDiscoveryService::NewStub(grpc::CreateCustomChannel(
        str_cat("127.0.0.1:", istiod_->grpc_port()), grpc::SslCredentials(ssl), args));
  }
  AggregatedDiscoveryService::Stub* plain() { return plain_.get(); }

  // The waypoint's resources an index built from the same files holds: key -> bytes.
  std::map<std::string, std::string> expected() const {
    std::vector<ObjectPtr> all;
    for (const auto& [name, text] : files_) {
      auto r = parse_yaml(text, name);
      REQUIRE_MESSAGE(r.ok(), r.status().ToString());
      REQUIRE(r->rejections.empty());
      all.insert(all.end(), r->objects.begin(), r->objects.end());
    }
    ambient::AmbientIndex idx{ambient::MeshConfig{}};
    idx.resync(all);
    std::map<std::string, std::string> out;
    for (const auto& r : idx.waypoint_resources({"app", "wp"})) out[r->name] = r->bytes;
    return out;
  }
  int http_port() const { return istiod_->http_port(); }

 private:
  test::Harness h_;
  std::string config_, ca_dir_;
  std::map<std::string, std::string> files_;
  std::unique_ptr<Istiod> istiod_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> plain_;
};

// The first request of a type from a waypoint: node id and metadata `role` naming its Gateway.
void subscribe(AdsStream& s, const std::string& type, const std::string& role = "app~wp",
               const std::string& node = kWaypointNode) {
  DeltaDiscoveryRequest r;
  r.mutable_node()->set_id(node);
  if (!role.empty()) (*r.mutable_node()->mutable_metadata()->mutable_fields())["role"].set_string_value(role);
  r.set_type_url(type);
  s.send(r);
}

std::set<std::string> names(const DeltaDiscoveryResponse& r) {
  std::set<std::string> out;
  for (const auto& res : r.resources()) out.insert(res.name());
  return out;
}

// The next response of `type`, skipping (and ACKing) others.
DeltaDiscoveryResponse next_of(AdsStream& s, const std::string& type, const char* what) {
  for (;;) {
    DeltaDiscoveryResponse r = s.expect(what);
    s.ack(r);
    if (r.type_url() == type) return r;
  }
}

}  // namespace

TEST_CASE("a waypoint receives its L7 config, then only the route that changed") {
  Fixture f;
  auto stub = f.as("app", "wp");
  AdsStream s(stub.get(), "");
  subscribe(s, ambient::kAddressType);
  subscribe(s, kWp);

  // WDS first, then the L7 config: every key, byte for byte the translation's.
  DeltaDiscoveryResponse wds = s.expect("initial WDS");
  CHECK(wds.type_url() == ambient::kAddressType);
  CHECK(names(wds).count("app/echo.app.svc.cluster.local") == 1);
  s.ack(wds);
  DeltaDiscoveryResponse l7 = s.expect("initial L7 config");
  REQUIRE(l7.type_url() == kWp);
  CHECK(names(l7) == kInitialKeys);
  CHECK(l7.removed_resources().empty());
  auto want = f.expected();
  for (const auto& res : l7.resources()) {
    CAPTURE(res.name());
    CHECK(res.resource().type_url() == kWp);
    CHECK(res.resource().value() == want.at(res.name()));
  }
  ::ambit::waypoint::v1::Resource listener;
  for (const auto& res : l7.resources()) {
    if (res.name().starts_with("listener/")) REQUIRE(listener.ParseFromString(res.resource().value()));
  }
  CHECK(listener.listener().port() == 80);
  s.ack(l7);

  // Edit route b: exactly that Route, nothing removed, and no WDS push (nothing there changed).
  f.write("b.yaml", route("b", "/b2"));
  DeltaDiscoveryResponse r = s.expect("route b changed");
  REQUIRE(r.type_url() == kWp);
  CHECK(names(r) == std::set<std::string>{"route/HTTPRoute/app/b"});
  CHECK(r.removed_resources().empty());
  ::ambit::waypoint::v1::Resource b;
  REQUIRE(b.ParseFromString(r.resources(0).resource().value()));
  CHECK(b.route().rules(0).matches(0).path().prefix() == "/b2");
  CHECK(r.resources(0).resource().value() == f.expected().at("route/HTTPRoute/app/b"));
  s.ack(r);

  // Delete route a: one removal.
  f.remove("a.yaml");
  r = s.expect("route a removed");
  REQUIRE(r.type_url() == kWp);
  CHECK(r.resources().empty());
  CHECK(std::set<std::string>(r.removed_resources().begin(), r.removed_resources().end()) ==
        std::set<std::string>{"route/HTTPRoute/app/a"});
  s.ack(r);

  // Counted in the xDS metrics under its own type; the debug views show what it holds.
  CHECK(metric(f.http_port(), "pilot_xds_pushes{type=\"waypoint\"}") == 3);
  auto dump = json(http_get(f.http_port(), "/debug/config_dump?proxyID=wp-1").body);
  bool rendered = false;
  for (const auto& e : dump.struct_value().fields().at("resources").list_value().values()) {
    const auto& ef = e.struct_value().fields();
    if (ef.at("name").string_value() != "route/HTTPRoute/app/b") continue;
    rendered = ef.at("resource").struct_value().fields().at("route").struct_value().fields().at("name").string_value() ==
               "b";
  }
  CHECK(rendered);
  auto conns = json(http_get(f.http_port(), "/debug/connections").body);
  REQUIRE(conns.list_value().values_size() == 1);
  CHECK(conns.list_value().values(0).struct_value().fields().at("waypoint").string_value() == "app/wp");
}

TEST_CASE("another waypoint's identity, a ztunnel, an anonymous client or no Gateway named: refused") {
  Fixture f;
  struct Case {
    const char* what;
    std::function<std::unique_ptr<AggregatedDiscoveryService::Stub>()> stub;
    std::string role;
    std::string node;
    grpc::StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {"a workload of the same namespace", [&] { return f.as("app", "sleep"); }, "app~wp", kWaypointNode,
       grpc::StatusCode::PERMISSION_DENIED, "only for its service account app/wp"},
      {"waypoint wp asking for waypoint other", [&] { return f.as("app", "wp"); }, "app~other", kWaypointNode,
       grpc::StatusCode::PERMISSION_DENIED, "app/other"},
      {"anonymous plaintext", [&] { return std::unique_ptr<AggregatedDiscoveryService::Stub>(); }, "app~wp",
       kWaypointNode, grpc::StatusCode::PERMISSION_DENIED, "anonymous"},
      {"no role", [&] { return f.as("app", "wp"); }, "", kWaypointNode, grpc::StatusCode::INVALID_ARGUMENT,
       "names no Gateway"},
      {"a ztunnel node", [&] { return f.as("app", "wp"); }, "app~wp",
       "ztunnel~10.10.0.2~wp-1.app~app.svc.cluster.local", grpc::StatusCode::INVALID_ARGUMENT, "node type waypoint"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto stub = c.stub();
    AdsStream s(stub ? stub.get() : f.plain(), "");
    subscribe(s, kWp, c.role, c.node);
    grpc::Status st = s.finish();
    CHECK(st.error_code() == c.code);
    CHECK_MESSAGE(st.error_message().find(c.message) != std::string::npos, st.error_message());
  }
  CHECK(metric(f.http_port(), "pilot_xds_auth_failures{reason=\"identity_mismatch\"}") == 3);
  CHECK(metric(f.http_port(), "pilot_xds_auth_failures{reason=\"waypoint_node\"}") == 2);

  // The same identity that is refused L7 config still gets WDS, as any workload does.
  auto sleep = f.as("app", "sleep");
  AdsStream s(sleep.get(), "");
  subscribe(s, ambient::kAddressType, "", "sidecar~10.10.0.9~sleep-1.app~app.svc.cluster.local");
  CHECK(next_of(s, ambient::kAddressType, "WDS for a workload").resources_size() > 0);
}
