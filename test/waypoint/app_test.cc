// The waypoint app in-process (ports 0, a local CA as ztunnel's tests use it) against a minimal
// ADS server written here: TLS with a serving certificate for istiod's name, client certificates
// required and verified against the mesh root, as istiod's 15012 does. The server records what
// the waypoint sends (node id, metadata, the identity its certificate proves, any bearer token)
// and answers each subscription with a fixed set of resources, one of them bad.
//
// Checked: the xDS contract istiod's waypoint config relies on (docs/waypoint-config.md), the
// certificate, sync, readiness (and why it is not ready), /config_dump, /metrics, NACKs and drain.
// istiod's own serving of the L7 type is tested in istiod's tests; this test does not need it.
//
// Every wait is bounded by a deadline.
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ambit/waypoint/v1/resource.pb.h"
#include "common/base/strings.h"
#include "common/crypto/ca.h"
#include "common/crypto/certificate.h"
#include "common/crypto/private_key.h"
#include "common/crypto/trust.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "istio/workload/workload.pb.h"
#include "test/istiod/xds_client.h"
#include "test/support/harness.h"
#include "test/support/root.h"
#include "waypoint/app.h"
#include "waypoint/state/l7_config.h"
#include "waypoint/xds_client.h"

using namespace ambit;
using namespace std::chrono_literals;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using nlohmann::json;
using test::xds_client::http_get;
namespace v1 = ::ambit::waypoint::v1;

namespace {

constexpr auto kWait = 20s;
const std::string kSvcKey = "demo/echo.demo.svc.cluster.local";
const std::string kListenerKey = "listener/demo/echo.demo.svc.cluster.local:80";
const std::string kRouteKey = "route/HTTPRoute/demo/echo-split";

net::IpAddr ip(const char* s) { return *net::IpAddr::parse(s); }

std::map<std::string, std::string> address_resources() {
  std::map<std::string, std::string> out;
  istio::workload::Address s;
  auto* svc = s.mutable_service();
  svc->set_name("echo");
  svc->set_namespace_("demo");
  svc->set_hostname("echo.demo.svc.cluster.local");
  svc->add_addresses()->set_address(ip("10.96.0.20").bytes());
  auto* port = svc->add_ports();
  port->set_service_port(80);
  port->set_target_port(8080);
  out[kSvcKey] = s.SerializeAsString();
  istio::workload::Address w;
  auto* wl = w.mutable_workload();
  wl->set_uid("Kubernetes//Pod/demo/echo-1");
  wl->set_name("echo-1");
  wl->set_namespace_("demo");
  wl->set_service_account("echo");
  wl->set_status(istio::workload::HEALTHY);
  wl->set_tunnel_protocol(istio::workload::HBONE);
  wl->add_addresses(ip("10.40.2.6").bytes());
  auto& ports = (*wl->mutable_services())[kSvcKey];
  auto* p = ports.add_ports();
  p->set_service_port(80);
  p->set_target_port(8080);
  out[wl->uid()] = w.SerializeAsString();
  return out;
}

// A listener, a 90/10 route and the mesh settings; plus a route sent under the wrong name, which
// the waypoint must NACK by name and not apply.
std::map<std::string, std::string> l7_resources() {
  std::map<std::string, std::string> out;
  v1::Resource l;
  auto* li = l.mutable_listener();
  li->mutable_service()->set_namespace_("demo");
  li->mutable_service()->set_hostname("echo.demo.svc.cluster.local");
  li->add_addresses()->set_address(ip("10.96.0.20").bytes());
  li->set_port(80);
  out[kListenerKey] = l.SerializeAsString();
  v1::Resource r;
  auto* route = r.mutable_route();
  route->set_namespace_("demo");
  route->set_name("echo-split");
  auto* parent = route->add_parents();
  parent->mutable_service()->set_namespace_("demo");
  parent->mutable_service()->set_hostname("echo.demo.svc.cluster.local");
  parent->set_port(80);
  auto* rule = route->add_rules();
  rule->set_name("split");
  for (uint32_t weight : {90u, 10u}) {
    auto* b = rule->add_backends();
    b->mutable_ref()->mutable_service()->set_namespace_("demo");
    b->mutable_ref()->mutable_service()->set_hostname("echo.demo.svc.cluster.local");
    b->mutable_ref()->set_port(80);
    b->set_weight(weight);
  }
  out[kRouteKey] = r.SerializeAsString();
  v1::Resource mesh;
  mesh.mutable_mesh()->set_path_normalization(v1::MeshSettings::MERGE_SLASHES);
  out["mesh"] = mesh.SerializeAsString();
  out["route/HTTPRoute/demo/misnamed"] = r.SerializeAsString();  // content keyed echo-split
  return out;
}

// What one stream told the server.
struct Seen {
  std::string node_id;
  std::map<std::string, std::string> metadata;
  std::string client_identity;  // from the verified client certificate
  std::string bearer;           // an authorization header, if any
  std::set<std::string> subscribed;
  std::vector<std::string> nacks;  // error_detail messages
  int acks = 0;
};

class FakeIstiod final : public AggregatedDiscoveryService::Service {
 public:
  explicit FakeIstiod(const crypto::CertificateAuthority& ca) : roots_(*crypto::TrustBundle::from_pem(ca.root_pem(), "cluster.local")) {
    auto key = crypto::PrivateKey::generate_p256();
    REQUIRE(key.ok());
    auto chain = ca.sign_key(key->get(), *SpiffeId::make("cluster.local", "istio-system", "istiod"), 1h,
                             {"istiod.istio-system.svc"});
    REQUIRE(chain.ok());
    grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    o.pem_root_certs = ca.root_pem();
    o.pem_key_cert_pairs.push_back({key->to_pem(), join(*chain, "")});
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(o), &port_);
    b.RegisterService(this);
    server_ = b.BuildAndStart();
    REQUIRE(server_);
    REQUIRE(port_ > 0);
  }
  ~FakeIstiod() override { server_->Shutdown(std::chrono::system_clock::now() + 1s); }

