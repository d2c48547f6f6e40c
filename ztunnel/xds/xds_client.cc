#include "ztunnel/xds/xds_client.h"

#include "common/base/log.h"
#include "common/base/strings.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "istio/security/authorization.pb.h"
#include "istio/workload/workload.pb.h"
#include "ztunnel/identity/ca_client.h"

namespace ambit::ztunnel {

namespace {
spdlog::logger& lg() { return log::scope("xds"); }
constexpr const char* kAddressType = "type.googleapis.com/istio.workload.Address";
constexpr const char* kAuthorizationType = "type.googleapis.com/istio.security.Authorization";
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
}  // namespace

XdsClient::XdsClient(std::shared_ptr<grpc::Channel> channel, std::string token_source, Config config,
                     ProxyState* state, Telemetry* telemetry, std::function<void()> on_policy_change)
    : channel_(std::move(channel)),
      token_source_(std::move(token_source)),
      config_(std::move(config)),
      state_(state),
      telemetry_(telemetry),
      on_policy_change_(std::move(on_policy_change)) {}

XdsClient::~XdsClient() { stop(); }

std::string XdsClient::node_id() const {
  return str_cat("ztunnel~", config_.instance_ip, "~", config_.pod_name, ".", config_.pod_namespace, "~",
                 config_.pod_namespace, ".svc.cluster.local");
}

void XdsClient::start() { thread_ = std::thread([this] { run(); }); }

void XdsClient::stop() {
  stop_ = true;
  {
    std::lock_guard lock(ctx_mu_);
    if (ctx_) ctx_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void XdsClient::run() {
  auto backoff = std::chrono::milliseconds(10);
  while (!stop_) {
    bool progressed = session();
    connected_ = false;
    if (telemetry_) telemetry_->xds_connected.set(0);
    if (stop_) break;
    if (progressed) backoff = std::chrono::milliseconds(10);
    auto deadline = std::chrono::steady_clock::now() + backoff;
    while (!stop_ && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(15000));
  }
}

bool XdsClient::session() {
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel_);
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
  for (const char* type : {kAddressType, kAuthorizationType}) {
    DeltaDiscoveryRequest req;
    req.set_type_url(type);
    if (first) {
      auto* node = req.mutable_node();
      node->set_id(node_id());
      auto& md = *node->mutable_metadata()->mutable_fields();
      md["NAME"].set_string_value(config_.pod_name);
      md["NAMESPACE"].set_string_value(config_.pod_namespace);
      md["INSTANCE_IPS"].set_string_value(config_.instance_ip);
      md["NODE_NAME"].set_string_value(config_.node_name);
      md["CLUSTER_ID"].set_string_value(config_.cluster_id);
      node->set_user_agent_name("ambit-ztunnel");
      first = false;
    }
    for (const auto& [name, version] : versions_[type]) (*req.mutable_initial_resource_versions())[name] = version;
    if (!stream->Write(req)) {
      cleanup();
      grpc::Status st = stream->Finish();
      lg().warn("xDS connect to {} failed: {}", config_.xds_address, st.error_message());
      return false;
    }
  }

  bool got[2] = {false, false};
  bool progressed = false;
  DeltaDiscoveryResponse resp;
  while (stream->Read(&resp)) {
    if (!connected_) {
      connected_ = true;
      if (telemetry_) telemetry_->xds_connected.set(1);
      lg().info("connected to xDS server {}", config_.xds_address);
    }
    progressed = true;
    bool address = resp.type_url() == kAddressType;
    bool authz = resp.type_url() == kAuthorizationType;
    std::vector<std::string> errors;
    bool policy_changed = false;
    if (!address && !authz) {
      errors.push_back(str_cat("unsupported type ", resp.type_url()));
    }
    auto& known = versions_[resp.type_url()];
    for (const auto& r : resp.resources()) {
      if (r.resource().type_url() != resp.type_url()) {
        errors.push_back(str_cat(r.name(), ": payload type ", r.resource().type_url(), " in a ", resp.type_url(), " response"));
        continue;
      }
      absl::Status st;
      if (address) {
        istio::workload::Address a;
        if (!a.ParseFromString(r.resource().value())) {
          st = absl::InvalidArgumentError("cannot decode istio.workload.Address");
        } else {
          st = state_->upsert_address(r.name(), a);
        }
      } else if (authz) {
        istio::security::Authorization a;
        if (!a.ParseFromString(r.resource().value())) {
          st = absl::InvalidArgumentError("cannot decode istio.security.Authorization");
        } else {
          st = state_->upsert_policy(r.name(), a);
          policy_changed = true;
        }
      }
      if (st.ok()) {
        known[r.name()] = r.version();
      } else {
        errors.push_back(str_cat(r.name(), ": ", st.message()));
      }
    }
    for (const auto& name : resp.removed_resources()) {
      if (address) state_->remove_address(name);
      if (authz) {
        state_->remove_policy(name);
        policy_changed = true;
      }
      known.erase(name);
    }
    if (telemetry_) telemetry_->xds_messages.with({resp.type_url()}).inc();
    DeltaDiscoveryRequest ackreq;
    ackreq.set_type_url(resp.type_url());
    ackreq.set_response_nonce(resp.nonce());
    if (!errors.empty()) {
      ackreq.mutable_error_detail()->set_code(3);  // INVALID_ARGUMENT
      ackreq.mutable_error_detail()->set_message(join(errors, "; "));
      if (telemetry_) telemetry_->xds_rejects.with({resp.type_url()}).inc();
      lg().warn("NACK {} nonce {}: {}", resp.type_url(), resp.nonce(), ackreq.error_detail().message());
    }
    if (!stream->Write(ackreq)) break;
    if (address) got[0] = true;
    if (authz) got[1] = true;
    if (got[0] && got[1] && !synced_) {
      synced_ = true;
      lg().info("xDS synced: {} workloads, {} services, {} policies", state_->workloads().size(),
                state_->services().size(), state_->policies().size());
    }
    // Workload changes can change which policies apply too (authorization_policies).
    if ((policy_changed || address) && on_policy_change_) on_policy_change_();
  }
  cleanup();
  grpc::Status st = stream->Finish();
  if (!stop_) lg().warn("xDS stream ended: {} {}", static_cast<int>(st.error_code()), st.error_message());
  return progressed;
}

}  // namespace ambit::ztunnel
