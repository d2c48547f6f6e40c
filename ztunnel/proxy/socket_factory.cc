#include "ztunnel/proxy/socket_factory.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "common/base/status.h"
#include "common/base/unique_fd.h"
#include "common/net/netns.h"

namespace ambit::ztunnel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

absl::StatusOr<UniqueFd> make_socket(int netns_fd, int family) {
  if (netns_fd >= 0) return net::socket_in_netns(netns_fd, family, SOCK_STREAM | SOCK_NONBLOCK, 0);
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error(errno, "socket");
  return fd;
}

absl::Status mark(int fd, uint32_t m) {
  if (m == 0) return absl::OkStatus();
  if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &m, sizeof(m)) != 0) return errno_error(errno, "setsockopt SO_MARK");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<tcp::acceptor> SocketFactory::listen(asio::io_context& io, uint16_t port, bool transparent) const {
  // Prefer a dual-stack socket; fall back to IPv4 where the namespace has IPv6 disabled.
  auto bind_listener = [&](int family) -> absl::StatusOr<UniqueFd> {
    AMBIT_ASSIGN_OR_RETURN(UniqueFd fd, make_socket(netns_fd_, family));
    int one = 1, zero = 0;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    AMBIT_RETURN_IF_ERROR(mark(fd.get(), mark_));
    // Best effort, as ztunnel: lets 15008 accept for addresses that are not local.
    if (transparent) ::setsockopt(fd.get(), SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
    sockaddr_storage ss{};
    socklen_t len;
    if (family == AF_INET6) {
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
      auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(port);
      s6->sin6_addr = in6addr_any;
      len = sizeof(*s6);
    } else {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
      s4->sin_family = AF_INET;
      s4->sin_port = htons(port);
      s4->sin_addr.s_addr = htonl(INADDR_ANY);
      len = sizeof(*s4);
    }
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return errno_error(errno, "bind listener on port ", port);
    if (::listen(fd.get(), 1024) != 0) return errno_error(errno, "listen on port ", port);
    return fd;
  };
  int family = AF_INET6;
  auto fd = bind_listener(AF_INET6);
  if (!fd.ok() && !absl::IsAlreadyExists(fd.status())) {
    family = AF_INET;
    fd = bind_listener(AF_INET);
  }
  if (!fd.ok()) return fd.status();
  tcp::acceptor acc(io);
  boost::system::error_code ec;
  acc.assign(family == AF_INET6 ? tcp::v6() : tcp::v4(), fd->get(), ec);
  if (ec) return absl::InternalError(str_cat("adopt listener: ", ec.message()));
  fd->release();
  return acc;
}

absl::StatusOr<tcp::socket> SocketFactory::tcp(asio::io_context& io, const net::IpAddr& family_of,
                                               const std::optional<net::IpAddr>& bind_src) const {
  int family = family_of.is_v4() ? AF_INET : AF_INET6;
  AMBIT_ASSIGN_OR_RETURN(UniqueFd fd, make_socket(netns_fd_, family));
  AMBIT_RETURN_IF_ERROR(mark(fd.get(), bind_src && mark_ != 0 ? kDeliveryMark : mark_));
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (bind_src) {
    ::setsockopt(fd.get(), SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
    sockaddr_storage ss{};
    socklen_t len = net::SocketAddr{*bind_src, 0}.to_sockaddr(&ss);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      return errno_error(errno, "bind to original source ", bind_src->to_string());
    }
  }
  tcp::socket s(io);
  boost::system::error_code ec;
  s.assign(family == AF_INET ? tcp::v4() : tcp::v6(), fd.get(), ec);
  if (ec) return absl::InternalError(str_cat("adopt socket: ", ec.message()));
  fd.release();
  return s;
}

}  // namespace ambit::ztunnel
