// RotatingCertificate (common/identity/rotating_cert.h): one workload's own certificate, fetched,
// renewed at half-life, retried with backoff, never handed out for another identity, and safe to
// stop while the CA has not answered yet.
#include "common/identity/rotating_cert.h"

#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto/ca.h"
#include "common/crypto/csr.h"

using namespace ambit;
using namespace std::chrono_literals;
using identity::CaClient;
using identity::RotatingCertificate;
using identity::WorkloadCertPtr;

namespace {

constexpr auto kWait = 30s;

template <typename P>
bool eventually(P pred, std::chrono::steady_clock::duration bound = kWait) {
  auto end = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

const SpiffeId kMe = *SpiffeId::parse("spiffe://cluster.local/ns/demo/sa/waypoint");
const SpiffeId kOther = *SpiffeId::parse("spiffe://cluster.local/ns/evil/sa/mallory");

// Answers by script (the last outcome repeats). Signs with its clock moved by `shift`: with the
// CA's 2-minute backdating, a 2 s TTL and a 60 s shift put the half-life about a second away.
class ScriptedCa : public CaClient {
 public:
  enum class Outcome { kOk, kFail, kWrongIdentity, kHold };
  ScriptedCa(const crypto::CertificateAuthority* ca, std::vector<Outcome> script, std::chrono::seconds shift = 0s)
      : ca_(ca), script_(std::move(script)), shift_(shift) {}

  void create_certificate(const std::string& csr_pem, const SpiffeId& id, std::chrono::seconds ttl,
                          Done done) override {
    Outcome o;
    {
      std::lock_guard l(mu_);
      o = script_[std::min(calls_, script_.size() - 1)];
      ++calls_;
    }
    if (o == Outcome::kFail) return done(absl::UnavailableError("CA unavailable (scripted)"));
    auto req = crypto::CertificateRequest::parse(csr_pem);
    REQUIRE(req.ok());
    auto chain = ca_->sign(*req, o == Outcome::kWrongIdentity ? kOther : id, ttl, crypto::Clock::now() + shift_);
    if (o == Outcome::kHold) {
      std::lock_guard l(mu_);
      held_.push_back([done, chain] { done(chain); });
      return;
    }
    done(std::move(chain));
  }
  size_t calls() const {
    std::lock_guard l(mu_);
    return calls_;
  }
  // Answers the calls held so far (on this thread, as a gRPC completion thread would).
  size_t release() {
    std::deque<std::function<void()>> h;
    {
      std::lock_guard l(mu_);
      h.swap(held_);
    }
    for (auto& f : h) f();
    return h.size();
  }

 private:
  const crypto::CertificateAuthority* ca_;
  std::vector<Outcome> script_;
  std::chrono::seconds shift_;
  mutable std::mutex mu_;
  size_t calls_ = 0;
  std::deque<std::function<void()>> held_;
};
using Outcome = ScriptedCa::Outcome;

struct Env {
  crypto::CertificateAuthority ca = *crypto::CertificateAuthority::create_root("cluster.local", 24h * 365);
  std::shared_ptr<const crypto::TrustBundle> roots = *crypto::TrustBundle::from_pem(ca.root_pem(), "cluster.local");
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  std::mutex mu;
  std::vector<std::string> updates;  // "ok <serial>" or the error

  identity::RenewalPolicy policy(std::chrono::seconds ttl) {
    identity::RenewalPolicy p;
    p.ttl = ttl;
    p.initial_backoff = 20ms;
    p.max_backoff = 80ms;
    return p;
  }
  void watch(RotatingCertificate& c) {
    c.on_update([this](const WorkloadCertPtr& cert, const absl::Status& err) {
      std::lock_guard l(mu);
      updates.push_back(err.ok() ? "ok " + cert->creds.chain[0].serial_hex() : err.ToString());
    });
  }
  std::vector<std::string> seen() {
    std::lock_guard l(mu);
    return updates;
  }
  void stop_io() {
    work.reset();
    io.stop();
    if (thread.joinable()) thread.join();
  }
  ~Env() { stop_io(); }
};

}  // namespace

TEST_CASE("rotating certificate: fetched for its identity, with TLS contexts, reported once") {
  Env env;
  ScriptedCa ca(&env.ca, {Outcome::kOk});
  RotatingCertificate cert(env.io, &ca, env.roots, kMe, env.policy(1h));
  env.watch(cert);
  CHECK(cert.get() == nullptr);
  CHECK(cert.state() == "Initializing");
  cert.start();
  REQUIRE(eventually([&] { return env.seen().size() == 1; }));
  WorkloadCertPtr c = cert.get();
  REQUIRE(c != nullptr);
  CHECK(c->creds.identity == kMe);
  CHECK(c->server != nullptr);
  CHECK(c->client != nullptr);
  CHECK(cert.state() == "Available");
  CHECK(cert.identity() == kMe);
  // An hour's certificate is not renewed within the test.
  std::this_thread::sleep_for(100ms);
  CHECK(ca.calls() == 1);
  CHECK(env.seen() == std::vector<std::string>{"ok " + c->creds.chain[0].serial_hex()});
}

TEST_CASE("rotating certificate: failures are retried with backoff until the CA answers") {
  Env env;
  ScriptedCa ca(&env.ca, {Outcome::kFail, Outcome::kFail, Outcome::kFail, Outcome::kOk});
  RotatingCertificate cert(env.io, &ca, env.roots, kMe, env.policy(1h));
  env.watch(cert);
  cert.start();
  // on_update runs just after the certificate is stored: wait for the fourth report.
  REQUIRE(eventually([&] { return env.seen().size() == 4; }));
  CHECK(cert.get() != nullptr);
  auto seen = env.seen();
  for (int i = 0; i < 3; ++i) CHECK(seen[i].find("CA unavailable (scripted)") != std::string::npos);
  CHECK(seen[3].rfind("ok ", 0) == 0);
  CHECK(ca.calls() == 4);
}

TEST_CASE("rotating certificate: a certificate for another identity is never used") {
  Env env;
  ScriptedCa ca(&env.ca, {Outcome::kWrongIdentity});
  RotatingCertificate cert(env.io, &ca, env.roots, kMe, env.policy(1h));
  env.watch(cert);
  cert.start();
  REQUIRE(eventually([&] { return ca.calls() >= 3; }));
  CHECK(cert.get() == nullptr);
  std::string st = cert.state();
  CHECK_MESSAGE(st.find("Unavailable: CA returned a certificate for spiffe://cluster.local/ns/evil/sa/mallory, want "
                        "spiffe://cluster.local/ns/demo/sa/waypoint") == 0,
                st);
}

TEST_CASE("rotating certificate: renewed at half-life, the old one served until the new one arrives") {
  Env env;
  ScriptedCa ca(&env.ca, {Outcome::kOk}, 60s);  // valid from now-60s to now+62s: renew within ~1 s
  RotatingCertificate cert(env.io, &ca, env.roots, kMe, env.policy(2s));
  env.watch(cert);
  cert.start();
  REQUIRE(eventually([&] { return cert.get() != nullptr; }));
  std::string first = cert.get()->creds.chain[0].serial_hex();
  bool gap = false;
  REQUIRE(eventually([&] {
    auto c = cert.get();
    gap = gap || c == nullptr;
    return c && c->creds.chain[0].serial_hex() != first;
  }));
  CHECK_FALSE(gap);
  CHECK(ca.calls() >= 2);
}

TEST_CASE("rotating certificate: stopped with the CA's answer in flight, the late answer touches nothing") {
  auto env = std::make_unique<Env>();
  ScriptedCa ca(&env->ca, {Outcome::kHold});  // signs at once, answers on release()
  {
    RotatingCertificate cert(env->io, &ca, env->roots, kMe, env->policy(1h));
    env->watch(cert);
    cert.start();
    REQUIRE(eventually([&] { return ca.calls() == 1; }));
    cert.stop();
  }  // destroyed
  env.reset();  // the io_context is gone
  // The answer arrives afterwards (a gRPC completion): it must not post to the dead io_context
  // (ASan reports it if it does).
  CHECK(ca.release() == 1);
}
