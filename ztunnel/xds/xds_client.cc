#include "ztunnel/xds/xds_client.h"

#include "common/base/strings.h"
#include "istio/security/authorization.pb.h"
#include "istio/workload/workload.pb.h"

namespace ambit::ztunnel {

std::string ztunnel_node_id(const Config& c) {
  return str_cat("ztunnel~", c.instance_ip, "~", c.pod_name, ".", c.pod_namespace, "~", c.pod_namespace,
                 ".svc.cluster.local");
}

std::unique_ptr<xds::DeltaClient> make_xds_client(std::shared_ptr<grpc::Channel> channel, const Config& c,
                                                  wds::State* state, Telemetry* telemetry,
                                                  std::function<void()> on_change) {
  xds::NodeInfo node;
  node.id = ztunnel_node_id(c);
  node.metadata = {{"NAME", c.pod_name},
                   {"NAMESPACE", c.pod_namespace},
                   {"INSTANCE_IPS", c.instance_ip},
                   {"NODE_NAME", c.node_name},
                   {"CLUSTER_ID", c.cluster_id}};
  node.user_agent = "ambit-ztunnel";
  std::vector<xds::TypeHandler> handlers;
  handlers.push_back({"type.googleapis.com/istio.workload.Address",
                      [state](const std::string& name, const std::string& bytes) -> absl::Status {
                        istio::workload::Address a;
                        if (!a.ParseFromString(bytes)) return absl::InvalidArgumentError("cannot decode istio.workload.Address");
                        return state->upsert_address(name, a);
                      },
                      [state](const std::string& name) { state->remove_address(name); }, on_change});
  handlers.push_back({"type.googleapis.com/istio.security.Authorization",
                      [state](const std::string& name, const std::string& bytes) -> absl::Status {
                        istio::security::Authorization a;
                        if (!a.ParseFromString(bytes)) return absl::InvalidArgumentError("cannot decode istio.security.Authorization");
                        return state->upsert_policy(name, a);
                      },
                      [state](const std::string& name) { state->remove_policy(name); }, on_change});
  xds::ClientMetrics m;
  if (telemetry) {
    m.on_message = [telemetry](const std::string& t) { telemetry->xds_messages.with({t}).inc(); };
    m.on_reject = [telemetry](const std::string& t) { telemetry->xds_rejects.with({t}).inc(); };
    m.on_connected = [telemetry](bool up) { telemetry->xds_connected.set(up ? 1 : 0); };
  }
  return std::make_unique<xds::DeltaClient>(std::move(channel), c.auth_token, std::move(node), std::move(handlers),
                                            std::move(m), c.xds_address);
}

}  // namespace ambit::ztunnel
