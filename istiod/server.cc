#include "istiod/server.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <thread>

#include "common/admin/admin_server.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/ca.h"
#include "common/metrics/registry.h"
#include "istio/security/authorization.pb.h"
#include "istio/workload/workload.pb.h"
#include "istiod/ambient/index.h"
#include "istiod/ca/ca_service.h"
#include "istiod/config/directory_source.h"
#include "istiod/config/directory_writer.h"
#include "istiod/gateway/deployment_controller.h"
#include "istiod/gateway/status.h"
#include "istiod/security/authenticator.h"
#include "istiod/security/loopback.h"
#include "istiod/xds/ads_server.h"
#include "istiod/xds/push_debouncer.h"

namespace ambit::istiod {
namespace {

spdlog::logger& lg() { return log::scope("istiod"); }

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

absl::StatusOr<crypto::CertificateAuthority> load_or_create_ca(const std::string& dir, const std::string& td) {
  struct stat st {};
  if (::stat((dir + "/ca-cert.pem").c_str(), &st) == 0) return crypto::CertificateAuthority::load_dir(dir);
  ::mkdir(dir.c_str(), 0700);
  AMBIT_ASSIGN_OR_RETURN(auto ca, crypto::CertificateAuthority::create_root(td, std::chrono::hours(24 * 3650)));
  AMBIT_RETURN_IF_ERROR(ca.save_dir(dir));
  lg().info("created a new mesh root CA for trust domain {} in {}", td, dir);
  return ca;
}

// The index's consumer of config events: applies them and hands the changes to the debouncer.
class IndexSink : public ConfigSink {
 public:
  IndexSink(ambient::AmbientIndex* index, xds::PushDebouncer* debouncer, metrics::Registry* m,
            std::function<void()> after_change)
      : index_(index),
        after_change_(std::move(after_change)),
        debouncer_(debouncer),
        events_(m->counter("pilot_k8s_cfg_events", "Events from k8s config.", {"type", "event"})),
        rejected_(m->gauge("ambit_config_rejected_objects", "Objects currently rejected by validation.").with({})),
        rejections_total_(m->counter("pilot_total_rejected_configs", "Total number of configs that failed validation.",
                                     {"type"})) {}

  void on_events(const std::vector<ConfigEvent>& events) override {
    for (const auto& e : events) {
      events_.with({kind_name(e.obj->kind), e.type == EventType::kAdd ? "add" : e.type == EventType::kUpdate ? "update" : "delete"}).inc();
    }
    debouncer_->add(index_->apply(events));
    after_change_();
  }
  void on_resync(const std::vector<ObjectPtr>& all) override {
    debouncer_->add(index_->resync(all));
    after_change_();
  }
  void on_rejections(const std::vector<Rejection>& rejections) override {
    std::lock_guard lock(mu_);
    std::set<std::string> now;
    for (const auto& r : rejections) {
      std::string k = r.to_string();
      now.insert(k);
      if (!seen_.count(k)) rejections_total_.with({r.kind.empty() ? "file" : r.kind}).inc();
    }
    seen_ = std::move(now);
    rejections_ = rejections;
    rejected_.set(static_cast<double>(rejections.size()));
  }
  std::vector<Rejection> rejections() const {
    std::lock_guard lock(mu_);
    return rejections_;
  }

 private:
  ambient::AmbientIndex* index_;
  std::function<void()> after_change_;  // the gateway controllers, on the same (control) thread
  xds::PushDebouncer* debouncer_;
  metrics::Family<metrics::Counter>& events_;
  metrics::Gauge& rejected_;
  metrics::Family<metrics::Counter>& rejections_total_;
  mutable std::mutex mu_;
  std::vector<Rejection> rejections_;
  std::set<std::string> seen_;
};

class IstiodImpl final : public Istiod {
 public:
  explicit IstiodImpl(const IstiodOptions& o)
      : opts_(o), index_(mesh_config(o)) {}

  static ambient::MeshConfig mesh_config(const IstiodOptions& o) {
    ambient::MeshConfig m;
    m.root_namespace = o.root_namespace;
    m.trust_domain = o.trust_domain;
    m.waypoint_bypass_protection = o.waypoint_bypass_protection;
    m.path_normalization = o.path_normalization;
    return m;
  }

