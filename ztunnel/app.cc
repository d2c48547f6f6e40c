#include "ztunnel/app.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <map>
#include <thread>

#include "common/admin/admin_server.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/hbone/pool.h"
#include "common/identity/ca_client.h"
#include "common/metrics/registry.h"
#include "ztunnel/admin/config_dump.h"
#include "ztunnel/identity/secret_manager.h"
#include "ztunnel/inpod/pod_proxies.h"
#include "ztunnel/inpod/zds_client.h"
#include "ztunnel/proxy/admission.h"
#include "ztunnel/proxy/connection_tracker.h"
#include "ztunnel/xds/xds_client.h"

namespace ambit::ztunnel {

namespace asio = boost::asio;

namespace {

spdlog::logger& lg() { return log::scope("ztunnel"); }

// ZDS events → per-pod proxies.
class PodManager : public ZdsHandler {
 public:
  PodManager(const ProxyInputs* in) : in_(in) {}

  absl::Status add(const ZdsWorkload& w, UniqueFd netns) override {
    auto id = SpiffeId::make(in_->config.trust_domain, w.ns, w.service_account.empty() ? "default" : w.service_account);
    if (!id.ok()) return annotate(id.status(), str_cat("pod ", w.ns, "/", w.name));
    {
      // Already serving this pod (the agent restarted and re-sent its snapshot): keep the
      // running proxies and their connections untouched — that is what makes an agent restart
      // hitless. The fd we were given is closed by `netns`'s destructor.
      std::lock_guard lock(mu_);
      if (pods_.count(w.uid)) return absl::OkStatus();
    }
    auto pod = std::make_shared<PodContext>(w.uid, w.name, w.ns, w.service_account, std::move(netns), *id);
    in_->certs->track(*id);  // prefetch the pod's certificate
    auto proxies = PodProxies::start(in_, pod);
    if (!proxies.ok()) {
      in_->certs->untrack(*id);
      return proxies.status();
    }
    std::lock_guard lock(mu_);
    pods_[w.uid] = *proxies;
    in_->telemetry->pods.set(static_cast<double>(pods_.size()));
    return absl::OkStatus();
  }
  void keep(const std::string&) override {}
  void del(const std::string& uid) override { remove(uid, true); }
  void snapshot_done(const std::set<std::string>& named) override {
    std::vector<std::string> gone;
    {
      std::lock_guard lock(mu_);
      for (const auto& [uid, _] : pods_) {
        if (!named.count(uid)) gone.push_back(uid);
      }
    }
    for (const auto& uid : gone) {
      lg().info("pod {} not in the node agent's snapshot: removing", uid);
      remove(uid, true);
    }
  }
  void connected(bool up) override { connected_ = up; }

  void remove(const std::string& uid, bool immediate) {
    std::shared_ptr<PodProxies> p;
    {
      std::lock_guard lock(mu_);
      auto it = pods_.find(uid);
      if (it == pods_.end()) return;
      p = it->second;
      pods_.erase(it);
      in_->telemetry->pods.set(static_cast<double>(pods_.size()));
    }
    p->drain(immediate);
    in_->certs->untrack(p->pod().identity);
  }
  void drain_all() {
    std::map<std::string, std::shared_ptr<PodProxies>> pods;
    {
      std::lock_guard lock(mu_);
      pods = pods_;
    }
    for (auto& [_, p] : pods) p->drain(false);
  }
  std::vector<SpiffeId> identities() const {
    std::lock_guard lock(mu_);
    std::vector<SpiffeId> out;
    for (const auto& [_, p] : pods_) out.push_back(p->pod().identity);
    return out;
  }
  std::vector<PodStateDump> dump() const {
    std::lock_guard lock(mu_);
    std::vector<PodStateDump> out;
    for (const auto& [uid, p] : pods_) {
      out.push_back({uid, p->pod().name, p->pod().ns, p->pod().service_account, "Up"});
    }
    return out;
  }
  bool connected() const { return connected_; }

