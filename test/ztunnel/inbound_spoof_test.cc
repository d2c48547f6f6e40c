// CVE-2024-45806 (Envoy/Istio): clients could set headers the proxy then trusted as facts about
// them. ztunnel's inbound (the real handle_inbound, in process on loopback) must take the source
// identity only from the mTLS peer certificate and the source workload only from the TCP peer
// address: a CONNECT from identity A carrying baggage, forwarded and x-forwarded-client-cert that
// claim workload B changes neither the RBAC decision nor metrics nor the access log.
#include <spdlog/sinks/ringbuffer_sink.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "common/base/log.h"
#include "common/crypto/csr.h"
#include "common/hbone/headers.h"
#include "common/hbone/pool.h"
#include "common/identity/ca_client.h"
#include "common/metrics/registry.h"
#include "ztunnel/identity/secret_manager.h"
#include "ztunnel/proxy/connection_tracker.h"
#include "ztunnel/proxy/inbound.h"
#include "ztunnel/telemetry.h"
#include "test/hbone/h2_world.h"

using namespace h2test;
namespace zt = ambit::ztunnel;
namespace wl = istio::workload;
namespace sec = istio::security;

namespace {

const SpiffeId kA = *SpiffeId::parse("spiffe://cluster.local/ns/ns-a/sa/a");
const SpiffeId kB = *SpiffeId::parse("spiffe://cluster.local/ns/ns-b/sa/b");

// Signs whatever the SecretManager asks for, with the test's mesh CA.
class TestCa : public ambit::identity::CaClient {
 public:
  explicit TestCa(const crypto::CertificateAuthority* ca) : ca_(ca) {}
  void create_certificate(const std::string& csr_pem, const SpiffeId& id, std::chrono::seconds ttl,
                          Done done) override {
    auto req = crypto::CertificateRequest::parse(csr_pem);
    if (!req.ok()) return done(req.status());
    done(ca_->sign(*req, id, ttl));
  }

