#include "common/net/ip_addr.h"

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <cstring>

#include "common/base/status.h"
#include "common/base/strings.h"

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

namespace ambit::net {

std::optional<IpAddr> IpAddr::parse(std::string_view s) {
  std::string str(s);
  IpAddr a;
  if (inet_pton(AF_INET, str.c_str(), a.b_.data()) == 1) {
    a.v4_ = true;
    return a;
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, str.c_str(), &a6) == 1) return from_in6(a6);
  return std::nullopt;
}

std::optional<IpAddr> IpAddr::from_bytes(std::string_view b) {
  IpAddr a;
  if (b.size() == 4) {
    std::memcpy(a.b_.data(), b.data(), 4);
    a.v4_ = true;
    return a;
  }
  if (b.size() == 16) {
    in6_addr a6;
    std::memcpy(&a6, b.data(), 16);
    return from_in6(a6);
  }
  return std::nullopt;
}

IpAddr IpAddr::v4(uint32_t host_order) {
  IpAddr a;
  uint32_t n = htonl(host_order);
  std::memcpy(a.b_.data(), &n, 4);
  return a;
}

IpAddr IpAddr::from_in(const in_addr& in) {
  IpAddr a;
  std::memcpy(a.b_.data(), &in, 4);
  return a;
}

IpAddr IpAddr::from_in6(const in6_addr& in) {
  IpAddr a;
  if (IN6_IS_ADDR_V4MAPPED(&in)) {
    std::memcpy(a.b_.data(), reinterpret_cast<const uint8_t*>(&in) + 12, 4);
    a.v4_ = true;
    return a;
  }
  a.v4_ = false;
  std::memcpy(a.b_.data(), &in, 16);
  return a;
}

std::string IpAddr::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {0};
  inet_ntop(v4_ ? AF_INET : AF_INET6, b_.data(), buf, sizeof(buf));
  return buf;
}

std::string IpAddr::bytes() const {
  return std::string(reinterpret_cast<const char*>(b_.data()), v4_ ? 4 : 16);
}

bool IpAddr::is_loopback() const {
  if (v4_) return b_[0] == 127;
  static const std::array<uint8_t, 16> one = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return b_ == one;
}

bool IpAddr::is_unspecified() const {
  for (size_t i = 0; i < (v4_ ? 4u : 16u); ++i) {
    if (b_[i]) return false;
  }
  return true;
}

bool IpAddr::in_cidr(const IpAddr& net, unsigned len) const {
  if (v4_ != net.v4_) return false;
  unsigned bits = v4_ ? 32 : 128;
  if (len > bits) return false;
  for (unsigned i = 0; i < len / 8; ++i) {
    if (b_[i] != net.b_[i]) return false;
  }
  if (len % 8) {
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - len % 8));
    if ((b_[len / 8] & mask) != (net.b_[len / 8] & mask)) return false;
  }
  return true;
}

std::optional<SocketAddr> SocketAddr::parse(std::string_view s) {
  std::string_view host;
  std::string_view port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare IPv6 needs brackets
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  unsigned p = static_cast<unsigned>(std::stoul(std::string(port)));
  if (p > 65535) return std::nullopt;
  auto ip = IpAddr::parse(host);
  if (!ip) return std::nullopt;
  return SocketAddr{*ip, static_cast<uint16_t>(p)};
}

SocketAddr SocketAddr::from_sockaddr(const sockaddr_storage& ss) {
  SocketAddr a;
  if (ss.ss_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
    a.ip = IpAddr::from_in(s4->sin_addr);
    a.port = ntohs(s4->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    a.ip = IpAddr::from_in6(s6->sin6_addr);
    a.port = ntohs(s6->sin6_port);
  }
  return a;
}

socklen_t SocketAddr::to_sockaddr(sockaddr_storage* ss) const {
  std::memset(ss, 0, sizeof(*ss));
  if (ip.is_v4()) {
    auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    std::memcpy(&s4->sin_addr, ip.raw().data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
  s6->sin6_family = AF_INET6;
  s6->sin6_port = htons(port);
  std::memcpy(&s6->sin6_addr, ip.raw().data(), 16);
  return sizeof(sockaddr_in6);
}

std::string SocketAddr::to_string() const {
  return ip.is_v4() ? str_cat(ip.to_string(), ":", port) : str_cat("[", ip.to_string(), "]:", port);
}

absl::StatusOr<SocketAddr> local_addr(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return errno_error(errno, "getsockname");
  return SocketAddr::from_sockaddr(ss);
}

absl::StatusOr<SocketAddr> peer_addr(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return errno_error(errno, "getpeername");
  return SocketAddr::from_sockaddr(ss);
}

absl::StatusOr<SocketAddr> original_dst(int fd) {
  AMBIT_ASSIGN_OR_RETURN(SocketAddr local, local_addr(fd));
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int rc = local.ip.is_v4() ? ::getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len)
                            : ::getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
  if (rc != 0) return errno_error(errno, "getsockopt SO_ORIGINAL_DST");
  return SocketAddr::from_sockaddr(ss);
}

}  // namespace ambit::net
