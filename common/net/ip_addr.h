// IP addresses and socket addresses as values: parse/format, raw 4/16-byte forms (what WDS
// carries), CIDR containment, conversion to/from sockaddr. IPv4-mapped IPv6 addresses are
// normalised to IPv4 so a dual-stack socket's peer compares equal to the WDS address.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ambit::net {

class IpAddr {
 public:
  IpAddr() = default;  // unspecified IPv4 0.0.0.0
  static std::optional<IpAddr> parse(std::string_view s);
  // 4 or 16 raw bytes; anything else is nullopt.
  static std::optional<IpAddr> from_bytes(std::string_view b);
  static IpAddr v4(uint32_t host_order);
  static IpAddr from_in(const in_addr& a);
  static IpAddr from_in6(const in6_addr& a);

  bool is_v4() const { return v4_; }
  std::string to_string() const;
  std::string bytes() const;  // 4 or 16 bytes
  bool is_loopback() const;
  bool is_unspecified() const;
  // True if within addr/len of the same family.
  bool in_cidr(const IpAddr& net, unsigned len) const;
  const std::array<uint8_t, 16>& raw() const { return b_; }

  auto operator<=>(const IpAddr&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const IpAddr& a) {
    return H::combine(std::move(h), a.v4_, a.b_);
  }

 private:
  bool v4_ = true;
  std::array<uint8_t, 16> b_{};  // v4 uses the first 4 bytes
};

struct SocketAddr {
  IpAddr ip;
  uint16_t port = 0;
  static std::optional<SocketAddr> parse(std::string_view s);  // "1.2.3.4:80", "[::1]:80"
  static SocketAddr from_sockaddr(const sockaddr_storage& ss);
  // Fills `ss`, returns its length.
  socklen_t to_sockaddr(sockaddr_storage* ss) const;
  std::string to_string() const;  // "[v6]:port" for IPv6
  auto operator<=>(const SocketAddr&) const = default;
};

// Local/peer address of a socket.
absl::StatusOr<SocketAddr> local_addr(int fd);
absl::StatusOr<SocketAddr> peer_addr(int fd);
// SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST: where a captured connection was going.
absl::StatusOr<SocketAddr> original_dst(int fd);

}  // namespace ambit::net
