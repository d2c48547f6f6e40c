// istiod's hardening against its own clients, over real gRPC against a running istiod
// (Istiod::start, ports 0): the bounds on what an ADS stream may make istiod hold, the plaintext
// port's loopback-only binding and credentials, and requests crafted to crash the request path
// (CVE-2022-23635). Every wait is bounded by a deadline.
#include <doctest/doctest.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <arpa/inet.h>
#include <grpcpp/create_channel_posix.h>
#include <sched.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/base/strings.h"
#include "common/base/unique_fd.h"
#include "common/net/netns.h"
#include "common/crypto/ca.h"
#include "common/crypto/certificate.h"
#include "common/crypto/csr.h"
#include "common/crypto/private_key.h"
#include "common/crypto/trust.h"
#include "istio/v1/auth/ca.grpc.pb.h"
#include "istiod/security/authenticator.h"
#include "istiod/security/loopback.h"
#include "istiod/server.h"
#include "test/istiod/xds_client.h"
#include "test/support/harness.h"
#include "test/support/root.h"

using namespace ambit;
using namespace ambit::istiod;
using namespace ambit::test::xds_client;
using namespace std::chrono_literals;

namespace {

constexpr const char* kAddr = "type.googleapis.com/istio.workload.Address";
constexpr const char* kConfig = R"(apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata: {name: sleep-1, namespace: demo, labels: {app: sleep}}
spec: {nodeName: node1, serviceAccountName: sleep}
status: {phase: Running, podIP: 10.10.1.5, conditions: [{type: Ready, status: "True"}]}
)";
constexpr const char* kSleepUid = "Kubernetes//Pod/demo/sleep-1";
constexpr const char* kAdsMethod = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";
constexpr const char* kCaMethod = "/istio.v1.auth.IstioCertificateService/CreateCertificate";

// A running istiod with one pod, and clients for both of its gRPC ports.
class Running {
 public:
  explicit Running(const std::function<void(IstiodOptions&)>& adjust = {}) {
    std::string config = h_.work_dir() + "/config";
    ca_dir_ = h_.work_dir() + "/ca";
    REQUIRE(::mkdir(config.c_str(), 0755) == 0);
    AMBIT_REQUIRE_OK(crypto::write_file_atomic(config + "/pods.yaml", kConfig));
    IstiodOptions o;
    o.config_dir = config;
    o.ca_dir = ca_dir_;
    o.grpc_address = "127.0.0.1:0";
    o.plaintext_address = "127.0.0.1:0";
    o.http_port = 0;
    o.debounce_quiet = 5ms;
    o.debounce_max = 50ms;
    if (adjust) adjust(o);
    auto s = Istiod::start(o);
    AMBIT_REQUIRE_OK(s);
    istiod_ = std::move(*s);
    auto root = crypto::read_file(ca_dir_ + "/root-cert.pem");
    AMBIT_REQUIRE_OK(root);
    root_ = *root;
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = root_;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("istiod.istio-system.svc");
    // A send larger than the server's 4 MiB receive limit must reach the server.
    args.SetMaxSendMessageSize(64 << 20);
    tls_channel_ =
        grpc::CreateCustomChannel(str_cat("127.0.0.1:", istiod_->grpc_port()), grpc::SslCredentials(ssl), args);
    tls_ = AggregatedDiscoveryService::NewStub(tls_channel_);
    plain_ = AggregatedDiscoveryService::NewStub(plain_channel("127.0.0.1"));
  }
  ~Running() {
    if (istiod_) istiod_->shutdown();
  }

  std::shared_ptr<grpc::Channel> plain_channel(const std::string& host) const {
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(64 << 20);
    return grpc::CreateCustomChannel(str_cat(host, ":", istiod_->plaintext_port()), grpc::InsecureChannelCredentials(),
                                     args);
  }
  std::string token(const std::string& node) const {
    auto t = issue_node_token(ca_dir_, node);
    REQUIRE(t.ok());
    return *t;
  }
  double metric(const std::string& series) const { return ambit::test::xds_client::metric(istiod_->http_port(), series); }

