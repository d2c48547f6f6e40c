#include "istiod/security/loopback.h"

#include <arpa/inet.h>

#include <cstring>
#include <optional>
#include <string>

namespace ambit::istiod::security {
namespace {

bool ip_is_loopback(std::string_view host) {
  std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  // ::ffff:127.x.y.z: an IPv4 loopback peer seen on a dual-stack socket.
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

bool is_unix(std::string_view s) { return s.rfind("unix:", 0) == 0 || s.rfind("unix-abstract:", 0) == 0; }

// "host:port" or "[v6]:port" -> host (without brackets); "" if there is no port separator.
std::string_view host_of(std::string_view hostport) {
  if (!hostport.empty() && hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) return {};
    return hostport.substr(1, close - 1);
  }
  auto colon = hostport.rfind(':');
  if (colon == std::string_view::npos) return {};
  return hostport.substr(0, colon);
}

}  // namespace

std::optional<std::string> peer_ip(std::string_view peer) {
  std::string_view rest;
  if (peer.rfind("ipv4:", 0) == 0) {
    rest = peer.substr(5);
  } else if (peer.rfind("ipv6:", 0) == 0) {
    rest = peer.substr(5);
  } else {
    return std::nullopt;
  }
  // gRPC URI-escapes the brackets of an IPv6 peer in some versions.
  std::string unescaped;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%' && i + 3 <= rest.size() && (rest.substr(i, 3) == "%5B" || rest.substr(i, 3) == "%5b")) {
      unescaped.push_back('[');
      i += 2;
    } else if (rest[i] == '%' && i + 3 <= rest.size() && (rest.substr(i, 3) == "%5D" || rest.substr(i, 3) == "%5d")) {
      unescaped.push_back(']');
      i += 2;
    } else {
      unescaped.push_back(rest[i]);
    }
  }
  std::string_view host = host_of(unescaped);
  if (host.empty()) return std::nullopt;
  return std::string(host);
}

bool peer_is_loopback(std::string_view peer) {
  if (is_unix(peer)) return true;
  auto ip = peer_ip(peer);
  return ip && ip_is_loopback(*ip);
}

bool listen_address_is_loopback(std::string_view address) {
  if (is_unix(address)) return true;
  std::string_view host = host_of(address);
  if (host == "localhost") return true;
  return ip_is_loopback(host);
}

}  // namespace ambit::istiod::security
