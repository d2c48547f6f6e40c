#include "ztunnel/proxy/admission.h"

#include <algorithm>
#include <cerrno>

namespace ambit::ztunnel {

std::string_view refusal_name(Refusal r) {
  switch (r) {
    case Refusal::kTotal:
      return "total";
    case Refusal::kPerSource:
      return "per_source";
    case Refusal::kNone:
      break;
  }
  return "none";
}

InboundAdmission::Ticket::~Ticket() { owner_->release(src_); }

InboundAdmission::TicketPtr InboundAdmission::admit(const net::IpAddr& src, Refusal* why) {
  std::lock_guard lock(mu_);
  if (total_ >= limits_.max_total) {
    *why = Refusal::kTotal;
    return nullptr;
  }
  size_t& mine = per_source_[src];
  if (mine >= limits_.max_per_source) {
    if (mine == 0) per_source_.erase(src);
    *why = Refusal::kPerSource;
    return nullptr;
  }
  ++mine;
  ++total_;
  if (on_change_) on_change_(total_);
  *why = Refusal::kNone;
  return TicketPtr(new Ticket(this, src));
}

void InboundAdmission::release(const net::IpAddr& src) {
  std::lock_guard lock(mu_);
  --total_;
  if (on_change_) on_change_(total_);
  auto it = per_source_.find(src);
  if (it != per_source_.end() && --it->second == 0) per_source_.erase(it);
}

size_t InboundAdmission::total() const {
  std::lock_guard lock(mu_);
  return total_;
}

size_t InboundAdmission::from(const net::IpAddr& src) const {
  std::lock_guard lock(mu_);
  auto it = per_source_.find(src);
  return it == per_source_.end() ? 0 : it->second;
}

std::chrono::milliseconds AcceptBackoff::failed() {
  next_ = next_.count() == 0 ? first_ : std::min(next_ * 2, max_);
  return next_;
}

bool is_resource_exhaustion(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

}  // namespace ambit::ztunnel