  AggregatedDiscoveryService::Stub* tls() { return tls_.get(); }
  AggregatedDiscoveryService::Stub* plain() { return plain_.get(); }
  const std::shared_ptr<grpc::Channel>& tls_channel() const { return tls_channel_; }
  Istiod& istiod() { return *istiod_; }
  const std::string& root() const { return root_; }

 private:
  test::Harness h_;
  std::string ca_dir_, root_;
  std::unique_ptr<Istiod> istiod_;
  std::shared_ptr<grpc::Channel> tls_channel_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> tls_, plain_;
};

// A stream that subscribes wildcard to addresses and must get sleep-1: istiod is serving.
void check_serves(AggregatedDiscoveryService::Stub* stub, const std::string& bearer) {
  AdsStream s(stub, bearer);
  s.subscribe(kAddr);
  DeltaDiscoveryResponse r = s.expect("initial push");
  bool has = false;
  for (const auto& res : r.resources()) has |= res.name() == kSleepUid;
  CHECK_MESSAGE(has, "the initial push lacks ", kSleepUid);
}

std::vector<std::string> made_up_names(size_t n, const std::string& tag) {
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(str_cat("Kubernetes//Pod/", tag, "/p-", i));
  return out;
}

// The calling thread inside a network namespace until the scope ends, exception-safe (a failed
// REQUIRE must not leave the test thread, and every later test, in a namespace being deleted).
class InNetns {
 public:
  explicit InNetns(const std::string& name) {
    auto orig = net::current_netns();
    AMBIT_REQUIRE_OK(orig);
    original_ = std::move(*orig);
    auto ns = net::open_netns("/run/netns/" + name);
    AMBIT_REQUIRE_OK(ns);
    REQUIRE_MESSAGE(::setns(ns->get(), CLONE_NEWNET) == 0, "setns into ", name, ": ", std::strerror(errno));
  }
  ~InNetns() {
    if (::setns(original_.get(), CLONE_NEWNET) != 0) {
      std::perror("setns back to the test's network namespace");
      std::abort();  // every later test would run in the wrong namespace
    }
  }
  InNetns(const InNetns&) = delete;
  InNetns& operator=(const InNetns&) = delete;

 private:
  UniqueFd original_;
};

// Two namespaces of the test's own joined by a veth pair: "srv" (10.250.0.1, istiod runs there)
// and "cli" (10.250.0.2, the remote peer). Torn down with the Harness, also on failure.
struct RemotePeerNet {
  static constexpr const char* kServerIp = "10.250.0.1";
  static constexpr const char* kClientIp = "10.250.0.2";
  test::Harness h;
  RemotePeerNet() {
    AMBIT_REQUIRE_ROOT();
    AMBIT_REQUIRE_OK(h.netns("srv"));
    AMBIT_REQUIRE_OK(h.netns("cli"));
    AMBIT_REQUIRE_OK(h.veth("srv", "eth0", "cli", "eth0"));
    AMBIT_REQUIRE_OK(h.address("srv", "eth0", str_cat(kServerIp, "/30")));
    AMBIT_REQUIRE_OK(h.address("cli", "eth0", str_cat(kClientIp, "/30")));
    for (const char* ns : {"srv", "cli"}) {
      AMBIT_REQUIRE_OK(h.up(ns, "lo"));
      AMBIT_REQUIRE_OK(h.up(ns, "eth0"));
    }
  }
  std::string srv() const { return h.name("srv"); }
  std::string cli() const { return h.name("cli"); }

