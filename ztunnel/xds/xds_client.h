// ztunnel's xDS subscription (ZT:src/xds/client.rs): the shared delta ADS client with handlers
// that apply Address and Authorization resources to the WDS State (common/wds). Node id
// "ztunnel~<ip>~<pod>.<ns>~<ns>.svc.cluster.local" with NAME, NAMESPACE, INSTANCE_IPS, NODE_NAME.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/xds/delta_client.h"
#include "ztunnel/config.h"
#include "common/wds/state.h"
#include "ztunnel/telemetry.h"

namespace ambit::ztunnel {

std::string ztunnel_node_id(const Config& config);

// `on_change` runs after each response (policies or workloads may now deny open connections).
std::unique_ptr<xds::DeltaClient> make_xds_client(std::shared_ptr<grpc::Channel> channel, const Config& config,
                                                  wds::State* state, Telemetry* telemetry,
                                                  std::function<void()> on_change);

}  // namespace ambit::ztunnel
