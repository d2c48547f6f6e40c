// The waypoint's xDS subscription: the shared delta ADS client on istiod's 15012, over mTLS with
// the waypoint's own certificate (no bearer token: istiod serves a waypoint its L7 config only
// when the stream's client certificate is the Gateway's service account). Two types:
//
//   type.googleapis.com/istio.workload.Address       → wds::State (services, endpoints)
//   type.googleapis.com/ambit.waypoint.v1.Resource   → L7ConfigStore, committed after each response
//
// A resource that does not apply is NACKed by name with the reason; the rest of the response is
// applied. The node names the Gateway the way agentgateway names its Gateway to istiod
// (agentgateway crates/xds/src/client.rs; Istio pkg/model/xds.go), which is what istiod's
// waypoint xDS checks (docs/waypoint-config.md):
//
//   node.id            waypoint~<pod IP>~<pod name>.<namespace>~<namespace>.svc.cluster.local
//   metadata "role"    <namespace>~<gateway name>
//   + NAME, NAMESPACE, INSTANCE_IPS, CLUSTER_ID as Istio proxies send them
#pragma once

#include <memory>
#include <string>

#include "common/wds/state.h"
#include "common/xds/delta_client.h"
#include "waypoint/config.h"
#include "waypoint/state/l7_config.h"
#include "waypoint/telemetry.h"

namespace ambit::waypoint {

inline constexpr const char* kAddressTypeUrl = "type.googleapis.com/istio.workload.Address";

xds::NodeInfo waypoint_node(const Config& config);

// WDS first: a listener names a Service the waypoint should already hold.
std::vector<xds::TypeHandler> waypoint_handlers(wds::State* wds, L7ConfigStore* l7);

std::unique_ptr<xds::DeltaClient> make_xds_client(xds::ChannelFactory channels, const Config& config, wds::State* wds,
                                                  L7ConfigStore* l7, Telemetry* telemetry);

}  // namespace ambit::waypoint