  ~IstiodImpl() override { shutdown(); }

  absl::Status init() {
    if (!opts_.plaintext_address.empty() && !opts_.plaintext_allow_remote &&
        !security::listen_address_is_loopback(opts_.plaintext_address)) {
      return absl::InvalidArgumentError(
          str_cat("--plaintext-address ", opts_.plaintext_address,
                  " is not a loopback address; plaintext xDS is for debugging on this host "
                  "(pass --plaintext-allow-remote to bind it anyway; remote peers are still refused)"));
    }
    AMBIT_ASSIGN_OR_RETURN(ca_, load_or_create_ca(opts_.ca_dir, opts_.trust_domain));
    AMBIT_ASSIGN_OR_RETURN(auto tokens, security::NodeTokenIssuer::load_or_create(opts_.ca_dir));
    AMBIT_ASSIGN_OR_RETURN(bundle_, crypto::TrustBundle::from_pem(ca_->root_pem(), opts_.trust_domain));
    // Pod service-account tokens: the key beside the CA's; tokens are bound to pods as the index
    // sees them (the lookup runs on gRPC threads; the index's readers are thread-safe).
    AMBIT_ASSIGN_OR_RETURN(auto sa_keys, identity::ServiceAccountTokens::load_or_create(opts_.ca_dir));
    auto pods = [this](const std::string& ns, const std::string& name) -> std::optional<security::PodView> {
      auto b = index_.pod_binding(ns, name);
      if (!b) return std::nullopt;
      return security::PodView{b->uid, b->service_account, b->phase, b->ips};
    };
    security::PodTokens pod_tokens{std::move(sa_keys), pods};
    auth_ = std::make_unique<security::Authenticator>(tokens, bundle_, opts_.trust_domain, !opts_.plaintext_requires_auth,
                                                      std::move(pod_tokens));
    metrics_.gauge("istio_build", "Istio component build info", {"component", "tag"}).with({"pilot", "ambit-0.1.0"}).set(1);

    // istiod's own serving certificate, from its CA.
    AMBIT_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::generate_p256());
    AMBIT_ASSIGN_OR_RETURN(auto self, SpiffeId::make(opts_.trust_domain, opts_.root_namespace, "istiod"));
    AMBIT_ASSIGN_OR_RETURN(auto chain, ca_->sign_key(key.get(), self, std::chrono::hours(24 * 30), opts_.dns_names));
    std::string chain_pem;
    for (const auto& c : chain) chain_pem += c;

    debouncer_ = std::make_unique<xds::PushDebouncer>(
        io_, opts_.debounce_quiet, opts_.debounce_max,
        [this](const ambient::Changes& c, std::chrono::steady_clock::time_point t) { ads_->push(c, t); });
    if (!opts_.workloads_dir.empty()) {
      writer_ = std::make_unique<DirectoryWriter>(opts_.config_dir, opts_.workloads_dir);
      deployments_ = std::make_unique<gateway::DeploymentController>(
          writer_.get(), gateway::WaypointTemplateOptions{.xds_address = opts_.waypoint_xds_address});
    }
    if (!opts_.status_dir.empty()) status_ = std::make_unique<gateway::DirectoryStatusStore>(opts_.status_dir);
    sink_ = std::make_unique<IndexSink>(&index_, debouncer_.get(), &metrics_, [this] { reconcile_gateways(); });
    ads_ = std::make_unique<xds::AdsServer>(&index_, auth_.get(), &metrics_, opts_.xds_limits);
    ca_service_ = std::make_unique<ca::CaService>(
        &*ca_, auth_.get(),
        [this](const std::string& node, const std::string& ns, const std::string& sa) {
          return index_.node_runs(node, ns, sa);
        },
        &metrics_, ca::CaService::Options{});