  std::string address() const { return str_cat("127.0.0.1:", port_); }

  grpc::Status DeltaAggregatedResources(
      grpc::ServerContext* ctx, grpc::ServerReaderWriter<DeltaDiscoveryResponse, DeltaDiscoveryRequest>* stream) override {
    Seen seen;
    auto md = ctx->client_metadata().find("authorization");
    if (md != ctx->client_metadata().end()) seen.bearer = std::string(md->second.data(), md->second.size());
    auto pems = ctx->auth_context()->FindPropertyValues("x509_pem_cert");
    if (!pems.empty()) {
      auto chain = crypto::parse_pem_chain(std::string(pems.front().data(), pems.front().size()));
      if (chain.ok()) {
        auto peer = crypto::verify_chain(*chain, *roots_, crypto::Purpose::kClient);
        if (peer.ok()) seen.client_identity = peer->to_string();
      }
    }
    DeltaDiscoveryRequest req;
    int nonce = 0;
    while (stream->Read(&req)) {
      if (req.has_node()) {
        seen.node_id = req.node().id();
        for (const auto& [k, v] : req.node().metadata().fields()) seen.metadata[k] = v.string_value();
      }
      if (!req.response_nonce().empty()) {
        if (req.has_error_detail()) {
          seen.nacks.push_back(req.error_detail().message());
        } else {
          ++seen.acks;
        }
      } else {
        // A subscription: answer with this type's resources (an empty response for a type the
        // server does not know, as istiod answers every subscribed type).
        seen.subscribed.insert(req.type_url());
        DeltaDiscoveryResponse resp;
        resp.set_type_url(req.type_url());
        resp.set_nonce(str_cat("n", ++nonce));
        std::map<std::string, std::string> rs;
        if (req.type_url() == waypoint::kAddressTypeUrl) rs = address_resources();
        if (req.type_url() == waypoint::kResourceTypeUrl) rs = l7_resources();
        for (const auto& [name, bytes] : rs) {
          auto* r = resp.add_resources();
          r->set_name(name);
          r->set_version("v1");
          r->mutable_resource()->set_type_url(req.type_url());
          r->mutable_resource()->set_value(bytes);
        }
        if (!stream->Write(resp)) break;
      }
      publish(seen);
    }
    return grpc::Status::OK;
  }

  // The latest stream's view once `pred` holds, or fails the test at the deadline.
  Seen wait_for(const std::function<bool(const Seen&)>& pred) {
    std::unique_lock lock(mu_);
    bool ok = cv_.wait_for(lock, kWait, [&] { return pred(seen_); });
    REQUIRE_MESSAGE(ok, "the fake istiod never saw what the test waited for");
    return seen_;
  }

 private:
  void publish(const Seen& s) {
    std::lock_guard lock(mu_);
    seen_ = s;
    cv_.notify_all();
  }

