// Per-identity workload certificates for the pods on this node (ZT:src/identity/manager.rs):
//  - track(id) when a pod is added (prefetch), untrack when the last pod of that identity goes;
//  - at most 8 fetches in flight;
//  - what one certificate is and how it is renewed (half-life refresh, backoff, the leaf must
//    carry the requested identity, TLS contexts built once) is common/identity/workload_cert.h,
//    shared with the waypoint's single RotatingCertificate.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/crypto/trust.h"
#include "common/identity/ca_client.h"
#include "common/identity/workload_cert.h"
#include "common/tls/tls_context.h"
#include "ztunnel/telemetry.h"

namespace ambit::ztunnel {

using identity::CaClient;
using identity::WorkloadCert;
using identity::WorkloadCertPtr;

struct CertDump {
  std::string identity;
  std::string state;  // Initializing, Available, Unavailable: <reason>
  std::vector<std::string> chain_pem;
  std::string serial, valid_from, expiration;
};

class SecretManager {
 public:
  struct Options {
    std::chrono::seconds ttl{24 * 3600};
    std::chrono::milliseconds initial_backoff{500};
    std::chrono::milliseconds max_backoff{150000};
    size_t max_concurrent = 8;
  };
  SecretManager(boost::asio::io_context& io, CaClient* ca, std::shared_ptr<const crypto::TrustBundle> roots,
                Telemetry* telemetry, Options opts);

  void track(const SpiffeId& id);
  void untrack(const SpiffeId& id);
  WorkloadCertPtr get(const SpiffeId& id) const;  // nullptr unless a valid cert exists
  bool ready(const SpiffeId& id) const { return get(id) != nullptr; }
  std::vector<CertDump> dump() const;
  const crypto::TrustBundle& roots() const { return *roots_; }

 private:
  struct Entry {
    int refs = 0;
    WorkloadCertPtr cert;
    std::string state = "Initializing";
    std::chrono::milliseconds backoff{0};
    bool in_flight = false;
    bool queued = false;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  void schedule(const SpiffeId& id, std::chrono::steady_clock::duration after);
  void start_fetch(const SpiffeId& id);  // on io_
  void pump();                           // start queued fetches up to the limit
  void on_result(const SpiffeId& id, crypto::PrivateKey key, absl::StatusOr<std::vector<std::string>> chain);

  boost::asio::io_context& io_;
  CaClient* ca_;
  std::shared_ptr<const crypto::TrustBundle> roots_;
  Telemetry* telemetry_;
  Options opts_;
  mutable std::mutex mu_;
  std::map<SpiffeId, Entry> entries_;
  std::deque<SpiffeId> queue_;
  size_t in_flight_ = 0;
};

}  // namespace ambit::ztunnel
