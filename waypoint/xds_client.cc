#include "waypoint/xds_client.h"

#include "common/base/strings.h"
#include "istio/workload/workload.pb.h"

namespace ambit::waypoint {

xds::NodeInfo waypoint_node(const Config& c) {
  xds::NodeInfo node;
  std::string pod = c.pod_name.empty() ? c.name : c.pod_name;
  std::string ip = c.pod_ip.empty() ? "127.0.0.1" : c.pod_ip;
  node.id = str_cat("waypoint~", ip, "~", pod, ".", c.ns, "~", c.ns, ".svc.cluster.local");
  node.metadata = {{"role", str_cat(c.ns, "~", c.name)},
                   {"NAME", pod},
                   {"NAMESPACE", c.ns},
                   {"INSTANCE_IPS", ip},
                   {"CLUSTER_ID", c.cluster_id}};
  node.user_agent = "ambit-waypoint";
  return node;
}

std::vector<xds::TypeHandler> waypoint_handlers(wds::State* wds, L7ConfigStore* l7) {
  std::vector<xds::TypeHandler> handlers;
  handlers.push_back({kAddressTypeUrl,
                      [wds](const std::string& name, const std::string& bytes) -> absl::Status {
                        istio::workload::Address a;
                        if (!a.ParseFromString(bytes)) return absl::InvalidArgumentError("cannot decode istio.workload.Address");
                        return wds->upsert_address(name, a);
                      },
                      [wds](const std::string& name) { wds->remove_address(name); }, nullptr});
  // The store validates each resource on upsert (NACKed with the reason, the previous version
  // kept); the snapshot the data path reads is rebuilt once per response, so a push that
  // changes a route and its listener together is never seen half applied.
  handlers.push_back({kResourceTypeUrl,
                      [l7](const std::string& name, const std::string& bytes) { return l7->upsert(name, bytes); },
                      [l7](const std::string& name) { l7->remove(name); }, [l7] { l7->commit(); }});
  return handlers;
}

std::unique_ptr<xds::DeltaClient> make_xds_client(xds::ChannelFactory channels, const Config& c, wds::State* wds,
                                                  L7ConfigStore* l7, Telemetry* telemetry) {
  xds::ClientMetrics m;
  if (telemetry) {
    m.on_message = [telemetry](const std::string& t) { telemetry->xds_messages.with({t}).inc(); };
    m.on_reject = [telemetry](const std::string& t) { telemetry->xds_rejects.with({t}).inc(); };
    m.on_connected = [telemetry](bool up) { telemetry->xds_connected.set(up ? 1 : 0); };
  }
  // No token: the certificate in the channel is the credential. istiod's authenticator tries a
  // bearer before the certificate, and serves a waypoint its L7 config only for a certificate.
  return std::make_unique<xds::DeltaClient>(std::move(channels), "", waypoint_node(c), waypoint_handlers(wds, l7),
                                            std::move(m), c.xds_address);
}

}  // namespace ambit::waypoint
