// One workload's own certificate, kept fresh: what a proxy that is itself a workload (the
// waypoint) holds, where ztunnel's SecretManager holds one per pod identity on its node. start()
// fetches; a success schedules the renewal at half-life; a failure retries with backoff while
// the previous certificate, if any, stays in use until it expires (then get() returns nullptr:
// fail closed). Same rules as SecretManager (common/identity/workload_cert.h).
//
//   RotatingCertificate cert(io, &ca_client, roots, my_id, {});
//   cert.on_update([](const WorkloadCertPtr& c, const absl::Status& err) { ... });  // on io
//   cert.start();
//   ...
//   if (auto c = cert.get()) use(c->server);
//
// get(), state(), identity() and stop() may be called from any thread (stop() not from inside
// the CaClient's create_certificate); fetches and their results run on `io`. Once stop() (or the
// destructor) has returned, neither `io` nor `ca` is used again — a CA answer still in flight is
// dropped — so both may be destroyed after the object.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "common/identity/ca_client.h"
#include "common/identity/workload_cert.h"

namespace ambit::identity {

class RotatingCertificate {
 public:
  // After every fetch, on `io`: the new certificate (err OK) or the error (the certificate then
  // is the one still in use, possibly nullptr).
  using UpdateFn = std::function<void(const WorkloadCertPtr& cert, const absl::Status& err)>;

  RotatingCertificate(boost::asio::io_context& io, CaClient* ca, std::shared_ptr<const crypto::TrustBundle> roots,
                      SpiffeId id, RenewalPolicy policy = {});
  ~RotatingCertificate();
  RotatingCertificate(const RotatingCertificate&) = delete;
  RotatingCertificate& operator=(const RotatingCertificate&) = delete;

  void on_update(UpdateFn fn);  // before start()
  void start();
  // Cancels the renewal; a fetch in flight completes into nothing.
  void stop();

  WorkloadCertPtr get() const;  // nullptr unless a certificate that has not expired is held
  std::string state() const;    // "Initializing", "Available", "Unavailable: <reason>"
  const SpiffeId& identity() const;

 private:
  struct State;
  std::shared_ptr<State> s_;
};

}  // namespace ambit::identity
