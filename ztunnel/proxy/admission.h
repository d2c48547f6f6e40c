// Admission of inbound connections (15008 HBONE and 15006 plaintext) before they cost more than
// an fd: a cap on all of them together and one per source address, so one client — a flood of
// idle TCP connections or of handshakes that never finish — cannot use up ztunnel's fds and
// starve every other pod on the node. Past a cap a connection is reset at once (the client learns
// right away, nothing queues) and counted by reason.
//
// A Ticket is held for the connection's whole life and gives its slot back when destroyed.
// Thread-safe: all workers admit through the one instance.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>

#include "common/net/ip_addr.h"

namespace ambit::ztunnel {

struct AdmissionLimits {
  size_t max_total = 16384;      // all inbound connections of this ztunnel
  size_t max_per_source = 1024;  // from one source IP
};

enum class Refusal { kNone, kTotal, kPerSource };
std::string_view refusal_name(Refusal r);  // "total", "per_source" (metric label values)

class InboundAdmission {
 public:
  // `on_change` (optional) sees the new total after every admit and release (a gauge).
  explicit InboundAdmission(AdmissionLimits limits, std::function<void(size_t)> on_change = nullptr)
      : limits_(limits), on_change_(std::move(on_change)) {}

  class Ticket {
   public:
    ~Ticket();
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

   private:
    friend class InboundAdmission;
    Ticket(InboundAdmission* owner, net::IpAddr src) : owner_(owner), src_(src) {}
    InboundAdmission* owner_;
    net::IpAddr src_;
  };
  using TicketPtr = std::shared_ptr<Ticket>;

  // A ticket, or null and why not (in `why`).
  TicketPtr admit(const net::IpAddr& src, Refusal* why);

  size_t total() const;
  size_t from(const net::IpAddr& src) const;
  const AdmissionLimits& limits() const { return limits_; }

 private:
  void release(const net::IpAddr& src);

  const AdmissionLimits limits_;
  const std::function<void(size_t)> on_change_;
  mutable std::mutex mu_;
  size_t total_ = 0;
  std::map<net::IpAddr, size_t> per_source_;
};

// Back-off for an accept loop whose accept fails for lack of resources (EMFILE, ENFILE, ENOBUFS,
// ENOMEM): retrying at once would spin a core while nothing can change. Waits double from
// `first` up to `max`, and a successful accept resets them.
class AcceptBackoff {
 public:
  AcceptBackoff(std::chrono::milliseconds first = std::chrono::milliseconds(5),
                std::chrono::milliseconds max = std::chrono::milliseconds(1000))
      : first_(first), max_(max) {}
  std::chrono::milliseconds failed();  // the wait before the next accept
  void succeeded() { next_ = std::chrono::milliseconds(0); }

 private:
  std::chrono::milliseconds first_, max_, next_{0};
};

// Whether an accept error means "out of a resource" (back off) rather than a per-connection
// failure such as ECONNABORTED (retry at once).
bool is_resource_exhaustion(int err);

}  // namespace ambit::ztunnel