  std::shared_ptr<const crypto::TrustBundle> roots_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  Seen seen_;
};

waypoint::Config test_config(const std::string& xds_address) {
  waypoint::Config c;
  c.name = "waypoint";
  c.ns = "demo";
  c.pod_name = "waypoint-0";
  c.pod_ip = "127.0.0.1";
  c.xds_address = xds_address;
  c.hbone_host = "127.0.0.1";
  c.hbone_port = 0;
  c.admin_port = 0;
  c.stats_host = "127.0.0.1";
  c.stats_port = 0;
  c.readiness_host = "127.0.0.1";
  c.readiness_port = 0;
  c.drain_deadline = 1s;
  return c;
}

// GET until `pred` holds for the response, or the deadline.
test::xds_client::HttpResponse poll(int port, const std::string& path,
                                    const std::function<bool(const test::xds_client::HttpResponse&)>& pred) {
  auto deadline = std::chrono::steady_clock::now() + kWait;
  for (;;) {
    auto r = http_get(port, path);
    if (pred(r)) return r;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "GET ", path, " never got there: ", r.status, " ",
                    r.body);
    std::this_thread::sleep_for(20ms);
  }
}

bool connects(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
}

}  // namespace

TEST_CASE("waypoint xDS node: the id, role and identity metadata istiod's waypoint config checks") {
  waypoint::Config c;
  c.name = "reviews-wp";
  c.ns = "bookinfo";
  c.pod_name = "reviews-wp-0";
  c.pod_ip = "10.40.1.9";
  auto n = waypoint::waypoint_node(c);
  CHECK(n.id == "waypoint~10.40.1.9~reviews-wp-0.bookinfo~bookinfo.svc.cluster.local");
  CHECK(n.metadata.at("role") == "bookinfo~reviews-wp");
  CHECK(n.metadata.at("NAMESPACE") == "bookinfo");
  CHECK(n.metadata.at("INSTANCE_IPS") == "10.40.1.9");
  // Without POD_NAME / POD_IP (run by hand): the Gateway's name and loopback.
  c.pod_name.clear();
  c.pod_ip.clear();
  CHECK(waypoint::waypoint_node(c).id == "waypoint~127.0.0.1~reviews-wp.bookinfo~bookinfo.svc.cluster.local");
}

