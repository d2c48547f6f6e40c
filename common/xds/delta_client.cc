#include "common/xds/delta_client.h"

#include "common/base/log.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"

namespace ambit::xds {

namespace {
spdlog::logger& lg() { return log::scope("xds"); }
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
}  // namespace

std::string read_token(const std::string& source) {
  if (source.empty()) return "";
  if (source.find('/') != std::string::npos) {
    if (auto t = crypto::read_file(source); t.ok()) return std::string(trim(*t));
  }
  return source;
}

namespace {
std::shared_ptr<grpc::Channel> istiod_channel(const std::string& address, const grpc::SslCredentialsOptions& o,
                                              const std::string& san) {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(san);
  args.SetMaxReceiveMessageSize(200 * 1024 * 1024);  // ztunnel accepts xDS responses up to 200 MiB
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(o), args);
}
}  // namespace

std::shared_ptr<grpc::Channel> make_istiod_channel(const std::string& address, const std::string& root_pem,
                                                   const std::string& san) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = root_pem;
  return istiod_channel(address, o, san);
}

std::shared_ptr<grpc::Channel> make_istiod_mtls_channel(const std::string& address, const std::string& root_pem,
                                                        const std::string& san, const std::string& cert_chain_pem,
                                                        const std::string& key_pem) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = root_pem;
  o.pem_cert_chain = cert_chain_pem;
  o.pem_private_key = key_pem;
  return istiod_channel(address, o, san);
}

DeltaClient::DeltaClient(std::shared_ptr<grpc::Channel> channel, std::string token_source, NodeInfo node,
                         std::vector<TypeHandler> handlers, ClientMetrics metrics, std::string server_name)
    : DeltaClient([c = std::move(channel)] { return c; }, std::move(token_source), std::move(node),
                  std::move(handlers), std::move(metrics), std::move(server_name)) {}

DeltaClient::DeltaClient(ChannelFactory channels, std::string token_source, NodeInfo node,
                         std::vector<TypeHandler> handlers, ClientMetrics metrics, std::string server_name)
    : channels_(std::move(channels)),
      token_source_(std::move(token_source)),
      node_(std::move(node)),
      handlers_(std::move(handlers)),
      metrics_(std::move(metrics)),
      server_name_(std::move(server_name)) {}

DeltaClient::~DeltaClient() { stop(); }

void DeltaClient::start() { thread_ = std::thread([this] { run(); }); }

void DeltaClient::stop() {
  stop_ = true;
  {
    std::lock_guard lock(ctx_mu_);
    if (ctx_) ctx_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void DeltaClient::run() {
  auto backoff = std::chrono::milliseconds(10);
  while (!stop_) {
    bool progressed = session();
    connected_ = false;
    if (metrics_.on_connected) metrics_.on_connected(false);
    if (stop_) break;
    if (progressed) backoff = std::chrono::milliseconds(10);
    auto deadline = std::chrono::steady_clock::now() + backoff;
    while (!stop_ && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(15000));
  }
}

bool DeltaClient::session() {
  std::shared_ptr<grpc::Channel> channel = channels_();
  if (!channel) {
    lg().debug("xDS to {}: no channel yet (no credential to connect with)", server_name_);
    return false;
  }
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
  grpc::ClientContext ctx;
  std::string token = read_token(token_source_);
  if (!token.empty()) ctx.AddMetadata("authorization", str_cat("Bearer ", token));
  {
    std::lock_guard lock(ctx_mu_);
    if (stop_) return false;
    ctx_ = &ctx;
  }
  auto stream = stub->DeltaAggregatedResources(&ctx);
  auto cleanup = [&] {
    std::lock_guard lock(ctx_mu_);
    ctx_ = nullptr;
  };

  bool first = true;
  for (const auto& h : handlers_) {
    DeltaDiscoveryRequest req;
    req.set_type_url(h.type_url);
    if (first) {
      auto* node = req.mutable_node();
      node->set_id(node_.id);
      auto& md = *node->mutable_metadata()->mutable_fields();
      for (const auto& [k, v] : node_.metadata) md[k].set_string_value(v);
      node->set_user_agent_name(node_.user_agent);
      first = false;
    }
    for (const auto& [name, version] : versions_[h.type_url]) (*req.mutable_initial_resource_versions())[name] = version;
    if (!stream->Write(req)) {
      cleanup();
      grpc::Status st = stream->Finish();
      lg().warn("xDS connect to {} failed: {}", server_name_, st.error_message());
      return false;
    }
  }

  std::set<std::string> got;
  bool progressed = false;
  DeltaDiscoveryResponse resp;
  while (stream->Read(&resp)) {
    if (!connected_) {
      connected_ = true;
      if (metrics_.on_connected) metrics_.on_connected(true);
      lg().info("connected to xDS server {}", server_name_);
    }
    progressed = true;
    const TypeHandler* h = nullptr;
    for (const auto& cand : handlers_) {
      if (cand.type_url == resp.type_url()) h = &cand;
    }
    std::vector<std::string> errors;
    auto& known = versions_[resp.type_url()];
    if (!h) {
      errors.push_back(str_cat("unsupported type ", resp.type_url()));
    } else {
      for (const auto& r : resp.resources()) {
        if (r.resource().type_url() != resp.type_url()) {
          errors.push_back(str_cat(r.name(), ": payload type ", r.resource().type_url(), " in a ", resp.type_url(),
                                   " response"));
          continue;
        }
        absl::Status st = h->upsert(r.name(), r.resource().value());
        if (st.ok()) {
          known[r.name()] = r.version();
        } else {
          errors.push_back(str_cat(r.name(), ": ", st.message()));
        }
      }
      for (const auto& name : resp.removed_resources()) {
        h->remove(name);
        known.erase(name);
      }
    }
    if (metrics_.on_message) metrics_.on_message(resp.type_url());
    DeltaDiscoveryRequest ack;
    ack.set_type_url(resp.type_url());
    ack.set_response_nonce(resp.nonce());
    if (!errors.empty()) {
      ack.mutable_error_detail()->set_code(3);  // INVALID_ARGUMENT
      ack.mutable_error_detail()->set_message(join(errors, "; "));
      if (metrics_.on_reject) metrics_.on_reject(resp.type_url());
      lg().warn("NACK {} nonce {}: {}", resp.type_url(), resp.nonce(), ack.error_detail().message());
    }
    if (!stream->Write(ack)) break;
    got.insert(resp.type_url());
    if (got.size() >= handlers_.size() && !synced_) {
      synced_ = true;
      lg().info("xDS synced with {}", server_name_);
    }
    if (h && h->after_response) h->after_response();
  }
  cleanup();
  grpc::Status st = stream->Finish();
  if (!stop_) lg().warn("xDS stream ended: {} {}", static_cast<int>(st.error_code()), st.error_message());
  return progressed;
}

}  // namespace ambit::xds
