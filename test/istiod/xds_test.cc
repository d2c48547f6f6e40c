// Delta ADS end to end: a real istiod (Istiod::start, ports 0, a temp config directory) driven by a
// real gRPC C++ client over TLS with a node token, the way ztunnel connects. Checks what arrives
// (resources compared byte for byte with an index built from the same YAML), what does not
// (unchanged resources, resends after a NACK), the identity checks, and the debug/metrics views.
//
// Every wait is bounded by a deadline. The only fixed waits prove that something does *not*
// arrive (a resend after a NACK); no timing threshold is asserted.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/base/strings.h"
#include "common/base/unique_fd.h"
#include "common/crypto/certificate.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "istio/security/authorization.pb.h"
#include "istio/workload/workload.pb.h"
#include "istiod/ambient/index.h"
#include "istiod/config/yaml_parser.h"
#include "istiod/server.h"
#include "test/support/harness.h"
#include "test/support/root.h"
#include "test/istiod/xds_client.h"

using namespace ambit;
using namespace ambit::istiod;
using namespace std::chrono_literals;
using namespace ambit::test::xds_client;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;

namespace {

constexpr const char* kAddr = ambient::kAddressType;
constexpr const char* kAuthz = ambient::kAuthorizationType;

const char* kNamespace = R"(apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}
)";

std::string pod(const std::string& name, const std::string& app, const std::string& node, const std::string& ip) {
  return str_cat("apiVersion: v1\nkind: Pod\nmetadata:\n  name: ", name, "\n  namespace: demo\n  labels: {app: ", app,
                 "}\nspec:\n  nodeName: ", node, "\n  serviceAccountName: ", app,
                 "\n  containers: [{name: main, ports: [{name: http, containerPort: 8080}]}]\nstatus:\n  phase: Running\n"
                 "  podIP: ",
                 ip, "\n  conditions: [{type: Ready, status: \"True\"}]\n");
}

const char* kService = R"(apiVersion: v1
kind: Service
metadata: {name: echo, namespace: demo}
spec:
  selector: {app: echo}
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 80, targetPort: http}]
)";

std::string allow_policy(const std::string& principal) {
  return str_cat(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-sleep, namespace: demo}
spec:
  selector: {matchLabels: {app: echo}}
  action: ALLOW
  rules: [{from: [{source: {principals: [")",
                 principal, R"("]}}]}]
)");
}

const char* kDenyPolicy = R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-bad, namespace: demo}
spec:
  action: DENY
  rules: [{from: [{source: {namespaces: [bad]}}]}]
)";

const std::string kSleepUid = "Kubernetes//Pod/demo/sleep-1";
const std::string kEcho1Uid = "Kubernetes//Pod/demo/echo-1";
const std::string kEcho2Uid = "Kubernetes//Pod/demo/echo-2";
const std::string kEchoSvc = "demo/echo.demo.svc.cluster.local";

// The initial config, one concern per file so a change rewrites one file.
std::map<std::string, std::string> initial_files() {
  return {
      {"ns.yaml", kNamespace},
      {"sleep.yaml", pod("sleep-1", "sleep", "node1", "10.10.1.5")},
      {"echo.yaml", str_cat(pod("echo-1", "echo", "node1", "10.10.1.6"), "---\n",
                            pod("echo-2", "echo", "node2", "10.10.2.6"), "---\n", kService)},
      {"policy.yaml", str_cat(allow_policy("cluster.local/ns/demo/sa/sleep"), "---\n", kDenyPolicy)},
  };
}

// What istiod should serve for a set of files: an index built in the test from the same YAML.
std::unique_ptr<ambient::AmbientIndex> expected_index(const std::map<std::string, std::string>& files) {
  std::vector<ObjectPtr> all;
  for (const auto& [name, text] : files) {
    auto r = parse_yaml(text, name);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    REQUIRE(r->rejections.empty());
    all.insert(all.end(), r->objects.begin(), r->objects.end());
  }
  auto idx = std::make_unique<ambient::AmbientIndex>(ambient::MeshConfig{});
  idx->resync(all);
  return idx;
}

struct Held {
  std::string version;
  std::vector<std::string> aliases;
  std::string type_url;
  std::string bytes;
};
using Holdings = std::map<std::string, Held>;  // name -> what the client holds

void absorb(Holdings* h, const DeltaDiscoveryResponse& r) {
  for (const auto& res : r.resources()) {
    (*h)[res.name()] = Held{res.version(), {res.aliases().begin(), res.aliases().end()}, res.resource().type_url(),
                            res.resource().value()};
  }
  for (const auto& n : r.removed_resources()) h->erase(n);
}