    grpc::ServerBuilder b;
    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = ca_->root_pem();
    ssl.pem_key_cert_pairs.push_back({key.to_pem(), chain_pem});
    b.AddListeningPort(opts_.grpc_address, grpc::SslServerCredentials(ssl), &grpc_port_);
    if (!opts_.plaintext_address.empty()) {
      b.AddListeningPort(opts_.plaintext_address, grpc::InsecureServerCredentials(), &plaintext_port_);
    }
    b.RegisterService(ads_.get());
    b.RegisterService(ca_service_.get());
    b.SetMaxReceiveMessageSize(4 * 1024 * 1024);
    grpc_ = b.BuildAndStart();
    if (!grpc_ || grpc_port_ == 0) {
      return absl::UnavailableError(str_cat("cannot listen for gRPC on ", opts_.grpc_address));
    }
    if (!opts_.plaintext_address.empty() && plaintext_port_ == 0) {
      return absl::UnavailableError(str_cat("cannot listen for gRPC on ", opts_.plaintext_address));
    }

    admin_ = std::make_unique<admin::AdminServer>(io_);
    install_http();
    AMBIT_RETURN_IF_ERROR(admin_->listen(opts_.http_host, opts_.http_port));

    source_ = std::make_unique<DirectorySource>(io_, opts_.config_dir, sink_.get(), opts_.config_debounce);
    // Start the source on the control thread so the index is only ever touched there.
    std::promise<absl::Status> started;
    auto fut = started.get_future();
    boost::asio::post(io_, [&] { started.set_value(source_->start()); });
    thread_ = std::thread([this] {
      auto guard = boost::asio::make_work_guard(io_);
      io_.run();
    });
    AMBIT_RETURN_IF_ERROR(fut.get());
    lg().info("istiod ready: xDS+CA (TLS) on port {}, plaintext xDS on {}, HTTP on {}:{}", grpc_port_,
              plaintext_port_, opts_.http_host, admin_->port());
    return absl::OkStatus();
  }

  int grpc_port() const override { return grpc_port_; }
  int plaintext_port() const override { return plaintext_port_; }
  int http_port() const override { return admin_ ? admin_->port() : 0; }

  void wait() override {
    std::unique_lock lock(done_mu_);
    done_cv_.wait(lock, [this] { return done_; });
  }

