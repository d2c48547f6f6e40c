#include "ztunnel/identity/secret_manager.h"

#include <boost/asio/post.hpp>

#include "common/base/log.h"
#include "common/base/strings.h"

namespace ambit::ztunnel {

namespace {
spdlog::logger& lg() { return log::scope("cert"); }
}  // namespace

SecretManager::SecretManager(boost::asio::io_context& io, CaClient* ca, std::shared_ptr<const crypto::TrustBundle> roots,
                             Telemetry* telemetry, Options opts)
    : io_(io), ca_(ca), roots_(std::move(roots)), telemetry_(telemetry), opts_(opts) {}

void SecretManager::track(const SpiffeId& id) {
  bool fetch = false;
  {
    std::lock_guard lock(mu_);
    Entry& e = entries_[id];
    if (e.refs++ == 0 && !e.cert && !e.in_flight && !e.queued) fetch = true;
  }
  if (fetch) boost::asio::post(io_, [this, id] { start_fetch(id); });
}

void SecretManager::untrack(const SpiffeId& id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  if (--it->second.refs <= 0) {
    if (it->second.timer) it->second.timer->cancel();
    if (!it->second.in_flight) entries_.erase(it);  // an in-flight fetch finishes, then is dropped
  }
}

WorkloadCertPtr SecretManager::get(const SpiffeId& id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || !it->second.cert) return nullptr;
  auto now = crypto::Clock::now();
  const auto& c = it->second.cert;
  if (now >= c->not_after) return nullptr;  // expired: fail closed
  return c;
}

void SecretManager::schedule(const SpiffeId& id, std::chrono::steady_clock::duration after) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  auto& t = it->second.timer;
  if (!t) t = std::make_unique<boost::asio::steady_timer>(io_);
  t->expires_after(after);
  t->async_wait([this, id](boost::system::error_code ec) {
    if (!ec) start_fetch(id);
  });
}

void SecretManager::start_fetch(const SpiffeId& id) {
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.in_flight || it->second.queued) return;
    it->second.queued = true;
    queue_.push_back(id);
  }
  pump();
}

void SecretManager::pump() {
  for (;;) {
    SpiffeId id = *SpiffeId::make("x", "x", "x");
    {
      std::lock_guard lock(mu_);
      if (in_flight_ >= opts_.max_concurrent || queue_.empty()) return;
      id = queue_.front();
      queue_.pop_front();
      auto it = entries_.find(id);
      if (it == entries_.end()) continue;
      it->second.queued = false;
      it->second.in_flight = true;
      ++in_flight_;
    }
    auto req = identity::new_key_and_csr(id);
    if (!req.ok()) {
      boost::asio::post(io_, [this, id, s = req.status()] { on_result(id, *crypto::PrivateKey::generate_p256(), s); });
      continue;
    }
    ca_->create_certificate(req->csr_pem, id, opts_.ttl, [this, id, k = std::move(req->key)](absl::StatusOr<std::vector<std::string>> chain) mutable {
      boost::asio::post(io_, [this, id, k = std::move(k), chain = std::move(chain)]() mutable {
        on_result(id, std::move(k), std::move(chain));
      });
    });
  }
}

void SecretManager::on_result(const SpiffeId& id, crypto::PrivateKey key, absl::StatusOr<std::vector<std::string>> chain) {
  absl::Status err;
  WorkloadCertPtr cert;
  if (!chain.ok()) {
    err = chain.status();
  } else if (auto made = identity::make_workload_cert(*chain, key, id, roots_); !made.ok()) {
    err = made.status();
  } else {
    cert = std::move(*made);
  }
  std::chrono::steady_clock::duration next{};
  {
    std::lock_guard lock(mu_);
    --in_flight_;
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      // Untracked while in flight.
    } else if (it->second.refs <= 0) {
      entries_.erase(it);
    } else {
      Entry& e = it->second;
      e.in_flight = false;
      if (cert) {
        e.cert = cert;
        e.state = "Available";
        e.backoff = std::chrono::milliseconds(0);
        next = identity::refresh_after(*cert, crypto::Clock::now());
      } else {
        e.backoff = identity::next_backoff(e.backoff, {opts_.ttl, opts_.initial_backoff, opts_.max_backoff});
        e.state = str_cat("Unavailable: ", err.message());
        next = e.backoff;
      }
    }
  }
  if (telemetry_) telemetry_->cert_fetches.with({cert ? "success" : "failure"}).inc();
  if (cert) {
    lg().info("certificate for {} valid until {}", id.to_string(), crypto::format_time(cert->not_after));
  } else {
    lg().warn("certificate for {} failed: {} (retrying)", id.to_string(), err.message());
  }
  if (next.count() > 0) schedule(id, next);
  pump();
}

std::vector<CertDump> SecretManager::dump() const {
  std::lock_guard lock(mu_);
  std::vector<CertDump> out;
  for (const auto& [id, e] : entries_) {
    CertDump d;
    d.identity = id.to_string();
    d.state = e.state;
    if (e.cert) {
      for (const auto& c : e.cert->creds.chain) d.chain_pem.push_back(c.to_pem());
      d.serial = e.cert->creds.chain[0].serial_hex();
      d.valid_from = crypto::format_time(e.cert->not_before);
      d.expiration = crypto::format_time(e.cert->not_after);
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace ambit::ztunnel