// The client's holdings must equal the index's output, byte for byte.
void check_matches(const Holdings& got, const ambient::AmbientIndex& idx, const std::string& type) {
  std::set<std::string> want_names, got_names;
  for (const auto& r : idx.all(type)) want_names.insert(r->name);
  for (const auto& [n, _] : got) got_names.insert(n);
  CHECK(got_names == want_names);
  for (const auto& r : idx.all(type)) {
    auto it = got.find(r->name);
    if (it == got.end()) continue;
    CAPTURE(r->name);
    CHECK(it->second.version == r->version);
    CHECK(it->second.aliases == r->aliases);
    CHECK(it->second.type_url == type);
    CHECK(it->second.bytes == r->bytes);
  }
}

std::set<std::string> names(const DeltaDiscoveryResponse& r) {
  std::set<std::string> out;
  for (const auto& res : r.resources()) out.insert(res.name());
  return out;
}
std::set<std::string> removed(const DeltaDiscoveryResponse& r) {
  return {r.removed_resources().begin(), r.removed_resources().end()};
}


class Fixture {
 public:
  Fixture() : config_(h_.work_dir() + "/config"), ca_dir_(h_.work_dir() + "/ca") {
    REQUIRE(::mkdir(config_.c_str(), 0755) == 0);
    files_ = initial_files();
    for (const auto& [name, text] : files_) AMBIT_REQUIRE_OK(crypto::write_file_atomic(path(name), text));
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

    auto root = crypto::read_file(ca_dir_ + "/root-cert.pem");
    AMBIT_REQUIRE_OK(root);
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *root;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("istiod.istio-system.svc");
    tls_ = AggregatedDiscoveryService::NewStub(grpc::CreateCustomChannel(
        str_cat("127.0.0.1:", istiod_->grpc_port()), grpc::SslCredentials(ssl), args));
    plain_ = AggregatedDiscoveryService::NewStub(
        grpc::CreateChannel(str_cat("127.0.0.1:", istiod_->plaintext_port()), grpc::InsecureChannelCredentials()));
    auto t = issue_node_token(ca_dir_, "node1");
    AMBIT_REQUIRE_OK(t);
    token_ = *t;
  }
  ~Fixture() {
    if (istiod_) istiod_->shutdown();
  }

  std::string path(const std::string& name) const { return str_cat(config_, "/", name); }
  // Rewrites one config file (temp + rename) and remembers it for expected_index().
  void write(const std::string& name, const std::string& text) {
    files_[name] = text;
    AMBIT_REQUIRE_OK(crypto::write_file_atomic(path(name), text));
  }
  void remove(const std::string& name) {
    files_.erase(name);
    REQUIRE(::unlink(path(name).c_str()) == 0);
  }
  std::unique_ptr<ambient::AmbientIndex> expected() const { return expected_index(files_); }

  // Waits until istiod's own view (/debug/workloads) has `name` present (or absent).
  void wait_istiod_has(const std::string& name, bool present) {
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    for (;;) {
      HttpResponse r = http_get(istiod_->http_port(), "/debug/workloads");
      bool has = r.body.find(str_cat("\"name\":\"", name, "\"")) != std::string::npos;
      if (has == present) return;
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "istiod never ", present ? "added " : "removed ",
                      name);
      std::this_thread::sleep_for(10ms);
    }
  }
  // Waits until istiod serves `name` with content different from `old_version`.
  void wait_istiod_changed(const std::string& type, const std::string& name, const std::string& old_version) {
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    for (;;) {
      std::string path = type == kAddr ? "/debug/workloads" : "/debug/policies";
      auto list = json(http_get(istiod_->http_port(), path).body);
      for (const auto& e : list.list_value().values()) {
        const auto& f = e.struct_value().fields();
        if (f.at("name").string_value() == name && f.at("version").string_value() != old_version) return;
      }
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "istiod never changed ", name);
      std::this_thread::sleep_for(10ms);
    }
  }

  AggregatedDiscoveryService::Stub* tls() { return tls_.get(); }
  AggregatedDiscoveryService::Stub* plain() { return plain_.get(); }
  const std::string& token() const { return token_; }
  Istiod& istiod() { return *istiod_; }
  const std::string& ca_dir() const { return ca_dir_; }

 private:
  test::Harness h_;
  std::string config_, ca_dir_;
  std::map<std::string, std::string> files_;
  std::unique_ptr<Istiod> istiod_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> tls_, plain_;
  std::string token_;
};

