#include "agent/probe_address.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <cerrno>

#include "ambit/abi.h"
#include "common/base/status.h"
#include "common/net/rtnetlink.h"

namespace ambit::agent {
namespace {

// One RTM_NEWADDR / RTM_DELADDR request for AMBIT_PROBE_SRC4/32 on lo.
absl::Status address_request(uint16_t type, uint16_t flags, int tolerated, std::string_view what) {
  unsigned lo = if_nametoindex("lo");
  if (lo == 0) return errno_error(errno, what, ": no lo interface");
  net::RtnlMessage m(type, flags);
  auto* ifa = m.header<ifaddrmsg>();
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = 32;
  ifa->ifa_scope = RT_SCOPE_HOST;
  ifa->ifa_index = lo;
  uint32_t addr = htonl(AMBIT_PROBE_SRC4);
  m.put(IFA_LOCAL, &addr, sizeof(addr));
  m.put(IFA_ADDRESS, &addr, sizeof(addr));
  return m.send_and_ack(what, tolerated);
}

}  // namespace

absl::Status ensure_probe_address() {
  return address_request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, EEXIST, "add probe address 169.254.7.127/32 on lo");
}

absl::Status remove_probe_address() {
  return address_request(RTM_DELADDR, 0, EADDRNOTAVAIL, "remove probe address 169.254.7.127/32 from lo");
}

}  // namespace ambit::agent