  // A plaintext gRPC channel over a TCP connection made from inside namespace `ns` to
  // `host:port`. The socket is connected here, on the test thread, because gRPC would connect
  // from its own threads, which are in the test's original namespace.
  std::shared_ptr<grpc::Channel> channel(const std::string& ns, const std::string& host, int port) const {
    auto nsfd = net::open_netns("/run/netns/" + ns);
    AMBIT_REQUIRE_OK(nsfd);
    auto fd = net::socket_in_netns(nsfd->get(), AF_INET, SOCK_STREAM, 0);
    AMBIT_REQUIRE_OK(fd);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    REQUIRE(::inet_pton(AF_INET, host.c_str(), &a.sin_addr) == 1);
    REQUIRE_MESSAGE(::connect(fd->get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0, "connect to ", host, ":",
                    port, " from ", ns, ": ", std::strerror(errno));
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(64 << 20);
    return grpc::CreateCustomInsecureChannelFromFd(str_cat(host, ":", port), fd->release(), args);
  }
};

// One raw call: `bytes` as the request message of `method`, whatever they are. Returns the status.
grpc::Status raw_call(const std::shared_ptr<grpc::Channel>& ch, const std::string& method, const std::string& bytes,
                      const std::string& bearer) {
  grpc::GenericStub stub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kDeadline);
  if (!bearer.empty()) ctx.AddMetadata("authorization", "Bearer " + bearer);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer req(&slice, 1), resp;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &req, &resp, [&](grpc::Status s) { done.set_value(s); });
  auto f = done.get_future();
  REQUIRE_MESSAGE(f.wait_for(kDeadline + 5s) == std::future_status::ready, "raw call to ", method, " never ended");
  return f.get();
}

// Protobuf wire bytes for a length-delimited field.
std::string field_bytes(int field, const std::string& value) {
  std::string out;
  auto varint = [&](uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  };
  varint(static_cast<uint64_t>(field) << 3 | 2);
  varint(value.size());
  return out + value;
}

}  // namespace

// --- bounds on an ADS stream (hardening finding 8) ---