// Subscribes wildcard to both types and returns the two initial responses, checked and ACKed.
std::map<std::string, Holdings> initial_sync(Fixture& f, AdsStream& s) {
  s.subscribe(kAddr);
  s.subscribe(kAuthz);
  std::map<std::string, Holdings> held;
  for (int i = 0; i < 2; ++i) {
    DeltaDiscoveryResponse r = s.expect("initial push");
    REQUIRE_MESSAGE(!held.count(r.type_url()), "two initial responses for ", r.type_url());
    CHECK(r.removed_resources().empty());
    CHECK_FALSE(r.nonce().empty());
    absorb(&held[r.type_url()], r);
    s.ack(r);
  }
  auto idx = f.expected();
  check_matches(held[kAddr], *idx, kAddr);
  check_matches(held[kAuthz], *idx, kAuthz);
  return held;
}

std::map<std::string, std::string> versions(const Holdings& h) {
  std::map<std::string, std::string> out;
  for (const auto& [n, r] : h) out[n] = r.version;
  return out;
}

}  // namespace

TEST_CASE("wildcard subscription: initial push is the config's workloads, services and policies") {
  Fixture f;
  AdsStream s(f.tls(), f.token());
  auto held = initial_sync(f, s);
  CHECK(versions(held[kAddr]).size() == 4);
  for (const auto& n : {kSleepUid, kEcho1Uid, kEcho2Uid, kEchoSvc}) CHECK_MESSAGE(held[kAddr].count(n), n);
  CHECK(held[kAuthz].count("demo/allow-sleep"));
  CHECK(held[kAuthz].count("demo/deny-bad"));

  // Decode one workload from its Any and check the fields ztunnel relies on.
  istio::workload::Address a;
  REQUIRE(a.ParseFromString(held[kAddr][kEcho1Uid].bytes));
  REQUIRE(a.has_workload());
  const auto& w = a.workload();
  CHECK(w.uid() == kEcho1Uid);
  CHECK(w.name() == "echo-1");
  CHECK(w.namespace_() == "demo");
  CHECK(w.node() == "node1");
  CHECK(w.service_account() == "echo");
  CHECK(w.tunnel_protocol() == istio::workload::HBONE);
  REQUIRE(w.addresses_size() == 1);
  CHECK(w.addresses(0) == std::string("\x0a\x0a\x01\x06", 4));
  CHECK(w.services().count(kEchoSvc) == 1);
  CHECK(std::find(w.authorization_policies().begin(), w.authorization_policies().end(), "demo/allow-sleep") !=
        w.authorization_policies().end());
  CHECK(held[kAddr][kEcho1Uid].aliases == std::vector<std::string>{"/10.10.1.6"});

  istio::security::Authorization p;
  REQUIRE(p.ParseFromString(held[kAuthz]["demo/allow-sleep"].bytes));
  CHECK(p.name() == "allow-sleep");
  CHECK(p.action() == istio::security::ALLOW);
  CHECK(p.scope() == istio::security::WORKLOAD_SELECTOR);
}

