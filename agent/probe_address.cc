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

// The same for AMBIT_PROBE_SRC6/128 on lo. Deprecated (preferred lifetime 0, valid forever):
// IPv6 has no host scope, and a deprecated address is never picked as a source by the kernel's
// source selection (RFC 6724 rule 3), only used by the explicit bind of the connect hook — the
// equivalent of the IPv4 address's host scope. No DAD: nothing else may have it.
absl::Status address_request6(uint16_t type, uint16_t flags, int tolerated, std::string_view what) {
  unsigned lo = if_nametoindex("lo");
  if (lo == 0) return errno_error(errno, what, ": no lo interface");
  net::RtnlMessage m(type, flags);
  auto* ifa = m.header<ifaddrmsg>();
  ifa->ifa_family = AF_INET6;
  ifa->ifa_prefixlen = 128;
  ifa->ifa_flags = IFA_F_NODAD;
  ifa->ifa_index = lo;
  const uint32_t addr[4] = {htonl(AMBIT_PROBE_SRC6_0), htonl(AMBIT_PROBE_SRC6_1), htonl(AMBIT_PROBE_SRC6_2),
                            htonl(AMBIT_PROBE_SRC6_3)};
  m.put(IFA_LOCAL, addr, sizeof(addr));
  m.put(IFA_ADDRESS, addr, sizeof(addr));
  if (type == RTM_NEWADDR) {
    ifa_cacheinfo ci{};
    ci.ifa_prefered = 0;
    ci.ifa_valid = 0xFFFFFFFFu;  // INFINITY_LIFE_TIME
    m.put(IFA_CACHEINFO, &ci, sizeof(ci));
  }
  return m.send_and_ack(what, tolerated);
}

}  // namespace

absl::Status ensure_probe_address() {
  return address_request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, EEXIST, "add probe address 169.254.7.127/32 on lo");
}

absl::Status remove_probe_address() {
  return address_request(RTM_DELADDR, 0, EADDRNOTAVAIL, "remove probe address 169.254.7.127/32 from lo");
}

absl::Status ensure_probe_address6() {
  return address_request6(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, EEXIST,
                          "add probe address fd16:9254:7127:1337:ffff:ffff:ffff:ffff/128 on lo");
}

absl::Status remove_probe_address6() {
  return address_request6(RTM_DELADDR, 0, EADDRNOTAVAIL,
                          "remove probe address fd16:9254:7127:1337:ffff:ffff:ffff:ffff/128 from lo");
}

}  // namespace ambit::agent
