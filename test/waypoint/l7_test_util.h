// Helpers for the waypoint L7 tests: protos from text format (what istiod would send, readable
// in the test), addresses, identities.
#pragma once

#include <doctest/doctest.h>
#include <google/protobuf/text_format.h>

#include <string>

#include "common/identity/spiffe.h"
#include "common/net/ip_addr.h"
#include "istio/security/authorization.pb.h"

namespace ambit::waypoint::l7::testing {

template <typename T>
T parse(const std::string& text) {
  T out;
  REQUIRE_MESSAGE(google::protobuf::TextFormat::ParseFromString(text, &out), text);
  return out;
}

inline net::IpAddr ip(const char* s) {
  auto a = net::IpAddr::parse(s);
  REQUIRE(a.has_value());
  return *a;
}

inline istio::security::Address cidr(const char* addr, uint32_t len) {
  istio::security::Address a;
  a.set_address(ip(addr).bytes());
  a.set_length(len);
  return a;
}

// An IPv4-mapped IPv6 network (::ffff:a.b.c.d/len) as 16 raw bytes: IpAddr::parse would
// normalise the address to IPv4.
inline istio::security::Address mapped_cidr(const char* v4, uint32_t len) {
  istio::security::Address a;
  a.set_address(std::string(10, '\0') + "\xff\xff" + ip(v4).bytes());
  a.set_length(len);
  return a;
}

inline SpiffeId id(const char* ns, const char* sa, const char* td = "cluster.local") {
  auto i = SpiffeId::make(td, ns, sa);
  REQUIRE(i.ok());
  return *i;
}

}  // namespace ambit::waypoint::l7::testing