TEST_CASE("live changes: only the changed resource is sent, deletions arrive as removed_resources") {
  Fixture f;
  AdsStream s(f.tls(), f.token());
  auto held = initial_sync(f, s);

  // A pod's IP changes: exactly that workload, nothing removed.
  f.write("sleep.yaml", pod("sleep-1", "sleep", "node1", "10.10.1.50"));
  DeltaDiscoveryResponse r = s.expect("pod change");
  CHECK(r.type_url() == kAddr);
  CHECK(names(r) == std::set<std::string>{kSleepUid});
  CHECK(r.removed_resources().empty());
  CHECK(r.resources(0).version() != held[kAddr][kSleepUid].version);
  absorb(&held[kAddr], r);
  s.ack(r);
  check_matches(held[kAddr], *f.expected(), kAddr);
  istio::workload::Address a;
  REQUIRE(a.ParseFromString(held[kAddr][kSleepUid].bytes));
  CHECK(a.workload().addresses(0) == std::string("\x0a\x0a\x01\x32", 4));

  // A policy's rule changes: exactly that policy (the workloads that reference it do not change).
  f.write("policy.yaml", str_cat(allow_policy("cluster.local/ns/demo/sa/other"), "---\n", kDenyPolicy));
  r = s.expect("policy change");
  CHECK(r.type_url() == kAuthz);
  CHECK(names(r) == std::set<std::string>{"demo/allow-sleep"});
  CHECK(r.removed_resources().empty());
  absorb(&held[kAuthz], r);
  s.ack(r);
  check_matches(held[kAuthz], *f.expected(), kAuthz);

  // A pod is deleted: its uid in removed_resources and nothing else.
  f.write("echo.yaml", str_cat(pod("echo-1", "echo", "node1", "10.10.1.6"), "---\n", kService));
  r = s.expect("pod deletion");
  CHECK(r.type_url() == kAddr);
  CHECK(r.resources().empty());
  CHECK(removed(r) == std::set<std::string>{kEcho2Uid});
  absorb(&held[kAddr], r);
  s.ack(r);

  // A policy file removed: both policies removed, and the workloads that listed allow-sleep change.
  f.remove("policy.yaml");
  std::map<std::string, DeltaDiscoveryResponse> by_type;
  while (by_type.size() < 2) {
    r = s.expect("policy deletion");
    REQUIRE_MESSAGE(!by_type.count(r.type_url()), "second response for ", r.type_url());
    absorb(&held[r.type_url()], r);
    s.ack(r);
    by_type[r.type_url()] = r;
  }
  CHECK(removed(by_type[kAuthz]) == std::set<std::string>{"demo/allow-sleep", "demo/deny-bad"});
  CHECK(by_type[kAuthz].resources().empty());
  CHECK(names(by_type[kAddr]) == std::set<std::string>{kEcho1Uid});
  CHECK(by_type[kAddr].removed_resources().empty());
  auto idx = f.expected();
  check_matches(held[kAddr], *idx, kAddr);
  check_matches(held[kAuthz], *idx, kAuthz);
}

TEST_CASE("a NACK is counted and never answered with a resend") {
  Fixture f;
  AdsStream s(f.tls(), f.token());
  int http = f.istiod().http_port();
  const std::string series = "pilot_total_xds_rejects{type=\"wads\"}";
  double before = metric(http, series);
  CHECK(before == 0);

  s.subscribe(kAddr);
  DeltaDiscoveryResponse r = s.expect("initial Address push");
  REQUIRE(r.type_url() == kAddr);
  s.nack(r, "workload rejected by the test");

  // Nothing is resent: wait a bounded second for a response that must not come.
  auto resend = s.next(1000ms);
  CHECK_MESSAGE(!resend.has_value(), "istiod answered a NACK with ", resend ? resend->DebugString() : "");

  // The reject is visible in /metrics and in /debug/connections.
  auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (metric(http, series) < before + 1) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "pilot_total_xds_rejects did not move");
    std::this_thread::sleep_for(10ms);
  }
  CHECK(metric(http, series) == before + 1);
  auto conns = json(http_get(http, "/debug/connections").body);
  REQUIRE(conns.list_value().values_size() == 1);
  const auto& c = conns.list_value().values(0).struct_value().fields();
  CHECK(c.at("nacks").number_value() == 1);
  CHECK(c.at("lastNack").string_value() == "workload rejected by the test");

  // The stream still works: the next change is pushed (only that change).
  f.write("sleep.yaml", pod("sleep-1", "sleep", "node1", "10.10.1.51"));
  r = s.expect("change after NACK");
  CHECK(names(r) == std::set<std::string>{kSleepUid});
}

TEST_CASE("reconnect with initial_resource_versions: unchanged not resent, deleted meanwhile removed") {
  Fixture f;
  std::map<std::string, Holdings> held;
  {
    AdsStream s(f.tls(), f.token());
    held = initial_sync(f, s);
  }  // disconnected

  // While disconnected: one pod changes, one is deleted.
  std::string old_sleep = held[kAddr][kSleepUid].version;
  f.write("sleep.yaml", pod("sleep-1", "sleep", "node1", "10.10.1.52"));
  f.write("echo.yaml", str_cat(pod("echo-1", "echo", "node1", "10.10.1.6"), "---\n", kService));
  f.wait_istiod_has(kEcho2Uid, false);
  f.wait_istiod_changed(kAddr, kSleepUid, old_sleep);

  AdsStream s(f.tls(), f.token());
  auto initial = versions(held[kAddr]);
  initial["Kubernetes//Pod/demo/ghost"] = "0123";  // something istiod never had
  s.subscribe(kAddr, {}, initial);
  s.subscribe(kAuthz, {}, versions(held[kAuthz]));
  DeltaDiscoveryResponse r = s.expect("resync after reconnect");
  REQUIRE(r.type_url() == kAddr);
  CHECK(names(r) == std::set<std::string>{kSleepUid});
  CHECK(removed(r) == std::set<std::string>{kEcho2Uid, "Kubernetes//Pod/demo/ghost"});
  absorb(&held[kAddr], r);
  s.ack(r);
  check_matches(held[kAddr], *f.expected(), kAddr);

  // Policies were all current, so none was resent: istiod answers the new Authorization
  // subscription with an empty response (ztunnel needs one per type to become ready) ...
  r = s.expect("initial authorization response after reconnect");
  CHECK(r.type_url() == kAuthz);
  CHECK(r.resources().empty());
  CHECK(r.removed_resources().empty());
  s.ack(r);
  // ... and the next one is this change, holding only it.
  f.write("policy.yaml", str_cat(allow_policy("cluster.local/ns/demo/sa/changed"), "---\n", kDenyPolicy));
  r = s.expect("policy change");
  CHECK(r.type_url() == kAuthz);
  CHECK(names(r) == std::set<std::string>{"demo/allow-sleep"});
  CHECK(r.removed_resources().empty());
}