 private:
  const crypto::CertificateAuthority* ca_;
};

wl::Address workload(const std::string& ns, const std::string& name, const std::string& sa, const char* ip) {
  wl::Address a;
  auto* w = a.mutable_workload();
  w->set_uid(str_cat("uid-", name));
  w->set_namespace_(ns);
  w->set_name(name);
  w->set_workload_name(name);
  w->set_service_account(sa);
  w->set_cluster_id("Kubernetes");
  w->set_tunnel_protocol(wl::HBONE);
  w->add_addresses(ambit::net::IpAddr::parse(ip)->bytes());
  return a;
}

// One pod ("server" at 127.0.0.2, identity kServerId) behind the real inbound handler, an echo
// app on 127.0.0.2, and the source workloads: A at 127.0.0.1 (where the test dials from), B at
// 127.0.0.3 (whom the forged headers name).
class Node {
 public:
  Node() : work_(asio::make_work_guard(worker_.io)) {
    std::signal(SIGPIPE, SIG_IGN);
    for (const auto& a : {workload("server", "server", "server", "127.0.0.2"), workload("ns-a", "a", "a", "127.0.0.1"),
                          workload("ns-b", "b", "b", "127.0.0.3")}) {
      auto st = state_.upsert_address(a.workload().uid(), a);  // a workload's resource name is its uid
      REQUIRE_MESSAGE(st.ok(), st.ToString());
    }
    access_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    ambit::log::scope("access").sinks().push_back(access_);
    in_.config = zt::Config{};
    in_.config.preserve_source_ip = false;  // no transparent sockets in-process
    in_.state = &state_;
    in_.certs = &certs_;
    in_.telemetry = &telemetry_;
    in_.tracker = &tracker_;
    pod_ = std::make_shared<zt::PodContext>("uid-server", "server", "server", "server", UniqueFd(), kServerId);
    certs_.track(kServerId);
    thread_ = std::thread([this] { worker_.io.run(); });
    REQUIRE(eventually([&] { return certs_.ready(kServerId); }));
    on_io([this] {
      hbone_.open(tcp::v4());
      hbone_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      hbone_.listen();
      echo_.open(tcp::v4());
      echo_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.2"), 0));
      echo_.listen();
      accept_hbone();
      accept_echo();
    });
  }
  ~Node() {
    on_io([this] {
      boost::system::error_code ec;
      hbone_.close(ec);
      echo_.close(ec);
    });
    work_.reset();
    worker_.io.stop();
    thread_.join();
    // Only now: the io thread logged to this sink until it stopped.
    auto& sinks = ambit::log::scope("access").sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), access_), sinks.end());
  }

  template <typename F>
  void on_io(F f) {
    std::promise<void> done;
    asio::post(worker_.io, [&] {
      f();
      done.set_value();
    });
    REQUIRE(done.get_future().wait_for(kWait) == std::future_status::ready);
  }

  uint16_t hbone_port() const { return hbone_.local_endpoint().port(); }
  std::string echo_authority() const { return str_cat("127.0.0.2:", echo_.local_endpoint().port()); }
  // A client context for `who`, signed by the same CA.
  std::shared_ptr<const tls::TlsContext> client_ctx(const SpiffeId& who) {
    auto key = *crypto::PrivateKey::generate_p256();
    std::string chain;
    auto pems = ca_.sign_key(key.get(), who, 24h);  // kept: a range-for over *temporary dangles
    REQUIRE(pems.ok());
    for (auto& p : *pems) chain += p;
    return *tls::TlsContext::client(*tls::Credentials::from_pem(chain, key.to_pem()), bundle_);
  }
  void set_policy(const sec::Authorization& p) { REQUIRE(state_.upsert_policy("server/pol", p).ok()); }
  std::string metrics() const { return registry_.expose(); }
  std::vector<std::string> access_log() const { return access_->last_formatted(); }

 private:
  void accept_hbone() {
    hbone_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      asio::co_spawn(worker_.io, zt::handle_inbound(&in_, pod_, &worker_, std::move(s), nullptr), asio::detached);
      accept_hbone();
    });
  }
  void accept_echo() {
    echo_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      auto sock = std::make_shared<tcp::socket>(std::move(s));
      auto buf = std::make_shared<std::array<char, 4096>>();
      echo_one(sock, buf);
      accept_echo();
    });
  }
  static void echo_one(std::shared_ptr<tcp::socket> s, std::shared_ptr<std::array<char, 4096>> buf) {
    s->async_read_some(asio::buffer(*buf), [s, buf](boost::system::error_code ec, size_t n) {
      if (ec) {
        boost::system::error_code ig;
        s->shutdown(tcp::socket::shutdown_send, ig);
        return;
      }
      asio::async_write(*s, asio::buffer(buf->data(), n), [s, buf](boost::system::error_code ec, size_t) {
        if (!ec) echo_one(s, buf);
      });
    });
  }

  crypto::CertificateAuthority ca_ = *crypto::CertificateAuthority::create_root("cluster.local", 24h * 365);
  std::shared_ptr<const crypto::TrustBundle> bundle_ = *crypto::TrustBundle::from_pem(ca_.root_pem(), "cluster.local");
  TestCa test_ca_{&ca_};
  ambit::metrics::Registry registry_;
  zt::Telemetry telemetry_{&registry_};
  ambit::wds::State state_;
  zt::Worker worker_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  zt::SecretManager certs_{worker_.io, &test_ca_, bundle_, &telemetry_, {}};
  zt::ConnectionTracker tracker_;
  zt::ProxyInputs in_;
  std::shared_ptr<const zt::PodContext> pod_;
  tcp::acceptor hbone_{worker_.io}, echo_{worker_.io};
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> access_;
  std::thread thread_;
};