TEST_CASE("waypoint app: own certificate, xDS over mTLS as the Gateway's identity, synced, ready, /config_dump shows what was sent") {
  auto ca = crypto::CertificateAuthority::create_root("cluster.local", 24h * 365);
  REQUIRE(ca.ok());
  FakeIstiod istiod(*ca);
  auto app = waypoint::App::start(test_config(istiod.address()), &*ca);
  REQUIRE_MESSAGE(app.ok(), app.status().ToString());

  poll((*app)->readiness_port(), "/healthz/ready", [](const auto& r) { return r.status == 200; });
  CHECK((*app)->ready().ok());

  // The contract: node id and role naming the Gateway, the Gateway's service account proven by
  // the client certificate, and no bearer token (istiod would try it before the certificate).
  Seen seen = istiod.wait_for([](const Seen& s) { return s.acks + s.nacks.size() >= 2; });
  CHECK(seen.node_id == "waypoint~127.0.0.1~waypoint-0.demo~demo.svc.cluster.local");
  CHECK(seen.metadata["role"] == "demo~waypoint");
  CHECK(seen.client_identity == "spiffe://cluster.local/ns/demo/sa/waypoint");
  CHECK(seen.bearer.empty());
  CHECK(seen.subscribed == std::set<std::string>{waypoint::kAddressTypeUrl, waypoint::kResourceTypeUrl});
  // The misnamed route is NACKed by name; the rest of its response was applied and ACKed.
  REQUIRE(seen.nacks.size() == 1);
  CHECK(seen.nacks[0].find("route/HTTPRoute/demo/misnamed") != std::string::npos);
  CHECK(seen.acks == 1);

  // What the data path reads.
  const waypoint::ProxyInputs& in = (*app)->inputs();
  REQUIRE(in.cert->get() != nullptr);
  CHECK(in.cert->get()->creds.identity.to_string() == "spiffe://cluster.local/ns/demo/sa/waypoint");
  CHECK(in.self.to_string() == "spiffe://cluster.local/ns/demo/sa/waypoint");
  auto snap = in.l7->current();
  REQUIRE(snap->listener_for("10.96.0.20:80") != nullptr);
  CHECK(snap->normalization == waypoint::l7::PathNormalization::kMergeSlashes);
  CHECK(in.wds->service_by_host(kSvcKey) != nullptr);
  CHECK(in.wds->endpoints(kSvcKey).size() == 1);
  CHECK(in.settings.hbone_port == 15008);  // upstream ztunnels', not our ephemeral listener's

  // /config_dump on the admin port: the resources as protobuf JSON, WDS, the certificate.
  auto dump = http_get((*app)->admin_port(), "/config_dump");
  REQUIRE(dump.status == 200);
  json j = json::parse(dump.body);
  CHECK(j["waypoint"]["gateway"] == "demo/waypoint");
  CHECK(j["waypoint"]["identity"] == "spiffe://cluster.local/ns/demo/sa/waypoint");
  CHECK(j["waypoint"]["readiness"] == "ready");
  CHECK(j["xds"]["synced"] == true);
  CHECK(j["certificate"]["state"] == "Available");
  CHECK(j["certificate"]["certChain"].size() >= 1);
  const json& res = j["l7"]["resources"];
  CHECK(res.size() == 3);
  CHECK_FALSE(res.contains("route/HTTPRoute/demo/misnamed"));
  REQUIRE(res.contains(kRouteKey));
  CHECK(res[kRouteKey]["route"]["name"] == "echo-split");
  CHECK(res[kRouteKey]["route"]["rules"][0]["backends"][0]["weight"] == 90);
  CHECK(res[kRouteKey]["route"]["rules"][0]["backends"][1]["weight"] == 10);
  CHECK(res[kListenerKey]["listener"]["port"] == 80);
  CHECK(res["mesh"]["mesh"]["pathNormalization"] == "MERGE_SLASHES");
  CHECK(j["l7"]["pathNormalization"] == std::string(waypoint::l7::to_string(waypoint::l7::PathNormalization::kMergeSlashes)));
  CHECK(j["l7"]["errors"].empty());
  REQUIRE(j["wds"]["services"].size() == 1);
  CHECK(j["wds"]["services"][0]["key"] == kSvcKey);
  CHECK(j["wds"]["services"][0]["endpoints"][0]["addresses"][0] == "10.40.2.6");
  CHECK(j["wds"]["workloads"] == 1);

  // /metrics on the stats port: the families are registered before any request, the NACK counted.
  auto m = http_get((*app)->stats_port(), "/metrics");
  REQUIRE(m.status == 200);
  for (const char* family : {"# TYPE istio_requests_total counter", "# TYPE istio_request_duration_milliseconds histogram",
                             "# TYPE istio_request_bytes histogram", "# TYPE istio_response_bytes histogram",
                             "# TYPE istio_tcp_sent_bytes_total counter", "# TYPE istio_tcp_received_bytes_total counter",
                             "# TYPE istio_tcp_connections_opened_total counter",
                             "# TYPE istio_tcp_connections_closed_total counter",
                             "istio_build{component=\"waypoint\"", "waypoint_xds_connected 1",
                             "waypoint_certificate_fetches_total{result=\"success\"} 1",
                             "istio_xds_message_rejected_total{url=\"type.googleapis.com/ambit.waypoint.v1.Resource\"} 1"}) {
    CHECK_MESSAGE(m.body.find(family) != std::string::npos, family);
  }
  // /logging is there (admin port only).
  CHECK(http_get((*app)->admin_port(), "/logging").status == 200);

  // The HBONE listener accepts (what it does with a connection is the data path's).
  CHECK(connects((*app)->hbone_port()));

  // Drain: readiness says so, the listener closes, the app stops within the deadline.
  (*app)->drain();
  CHECK((*app)->ready().message() == "draining");
  std::thread waiter([&] { (*app)->wait(); });
  waiter.join();
  CHECK_FALSE(connects((*app)->hbone_port()));
}