TEST_CASE("on-demand: a subscription by alias /<ip> gets just that workload") {
  Fixture f;
  AdsStream s(f.tls(), f.token());
  // ztunnel's XDS_ON_DEMAND opening: subscribe and unsubscribe "*" together (= nothing yet).
  DeltaDiscoveryRequest open;
  open.mutable_node()->set_id(kNodeId);
  (*open.mutable_node()->mutable_metadata()->mutable_fields())["NODE_NAME"].set_string_value("node1");
  open.set_type_url(kAddr);
  open.add_resource_names_subscribe("*");
  open.add_resource_names_unsubscribe("*");
  s.send(open);
  // istiod answers every new subscription, even with nothing: ztunnel waits for that to be ready.
  DeltaDiscoveryResponse first = s.expect("initial (empty) on-demand response");
  CHECK(first.type_url() == kAddr);
  CHECK(first.resources().empty());
  CHECK(first.removed_resources().empty());
  s.ack(first);

  DeltaDiscoveryRequest want;
  want.set_type_url(kAddr);
  want.add_resource_names_subscribe("/10.10.1.6");
  s.send(want);
  DeltaDiscoveryResponse r = s.expect("on-demand workload");
  CHECK(r.type_url() == kAddr);
  REQUIRE(names(r) == std::set<std::string>{kEcho1Uid});
  CHECK(r.resources(0).aliases(0) == "/10.10.1.6");
  auto idx = f.expected();
  CHECK(r.resources(0).resource().value() == idx->find(kAddr, kEcho1Uid)->bytes);
  s.ack(r);

  // A service by its VIP alias.
  DeltaDiscoveryRequest svc;
  svc.set_type_url(kAddr);
  svc.add_resource_names_subscribe("/10.96.0.20");
  s.send(svc);
  r = s.expect("on-demand service");
  CHECK(names(r) == std::set<std::string>{kEchoSvc});
  s.ack(r);

  // Changes to resources not subscribed are not pushed: change sleep (not subscribed) and then
  // echo-1 (subscribed); the next response holds only echo-1.
  f.write("sleep.yaml", pod("sleep-1", "sleep", "node1", "10.10.1.53"));
  f.wait_istiod_changed(kAddr, kSleepUid, idx->find(kAddr, kSleepUid)->version);
  f.write("echo.yaml", str_cat(pod("echo-1", "echo", "node1", "10.10.1.60"), "---\n",
                               pod("echo-2", "echo", "node2", "10.10.2.6"), "---\n", kService));
  r = s.expect("change of the subscribed workload");
  CHECK(names(r) == std::set<std::string>{kEcho1Uid});
  CHECK(r.removed_resources().empty());
  CHECK(r.resources(0).aliases(0) == "/10.10.1.60");
}

