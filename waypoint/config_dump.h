// The waypoint's /config_dump (admin port 15000): what it was told and what it made of it —
// the L7 resources istiod sent (protobuf JSON, keyed by resource name), the compiled snapshot's
// version, listeners and errors, a WDS summary (services with their endpoints, workload count),
// its certificate, and the xDS connection and readiness. Pure: built from the app's state.
#pragma once

#include <string>

#include "common/identity/rotating_cert.h"
#include "common/wds/state.h"
#include "waypoint/config.h"
#include "waypoint/state/l7_config.h"

namespace ambit::waypoint {

struct DumpInputs {
  const Config* config = nullptr;
  const wds::State* wds = nullptr;
  const L7ConfigStore* l7 = nullptr;
  const identity::RotatingCertificate* cert = nullptr;  // may be null (not started)
  std::string identity;
  bool xds_connected = false;
  bool xds_synced = false;
  std::string readiness;  // "ready", or why not
  uint16_t hbone_port = 0;
};

std::string config_dump_json(const DumpInputs& in);

}  // namespace ambit::waypoint