 private:
  const ProxyInputs* in_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<PodProxies>> pods_;
  std::atomic<bool> connected_{false};
};

absl::StatusOr<std::pair<std::string, uint16_t>> split_host_port(const std::string& a) {
  auto colon = a.rfind(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError(str_cat("address '", a, "' has no port"));
  std::string host = a.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  int port = std::atoi(a.c_str() + colon + 1);
  if (port < 0 || port > 65535) return absl::InvalidArgumentError(str_cat("address '", a, "' has a bad port"));
  return std::make_pair(host, static_cast<uint16_t>(port));
}

class AppImpl final : public App {
 public:
  explicit AppImpl(const Config& c)
      : telemetry_(&registry_), state_(c.trust_domain, c.network), workers_(static_cast<size_t>(c.worker_threads)) {
    inputs_.config = c;
  }

  ~AppImpl() override { stop(); }

  absl::Status init(const crypto::CertificateAuthority* local_ca) {
    const Config& c = inputs_.config;
    // Trust roots: the mesh root istiod publishes (or the local CA's).
    std::string root_pem;
    if (local_ca) {
      root_pem = local_ca->root_pem();
    } else {
      AMBIT_ASSIGN_OR_RETURN(root_pem, crypto::read_file(c.root_cert_path));
    }
    AMBIT_ASSIGN_OR_RETURN(auto bundle, crypto::TrustBundle::from_pem(root_pem, c.trust_domain));

    if (local_ca) {
      ca_client_ = std::make_unique<identity::LocalCaClient>(local_ca);
    } else {
      if (c.xds_address.empty()) return absl::InvalidArgumentError("--xds-address is required");
      auto ca_channel = xds::make_istiod_channel(c.ca_address.empty() ? c.xds_address : c.ca_address, root_pem, c.istiod_san);
      ca_client_ = std::make_unique<identity::GrpcCaClient>(ca_channel, c.auth_token, identity::GrpcCaClient::Mode::kImpersonate);
      xds_ = make_xds_client(xds::make_istiod_channel(c.xds_address, root_pem, c.istiod_san), c, &state_, &telemetry_,
                             [this] { inputs_.tracker->recheck(state_); });
    }
    SecretManager::Options so;
    so.ttl = c.secret_ttl;
    certs_ = std::make_unique<SecretManager>(control_, ca_client_.get(), bundle, &telemetry_, so);

    inputs_.state = &state_;
    inputs_.certs = certs_.get();
    inputs_.telemetry = &telemetry_;
    inputs_.workers = &workers_;
    inputs_.tracker = &tracker_;
    admission_ = std::make_unique<InboundAdmission>(
        AdmissionLimits{c.max_inbound_connections, c.max_inbound_per_source},
        [g = &telemetry_.inbound_connections](size_t n) { g->set(static_cast<double>(n)); });
    inputs_.admission = admission_.get();
    hbone::PoolOptions pool_opts;
    pool_opts.connect_timeout = c.connect_timeout;
    pool_opts.handshake_timeout = c.handshake_timeout;
    pool_opts.idle_timeout = c.pool_idle_timeout;
    pool_opts.on_handshake_timeout = [t = &telemetry_] { t->deadlines_exceeded.with({"outbound_handshake"}).inc(); };
    pool_opts.on_protocol_error = [t = &telemetry_](uint32_t, const std::string&) { t->h2_protocol_errors.inc(); };
    for (size_t i = 0; i < workers_.size(); ++i) {
      workers_.at(i).pool = std::make_unique<hbone::Pool>(workers_.at(i).io, pool_opts);
    }
    pods_ = std::make_unique<PodManager>(&inputs_);

    // Admin (localhost), stats and readiness: three ports, as ztunnel.
    admin_ = std::make_unique<admin::AdminServer>(control_);
    admin_->add_config_dump([this] {
      return config_dump_json(inputs_.config, state_, certs_.get(), &tracker_, pods_->dump());
    });
    admin_->add_logging();
    admin_->add_quit([this] { asio::post(control_, [this] { drain(); }); });
    admin_->add_metrics(&registry_);
    stats_ = std::make_unique<admin::AdminServer>(control_);
    stats_->add_metrics(&registry_);
    readiness_ = std::make_unique<admin::AdminServer>(control_);
    readiness_->add_readiness([this] { return ready(); });
    for (auto [srv, addr] : {std::pair{admin_.get(), c.admin_address}, std::pair{stats_.get(), c.stats_address},
                             std::pair{readiness_.get(), c.readiness_address}}) {
      AMBIT_ASSIGN_OR_RETURN(auto hp, split_host_port(addr));
      AMBIT_RETURN_IF_ERROR(srv->listen(hp.first, hp.second));
    }
    registry_.gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes.", [] {
      long pages = 0;
      FILE* f = std::fopen("/proc/self/statm", "r");
      if (f) {
        long size;
        if (std::fscanf(f, "%ld %ld", &size, &pages) != 2) pages = 0;
        std::fclose(f);
      }
      return static_cast<double>(pages * sysconf(_SC_PAGESIZE));
    });

    workers_.start();
    control_thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(control_);
      control_.run();
    });
    if (xds_) xds_->start();
    if (!c.zds_socket.empty()) {
      zds_ = std::make_unique<ZdsClient>(c.zds_socket, pods_.get());
      zds_->start();
    }
    lg().info("ztunnel started: node {}, {} workers, admin {}, stats {}, readiness {}", c.node_name,
              workers_.size(), admin_->port(), stats_->port(), readiness_->port());
    return absl::OkStatus();
  }

  absl::Status ready() const override {
    if (draining_) return absl::UnavailableError("draining");
    if (zds_ && !zds_->snapshot_applied()) return absl::UnavailableError("waiting for the node agent's snapshot");
    if (xds_ && !xds_->synced()) return absl::UnavailableError("waiting for xDS");
    for (const auto& id : pods_->identities()) {
      if (!certs_->ready(id)) return absl::UnavailableError(str_cat("no certificate yet for ", id.to_string()));
    }
    return absl::OkStatus();
  }

  void drain() override {
    bool expected = false;
    if (!draining_.compare_exchange_strong(expected, true)) return;
    std::thread([this] {
      lg().info("draining: stop accepting, GOAWAY, up to {}s for open connections",
                inputs_.config.drain_deadline.count());
      pods_->drain_all();
      for (size_t i = 0; i < workers_.size(); ++i) {
        Worker* w = &workers_.at(i);
        asio::post(w->io, [w] { w->pool->shutdown(true); });
      }
      auto deadline = std::chrono::steady_clock::now() + inputs_.config.drain_deadline;
      while (!tracker_.list().empty() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      size_t left = tracker_.list().size();
      for (const auto& t : tracker_.list()) {
        if (t.close) t.close("drain deadline");
      }
      if (left) lg().warn("drain deadline: closed {} remaining connections", left);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
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

  uint16_t admin_port() const override { return admin_->port(); }
  uint16_t stats_port() const override { return stats_->port(); }
  uint16_t readiness_port() const override { return readiness_->port(); }

 private:
  void stop() {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    if (zds_) zds_->stop();
    if (xds_) xds_->stop();
    asio::post(control_, [this] {
      admin_->stop();
      stats_->stop();
      readiness_->stop();
      control_.stop();
    });
    if (control_thread_.joinable()) control_thread_.join();
    workers_.stop();
  }

  metrics::Registry registry_;
  Telemetry telemetry_;
  // Before workers_: connections (and their tickets) die with the workers' io_contexts.
  std::unique_ptr<InboundAdmission> admission_;
  wds::State state_;
  Workers workers_;
  ConnectionTracker tracker_;
  ProxyInputs inputs_;
  asio::io_context control_;
  std::thread control_thread_;
  std::unique_ptr<identity::CaClient> ca_client_;
  std::unique_ptr<SecretManager> certs_;
  std::unique_ptr<xds::DeltaClient> xds_;
  std::unique_ptr<PodManager> pods_;
  std::unique_ptr<ZdsClient> zds_;
  std::unique_ptr<admin::AdminServer> admin_, stats_, readiness_;
  std::atomic<bool> draining_{false};
  std::mutex stop_mu_;
  bool stopped_ = false;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<App>> App::start(const Config& config, const crypto::CertificateAuthority* local_ca) {
  auto app = std::make_unique<AppImpl>(config);
  AMBIT_RETURN_IF_ERROR(app->init(local_ca));
  return std::unique_ptr<App>(std::move(app));
}

}  // namespace ambit::ztunnel
