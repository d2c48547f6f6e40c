#include <doctest/doctest.h>

#include "common/identity/spiffe.h"

using ambit::SpiffeId;

TEST_CASE("SPIFFE IDs in Istio's shape parse and format") {
  auto id = SpiffeId::parse("spiffe://cluster.local/ns/default/sa/bookinfo-ratings");
  REQUIRE(id.ok());
  CHECK(id->trust_domain() == "cluster.local");
  CHECK(id->ns() == "default");
  CHECK(id->service_account() == "bookinfo-ratings");
  CHECK(id->to_string() == "spiffe://cluster.local/ns/default/sa/bookinfo-ratings");
  CHECK(id->principal() == "cluster.local/ns/default/sa/bookinfo-ratings");
  auto made = SpiffeId::make("td", "a", "b_c.d");
  REQUIRE(made.ok());
  CHECK(made->to_string() == "spiffe://td/ns/a/sa/b_c.d");
  CHECK(*SpiffeId::parse(made->to_string()) == *made);
}

TEST_CASE("malformed SPIFFE IDs are rejected with the reason") {
  struct Case {
    const char* in;
    const char* why;
  } cases[] = {
      {"", "does not start with spiffe://"},
      {"http://cluster.local/ns/a/sa/b", "does not start with spiffe://"},
      {"SPIFFE://cluster.local/ns/a/sa/b", "does not start with spiffe://"},
      {"spiffe://", "has no path"},
      {"spiffe://cluster.local", "has no path"},
      {"spiffe:///ns/a/sa/b", "empty trust domain"},
      {"spiffe://Cluster.local/ns/a/sa/b", "invalid character 'C'"},
      {"spiffe://cluster.local:443/ns/a/sa/b", "invalid character ':'"},
      {"spiffe://user@cluster.local/ns/a/sa/b", "invalid character '@'"},
      {"spiffe://cluster.local/ns/a/sa/b/extra", "path is not"},
      {"spiffe://cluster.local/ns/a/sa/", "empty service account"},
      {"spiffe://cluster.local/ns//sa/b", "empty namespace"},
      {"spiffe://cluster.local/ns/a/sa", "path is not"},
      {"spiffe://cluster.local/sa/b/ns/a", "path is not"},
      {"spiffe://cluster.local/ns/a/sa/b?x=1", "invalid character '?'"},
      {"spiffe://cluster.local/ns/a/sa/b#frag", "invalid character '#'"},
      {"spiffe://cluster.local/ns/a%2Fb/sa/c", "invalid character '%'"},
      {"spiffe://cluster.local/ns/../sa/b", "may not be '.' or '..'"},
      {"spiffe://cluster.local/ns/./sa/b", "may not be '.' or '..'"},
      {"spiffe://cluster.local//ns/a/sa/b", "path is not"},
      {"spiffe://cluster.local/ns/a/sa/b/", "path is not"},
      {"spiffe://cluster.local/ns/a b/sa/c", "invalid character ' '"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    auto id = SpiffeId::parse(c.in);
    REQUIRE_FALSE(id.ok());
    CHECK(absl::IsInvalidArgument(id.status()));
    CHECK_MESSAGE(id.status().message().find(c.why) != std::string::npos, id.status().message());
  }
}

TEST_CASE("NUL bytes and over-long IDs are rejected, and shown escaped") {
  std::string with_nul("spiffe://cluster.local/ns/a/sa/b\0evil", 37);
  auto id = SpiffeId::parse(with_nul);
  REQUIRE_FALSE(id.ok());
  CHECK(id.status().message().find("\\x00") != std::string::npos);
  std::string long_id = "spiffe://td/ns/a/sa/" + std::string(3000, 'x');
  auto l = SpiffeId::parse(long_id);
  REQUIRE_FALSE(l.ok());
  CHECK(l.status().message().find("longer than") != std::string::npos);
}

TEST_CASE("SPIFFE IDs order and compare by value") {
  auto a = *SpiffeId::parse("spiffe://td/ns/a/sa/x");
  auto b = *SpiffeId::parse("spiffe://td/ns/b/sa/x");
  CHECK(a < b);
  CHECK(a != b);
  CHECK(a == *SpiffeId::parse("spiffe://td/ns/a/sa/x"));
}
