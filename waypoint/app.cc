#include "waypoint/app.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/admin/admin_server.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/crypto/trust.h"
#include "common/identity/ca_client.h"
#include "common/identity/rotating_cert.h"
#include "common/metrics/registry.h"
#include "common/wds/state.h"
#include "waypoint/config_dump.h"
#include "waypoint/proxy/inbound.h"
#include "waypoint/state/l7_config.h"
#include "waypoint/telemetry.h"
#include "waypoint/xds_client.h"

namespace ambit::waypoint {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

spdlog::logger& lg() { return log::scope("waypoint"); }

// One data-path thread: an io_context of its own, so a connection lives on one thread from
// accept to close.
struct Worker {
  asio::io_context io{1};
  std::thread thread;
};

absl::StatusOr<tcp::endpoint> endpoint_of(const std::string& host, uint16_t port, const char* what) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return absl::InvalidArgumentError(str_cat(what, ": '", host, "' is not an IP address"));
  return tcp::endpoint(addr, port);
}

class AppImpl final : public App {
 public:
  AppImpl(const Config& c, SpiffeId id)
      : config_(c), identity_(std::move(id)), wds_(c.trust_domain), telemetry_(&registry_, &wds_) {}

  ~AppImpl() override { stop(); }

  absl::Status init(const crypto::CertificateAuthority* local_ca) {
    const Config& c = config_;
    if (c.workers < 1 || c.workers > 256) {
      return absl::InvalidArgumentError(str_cat("--workers ", c.workers, " is out of range 1-256"));
    }
    if (local_ca) {
      root_pem_ = local_ca->root_pem();
    } else {
      if (c.root_cert_path.empty()) return absl::InvalidArgumentError("--root-cert (or $CA_ROOT_CA) is required");
      auto pem = crypto::read_file(c.root_cert_path);
      if (!pem.ok()) return annotate(pem.status(), str_cat("--root-cert ", c.root_cert_path));
      root_pem_ = *pem;
    }
    auto bundle = crypto::TrustBundle::from_pem(root_pem_, c.trust_domain);
    if (!bundle.ok()) return annotate(bundle.status(), "mesh root certificate");

    if (local_ca) {
      ca_client_ = std::make_unique<identity::LocalCaClient>(local_ca);
    } else {
      std::string ca_address = c.ca_address.empty() ? c.xds_address : c.ca_address;
      if (ca_address.empty()) return absl::InvalidArgumentError("--ca-address (or $CA_ADDRESS) is required");
      if (c.token_file.empty()) {
        return absl::InvalidArgumentError("--token-file (or $AMBIT_SA_TOKEN_FILE) is required: the CA grants the "
                                          "identity the pod's service-account token proves");
      }
      // A workload asking for its own identity: no ImpersonatedIdentity (that is for node agents).
      ca_client_ = std::make_unique<identity::GrpcCaClient>(
          xds::make_istiod_channel(ca_address, root_pem_, c.istiod_san), c.token_file,
          identity::GrpcCaClient::Mode::kOwnIdentity);
    }
    identity::RenewalPolicy policy;
    policy.ttl = c.cert_ttl;
    cert_ = std::make_unique<identity::RotatingCertificate>(control_, ca_client_.get(), *bundle, identity_, policy);
    cert_->on_update([this](const identity::WorkloadCertPtr&, const absl::Status& err) {
      telemetry_.cert_fetches.with({err.ok() ? "success" : "error"}).inc();
      if (err.ok()) {
        lg().info("certificate for {} ({})", identity_.to_string(), cert_->state());
        start_xds();  // istiod serves the L7 config only to this certificate
      } else {
        lg().warn("certificate for {}: {}", identity_.to_string(), err.message());
      }
    });

    if (!c.xds_address.empty()) {
      xds_ = make_xds_client([this] { return xds_channel(); }, c, &wds_, &l7_, &telemetry_);
    }

    ProxySettings settings;
    settings.trust_domain = c.trust_domain;
    settings.cluster_id = c.cluster_id;
    settings.hbone_port = c.upstream_hbone_port;
    inputs_ = std::make_unique<ProxyInputs>(ProxyInputs{
        .wds = &wds_, .l7 = &l7_, .cert = cert_.get(), .telemetry = &telemetry_, .self = identity_, .settings = settings});

    for (int i = 0; i < c.workers; ++i) workers_.push_back(std::make_unique<Worker>());

    // HBONE listener, then the three HTTP ports, as Istio's waypoint: admin (loopback), stats,
    // readiness.
    AMBIT_ASSIGN_OR_RETURN(auto hbone_ep, endpoint_of(c.hbone_host, c.hbone_port, "HBONE address"));
    boost::system::error_code ec;
    acceptor_ = std::make_unique<tcp::acceptor>(control_);
    acceptor_->open(hbone_ep.protocol(), ec);
    if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_->bind(hbone_ep, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(str_cat("HBONE listener on ", c.hbone_host, ":", c.hbone_port, ": ", ec.message()));
    }
    hbone_port_ = acceptor_->local_endpoint().port();

    admin_ = std::make_unique<admin::AdminServer>(control_);
    admin_->add_config_dump([this] { return config_dump(); });
    admin_->add_logging();
    admin_->add_quit([this] { drain(); });
    admin_->add_metrics(&registry_);
    stats_ = std::make_unique<admin::AdminServer>(control_);
    stats_->add_metrics(&registry_);
    readiness_ = std::make_unique<admin::AdminServer>(control_);
    readiness_->add_readiness([this] { return ready(); });
    for (auto [srv, host, port] : {std::tuple{admin_.get(), c.admin_host, c.admin_port},
                                   std::tuple{stats_.get(), c.stats_host, c.stats_port},
                                   std::tuple{readiness_.get(), c.readiness_host, c.readiness_port}}) {
      AMBIT_RETURN_IF_ERROR(srv->listen(host, port));
    }

    for (auto& w : workers_) {
      Worker* wp = w.get();
      wp->thread = std::thread([wp] {
        auto guard = asio::make_work_guard(wp->io);
        wp->io.run();
      });
    }
    control_thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(control_);
      control_.run();
    });
    hbone_open_ = true;
    asio::post(control_, [this] { accept_next(); });
    cert_->start();
    lg().info("waypoint {}/{} started as {}: {} workers, HBONE {}, admin {}, stats {}, readiness {}, xDS {}", c.ns,
              c.name, identity_.to_string(), workers_.size(), hbone_port_, admin_->port(), stats_->port(),
              readiness_->port(), c.xds_address.empty() ? "off" : c.xds_address);
    return absl::OkStatus();
  }

  absl::Status ready() const override {
    if (draining_) return absl::UnavailableError("draining");
    if (!cert_->get()) return absl::UnavailableError(str_cat("no certificate yet for ", identity_.to_string(), " (",
                                                             cert_->state(), ")"));
    if (xds_ && !xds_->synced()) {
      return absl::UnavailableError(str_cat("xDS not synced yet with ", config_.xds_address,
                                            xds_->connected() ? "" : " (not connected)"));
    }
    if (!hbone_open_) return absl::UnavailableError("the HBONE listener is not open");
    return absl::OkStatus();
  }

  void drain() override {
    bool expected = false;
    if (!draining_.compare_exchange_strong(expected, true)) return;
    std::thread([this] {
      lg().info("draining: readiness 503, HBONE listener closed, up to {}s for the connections being served",
                config_.drain_deadline.count());
      asio::post(control_, [this] { close_acceptor(); });
      auto deadline = std::chrono::steady_clock::now() + config_.drain_deadline;
      while (serving_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (size_t left = serving_.load()) lg().warn("drain deadline: closing {} connections still served", left);
      stop();
      std::lock_guard lock(done_mu_);
      done_ = true;
      done_cv_.notify_all();
    }).detach();
  }

  void wait() override {
    std::unique_lock lock(done_mu_);
    done_cv_.wait(lock, [this] { return done_; });
  }

  uint16_t hbone_port() const override { return hbone_port_; }
  uint16_t admin_port() const override { return admin_->port(); }
  uint16_t stats_port() const override { return stats_->port(); }
  uint16_t readiness_port() const override { return readiness_->port(); }
  const ProxyInputs& inputs() const override { return *inputs_; }

 private:
  // Once, after the first certificate (on the control thread).
  void start_xds() {
    std::lock_guard lock(xds_mu_);
    if (!xds_ || xds_started_ || stopped_) return;
    xds_started_ = true;
    xds_->start();
  }

  // The channel for the next xDS session: mTLS with the certificate held now. A new channel when
  // the certificate was renewed (the old one's handshake credentials would expire with it);
  // nullptr while none is held (the client retries).
  std::shared_ptr<grpc::Channel> xds_channel() {
    auto cert = cert_->get();
    std::lock_guard lock(channel_mu_);
    if (!cert) return nullptr;
    if (cert != channel_cert_) {
      channel_ = xds::make_istiod_mtls_channel(config_.xds_address, root_pem_, config_.istiod_san,
                                               crypto::chain_to_pem(cert->creds.chain), cert->creds.key.to_pem());
      channel_cert_ = cert;
    }
    return channel_;
  }

  // On the control thread: accept, then move the connection to the next worker's io_context.
  // The accept itself stays on the control context (no operation of one context holds an
  // object of another, so either can be torn down first).
  void accept_next() {
    if (!acceptor_ || !acceptor_->is_open()) return;
    acceptor_->async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
      if (ec) {
        // EMFILE and the like: the pending connection stays readable, so accepting again at once
        // would spin a core until something closes. Back off briefly.
        lg().warn("HBONE accept: {}; retrying in 100 ms", ec.message());
        auto t = std::make_shared<asio::steady_timer>(control_, std::chrono::milliseconds(100));
        t->async_wait([this, t](boost::system::error_code) { accept_next(); });
        return;
      }
      Worker& w = *workers_[next_worker_++ % workers_.size()];
      auto protocol = s.local_endpoint(ec).protocol();
      boost::system::error_code rec;
      tcp::socket moved(w.io, protocol, s.release(rec));
      if (ec || rec) {
        lg().warn("HBONE accept: cannot hand the connection to a worker: {}", (ec ? ec : rec).message());
        accept_next();
        return;
      }
      serving_.fetch_add(1);
      asio::co_spawn(
          w.io,
          [this, &w, s = std::move(moved)]() mutable -> asio::awaitable<void> {
            co_await serve_hbone(inputs_.get(), w.io, std::move(s));
          },
          [this](std::exception_ptr e) {
            serving_.fetch_sub(1);
            if (e) {
              try {
                std::rethrow_exception(e);
              } catch (const std::exception& ex) {
                lg().error("HBONE connection ended by an exception: {}", ex.what());
              }
            }
          });
      accept_next();
    });
  }

  void close_acceptor() {
    hbone_open_ = false;
    if (acceptor_) {
      boost::system::error_code ec;
      acceptor_->close(ec);
    }
  }

  std::string config_dump() const {
    DumpInputs d;
    d.config = &config_;
    d.wds = &wds_;
    d.l7 = &l7_;
    d.cert = cert_.get();
    d.identity = identity_.to_string();
    d.xds_connected = xds_ && xds_->connected();
    d.xds_synced = xds_ && xds_->synced();
    absl::Status r = ready();
    d.readiness = r.ok() ? "ready" : std::string(r.message());
    d.hbone_port = hbone_port_;
    return config_dump_json(d);
  }

  void stop() {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    {
      std::lock_guard xl(xds_mu_);
      stopped_ = true;
    }
    if (xds_) xds_->stop();
    if (cert_) cert_->stop();
    if (control_thread_.joinable()) {
      asio::post(control_, [this] {
        close_acceptor();
        if (admin_) admin_->stop();
        if (stats_) stats_->stop();
        if (readiness_) readiness_->stop();
        control_.stop();
      });
      control_thread_.join();
    }
    for (auto& w : workers_) {
      w->io.stop();
      if (w->thread.joinable()) w->thread.join();
    }
  }

  const Config config_;
  const SpiffeId identity_;  // spiffe://<td>/ns/<ns>/sa/<gateway name>
  std::string root_pem_;
  metrics::Registry registry_;
  wds::State wds_;
  L7ConfigStore l7_;
  Telemetry telemetry_;
  asio::io_context control_;
  std::thread control_thread_;
  std::unique_ptr<identity::CaClient> ca_client_;
  std::unique_ptr<identity::RotatingCertificate> cert_;
  std::unique_ptr<ProxyInputs> inputs_;  // built in init(): it names the certificate
  // After everything the data path reads: destroying a worker's io_context destroys the
  // connections still queued on it, which may touch the inputs on their way out.
  std::vector<std::unique_ptr<Worker>> workers_;
  size_t next_worker_ = 0;  // control thread only
  std::unique_ptr<tcp::acceptor> acceptor_;
  uint16_t hbone_port_ = 0;
  std::unique_ptr<admin::AdminServer> admin_, stats_, readiness_;
  std::mutex channel_mu_;
  identity::WorkloadCertPtr channel_cert_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<xds::DeltaClient> xds_;  // last: its thread writes into wds_ and l7_
  std::mutex xds_mu_;
  bool xds_started_ = false;
  std::atomic<bool> hbone_open_{false};
  std::atomic<bool> draining_{false};
  std::atomic<size_t> serving_{0};
  std::mutex stop_mu_;
  bool stopped_ = false;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<App>> App::start(const Config& config, const crypto::CertificateAuthority* local_ca) {
  if (config.name.empty()) return absl::InvalidArgumentError("--name (the waypoint's Gateway) is required");
  if (config.ns.empty()) return absl::InvalidArgumentError("-n/--namespace (the Gateway's namespace) is required");
  // The Deployment runs as the service account named after the Gateway
  // (istiod/gateway/deployment_controller.cc, as Istio's waypoint template).
  auto id = SpiffeId::make(config.trust_domain, config.ns, config.name);
  if (!id.ok()) return annotate(id.status(), str_cat("the identity of waypoint ", config.ns, "/", config.name));
  auto app = std::make_unique<AppImpl>(config, *id);
  AMBIT_RETURN_IF_ERROR(app->init(local_ca));
  return std::unique_ptr<App>(std::move(app));
}

}  // namespace ambit::waypoint
