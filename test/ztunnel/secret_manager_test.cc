// Tests for ztunnel/identity/secret_manager: certificates per identity from a CA client (the
// in-process LocalCaClient over a test CA, or scripted clients that fail, lie or answer late),
// refresh at half-life, retry with backoff while the current certificate stays in use, refusal of
// a certificate for another identity, untrack, and the cap of 8 fetches in flight.
//
// The manager runs on an io_context driven by its own thread, as on ztunnel's control thread.
// Time is only ever a lower bound here (something must not happen before its moment); every wait
// for something to happen is bounded.
#include "ztunnel/identity/secret_manager.h"

#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/base/strings.h"
#include "common/crypto/ca.h"
#include "common/crypto/csr.h"
#include "test/support/tls_pair.h"

namespace {

using namespace std::chrono_literals;
using ambit::SpiffeId;
using ambit::identity::CaClient;
using ambit::identity::LocalCaClient;
using ambit::ztunnel::SecretManager;
using ambit::ztunnel::WorkloadCertPtr;
namespace crypto = ambit::crypto;
namespace tls = ambit::tls;
using Clock = crypto::Clock;

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

SpiffeId sid(const std::string& sa) { return *SpiffeId::make("cluster.local", "default", sa); }

struct Env {
  crypto::CertificateAuthority ca =
      *crypto::CertificateAuthority::create_root("cluster.local", 24h * 365);
  std::shared_ptr<const crypto::TrustBundle> roots =
      *crypto::TrustBundle::from_pem(ca.root_pem(), "cluster.local");
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread;
  std::unique_ptr<SecretManager> sm;

  void start(CaClient* client, SecretManager::Options o) {
    sm = std::make_unique<SecretManager>(io, client, roots, nullptr, o);
    thread = std::thread([this] { io.run(); });
  }
  ~Env() {
    work.reset();
    io.stop();
    if (thread.joinable()) thread.join();
    sm.reset();
  }
  std::string serial(const SpiffeId& id) const {
    WorkloadCertPtr c = sm->get(id);
    return c ? c->creds.chain[0].serial_hex() : "";
  }
  std::string state(const SpiffeId& id) const {
    for (const auto& d : sm->dump()) {
      if (d.identity == id.to_string()) return d.state;
    }
    return "(untracked)";
  }
  // Everything posted to the io thread before this call has run.
  void flush() {
    auto p = std::make_shared<std::promise<void>>();
    auto f = p->get_future();
    boost::asio::post(io, [p] { p->set_value(); });
    REQUIRE(f.wait_for(kWait) == std::future_status::ready);
  }
};

SecretManager::Options opts(std::chrono::seconds ttl) {
  SecretManager::Options o;
  o.ttl = ttl;
  o.initial_backoff = 50ms;
  o.max_backoff = 100ms;
  return o;
}

// A CA client that follows a script of outcomes (the last one repeats) and records every call.
// It signs with its clock moved by `shift`: with the CA's 2-minute backdating, a 2 s TTL and a
// 60 s shift give a certificate valid from now-60s to now+62s, whose half-life is up to 1 s away
// (rather than already past, as for any backdated certificate with a TTL under 4 minutes).
class ScriptedCa : public CaClient {
 public:
  enum class Outcome { kOk, kFail, kWrongIdentity };
  struct Call {
    Clock::time_point at;
    std::string served;  // the serial the manager served when the call arrived ("" = none)
    std::string state;   // the manager's state for the identity then
    Outcome outcome;
    Clock::time_point not_before, not_after;  // of the certificate issued (kOk)
    std::string serial;
  };

  ScriptedCa(const crypto::CertificateAuthority* ca, std::vector<Outcome> script,
             std::chrono::seconds shift = 0s)
      : ca_(ca), script_(std::move(script)), shift_(shift) {}

  // Reads the manager's view during a call (the manager calls without holding its lock).
  std::function<std::string(const SpiffeId&)> served;
  std::function<std::string(const SpiffeId&)> state;

  void create_certificate(const std::string& csr_pem, const SpiffeId& identity,
                          std::chrono::seconds ttl, Done done) override {
    Call c;
    c.at = Clock::now();
    if (served) c.served = served(identity);
    if (state) c.state = state(identity);
    {
      std::lock_guard l(mu_);
      c.outcome = script_[std::min(calls_.size(), script_.size() - 1)];
    }
    absl::StatusOr<std::vector<std::string>> result =
        absl::UnavailableError("CA unavailable (scripted)");
    if (c.outcome != Outcome::kFail) {
      auto req = crypto::CertificateRequest::parse(csr_pem);
      REQUIRE(req.ok());
      SpiffeId who = c.outcome == Outcome::kOk
                         ? identity
                         : *SpiffeId::parse("spiffe://cluster.local/ns/evil/sa/mallory");
      result = ca_->sign(*req, who, ttl, Clock::now() + shift_);
      REQUIRE(result.ok());
      auto leaf = crypto::Certificate::from_pem((*result)[0]);
      REQUIRE(leaf.ok());
      c.not_before = leaf->not_before();
      c.not_after = leaf->not_after();
      c.serial = leaf->serial_hex();
    }
    {
      std::lock_guard l(mu_);
      calls_.push_back(c);
    }
    done(std::move(result));
  }