  void shutdown() override {
    {
      std::lock_guard lock(done_mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    lg().info("istiod shutting down");
    if (grpc_) grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    boost::asio::post(io_, [this] {
      if (source_) source_->stop();
      if (admin_) admin_->stop();
      io_.stop();
    });
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
    {
      std::lock_guard lock(done_mu_);
      done_ = true;
    }
    done_cv_.notify_all();
  }

 private:
  // The gateway controllers follow the index: run after every applied batch of config. Failures
  // are logged by the controllers and retried on the next batch.
  void reconcile_gateways() {
    if (deployments_) (void)deployments_->reconcile(index_.objects(Kind::kGateway));
    if (status_) {
      if (auto s = status_->sync(gateway::compute_status(index_), std::chrono::system_clock::now()); !s.ok()) {
        lg().warn("status: {}", s.ToString());
      }
    }
  }

  template <typename Msg>
  std::string resources_json(const std::string& type) const {
    std::string out = "[";
    bool first = true;
    for (const auto& r : index_.all(type)) {
      Msg m;
      m.ParseFromString(r->bytes);
      std::string j;
      (void)google::protobuf::util::MessageToJsonString(m, &j);
      if (!first) out += ",";
      first = false;
      str_append(&out, "{\"name\":\"", json_escape(r->name), "\",\"version\":\"", r->version, "\",\"resource\":", j, "}");
    }
    return out + "]";
  }

  void install_http() {
    admin_->add_metrics(&metrics_);
    admin_->add_logging();
    admin_->add_quit([this] { std::thread([this] { shutdown(); }).detach(); });
    admin_->add_readiness([this]() -> absl::Status {
      if (!source_ || !source_->ready()) return absl::UnavailableError("config not loaded yet");
      return absl::OkStatus();
    });
    admin_->handle("/debug/config_dump", [this](const admin::Request& req) {
      auto it = req.query.find("proxyID");
      if (it == req.query.end()) return admin::Response{400, "text/plain", "proxyID query parameter required\n"};
      std::string dump = ads_->config_dump(it->second);
      if (dump.empty()) return admin::Response{404, "text/plain", str_cat("no connected proxy ", it->second, "\n")};
      return admin::Response{200, "application/json", dump};
    });
    admin_->handle("/debug/workloads", [this](const admin::Request&) {
      return admin::Response{200, "application/json", resources_json<istio::workload::Address>(ambient::kAddressType)};
    });
    admin_->handle("/debug/policies", [this](const admin::Request&) {
      return admin::Response{200, "application/json",
                             resources_json<istio::security::Authorization>(ambient::kAuthorizationType)};
    });
    admin_->handle("/debug/connections", [this](const admin::Request&) {
      std::string out = "[";
      bool first = true;
      for (const auto& c : ads_->clients()) {
        if (!first) out += ",";
        first = false;
        str_append(&out, "{\"id\":", c.id, ",\"node\":\"", json_escape(c.node_id), "\",\"identity\":\"",
                   json_escape(c.identity), "\",\"auth\":\"", c.auth_method, "\",\"peer\":\"", json_escape(c.peer),
                   "\",\"connected\":\"", c.connected_at, "\",\"pushes\":", c.pushes, ",\"acks\":", c.acks,
                   ",\"nacks\":", c.nacks, ",\"lastNack\":\"", json_escape(c.last_nack), "\",\"waypoint\":\"", json_escape(c.waypoint),
                   "\",\"resources\":{");
        bool f2 = true;
        for (const auto& [t, n] : c.resources) {
          if (!f2) out += ",";
          f2 = false;
          str_append(&out, "\"", t, "\":", n);
        }
        out += "}}";
      }
      return admin::Response{200, "application/json", out + "]"};
    });
    admin_->handle("/debug/config_rejections", [this](const admin::Request&) {
      std::string out = "[";
      bool first = true;
      for (const auto& r : sink_->rejections()) {
        if (!first) out += ",";
        first = false;
        str_append(&out, "{\"source\":\"", json_escape(r.source), "\",\"kind\":\"", json_escape(r.kind),
                   "\",\"namespace\":\"", json_escape(r.ns), "\",\"name\":\"", json_escape(r.name),
                   "\",\"reason\":\"", json_escape(r.reason), "\"}");
      }
      return admin::Response{200, "application/json", out + "]"};
    });
    admin_->handle("/debug/root-cert", [this](const admin::Request&) {
      return admin::Response{200, "application/x-pem-file", ca_->root_pem()};
    });
  }

  IstiodOptions opts_;
  boost::asio::io_context io_;
  std::thread thread_;
  metrics::Registry metrics_;
  ambient::AmbientIndex index_;
  std::optional<crypto::CertificateAuthority> ca_;
  std::shared_ptr<const crypto::TrustBundle> bundle_;
  std::unique_ptr<security::Authenticator> auth_;
  std::unique_ptr<xds::PushDebouncer> debouncer_;
  std::unique_ptr<DirectoryWriter> writer_;
  std::unique_ptr<gateway::DeploymentController> deployments_;
  std::unique_ptr<gateway::DirectoryStatusStore> status_;
  std::unique_ptr<IndexSink> sink_;
  std::unique_ptr<xds::AdsServer> ads_;
  std::unique_ptr<ca::CaService> ca_service_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<DirectorySource> source_;
  int grpc_port_ = 0, plaintext_port_ = 0;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false, stopping_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Istiod>> Istiod::start(const IstiodOptions& opts) {
  auto s = std::make_unique<IstiodImpl>(opts);
  AMBIT_RETURN_IF_ERROR(s->init());
  return std::unique_ptr<Istiod>(std::move(s));
}

absl::StatusOr<std::string> issue_node_token(const std::string& ca_dir, const std::string& node) {
  ::mkdir(ca_dir.c_str(), 0700);
  AMBIT_ASSIGN_OR_RETURN(auto issuer, security::NodeTokenIssuer::load_or_create(ca_dir));
  return issuer.issue(node);
}

}  // namespace ambit::istiod
