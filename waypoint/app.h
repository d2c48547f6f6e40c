// The waypoint assembled, shaped like ztunnel's (ztunnel/app.h): a control thread (certificate,
// admin ports, the HBONE acceptor), the xDS client's own thread, and N worker threads (an
// io_context each) carrying traffic. Accepted HBONE connections are handed to workers
// round-robin and served by waypoint::serve_hbone (waypoint/proxy/inbound.h).
//
// Start-up: the waypoint asks the CA for its own certificate (spiffe://<td>/ns/<ns>/sa/<name>,
// with the pod's service-account token), then — because istiod gives a waypoint its L7 config
// only over mTLS with that certificate — connects to xDS. Readiness (15021 /healthz/ready) is 200
// only once the certificate is held, xDS has synced and the HBONE listener is open; until then
// it is 503 with the reason (istiod marks the Gateway Programmed from it).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "common/crypto/ca.h"
#include "waypoint/config.h"
#include "waypoint/proxy/inputs.h"

namespace ambit::waypoint {

class App {
 public:
  // `local_ca`: sign the certificate in-process instead of calling istiod's CA (tests,
  // benchmarks); its root is then the mesh root.
  static absl::StatusOr<std::unique_ptr<App>> start(const Config& config,
                                                   const crypto::CertificateAuthority* local_ca = nullptr);
  virtual ~App() = default;
  // OK when serving; Unavailable with the reason otherwise.
  virtual absl::Status ready() const = 0;
  // Graceful drain (SIGTERM, POST /quitquitquit): readiness turns 503 "draining", the HBONE
  // listener closes, connections being served get up to drain_deadline, then everything stops.
  virtual void drain() = 0;
  // Blocks until drained and stopped.
  virtual void wait() = 0;
  virtual uint16_t hbone_port() const = 0;
  virtual uint16_t admin_port() const = 0;
  virtual uint16_t stats_port() const = 0;
  virtual uint16_t readiness_port() const = 0;
  // What the data path reads (tests).
  virtual const ProxyInputs& inputs() const = 0;
};

}  // namespace ambit::waypoint