TEST_CASE("waypoint app: not ready, with the reason, until it has a certificate and has synced") {
  auto ca = crypto::CertificateAuthority::create_root("cluster.local", 24h * 365);
  REQUIRE(ca.ok());
  test::Harness h;
  std::string root = h.work_dir() + "/root-cert.pem";
  std::string token = h.work_dir() + "/token";
  AMBIT_REQUIRE_OK(crypto::write_file_atomic(root, ca->root_pem()));
  AMBIT_REQUIRE_OK(crypto::write_file_atomic(token, "ambit-sa.v1.demo/waypoint-0/uid/waypoint.00"));

  struct Case {
    const char* name;
    bool local_ca;       // else: a CA address where nothing listens
    std::string reason;  // in the 503 body
  };
  for (const Case& c : std::vector<Case>{
           {"no CA answers: no certificate", false, "no certificate yet for spiffe://cluster.local/ns/demo/sa/waypoint"},
           {"certificate, but istiod does not answer: not synced", true, "xDS not synced yet with 127.0.0.1:1"},
       }) {
    CAPTURE(c.name);
    waypoint::Config cfg = test_config("127.0.0.1:1");  // nothing listens on port 1
    cfg.root_cert_path = root;
    cfg.token_file = token;
    auto app = waypoint::App::start(cfg, c.local_ca ? &*ca : nullptr);
    REQUIRE_MESSAGE(app.ok(), app.status().ToString());
    // The state settles (a certificate, when there is a CA) and then stays not ready.
    if (c.local_ca) {
      auto deadline = std::chrono::steady_clock::now() + kWait;
      while (!(*app)->inputs().cert->get()) {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        std::this_thread::sleep_for(20ms);
      }
    }
    auto r = http_get((*app)->readiness_port(), "/healthz/ready");
    CHECK(r.status == 503);
    CHECK_MESSAGE(r.body.find(c.reason) != std::string::npos, r.body);
    auto dump = json::parse(http_get((*app)->admin_port(), "/config_dump").body);
    CHECK(dump["waypoint"]["readiness"].get<std::string>().find(c.reason) != std::string::npos);
    CHECK(dump["xds"]["synced"] == false);
  }
}

TEST_CASE("waypoint app: bad configuration is refused with what is wrong") {
  auto ca = crypto::CertificateAuthority::create_root("cluster.local", 24h * 365);
  REQUIRE(ca.ok());
  test::Harness h;
  std::string root = h.work_dir() + "/root-cert.pem";
  std::string garbage = h.work_dir() + "/garbage.pem";
  AMBIT_REQUIRE_OK(crypto::write_file_atomic(root, ca->root_pem()));
  AMBIT_REQUIRE_OK(crypto::write_file_atomic(garbage, "not a certificate\n"));
  // A port that is taken.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor busy(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  uint16_t busy_port = busy.local_endpoint().port();

  struct Case {
    const char* name;
    std::function<void(waypoint::Config&)> edit;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {"no Gateway name", [](waypoint::Config& x) { x.name.clear(); }, "--name"},
           {"no namespace", [](waypoint::Config& x) { x.ns.clear(); }, "--namespace"},
           {"a Gateway name that cannot be an identity", [](waypoint::Config& x) { x.name = "a/b"; },
            "the identity of waypoint demo/a/b"},
           {"no root certificate", [](waypoint::Config& x) { x.root_cert_path.clear(); }, "--root-cert"},
           {"an unreadable root certificate", [](waypoint::Config& x) { x.root_cert_path = "/nonexistent/root.pem"; },
            "--root-cert /nonexistent/root.pem"},
           {"a root certificate that is not one", [&](waypoint::Config& x) { x.root_cert_path = garbage; },
            "mesh root certificate"},
           {"no token for the CA", [](waypoint::Config& x) { x.token_file.clear(); }, "--token-file"},
           {"no CA address", [](waypoint::Config& x) { x.xds_address.clear(), x.ca_address.clear(); }, "--ca-address"},
           {"no workers", [](waypoint::Config& x) { x.workers = 0; }, "--workers 0"},
           {"an HBONE host that is not an address", [](waypoint::Config& x) { x.hbone_host = "not-an-ip"; },
            "HBONE address: 'not-an-ip'"},
           {"an HBONE port that is taken", [&](waypoint::Config& x) { x.hbone_port = busy_port; },
            str_cat("HBONE listener on 127.0.0.1:", busy_port)},
       }) {
    CAPTURE(c.name);
    waypoint::Config cfg = test_config("127.0.0.1:1");
    cfg.root_cert_path = root;
    cfg.token_file = h.work_dir() + "/token";
    c.edit(cfg);
    auto app = waypoint::App::start(cfg);
    REQUIRE_FALSE(app.ok());
    CHECK_MESSAGE(std::string(app.status().message()).find(c.error) != std::string::npos, app.status().ToString());
  }
}
