#include "common/identity/rotating_cert.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <mutex>

#include "common/base/log.h"
#include "common/base/strings.h"

namespace ambit::identity {

namespace {
spdlog::logger& lg() { return log::scope("cert"); }
}  // namespace

// Shared with the CA's callback and the timer's handler, which may run after the owner is gone.
// Everything that touches `io` — posting, the timer — happens under `mu` and only while not
// stopped, and stop() destroys the timer and waits out a create_certificate() call in progress
// on the io thread: once stop() returns nothing here uses `io` or `ca` again, so the owner may
// destroy them right after it, whatever CA answers are still in flight.
struct RotatingCertificate::State : std::enable_shared_from_this<State> {
  State(boost::asio::io_context& io, CaClient* ca, std::shared_ptr<const crypto::TrustBundle> roots, SpiffeId id,
        RenewalPolicy policy)
      : io(io),
        ca(ca),
        roots(std::move(roots)),
        id(std::move(id)),
        policy(policy),
        timer(std::make_unique<boost::asio::steady_timer>(io)) {}

  boost::asio::io_context& io;
  CaClient* ca;
  const std::shared_ptr<const crypto::TrustBundle> roots;
  const SpiffeId id;
  const RenewalPolicy policy;
  std::chrono::milliseconds backoff{0};  // io only
  UpdateFn on_update;                    // io only (set before start)

  mutable std::mutex mu;
  std::condition_variable idle;  // calling_ca went false
  bool calling_ca = false;       // inside ca->create_certificate()
  std::unique_ptr<boost::asio::steady_timer> timer;  // null once stopped
  WorkloadCertPtr cert;
  std::string state = "Initializing";
  bool stopped = false;

  bool is_stopped() const {
    std::lock_guard lock(mu);
    return stopped;
  }

  // Runs `fn` on io, unless stopped.
  template <typename F>
  void post(F&& fn) {
    std::lock_guard lock(mu);
    if (!stopped) boost::asio::post(io, std::forward<F>(fn));
  }

  void fetch() {
    if (is_stopped()) return;
    auto req = new_key_and_csr(id);
    if (!req.ok()) {
      done(req.status());
      return;
    }
    auto key = std::make_shared<crypto::PrivateKey>(std::move(req->key));
    {
      std::lock_guard lock(mu);
      if (stopped) return;
      calling_ca = true;
    }
    // Not under `mu`: a CA client may answer synchronously, and the answer takes `mu` to post.
    ca->create_certificate(req->csr_pem, id, policy.ttl,
                           [self = shared_from_this(), key](absl::StatusOr<std::vector<std::string>> chain) {
                             self->post([self, key, chain = std::move(chain)] {
                               if (!chain.ok()) {
                                 self->done(chain.status());
                                 return;
                               }
                               self->done(make_workload_cert(*chain, *key, self->id, self->roots));
                             });
                           });
    std::lock_guard lock(mu);
    calling_ca = false;
    idle.notify_all();
  }

  void done(absl::StatusOr<WorkloadCertPtr> r) {
    std::chrono::steady_clock::duration next;
    WorkloadCertPtr current;
    {
      std::lock_guard lock(mu);
      if (stopped) return;
      if (r.ok()) {
        cert = *r;
        state = "Available";
        backoff = std::chrono::milliseconds(0);
        next = refresh_after(**r, crypto::Clock::now());
      } else {
        state = str_cat("Unavailable: ", r.status().message());
        backoff = next_backoff(backoff, policy);
        next = backoff;
      }
      current = cert;
      timer->expires_after(next);
      timer->async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->fetch();
      });
    }
    if (r.ok()) {
      lg().info("certificate for {} valid until {}", id.to_string(), crypto::format_time((*r)->not_after));
    } else {
      lg().warn("certificate for {} failed: {} (retrying in {} ms)", id.to_string(), r.status().message(),
                std::chrono::duration_cast<std::chrono::milliseconds>(next).count());
    }
    if (on_update) on_update(current, r.ok() ? absl::OkStatus() : r.status());
  }
};

RotatingCertificate::RotatingCertificate(boost::asio::io_context& io, CaClient* ca,
                                         std::shared_ptr<const crypto::TrustBundle> roots, SpiffeId id,
                                         RenewalPolicy policy)
    : s_(std::make_shared<State>(io, ca, std::move(roots), std::move(id), policy)) {}

RotatingCertificate::~RotatingCertificate() { stop(); }

void RotatingCertificate::on_update(UpdateFn fn) { s_->on_update = std::move(fn); }

void RotatingCertificate::start() {
  s_->post([s = s_] { s->fetch(); });
}

void RotatingCertificate::stop() {
  std::unique_lock lock(s_->mu);
  s_->stopped = true;
  s_->idle.wait(lock, [this] { return !s_->calling_ca; });
  // Destroying the timer cancels its wait (the handler then runs with operation_aborted, or is
  // destroyed with `io`); every other use of the timer is under `mu` too.
  s_->timer.reset();
}

WorkloadCertPtr RotatingCertificate::get() const {
  std::lock_guard lock(s_->mu);
  if (!s_->cert || crypto::Clock::now() >= s_->cert->not_after) return nullptr;  // expired: fail closed
  return s_->cert;
}

std::string RotatingCertificate::state() const {
  std::lock_guard lock(s_->mu);
  return s_->state;
}

const SpiffeId& RotatingCertificate::identity() const { return s_->id; }

}  // namespace ambit::identity
