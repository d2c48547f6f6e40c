#include "agent/inpod_routing.h"

#include <fcntl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>

#include "ambit/abi.h"
#include "common/base/status.h"
#include "common/base/unique_fd.h"
#include "common/net/netns.h"
#include "common/net/rtnetlink.h"

namespace ambit::agent {
namespace {

constexpr const char* kFwmarkAccept = "/proc/sys/net/ipv4/tcp_fwmark_accept";

// /proc/sys/net resolves to the network namespace of the thread that opens it.
absl::Status set_fwmark_accept() {
  UniqueFd fd(::open(kFwmarkAccept, O_WRONLY | O_CLOEXEC));
  if (!fd) return errno_error(errno, "open ", kFwmarkAccept);
  if (::write(fd.get(), "1", 1) != 1) return errno_error(errno, "write 1 to ", kFwmarkAccept);
  return absl::OkStatus();
}

absl::Status rule_request(uint16_t type, uint16_t flags, int tolerated, std::string_view what) {
  net::RtnlMessage m(type, flags);
  auto* frh = m.header<fib_rule_hdr>();
  frh->family = AF_INET;
  frh->action = FR_ACT_TO_TBL;
  frh->table = AMBIT_REPLY_TABLE;
  m.put_u32(FRA_FWMARK, AMBIT_DELIVERY_MARK);
  m.put_u32(FRA_FWMASK, 0xfff);
  m.put_u32(FRA_PRIORITY, AMBIT_REPLY_RULE_PREF);
  m.put_u32(FRA_TABLE, AMBIT_REPLY_TABLE);
  return m.send_and_ack(what, tolerated);
}

absl::Status route_request(uint16_t type, uint16_t flags, int tolerated, std::string_view what) {
  unsigned lo = if_nametoindex("lo");
  if (lo == 0) return errno_error(errno, what, ": no lo interface");
  net::RtnlMessage m(type, flags);
  auto* rtm = m.header<rtmsg>();
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = 0;
  rtm->rtm_table = AMBIT_REPLY_TABLE;
  rtm->rtm_protocol = RTPROT_BOOT;
  rtm->rtm_scope = RT_SCOPE_HOST;
  rtm->rtm_type = RTN_LOCAL;
  m.put_u32(RTA_TABLE, AMBIT_REPLY_TABLE);
  m.put_u32(RTA_OIF, lo);
  return m.send_and_ack(what, tolerated);
}

constexpr const char* kRuleText = "rule 'fwmark 0x111/0xfff pref 32764 lookup 100'";
constexpr const char* kRouteText = "route 'local 0.0.0.0/0 dev lo table 100'";

}  // namespace

absl::Status apply_reply_routing(const std::string& netns_path) {
  AMBIT_ASSIGN_OR_RETURN(UniqueFd ns, net::open_netns(netns_path));
  absl::Status st = net::run_in_netns(ns.get(), [] {
    AMBIT_RETURN_IF_ERROR(set_fwmark_accept());
    AMBIT_RETURN_IF_ERROR(rule_request(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, EEXIST, str_cat("add ", kRuleText)));
    return route_request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, EEXIST, str_cat("add ", kRouteText));
  });
  return annotate(st, str_cat("reply routing in ", netns_path));
}

}  // namespace ambit::agent
