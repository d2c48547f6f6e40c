#include "common/net/rtnetlink.h"

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/base/status.h"
#include "common/base/unique_fd.h"

namespace ambit::net {

RtnlMessage::RtnlMessage(uint16_t type, uint16_t flags) {
  hdr()->nlmsg_len = NLMSG_LENGTH(0);
  hdr()->nlmsg_type = type;
  hdr()->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  hdr()->nlmsg_seq = 1;
}

void RtnlMessage::put(uint16_t type, const void* data, size_t len) {
  size_t at = NLMSG_ALIGN(hdr()->nlmsg_len);
  // The messages built here are fixed and small; overflowing the buffer is a programming error.
  if (at + RTA_SPACE(len) > buf_.size()) std::abort();
  auto* rta = reinterpret_cast<rtattr*>(buf_.data() + at);
  rta->rta_type = type;
  rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  std::memcpy(RTA_DATA(rta), data, len);
  hdr()->nlmsg_len = static_cast<uint32_t>(at + RTA_ALIGN(rta->rta_len));
}

absl::Status RtnlMessage::send_and_ack(std::string_view what, int tolerated) {
  UniqueFd nl(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!nl) return errno_error(errno, what, ": netlink socket");
  if (::send(nl.get(), buf_.data(), hdr()->nlmsg_len, 0) < 0) return errno_error(errno, what, ": netlink send");
  alignas(nlmsghdr) char reply[1024];
  ssize_t n = ::recv(nl.get(), reply, sizeof(reply), 0);
  if (n < 0) return errno_error(errno, what, ": netlink recv");
  auto* resp = reinterpret_cast<nlmsghdr*>(reply);
  if (!NLMSG_OK(resp, static_cast<unsigned>(n)) || resp->nlmsg_type != NLMSG_ERROR) {
    return absl::InternalError(str_cat(what, ": unexpected netlink reply"));
  }
  int err = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(resp))->error;
  if (err != 0 && err != tolerated) return errno_error(err, what);
  return absl::OkStatus();
}

}  // namespace ambit::net
