// One rtnetlink request at a time, acknowledged: enough for the few routing objects the agent
// owns (the probe address on the node's lo; the reply-routing rule and table in each pod). A
// message is built in place and sent on a fresh NETLINK_ROUTE socket of the calling thread's
// network namespace (run it under net::run_in_netns for a pod's):
//
//   net::RtnlMessage m(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL);
//   auto* frh = m.header<fib_rule_hdr>();  frh->family = AF_INET; ...
//   m.put_u32(FRA_PRIORITY, 32764);
//   AMBIT_RETURN_IF_ERROR(m.send_and_ack("add the reply-routing rule", EEXIST));
#pragma once

#include <linux/netlink.h>

#include <array>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

namespace ambit::net {

class RtnlMessage {
 public:
  RtnlMessage(uint16_t type, uint16_t flags);
  // The family header that follows nlmsghdr (ifaddrmsg, rtmsg, fib_rule_hdr), zeroed; call once,
  // before any attribute.
  template <typename T>
  T* header() {
    static_assert(sizeof(T) <= 64);
    hdr()->nlmsg_len = NLMSG_LENGTH(sizeof(T));
    return reinterpret_cast<T*>(NLMSG_DATA(hdr()));
  }
  void put(uint16_t type, const void* data, size_t len);
  void put_u32(uint16_t type, uint32_t v) { put(type, &v, sizeof(v)); }
  // Sends, waits for the kernel's acknowledgement. `tolerated` errno (EEXIST for an add that may
  // repeat, ENOENT/ESRCH/EADDRNOTAVAIL for a delete of what is gone) counts as success. Errors
  // name `what` and the kernel's reason.
  absl::Status send_and_ack(std::string_view what, int tolerated = 0);

 private:
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  alignas(nlmsghdr) std::array<char, 256> buf_{};
};

}  // namespace ambit::net
