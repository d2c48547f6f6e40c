// A pod's process getting its own certificate from istiod's CA, as the waypoint does: reads its
// service-account token (the file in $AMBIT_SA_TOKEN_FILE, or --token-file), takes its identity
// from the token's claims, and asks the CA at $CA_ADDRESS (verified against $CA_ROOT_CA) for a
// certificate through common/identity's RotatingCertificate, without ImpersonatedIdentity.
// Retries until it has one or --timeout-s passes.
//
// Prints, and exits:
//   certificate: spiffe://cluster.local/ns/<ns>/sa/<sa>     (and serial, expiry)   0
//   refused: <istiod's last answer>                                                 1
//   error: <bad flags, unreadable token, ...>                                       2
#include <CLI/CLI.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/crypto/trust.h"
#include "common/identity/ca_client.h"
#include "common/identity/rotating_cert.h"
#include "common/identity/sa_token.h"
#include "common/xds/delta_client.h"

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

int error(const std::string& what) {
  std::printf("error: %s\n", what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ambit;
  CLI::App app{"identity_client: a pod's own certificate from istiod's CA, with its service-account token"};
  std::string token_file = env_or("AMBIT_SA_TOKEN_FILE", "");
  std::string ca_address = env_or("CA_ADDRESS", "");
  std::string root_cert = env_or("CA_ROOT_CA", "");
  std::string istiod_san = "istiod.istio-system.svc";
  std::string trust_domain = "cluster.local";
  int timeout_s = 30;
  app.add_option("--token-file", token_file, "Service-account token (default: $AMBIT_SA_TOKEN_FILE)");
  app.add_option("--ca-address", ca_address, "istiod's CA, host:port (default: $CA_ADDRESS)");
  app.add_option("--root-cert", root_cert, "Mesh root certificate (default: $CA_ROOT_CA)");
  app.add_option("--istiod-san", istiod_san, "Name expected on istiod's certificate")->capture_default_str();
  app.add_option("--trust-domain", trust_domain, "The mesh's trust domain")->capture_default_str();
  app.add_option("--timeout-s", timeout_s, "Give up after this long")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (token_file.empty() || ca_address.empty() || root_cert.empty()) {
    return error("need a token file, a CA address and a root certificate (flags or environment)");
  }

  // The token may not be there yet (the pod just started): wait for it like for the CA.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  absl::StatusOr<std::string> token = crypto::read_file(token_file);
  while (!token.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    token = crypto::read_file(token_file);
  }
  if (!token.ok()) return error(str_cat("token: ", token.status().message()));
  auto claims = identity::ServiceAccountTokens::read_claims(trim(*token));
  if (!claims.ok()) return error(str_cat("token: ", claims.status().message()));
  auto id = SpiffeId::make(trust_domain, claims->ns, claims->service_account);
  if (!id.ok()) return error(std::string(id.status().message()));
  auto root_pem = crypto::read_file(root_cert);
  if (!root_pem.ok()) return error(str_cat("root certificate: ", root_pem.status().message()));
  auto roots = crypto::TrustBundle::from_pem(*root_pem, trust_domain);
  if (!roots.ok()) return error(str_cat("root certificate: ", roots.status().message()));

  identity::GrpcCaClient ca(xds::make_istiod_channel(ca_address, *root_pem, istiod_san), token_file,
                            identity::GrpcCaClient::Mode::kOwnIdentity);
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });

  std::mutex mu;
  std::condition_variable cv;
  identity::WorkloadCertPtr got;
  std::string last_error = "no answer from the CA";
  identity::RenewalPolicy policy;
  policy.ttl = std::chrono::hours(1);
  policy.initial_backoff = std::chrono::milliseconds(250);
  policy.max_backoff = std::chrono::seconds(2);
  identity::RotatingCertificate cert(io, &ca, *roots, *id, policy);
  cert.on_update([&](const identity::WorkloadCertPtr& c, const absl::Status& err) {
    std::lock_guard lock(mu);
    if (err.ok()) got = c;
    else last_error = err.ToString();
    cv.notify_all();
  });
  cert.start();
  {
    std::unique_lock lock(mu);
    cv.wait_until(lock, deadline, [&] { return got != nullptr; });
  }
  cert.stop();
  work.reset();
  io.stop();
  io_thread.join();

  std::lock_guard lock(mu);
  if (!got) {
    std::printf("refused: %s\n", last_error.c_str());
    return 1;
  }
  std::printf("certificate: %s\nserial: %s\nexpires: %s\n", got->creds.identity.to_string().c_str(),
              got->creds.chain[0].serial_hex().c_str(), crypto::format_time(got->not_after).c_str());
  return 0;
}