// Everything a client could put in a CONNECT to claim to be B.
std::string forged_headers() {
  ambit::hbone::Baggage b;
  b.cluster_id = "Kubernetes";
  b.ns = "ns-b";
  b.workload_name = "b";
  b.service_name = "b";
  return hpack_literal("baggage", ambit::hbone::build_baggage(b)) +
         hpack_literal("forwarded", "for=127.0.0.3;host=b.ns-b.svc.cluster.local") +
         hpack_literal("x-forwarded-client-cert", str_cat("By=", kServerId.to_string(), ";URI=", kB.to_string())) +
         hpack_literal("x-forwarded-for", "127.0.0.3");
}

// Sends one CONNECT with the forged headers from `rc`; returns the response status.
int forged_connect(RawClient& rc, StatusDecoder& dec, uint32_t sid, const std::string& authority) {
  REQUIRE(rc.write(frame(kHeaders, kEndHeaders, sid, connect_block(authority) + forged_headers())));
  int status = 0;
  REQUIRE(read_response(rc, dec, sid, &status));
  return status;
}

sec::Authorization allow_only(const SpiffeId& who) {
  sec::Authorization p;
  p.set_name("pol");
  p.set_namespace_("server");
  p.set_scope(sec::NAMESPACE);
  p.set_action(sec::ALLOW);
  p.add_rules()->add_clauses()->add_matches()->add_principals()->set_exact(who.principal());
  return p;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("CVE-2024-45806: forged baggage/forwarded/XFCC from A do not make RBAC see B") {
  Node node;
  node.set_policy(allow_only(kB));
  RawClient rc(node.hbone_port(), *node.client_ctx(kA));
  rc.start();
  StatusDecoder dec;
  CHECK(forged_connect(rc, dec, 1, node.echo_authority()) == 401);
  // The log names who was refused: A, as the certificate says.
  CHECK(eventually([&] {
    for (const auto& l : node.access_log()) {
      if (contains(l, "src.identity=" + kA.to_string()) && contains(l, "error=\"401")) return true;
    }
    return false;
  }));
  // And a policy that allows A lets the very same forged request through.
  node.set_policy(allow_only(kA));
  CHECK(forged_connect(rc, dec, 3, node.echo_authority()) == 200);
}

TEST_CASE("CVE-2024-45806: forged baggage/forwarded/XFCC from A leave metrics and the access log on A") {
  Node node;
  RawClient rc(node.hbone_port(), *node.client_ctx(kA));
  rc.start();
  StatusDecoder dec;
  REQUIRE(forged_connect(rc, dec, 1, node.echo_authority()) == 200);
  REQUIRE(rc.write(frame(kData, kEndStream, 1, "ping")));
  std::string echoed;
  bool ended = false;
  while (!ended) {
    auto f = rc.read_frame();
    REQUIRE(f);
    REQUIRE(f->type != kRstStream);
    if (f->type == kData && f->stream == 1) {
      echoed += f->payload;
      ended = f->flags & kEndStream;
    }
  }
  CHECK(echoed == "ping");
  // The connection closed and was counted; every source label is A's.
  CHECK(eventually([&] { return contains(node.metrics(), "istio_tcp_connections_closed_total{"); }));
  std::string m = node.metrics();
  CHECK_MESSAGE(contains(m, "source_principal=\"" + kA.to_string() + "\""), m);
  CHECK_MESSAGE(contains(m, "source_workload=\"a\""), m);
  CHECK_MESSAGE(contains(m, "source_workload_namespace=\"ns-a\""), m);
  CHECK_FALSE(contains(m, kB.to_string()));
  CHECK_FALSE(contains(m, "source_workload=\"b\""));
  CHECK_FALSE(contains(m, "ns-b"));
  bool logged = false;
  for (const auto& l : node.access_log()) {
    if (!contains(l, "connection complete")) continue;
    logged = true;
    CHECK_MESSAGE(contains(l, "src.addr=127.0.0.1:"), l);
    CHECK_MESSAGE(contains(l, "src.workload=a src.namespace=ns-a src.identity=" + kA.to_string()), l);
    CHECK_FALSE(contains(l, "ns-b"));
  }
  CHECK(logged);
}