TEST_CASE("xDS bound: a stream past --xds-max-subscribed-names ends RESOURCE_EXHAUSTED, counted, istiod serves on") {
  Running f;
  AdsStream s(f.tls(), f.token("node1"));
  // Exactly the default limit is allowed, in one request.
  s.subscribe(kAddr, made_up_names(10000, "a"));
  DeltaDiscoveryResponse r = s.expect("initial push for 10000 names");
  CHECK(r.resources_size() == 0);
  s.ack(r);
  // Re-subscribing held names is not counted twice.
  DeltaDiscoveryRequest again;
  again.set_type_url(kAddr);
  for (const auto& n : made_up_names(10, "a")) again.add_resource_names_subscribe(n);
  s.send(again);
  // One more distinct name is past it.
  DeltaDiscoveryRequest more;
  more.set_type_url(kAddr);
  more.add_resource_names_subscribe("Kubernetes//Pod/b/one-too-many");
  s.send(more);
  grpc::Status st = s.finish();
  CHECK(st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK_MESSAGE(st.error_message().find("10001 resource names, above the limit of 10000") != std::string::npos,
                st.error_message());
  CHECK_MESSAGE(st.error_message().find("--xds-max-subscribed-names") != std::string::npos, st.error_message());
  CHECK(f.metric("ambit_xds_limit_rejections{limit=\"subscribed_names\"}") == 1);
  check_serves(f.tls(), f.token("node1"));
}

TEST_CASE("xDS bound: the limit counts every type of a stream and follows --xds-max-subscribed-names") {
  Running f([](IstiodOptions& o) { o.xds_limits.max_subscribed_names = 5; });
  AdsStream s(f.plain(), "");
  s.subscribe(kAddr, made_up_names(3, "a"));
  s.ack(s.expect("address push"));
  s.subscribe("type.googleapis.com/istio.security.Authorization", {"demo/p1", "demo/p2", "demo/p3"});
  grpc::Status st = s.finish();
  CHECK(st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK_MESSAGE(st.error_message().find("6 resource names, above the limit of 5") != std::string::npos,
                st.error_message());
}

TEST_CASE("xDS bound: a name longer than --xds-max-resource-name-length is INVALID_ARGUMENT naming the field") {
  Running f;
  {
    AdsStream s(f.tls(), f.token("node1"));
    s.subscribe(kAddr, {std::string(1024, 'n'), std::string(1025, 'n')});
    grpc::Status st = s.finish();
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_MESSAGE(st.error_message().find("resource_names_subscribe[1] is 1025 bytes long, above the limit of 1024") !=
                      std::string::npos,
                  st.error_message());
    CHECK_MESSAGE(st.error_message().find("--xds-max-resource-name-length") != std::string::npos, st.error_message());
  }
  {
    // Checked before authentication: a long node id is not even logged.
    AdsStream s(f.plain(), "");
    s.subscribe(kAddr, {}, {}, std::string(100000, 'x'));
    grpc::Status st = s.finish();
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_MESSAGE(st.error_message().find("node.id is 100000 bytes long") != std::string::npos, st.error_message());
  }
  {
    AdsStream s(f.plain(), "");
    s.subscribe(kAddr, {}, {{std::string(5000, 'v'), "1"}});
    grpc::Status st = s.finish();
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_MESSAGE(st.error_message().find("initial_resource_versions key is 5000 bytes") != std::string::npos,
                  st.error_message());
  }
  CHECK(f.metric("ambit_xds_limit_rejections{limit=\"name_length\"}") == 3);
  check_serves(f.tls(), f.token("node1"));
}

TEST_CASE("xDS bound: past --xds-max-streams-per-client a client's stream is RESOURCE_EXHAUSTED, a closed one frees its slot") {
  Running f;
  std::string token = f.token("node1");
  std::vector<std::unique_ptr<AdsStream>> open;
  for (int i = 0; i < 16; ++i) {
    open.push_back(std::make_unique<AdsStream>(f.tls(), token));
    open.back()->subscribe(kAddr);
    open.back()->expect("push to an admitted stream");
  }
  {
    AdsStream s(f.tls(), token);
    s.subscribe(kAddr);
    grpc::Status st = s.finish();
    CHECK(st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK_MESSAGE(st.error_message().find("already has 16 ADS streams open") != std::string::npos, st.error_message());
    CHECK_MESSAGE(st.error_message().find("on node node1") != std::string::npos, st.error_message());
    CHECK_MESSAGE(st.error_message().find("--xds-max-streams-per-client") != std::string::npos, st.error_message());
  }
  CHECK(f.metric("ambit_xds_limit_rejections{limit=\"streams_per_client\"}") == 1);
  // Another client (node2's ztunnel) is not affected.
  {
    AdsStream s(f.tls(), f.token("node2"));
    s.subscribe(kAddr, {}, {}, kNodeId, "node2");
    s.expect("push to another client");
  }
  // Closing one stream frees its slot (released when the server sees the stream end).
  open.pop_back();
  auto deadline = std::chrono::steady_clock::now() + kDeadline;
  for (;;) {
    AdsStream s(f.tls(), token);
    s.subscribe(kAddr);
    if (s.next(kDeadline).has_value()) break;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the closed stream's slot was never freed");
    std::this_thread::sleep_for(50ms);
  }
}

// --- the plaintext port (hardening findings 8 and 9) ---

TEST_CASE("plaintext port: a non-loopback --plaintext-address is refused unless --plaintext-allow-remote") {
  for (const char* addr : {"0.0.0.0:0", "[::]:0", ":0", "192.0.2.200:0"}) {
    CAPTURE(addr);
    test::Harness h;
    IstiodOptions o;
    o.config_dir = h.work_dir();
    o.ca_dir = h.work_dir() + "/ca";
    o.grpc_address = "127.0.0.1:0";
    o.plaintext_address = addr;
    o.http_port = 0;
    auto s = Istiod::start(o);
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_MESSAGE(s.status().message().find("is not a loopback address") != std::string::npos, s.status().ToString());
    CHECK_MESSAGE(s.status().message().find("--plaintext-allow-remote") != std::string::npos, s.status().ToString());
  }
  Running f([](IstiodOptions& o) {
    o.plaintext_address = "0.0.0.0:0";
    o.plaintext_allow_remote = true;
  });
  CHECK(f.istiod().plaintext_port() > 0);
}

// istiod runs in a namespace of the test's own ("srv", where its listeners are bound because the
// test thread starts it from there), and the remote peer connects from the other ("cli") over a
// veth pair: a non-loopback peer on any machine, with no traffic outside the test's namespaces.
TEST_CASE("plaintext port: node tokens and anonymous callers from a non-loopback peer are refused, loopback is served") {
  RemotePeerNet net;
  InNetns in_srv(net.srv());
  Running f([](IstiodOptions& o) {
    o.plaintext_address = "0.0.0.0:0";
    o.plaintext_allow_remote = true;
  });
  const int port = f.istiod().plaintext_port();
  auto remote_stub = [&] {
    return AggregatedDiscoveryService::NewStub(net.channel(net.cli(), RemotePeerNet::kServerIp, port));
  };
  auto remote = remote_stub();
  std::string token = f.token("node1");
  {
    AdsStream s(remote.get(), token);
    s.subscribe(kAddr);
    grpc::Status st = s.finish();
    CHECK(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK_MESSAGE(st.error_message().find("node tokens are never accepted over plaintext from a non-loopback peer") !=
                      std::string::npos,
                  st.error_message());
  }
  {
    auto remote = remote_stub();  // the previous call's connection may be closed by now
    AdsStream s(remote.get(), "");
    s.subscribe(kAddr);
    grpc::Status st = s.finish();
    CHECK(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK_MESSAGE(st.error_message().find("use the TLS port") != std::string::npos, st.error_message());
  }
  // The CA on the same port refuses the token too.
  {
    auto ca = istio::v1::auth::IstioCertificateService::NewStub(
        net.channel(net.cli(), RemotePeerNet::kServerIp, port));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kDeadline);
    ctx.AddMetadata("authorization", "Bearer " + token);
    istio::v1::auth::IstioCertificateRequest req;
    req.set_csr("not a csr");
    istio::v1::auth::IstioCertificateResponse resp;
    grpc::Status st = ca->CreateCertificate(&ctx, req, &resp);
    CHECK(st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK_MESSAGE(st.error_message().find("non-loopback") != std::string::npos, st.error_message());
  }
  CHECK(f.metric("pilot_xds_auth_failures{reason=\"unauthenticated\"}") == 2);
  // From loopback (srv's own), the same port serves the token and anonymous debugging.
  for (const std::string& bearer : {token, std::string()}) {
    auto local = AggregatedDiscoveryService::NewStub(net.channel(net.srv(), "127.0.0.1", port));
    check_serves(local.get(), bearer);
  }
}

TEST_CASE("authenticate: plaintext is decided by the peer, TLS is not") {
  auto ca = crypto::CertificateAuthority::create_root("cluster.local", std::chrono::hours(24));
  REQUIRE(ca.ok());
  auto bundle = crypto::TrustBundle::from_pem(ca->root_pem(), "cluster.local");
  REQUIRE(bundle.ok());
  security::NodeTokenIssuer tokens{std::string(security::NodeTokenIssuer::kKeyBytes, 'k')};
  security::Authenticator auth{tokens, *bundle, "cluster.local", /*allow_anonymous_plaintext=*/true};
  auto token = tokens.issue("node1");
  REQUIRE(token.ok());

  // "" when refused, else the method and node.
  auto who = [&](const security::CallCredentials& c) -> std::string {
    auto r = auth.authenticate(c);
    if (!r.ok()) {
      CHECK(r.status().code() == absl::StatusCode::kUnauthenticated);
      return "";
    }
    return str_cat(r->method, " ", r->node);
  };
  security::CallCredentials c;
  c.bearer = *token;
  c.peer = "ipv4:192.0.2.9:4000";
  CHECK(who(c) == "");  // a valid node token, in clear from another host
  c.bearer.reset();
  CHECK(who(c) == "");  // anonymous from another host
  c.loopback = true;
  CHECK(who(c) == "anonymous ");
  c.bearer = *token;
  CHECK(who(c) == "node-token node1");
  // Over TLS the peer's address does not matter.
  c.loopback = false;
  c.secure = true;
  CHECK(who(c) == "node-token node1");
}

TEST_CASE("loopback: gRPC peers and listen addresses") {
  using security::listen_address_is_loopback;
  using security::peer_is_loopback;
  CHECK(peer_is_loopback("ipv4:127.0.0.1:5000"));
  CHECK(peer_is_loopback("ipv4:127.3.2.1:5000"));
  CHECK(peer_is_loopback("ipv6:[::1]:5000"));
  CHECK(peer_is_loopback("ipv6:%5B::1%5D:5000"));
  CHECK(peer_is_loopback("ipv6:[::ffff:127.0.0.1]:5000"));
  CHECK(peer_is_loopback("unix:/run/istiod.sock"));
  CHECK_FALSE(peer_is_loopback("ipv4:192.0.2.1:5000"));
  CHECK_FALSE(peer_is_loopback("ipv6:[::ffff:10.0.0.1]:5000"));
  CHECK_FALSE(peer_is_loopback("ipv6:%5B2001:db8::1%5D:5000"));
  CHECK_FALSE(peer_is_loopback("ipv4:127.0.0.1"));  // no port: not what gRPC sends, refused
  CHECK_FALSE(peer_is_loopback("127.0.0.1:5000"));
  CHECK_FALSE(peer_is_loopback(""));
  CHECK(listen_address_is_loopback("127.0.0.1:15010"));
  CHECK(listen_address_is_loopback("[::1]:15010"));
  CHECK(listen_address_is_loopback("localhost:15010"));
  CHECK(listen_address_is_loopback("unix:/run/istiod.sock"));
  CHECK_FALSE(listen_address_is_loopback("0.0.0.0:15010"));
  CHECK_FALSE(listen_address_is_loopback("[::]:15010"));
  CHECK_FALSE(listen_address_is_loopback(":15010"));
  CHECK_FALSE(listen_address_is_loopback("10.0.0.1:15010"));
  CHECK_FALSE(listen_address_is_loopback("localhost.example.com:15010"));
}

// --- crafted requests (CVE-2022-23635: istiod crashed on a crafted request to its xDS port) ---

TEST_CASE("CVE-2022-23635: malformed and oversized xDS and CA requests are refused, istiod keeps serving") {
  Running f;
  std::string token = f.token("node1");
  auto plain = f.plain_channel("127.0.0.1");
  std::string nested;  // google.protobuf.Value nested far past protobuf's recursion limit
  for (int i = 0; i < 5000; ++i) {  // Value{struct_value: Struct{fields: {"k": <nested>}}}
    nested = field_bytes(5, field_bytes(1, field_bytes(1, "k") + field_bytes(2, nested)));
  }
  const std::vector<std::pair<const char*, std::string>> bodies = {
      {"garbage", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"},
      {"truncated field", field_bytes(1, "node").substr(0, 3)},
      {"invalid UTF-8 in a string field", field_bytes(2, "type.googleapis.com/\xc3\x28")},
      {"length past the end", std::string("\x12\xff\xff\xff\x0f", 5) + "abc"},
      {"invalid UTF-8 in the first string field", field_bytes(1, "\xc3\x28")},
      {"deep nesting", field_bytes(3, field_bytes(1, field_bytes(1, "k") + field_bytes(2, nested)))},
      {"5 MiB (past the 4 MiB receive limit)", field_bytes(2, std::string(5 << 20, 'a'))},
  };
  for (const auto& [what, bytes] : bodies) {
    for (const char* method : {kAdsMethod, kCaMethod}) {
      std::string case_name = str_cat(what, " to ", method);
      CAPTURE(case_name);
      grpc::Status tls = raw_call(f.tls_channel(), method, bytes, token);
      grpc::Status pl = raw_call(plain, method, bytes, "");
      // The CA refuses each. An ADS stream ends: gRPC's callback API reports a message that does
      // not parse to OnReadDone as a failed read, the same as the client going away, so those
      // streams end without a response (status OK); the oversized one is RESOURCE_EXHAUSTED.
      if (std::string(method) == kCaMethod) {
        CHECK_MESSAGE(!tls.ok(), "TLS: ", tls.error_message());
        CHECK_MESSAGE(!pl.ok(), "plaintext: ", pl.error_message());
      }
      if (bytes.size() > (4u << 20)) {
        CHECK(tls.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
        CHECK(pl.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
      }
    }
  }

  // Well-formed messages with hostile content.
  {
    AdsStream s(f.tls(), token);
    s.subscribe(kAddr, {}, {}, "~~~~");
    CHECK(s.finish().error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    AdsStream s(f.plain(), "");
    s.subscribe(std::string(1000, 't'));  // an unknown type is ignored, its name bounded in the log
    DeltaDiscoveryResponse r;
    s.subscribe(kAddr);
    r = s.expect("push after an unknown type");
    DeltaDiscoveryRequest nack;
    nack.set_type_url(kAddr);
    nack.set_response_nonce(r.nonce());
    nack.mutable_error_detail()->set_message(std::string(3 << 20, 'e'));  // held for /debug/connections: truncated
    s.send(nack);
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    for (;;) {
      auto conns = json(http_get(f.istiod().http_port(), "/debug/connections").body);
      const google::protobuf::Struct* nacked = nullptr;
      for (const auto& c : conns.list_value().values()) {
        if (c.struct_value().fields().at("nacks").number_value() == 1) nacked = &c.struct_value();
      }
      if (nacked) {
        CHECK(nacked->fields().at("lastNack").string_value().size() <= 1024);
        break;
      }
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the NACK was never counted");
      std::this_thread::sleep_for(10ms);
    }
  }
  {
    auto ca = istio::v1::auth::IstioCertificateService::NewStub(f.tls_channel());
    for (const std::string& csr : {std::string(""), std::string("-----BEGIN CERTIFICATE REQUEST-----\n"),
                                   str_cat("-----BEGIN CERTIFICATE REQUEST-----\n", std::string(3 << 20, 'A'),
                                           "\n-----END CERTIFICATE REQUEST-----\n")}) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + kDeadline);
      ctx.AddMetadata("authorization", "Bearer " + token);
      istio::v1::auth::IstioCertificateRequest req;
      req.set_csr(csr);
      req.set_validity_duration(-1);
      (*req.mutable_metadata()->mutable_fields())["ImpersonatedIdentity"].mutable_list_value()->add_values();
      istio::v1::auth::IstioCertificateResponse resp;
      CHECK(ca->CreateCertificate(&ctx, req, &resp).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    }
  }

  // Still serving: xDS over both ports, and the CA signs a real CSR.
  check_serves(f.tls(), token);
  check_serves(f.plain(), "");
  auto key = crypto::PrivateKey::generate_p256();
  REQUIRE(key.ok());
  auto sleep = SpiffeId::parse("spiffe://cluster.local/ns/demo/sa/sleep");
  REQUIRE(sleep.ok());
  auto csr = crypto::create_csr(*key, *sleep);
  REQUIRE(csr.ok());
  auto ca = istio::v1::auth::IstioCertificateService::NewStub(f.tls_channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kDeadline);
  ctx.AddMetadata("authorization", "Bearer " + token);
  istio::v1::auth::IstioCertificateRequest req;
  req.set_csr(*csr);
  (*req.mutable_metadata()->mutable_fields())["ImpersonatedIdentity"].set_string_value(sleep->to_string());
  istio::v1::auth::IstioCertificateResponse resp;
  grpc::Status st = ca->CreateCertificate(&ctx, req, &resp);
  CHECK_MESSAGE(st.ok(), st.error_message());
  CHECK(resp.cert_chain_size() == 2);
}
