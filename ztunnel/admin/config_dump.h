// ztunnel's /config_dump JSON (ZT:src/admin.rs): camelCase keys `workloads`, `services`,
// `policies`, `certificates` [{identity, state, certChain:[{pem, serialNumber, validFrom,
// expirationTime}], rootCerts}], `workloadState` (in-pod, per pod uid), `config`, `version`,
// plus `connections` (what `ambitctl ztunnel-config connections` shows).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ztunnel/config.h"
#include "ztunnel/identity/secret_manager.h"
#include "ztunnel/proxy/connection_tracker.h"
#include "common/wds/state.h"

namespace ambit::ztunnel {

struct PodStateDump {
  std::string uid, name, ns, service_account, state;
};

std::string config_dump_json(const Config& cfg, const wds::State& state, const SecretManager* certs,
                             const ConnectionTracker* tracker, const std::vector<PodStateDump>& pods);

}  // namespace ambit::ztunnel