  std::vector<Call> calls() const {
    std::lock_guard l(mu_);
    return calls_;
  }
  size_t count() const {
    std::lock_guard l(mu_);
    return calls_.size();
  }

 private:
  const crypto::CertificateAuthority* ca_;
  std::vector<Outcome> script_;
  std::chrono::seconds shift_;
  mutable std::mutex mu_;
  std::vector<Call> calls_;
};
using Outcome = ScriptedCa::Outcome;

// A CA client that answers only when the test says so, and measures concurrency.
class DeferredCa : public CaClient {
 public:
  explicit DeferredCa(const crypto::CertificateAuthority* ca) : ca_(ca) {}

  void create_certificate(const std::string& csr_pem, const SpiffeId& identity,
                          std::chrono::seconds ttl, Done done) override {
    auto req = crypto::CertificateRequest::parse(csr_pem);
    REQUIRE(req.ok());
    auto chain = ca_->sign(*req, identity, ttl);
    std::lock_guard l(mu_);
    pending_.push_back({std::move(done), std::move(chain)});
    ++calls_;
    max_pending_ = std::max(max_pending_, pending_.size());
  }

  // Answers the oldest outstanding call; false if there is none.
  bool complete_one() {
    Pending p;
    {
      std::lock_guard l(mu_);
      if (pending_.empty()) return false;
      p = std::move(pending_.front());
      pending_.pop_front();
    }
    p.done(std::move(p.chain));
    return true;
  }
  size_t pending() const {
    std::lock_guard l(mu_);
    return pending_.size();
  }
  size_t max_pending() const {
    std::lock_guard l(mu_);
    return max_pending_;
  }
  size_t calls() const {
    std::lock_guard l(mu_);
    return calls_;
  }