TEST_CASE("identity checks: node namespace must match the token, NODE_NAME must be the token's node") {
  Fixture f;
  {
    AdsStream s(f.tls(), f.token());
    s.subscribe(kAddr, {}, {}, "ztunnel~10.0.0.1~ztunnel-abc.demo~demo.svc.cluster.local");
    grpc::Status st = s.finish();
    CHECK(st.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK_MESSAGE(st.error_message().find("namespace") != std::string::npos, st.error_message());
  }
  {
    AdsStream s(f.tls(), f.token());  // token for node1
    s.subscribe(kAddr, {}, {}, kNodeId, "node2");
    grpc::Status st = s.finish();
    CHECK(st.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK_MESSAGE(st.error_message().find("node2") != std::string::npos, st.error_message());
  }
  CHECK(metric(f.istiod().http_port(), "pilot_xds_auth_failures{reason=\"identity_mismatch\"}") == 2);
}

TEST_CASE("missing or bad credential on the TLS port is UNAUTHENTICATED, plaintext admits anonymous") {
  Fixture f;
  {
    AdsStream s(f.tls(), "");
    s.subscribe(kAddr);
    grpc::Status st = s.finish();
    CHECK(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    AdsStream s(f.tls(), f.token() + "x");
    s.subscribe(kAddr);
    CHECK(s.finish().error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
  CHECK(metric(f.istiod().http_port(), "pilot_xds_auth_failures{reason=\"unauthenticated\"}") == 2);
  {
    // The plaintext debug port serves anonymous clients (default --plaintext-requires-auth=false).
    AdsStream s(f.plain(), "");
    s.subscribe(kAddr);
    DeltaDiscoveryResponse r = s.expect("plaintext push");
    Holdings h;
    absorb(&h, r);
    check_matches(h, *f.expected(), kAddr);
  }
}

TEST_CASE("debug views: config_dump returns what the client was sent, connections lists it") {
  Fixture f;
  AdsStream s(f.tls(), f.token());
  auto held = initial_sync(f, s);
  int http = f.istiod().http_port();

  // ACKs are processed asynchronously; wait until both are counted.
  auto deadline = std::chrono::steady_clock::now() + kDeadline;
  google::protobuf::Value conns;
  for (;;) {
    conns = json(http_get(http, "/debug/connections").body);
    if (conns.list_value().values_size() == 1 &&
        conns.list_value().values(0).struct_value().fields().at("acks").number_value() == 2) {
      break;
    }
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "connection not listed with 2 ACKs");
    std::this_thread::sleep_for(10ms);
  }
  const auto& c = conns.list_value().values(0).struct_value().fields();
  CHECK(c.at("node").string_value() == kNodeId);
  CHECK(c.at("identity").string_value() == "spiffe://cluster.local/ns/istio-system/sa/ztunnel");
  CHECK(c.at("auth").string_value() == "node-token");
  CHECK(c.at("pushes").number_value() == 2);
  CHECK(c.at("nacks").number_value() == 0);
  const auto& res = c.at("resources").struct_value().fields();
  CHECK(res.at(kAddr).number_value() == static_cast<double>(held[kAddr].size()));
  CHECK(res.at(kAuthz).number_value() == static_cast<double>(held[kAuthz].size()));

  for (const std::string& proxy : {std::string("ztunnel-abc"), std::string("ztunnel-abc.istio-system"), kNodeId}) {
    CAPTURE(proxy);
    HttpResponse r = http_get(http, "/debug/config_dump?proxyID=" + proxy);
    REQUIRE(r.status == 200);
    auto dump = json(r.body);
    const auto& d = dump.struct_value().fields();
    CHECK(d.at("node").string_value() == kNodeId);
    std::map<std::string, std::map<std::string, std::string>> dumped;  // type -> name -> version
    for (const auto& e : d.at("resources").list_value().values()) {
      const auto& ef = e.struct_value().fields();
      dumped[ef.at("type").string_value()][ef.at("name").string_value()] = ef.at("version").string_value();
      // The resource is rendered (not null) because it is current.
      CHECK(ef.at("resource").has_struct_value());
    }
    CHECK(dumped[kAddr] == versions(held[kAddr]));
    CHECK(dumped[kAuthz] == versions(held[kAuthz]));
  }
  // The rendered resource is the one sent: the echo-1 workload's uid and node.
  auto dump = json(http_get(http, "/debug/config_dump?proxyID=ztunnel-abc").body);
  bool seen = false;
  for (const auto& e : dump.struct_value().fields().at("resources").list_value().values()) {
    const auto& ef = e.struct_value().fields();
    if (ef.at("name").string_value() != kEcho1Uid) continue;
    seen = true;
    const auto& w = ef.at("resource").struct_value().fields().at("workload").struct_value().fields();
    CHECK(w.at("uid").string_value() == kEcho1Uid);
    CHECK(w.at("node").string_value() == "node1");
  }
  CHECK(seen);
  CHECK(http_get(http, "/debug/config_dump?proxyID=nobody").status == 404);
  CHECK(http_get(http, "/debug/config_dump").status == 400);
}
