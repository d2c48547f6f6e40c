// Client side of istio.v1.auth.IstioCertificateService/CreateCertificate (istio/ztunnel
// src/identity/caclient.rs), shared by ztunnel and the waypoint: CSR for the wanted identity,
// bearer credential in the call metadata, and — for ztunnel, which mints certificates for the
// pods on its node — ImpersonatedIdentity in the request metadata. A workload asking for its own
// identity (the waypoint, with its pod token) sends no ImpersonatedIdentity: istiod grants the
// caller's identity. The in-process variant signs with a local CA, for tests and benchmarks that
// run without istiod.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/ca.h"
#include "common/identity/spiffe.h"

namespace ambit::identity {

class CaClient {
 public:
  using Done = std::function<void(absl::StatusOr<std::vector<std::string>> chain)>;
  virtual ~CaClient() = default;
  // `done` may run on any thread.
  virtual void create_certificate(const std::string& csr_pem, const SpiffeId& identity, std::chrono::seconds ttl,
                                  Done done) = 0;
};

class GrpcCaClient : public CaClient {
 public:
  enum class Mode {
    kImpersonate,  // a node agent: the request names the identity (ImpersonatedIdentity)
    kOwnIdentity,  // a workload: the identity is the one the credential proves
  };
  // `token_source` is a path to read (re-read on every call, so rotation works) or a literal.
  GrpcCaClient(std::shared_ptr<grpc::Channel> channel, std::string token_source, Mode mode);
  // Cancels the calls in flight and waits until gRPC has let go of them (their `done` runs with
  // CANCELLED), so the channel's last reference is dropped here and not on one of gRPC's
  // callback threads — gRPC 1.51 double-frees its callback completion queue when a channel dies
  // there (seen under ASan when a waypoint stopped while its CA was unreachable).
  ~GrpcCaClient() override;
  void create_certificate(const std::string& csr_pem, const SpiffeId& identity, std::chrono::seconds ttl,
                          Done done) override;

 private:
  struct Inflight;
  std::shared_ptr<grpc::Channel> channel_;
  std::string token_source_;
  Mode mode_;
  std::shared_ptr<Inflight> inflight_;
};

class LocalCaClient : public CaClient {
 public:
  explicit LocalCaClient(const crypto::CertificateAuthority* ca) : ca_(ca) {}
  void create_certificate(const std::string& csr_pem, const SpiffeId& identity, std::chrono::seconds ttl,
                          Done done) override;

 private:
  const crypto::CertificateAuthority* ca_;
};

}  // namespace ambit::identity