 private:
  struct Pending {
    Done done;
    absl::StatusOr<std::vector<std::string>> chain;
  };
  const crypto::CertificateAuthority* ca_;
  mutable std::mutex mu_;
  std::deque<Pending> pending_;
  size_t max_pending_ = 0;
  size_t calls_ = 0;
};

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("track: a certificate for the requested identity, with working TLS contexts") {
  Env env;
  LocalCaClient client(&env.ca);
  env.start(&client, opts(1h));
  const SpiffeId a = sid("a"), b = sid("b");
  CHECK(env.sm->get(a) == nullptr);
  env.sm->track(a);
  env.sm->track(b);
  REQUIRE(eventually([&] { return env.sm->ready(a) && env.sm->ready(b); }));

  WorkloadCertPtr ca = env.sm->get(a), cb = env.sm->get(b);
  CHECK(ca->creds.identity == a);
  CHECK(cb->creds.identity == b);
  REQUIRE(ca->server);
  REQUIRE(ca->client);
  CHECK(ca->not_after > Clock::now() + 50min);
  CHECK(ca->not_before < Clock::now());
  CHECK(env.state(a) == "Available");
  auto dump = env.sm->dump();
  REQUIRE(dump.size() == 2);
  CHECK_FALSE(dump[0].chain_pem.empty());
  CHECK_FALSE(dump[0].serial.empty());

  // The contexts authenticate both ways: a (client) to b (server).
  tls::PeerVerification cv, sv;
  cv.expected = {b};
  auto cssl = ca->client->new_connection(&cv);
  auto sssl = cb->server->new_connection(&sv);
  REQUIRE(cssl.ok());
  REQUIRE(sssl.ok());
  auto r = ambit::test::handshake_in_memory(cssl->get(), sssl->get());
  REQUIRE_MESSAGE(r.client.ok(), r.client.ToString());
  REQUIRE_MESSAGE(r.server.ok(), r.server.ToString());
  CHECK(*cv.peer == b);
  CHECK(*sv.peer == a);
}

TEST_CASE("refresh: a short-lived certificate is replaced (new serial) before it expires") {
  // With LocalCaClient the certificate is backdated 2 minutes, so a 2 s TTL puts its half-life in
  // the past: the manager refreshes at its minimum delay.
  Env env;
  LocalCaClient client(&env.ca);
  env.start(&client, opts(2s));
  const SpiffeId a = sid("a");
  env.sm->track(a);
  REQUIRE(eventually([&] { return env.sm->ready(a); }));
  std::string first = env.serial(a);
  REQUIRE_FALSE(first.empty());
  CHECK(eventually([&] {
    std::string now = env.serial(a);
    return !now.empty() && now != first;
  }));
}

TEST_CASE("refresh happens at half-life, not before") {
  // Shift 60 s, TTL 4 s: valid from now-60s to now+64s (X.509 truncates to whole seconds, up to
  // 1 s earlier), so the half-life is 1 to 2 s after each issue.
  Env env;
  ScriptedCa client(&env.ca, {Outcome::kOk}, 60s);
  client.served = [&](const SpiffeId& id) { return env.serial(id); };
  env.start(&client, opts(4s));
  const SpiffeId a = sid("a");
  env.sm->track(a);
  REQUIRE(eventually([&] { return client.count() >= 3; }));
  auto calls = client.calls();
  for (size_t i = 1; i < 3; ++i) {
    CAPTURE(i);
    auto half = calls[i - 1].not_before + (calls[i - 1].not_after - calls[i - 1].not_before) / 2;
    REQUIRE(half > calls[i - 1].at + 900ms);
    // A tolerance for the steady timer vs. the system clock only.
    CHECK(calls[i].at >= half - 50ms);
    // Until then the previous certificate was the one served.
    CHECK(calls[i].served == calls[i - 1].serial);
  }
  CHECK(eventually([&] { return env.serial(a) != calls[0].serial && !env.serial(a).empty(); }));
}

TEST_CASE("CA failures: the current cert stays in use, retries back off, then it is replaced") {
  Env env;
  ScriptedCa client(
      &env.ca,
      {Outcome::kOk, Outcome::kFail, Outcome::kFail, Outcome::kFail, Outcome::kFail, Outcome::kOk},
      60s);
  client.served = [&](const SpiffeId& id) { return env.serial(id); };
  client.state = [&](const SpiffeId& id) { return env.state(id); };
  env.start(&client, opts(2s));  // backoff 50 ms doubling to 100 ms
  const SpiffeId a = sid("a");
  env.sm->track(a);
  REQUIRE(eventually([&] { return client.count() >= 6; }));
  auto calls = client.calls();
  const std::string first = calls[0].serial;
  REQUIRE_FALSE(first.empty());
  // Every retry happened while the first certificate was still being served.
  for (size_t i = 1; i <= 5; ++i) {
    CAPTURE(i);
    CHECK(calls[i].served == first);
  }
  CHECK(contains(calls[2].state, "Unavailable"));
  CHECK(contains(calls[2].state, "CA unavailable"));
  // Backoff: 50 ms after the first failure, then 100 ms (doubled, capped) — lower bounds only.
  const std::chrono::milliseconds want[] = {50ms, 100ms, 100ms, 100ms};
  for (size_t i = 2; i <= 5; ++i) {
    CAPTURE(i);
    CHECK(calls[i].at - calls[i - 1].at >= want[i - 2] - 5ms);
  }
  // The success replaces the certificate.
  REQUIRE_FALSE(calls[5].serial.empty());
  CHECK(eventually([&] { return env.serial(a) == calls[5].serial; }));
  CHECK(eventually([&] { return env.state(a) == "Available"; }));
}

TEST_CASE("fail closed: a certificate that expires while the CA is down is not served") {
  Env env;
  ScriptedCa client(&env.ca, {Outcome::kOk, Outcome::kFail});
  env.start(&client, opts(2s));  // valid for ~2 more seconds
  const SpiffeId a = sid("a");
  env.sm->track(a);
  REQUIRE(eventually([&] { return env.sm->ready(a); }));
  Clock::time_point not_after = client.calls()[0].not_after;
  CHECK(eventually([&] { return env.sm->get(a) == nullptr; }));
  CHECK(Clock::now() >= not_after);  // it was served until it expired, not dropped on failure
  CHECK(client.count() >= 2);
}

TEST_CASE("CA failures before any certificate: nothing is served until a fetch succeeds") {
  Env env;
  ScriptedCa client(&env.ca, {Outcome::kFail, Outcome::kFail, Outcome::kOk});
  client.served = [&](const SpiffeId& id) { return env.serial(id); };
  env.start(&client, opts(1h));
  const SpiffeId a = sid("a");
  env.sm->track(a);
  REQUIRE(eventually([&] { return env.sm->ready(a); }));
  auto calls = client.calls();
  REQUIRE(calls.size() >= 3);
  CHECK(calls[1].served.empty());
  CHECK(calls[2].served.empty());
  CHECK(env.serial(a) == calls[2].serial);
}

TEST_CASE("a certificate for another identity is refused (and retried), never served") {
  Env env;
  ScriptedCa client(&env.ca, {Outcome::kWrongIdentity});
  env.start(&client, opts(1h));
  const SpiffeId a = sid("a");
  env.sm->track(a);
  REQUIRE(eventually([&] { return client.count() >= 3; }));
  CHECK(env.sm->get(a) == nullptr);
  std::string st = env.state(a);
  CHECK(contains(st, "Unavailable"));
  CHECK(contains(st, "spiffe://cluster.local/ns/evil/sa/mallory"));
  CHECK(contains(st, a.to_string()));
}

TEST_CASE("a wrong-identity refresh keeps the current certificate") {
  Env env;
  ScriptedCa client(&env.ca, {Outcome::kOk, Outcome::kWrongIdentity}, 60s);
  client.served = [&](const SpiffeId& id) { return env.serial(id); };
  env.start(&client, opts(2s));
  const SpiffeId a = sid("a");
  env.sm->track(a);
  REQUIRE(eventually([&] { return client.count() >= 3; }));
  auto calls = client.calls();
  CHECK(calls[2].served == calls[0].serial);
  CHECK(env.serial(a) == calls[0].serial);
  CHECK(contains(env.state(a), "evil"));
}

TEST_CASE("untrack: refcounted, the last untrack drops the certificate and its refresh") {
  Env env;
  ScriptedCa client(&env.ca, {Outcome::kOk}, 60s);  // refresh due ~1 s after each issue
  env.start(&client, opts(2s));
  const SpiffeId a = sid("a");
  env.sm->track(a);
  env.sm->track(a);
  REQUIRE(eventually([&] { return env.sm->ready(a); }));
  env.sm->untrack(a);
  CHECK(env.sm->ready(a));
  env.sm->untrack(a);
  CHECK(env.sm->get(a) == nullptr);
  CHECK(env.state(a) == "(untracked)");
  env.flush();
  size_t calls = client.count();
  // Past the moment the refresh was due: no fetch for an identity nobody uses.
  auto due = client.calls().back().not_before +
             (client.calls().back().not_after - client.calls().back().not_before) / 2;
  while (Clock::now() < due + 500ms) std::this_thread::sleep_for(50ms);
  env.flush();
  CHECK(client.count() == calls);
  CHECK(env.sm->dump().empty());
  // Tracking again fetches a new one.
  env.sm->track(a);
  CHECK(eventually([&] { return env.sm->ready(a); }));
}

TEST_CASE("untrack while the fetch is in flight: the late answer is dropped") {
  Env env;
  DeferredCa client(&env.ca);
  env.start(&client, opts(1h));
  const SpiffeId a = sid("a");
  env.sm->track(a);
  REQUIRE(eventually([&] { return client.pending() == 1; }));
  env.sm->untrack(a);
  REQUIRE(client.complete_one());
  env.flush();
  env.flush();
  CHECK(env.sm->get(a) == nullptr);
  CHECK(env.sm->dump().empty());

  // Untrack then track again while in flight: the answer is kept.
  env.sm->track(a);
  REQUIRE(eventually([&] { return client.pending() == 1; }));
  env.sm->untrack(a);
  env.sm->track(a);
  env.flush();
  CHECK(client.pending() == 1);  // no second fetch for the same identity
  REQUIRE(client.complete_one());
  CHECK(eventually([&] { return env.sm->ready(a); }));
}

TEST_CASE("at most 8 fetches in flight, the rest start as earlier ones complete") {
  Env env;
  DeferredCa client(&env.ca);
  env.start(&client, opts(1h));
  constexpr int kIds = 20;
  std::vector<SpiffeId> ids;
  for (int i = 0; i < kIds; ++i) ids.push_back(sid(ambit::str_cat("sa-", i)));
  for (const auto& id : ids) env.sm->track(id);
  REQUIRE(eventually([&] { return client.pending() == 8; }));
  env.flush();  // every track's fetch has been considered
  env.flush();
  CHECK(client.pending() == 8);
  CHECK(client.calls() == 8);
  int ready = 0;
  while (client.complete_one()) {
    env.flush();
    env.flush();
    CHECK(client.pending() <= 8);
    if (++ready > kIds) break;
  }
  CHECK(client.calls() == kIds);
  CHECK(client.max_pending() == 8);
  for (const auto& id : ids) CHECK(eventually([&] { return env.sm->ready(id); }));
}
