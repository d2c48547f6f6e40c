// ztunnel assembled (ZT:src/app.rs): a control thread (xDS, certificates, admin, ZDS events) and
// N worker threads carrying traffic. Readiness (15021) requires: the node agent's ZDS snapshot
// applied, xDS synced, and a certificate for every local pod's identity — until then connections
// may be accepted but nothing is forwarded (the proxies fail closed on missing state).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "common/crypto/ca.h"
#include "ztunnel/config.h"

namespace ambit::ztunnel {

class App {
 public:
  // `local_ca`: sign certificates in-process instead of calling istiod (tests, benchmarks).
  static absl::StatusOr<std::unique_ptr<App>> start(const Config& config,
                                                   const crypto::CertificateAuthority* local_ca = nullptr);
  virtual ~App() = default;
  virtual absl::Status ready() const = 0;
  // Graceful drain: stop accepting, GOAWAY, wait for connections up to the deadline, then close.
  virtual void drain() = 0;
  // Blocks until drained and stopped.
  virtual void wait() = 0;
  virtual uint16_t admin_port() const = 0;
  virtual uint16_t stats_port() const = 0;
  virtual uint16_t readiness_port() const = 0;
};

}  // namespace ambit::ztunnel
