// Tests for common/hbone/headers: CONNECT :authority, baggage, forwarded, traceparent,
// including ztunnel's own test vectors (src/baggage.rs, src/proxy.rs) and malformed input.
#include "common/hbone/headers.h"

#include <doctest/doctest.h>

#include <set>
#include <string>

#include "common/base/strings.h"

using ambit::net::IpAddr;
using ambit::net::SocketAddr;
using ambit::hbone::Baggage;
using ambit::hbone::build_baggage;
using ambit::hbone::build_forwarded;
using ambit::hbone::HboneAddress;
using ambit::hbone::parse_baggage;
using ambit::hbone::parse_connect_authority;
using ambit::hbone::parse_forwarded_host;
using ambit::hbone::parse_traceparent;
using ambit::hbone::TraceParent;

namespace {

SocketAddr sock(const char* s) {
  auto a = SocketAddr::parse(s);
  REQUIRE(a.has_value());
  return *a;
}

template <typename T>
void check_error(const absl::StatusOr<T>& r, const std::string& want) {
  REQUIRE_FALSE(r.ok());
  CHECK(absl::IsInvalidArgument(r.status()));
  std::string msg(r.status().message());
  CHECK_MESSAGE(msg.find(want) != std::string::npos, msg);
}

}  // namespace

TEST_CASE(":authority: IP:port, [v6]:port and hostname:port parse and format back") {
  struct Case {
    const char* in;
    const char* ip;  // nullptr: hostname form
    const char* host;
    uint16_t port;
    const char* formatted;
  } cases[] = {
      {"10.0.0.1:8080", "10.0.0.1", "", 8080, "10.0.0.1:8080"},
      {"0.0.0.0:1", "0.0.0.0", "", 1, "0.0.0.0:1"},
      {"[2001:db8::1]:443", "2001:db8::1", "", 443, "[2001:db8::1]:443"},
      {"[::1]:65535", "::1", "", 65535, "[::1]:65535"},
      {"[::ffff:10.0.0.1]:80", "10.0.0.1", "", 80, "10.0.0.1:80"},  // normalised
      {"reviews.default.svc.cluster.local:9080", nullptr, "reviews.default.svc.cluster.local", 9080,
       "reviews.default.svc.cluster.local:9080"},
      {"localhost:80", nullptr, "localhost", 80, "localhost:80"},
      {"A-b.C9:1", nullptr, "A-b.C9", 1, "A-b.C9:1"},
      {"1a.example:80", nullptr, "1a.example", 80, "1a.example:80"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    auto r = parse_connect_authority(c.in);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    if (c.ip) {
      REQUIRE(r->ip.has_value());
      CHECK(*r->ip == *IpAddr::parse(c.ip));
      CHECK_FALSE(r->is_hostname());
      CHECK(r->socket_addr()->port == c.port);
    } else {
      CHECK(r->is_hostname());
      CHECK(r->hostname == c.host);
      CHECK_FALSE(r->socket_addr().has_value());
    }
    CHECK(r->port == c.port);
    CHECK(r->to_string() == c.formatted);
    auto again = parse_connect_authority(r->to_string());
    REQUIRE(again.ok());
    CHECK(*again == *r);
  }
  CHECK(HboneAddress::from_socket_addr(sock("[fd00::2]:15008")).to_string() == "[fd00::2]:15008");
  CHECK(HboneAddress::from_hostname("a.b", 80).to_string() == "a.b:80");
}

TEST_CASE(":authority: malformed input is rejected with the reason") {
  struct Case {
    std::string in;
    const char* why;
  } cases[] = {
      {"", "empty authority"},
      {std::string(256, 'a'), "longer than 255 bytes"},
      {std::string("10.0.0.1:80\0", 12), "NUL byte"},
      {"10.0.0.1 :80", "whitespace"},
      {" 10.0.0.1:80", "whitespace"},
      {"10.0.0.1:80\t", "whitespace"},
      {"10.0.0.1:80\r\n", "control byte"},
      {"h\xc3\xa9.com:80", "non-ASCII"},
      {"user@10.0.0.1:80", "userinfo"},
      {"10.0.0.1:80/path", "path is not allowed"},
      {"10.0.0.1:80?q", "query is not allowed"},
      {"10.0.0.1:80#f", "fragment is not allowed"},
      {"[fe80::1%25eth0]:80", "zone ids are not allowed"},
      {"10.0.0.1", "missing port"},
      {"svc.local", "missing port"},
      {"10.0.0.1:", "empty port"},
      {"10.0.0.1:0", "port 0 is not a valid destination"},
      {"10.0.0.1:65536", "out of range"},
      {"10.0.0.1:999999", "out of range"},
      {"10.0.0.1:08", "leading zero"},
      {"10.0.0.1:+80", "not a decimal number"},
      {"10.0.0.1:-1", "not a decimal number"},
      {"10.0.0.1:8a", "not a decimal number"},
      {":80", "empty host"},
      {"2001:db8::1:80", "must be in brackets"},
      {"::1", "must be in brackets"},
      {"[2001:db8::1]", "missing port"},
      {"[2001:db8::1]80", "expected ':' after ']'"},
      {"[2001:db8::1:80", "unterminated '['"},
      {"[]:80", "invalid IPv6 address"},
      {"[10.0.0.1]:80", "invalid IPv6 address"},
      {"[zz::1]:80", "invalid IPv6 address"},
      {"a]:80", "misplaced"},
      {"10.0.0.256:80", "invalid IPv4 address"},
      {"10.0.0:80", "invalid IPv4 address"},
      {"010.0.0.1:80", "invalid IPv4 address"},
      {"1234:80", "invalid IPv4 address"},
      {"svc..local:80", "empty label"},
      {".svc:80", "empty label"},
      {"svc.local.:80", "empty label"},
      {"-svc.local:80", "starts or ends with '-'"},
      {"svc-.local:80", "starts or ends with '-'"},
      {"svc_1.local:80", "invalid character '_'"},
      {"svc*.local:80", "invalid character '*'"},
      {std::string(64, 'a') + ".b:80", "longer than 63"},
  };
  for (const auto& c : cases) {
    CAPTURE(ambit::printable(c.in));
    check_error(parse_connect_authority(c.in), c.why);
  }
  // The offending input is quoted escaped in the message.
  auto r = parse_connect_authority(std::string("a\0b:80", 6));
  REQUIRE_FALSE(r.ok());
  CHECK(std::string(r.status().message()).find("\"a\\x00b:80\"") != std::string::npos);
}

TEST_CASE("baggage: built in ztunnel's order, empty values omitted") {
  Baggage b{.cluster_id = "Kubernetes",
            .ns = "default",
            .workload_name = "reviews-v1",
            .workload_type = "deployment",
            .service_name = "reviews",
            .revision = "v1",
            .region = "us-east1",
            .zone = "us-east1-b"};
  CHECK(build_baggage(b) ==
        "k8s.cluster.name=Kubernetes,k8s.namespace.name=default,k8s.deployment.name=reviews-v1,"
        "service.name=reviews,service.version=v1,cloud.region=us-east1,"
        "cloud.availability_zone=us-east1-b");
  CHECK(build_baggage(Baggage{}) == "");
  CHECK(build_baggage(Baggage{.ns = "ns", .workload_name = "w", .workload_type = "cronjob"}) ==
        "k8s.namespace.name=ns,k8s.cronjob.name=w");
  CHECK(build_baggage(Baggage{.workload_name = "w", .workload_type = "pod"}) == "k8s.pod.name=w");
  CHECK(build_baggage(Baggage{.workload_name = "w", .workload_type = "job"}) == "k8s.job.name=w");
  CHECK(build_baggage(Baggage{.workload_name = "w"}) == "k8s.deployment.name=w");
  CHECK(build_baggage(Baggage{.workload_name = "w", .workload_type = "bogus"}) ==
        "k8s.deployment.name=w");
  // Separators cannot leak into the list.
  CHECK(build_baggage(Baggage{.region = "a,b=c;d %e"}) == "cloud.region=a%2Cb%3Dc%3Bd%20%25e");

  auto parsed = parse_baggage(build_baggage(b));
  REQUIRE(parsed.ok());
  CHECK(*parsed == b);
  Baggage odd{.cluster_id = "x", .region = "a,b=c;d %e\"\\"};
  parsed = parse_baggage(build_baggage(odd));
  REQUIRE(parsed.ok());
  CHECK(*parsed == odd);
}

TEST_CASE("baggage: ztunnel's parser test vectors") {
  auto b = parse_baggage(
      "k8s.cluster.name=K1,k8s.namespace.name=NS1,k8s.deployment.name=N1,service.name=N2,"
      "service.version=V1");
  REQUIRE(b.ok());
  CHECK(b->cluster_id == "K1");
  CHECK(b->ns == "NS1");
  CHECK(b->workload_name == "N1");
  CHECK(b->workload_type == "deployment");
  CHECK(b->service_name == "N2");
  CHECK(b->revision == "V1");

  b = parse_baggage(
      "k8s.cluster.name=,k8s.namespace.name=,k8s.deployment.name=,service.name=,service.version=");
  REQUIRE(b.ok());
  CHECK(*b == Baggage{});

  b = parse_baggage({"k8s.cluster.name=K1", "k8s.namespace.name=NS1", "k8s.job.name=N1",
                     "service.name=N2", "service.version=V1"});
  REQUIRE(b.ok());
  CHECK(b->cluster_id == "K1");
  CHECK(b->ns == "NS1");
  CHECK(b->workload_name == "N1");
  CHECK(b->workload_type == "job");
  CHECK(b->revision == "V1");

  b = parse_baggage(std::vector<std::string_view>{});
  REQUIRE(b.ok());
  CHECK(*b == Baggage{});
}

TEST_CASE("baggage: tolerant of unknown keys, whitespace and properties, later members win") {
  auto b = parse_baggage(
      " userId=alice , k8s.namespace.name = ns1 ;prop=1;flag, junk,=v,,k8s.pod.name=p1,"
      "cloud.region=r1,cloud.region=r2,service.name=s%20x,k8s.cluster.name=%zz,"
      "service.version=a=b");
  REQUIRE(b.ok());
  CHECK(b->ns == "ns1");
  CHECK(b->workload_name == "p1");
  CHECK(b->workload_type == "pod");
  CHECK(b->region == "r2");
  CHECK(b->service_name == "s x");
  CHECK(b->cluster_id == "%zz");  // a malformed escape is kept as is
  CHECK(b->revision == "a=b");
  // An empty value clears; a later workload key replaces the kind.
  b = parse_baggage("cloud.region=r1,cloud.region=,k8s.pod.name=p,k8s.deployment.name=d");
  REQUIRE(b.ok());
  CHECK(b->region.empty());
  CHECK(b->workload_name == "d");
  CHECK(b->workload_type == "deployment");
  // Unknown workload kinds are unknown keys.
  b = parse_baggage("k8s.replicaset.name=x,k8s..name=y");
  REQUIRE(b.ok());
  CHECK(b->workload_name.empty());
  // Values that are not printable ASCII once decoded are ignored.
  b = parse_baggage("service.name=a%0Ab,cloud.region=\xc3\xa9,cloud.availability_zone=z%7F");
  REQUIRE(b.ok());
  CHECK(b->service_name.empty());
  CHECK(b->region.empty());
  CHECK(b->zone.empty());
}

TEST_CASE("baggage: bounded in size and members") {
  std::string big(Baggage::kMaxLength + 1, 'a');
  check_error(parse_baggage(big), "over the 8192-byte limit");
  check_error(
      parse_baggage({std::string_view(big).substr(0, 5000), std::string_view(big).substr(0, 5000)}),
      "over the 8192-byte limit");
  std::string many;
  for (size_t i = 0; i <= Baggage::kMaxEntries; ++i) many += "k=v,";
  check_error(parse_baggage(many), "more than 64 members");
  std::string ok_many;
  for (size_t i = 0; i < Baggage::kMaxEntries; ++i) ok_many += "k=v,,";
  CHECK(parse_baggage(ok_many).ok());  // empty members do not count
}

TEST_CASE("forwarded: built like ztunnel's build_forwarded") {
  CHECK(build_forwarded(sock("10.0.0.1:34567")) == "for=\"10.0.0.1:34567\"");
  CHECK(build_forwarded(sock("[2001:db8::1]:80")) == "for=\"[2001:db8::1]:80\"");
  CHECK(build_forwarded(sock("10.0.0.1:1"), "reviews.default.svc.cluster.local") ==
        "for=\"10.0.0.1:1\";host=reviews.default.svc.cluster.local");
  CHECK(build_forwarded(sock("10.0.0.1:1"), "a b\"c") == "for=\"10.0.0.1:1\";host=\"a b\\\"c\"");
  CHECK(build_forwarded(sock("10.0.0.1:1"), "bad\nname") == "for=\"10.0.0.1:1\"");
  for (const char* host : {"reviews.default.svc.cluster.local", "a b\"c\\d", "x:80"}) {
    auto h = parse_forwarded_host(build_forwarded(sock("[::1]:9"), host));
    REQUIRE(h.ok());
    REQUIRE(h->has_value());
    CHECK(**h == host);
  }
}

TEST_CASE("forwarded: host= is read as ztunnel's parse_forwarded_host reads it") {
  struct Case {
    const char* in;
    const char* host;  // nullptr: no host
  } cases[] = {
      // ztunnel's test vectors.
      {"by=identifier;for=identifier;host=example.com;proto=https", "example.com"},
      {"by=identifier;for=identifier;host=\"example.com\";proto=https", "example.com"},
      {"by=identifier;for=identifier;proto=https", nullptr},
      {"by=identifier;for=identifier;host=;proto=https", nullptr},
      // More.
      {"for=\"10.0.0.1:5\";host=svc.ns.svc.cluster.local", "svc.ns.svc.cluster.local"},
      {"for=a, for=b;host=second", "second"},
      {"for=a;host=first, for=b;host=second", "first"},
      {"for=a;host=, for=b;host=second", nullptr},  // the first host= decides
      {"HOST=upper.example", "upper.example"},
      {" for=a ; host=spaced ,for=b", "spaced"},
      {"host=\"esc\\\"aped\"", "esc\"aped"},
      {"host=\"with:port\"", "with:port"},
      {";;host=h;;", "h"},
      {",,host=h,,", "h"},
      {"", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    auto h = parse_forwarded_host(c.in);
    REQUIRE_MESSAGE(h.ok(), h.status().ToString());
    if (c.host) {
      REQUIRE(h->has_value());
      CHECK(**h == c.host);
    } else {
      CHECK_FALSE(h->has_value());
    }
  }
}

TEST_CASE("forwarded: malformed headers are errors") {
  struct Case {
    std::string in;
    const char* why;
  } cases[] = {
      {"for=for;by=by;host=host;proto=\"pr\xc3\xb6to\"", "non-ASCII"},  // ztunnel: None
      {std::string("host=a\0b", 8), "control byte"},
      {"host=\"open", "unterminated quoted value"},
      {"host=\"open\\", "unterminated quoted value"},
      {"host", "has no '='"},
      {"host =x", "has no '='"},
      {"=x", "expected a parameter name"},
      {"host=a;host=b", "duplicate host"},
      {"host=a b", "unexpected 'b'"},
      {"host=a\"b\"", "unexpected '\"'"},
      {"host=(x)", "unexpected '('"},
      {std::string(ambit::hbone::kMaxForwardedLength + 1, 'a'), "longer than 4096 bytes"},
  };
  for (const auto& c : cases) {
    CAPTURE(ambit::printable(c.in));
    check_error(parse_forwarded_host(c.in), c.why);
  }
  std::string many;
  for (size_t i = 0; i <= ambit::hbone::kMaxForwardedPairs; ++i) many += "a=b;";
  check_error(parse_forwarded_host(many), "more than 64 parameters");
}

TEST_CASE("traceparent: random, well-formed, distinct, round-trips") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    TraceParent t = TraceParent::random();
    std::string s = t.to_string();
    REQUIRE(s.size() == 55);
    CHECK(s.starts_with("00-"));
    CHECK(s.ends_with("-00"));
    CHECK(s.substr(3, 32) == t.trace_id_hex());
    auto back = parse_traceparent(s);
    REQUIRE_MESSAGE(back.ok(), back.status().ToString());
    CHECK(*back == t);
    seen.insert(s);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("traceparent: the W3C example parses") {
  auto t = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  REQUIRE(t.ok());
  CHECK(t->version == 0);
  CHECK(t->trace_id_hex() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(t->parent_id == 0x00f067aa0ba902b7ULL);
  CHECK(t->flags == 1);
  // A future version may carry more fields after a '-'.
  auto future = parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz");
  REQUIRE(future.ok());
  CHECK(future->version == 1);
}

TEST_CASE("traceparent: malformed values are rejected with the reason") {
  struct Case {
    std::string in;
    const char* why;
  } cases[] = {
      {"", "0 characters, want 55"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "characters, want 55"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", "exactly 55"},
      {"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version ff"},
      {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", "expected '-' at offset 55"},
      {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "lower-case hex only"},
      {"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "expected '-' at offset 2"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736000f067aa0ba902b7-01", "expected '-' at offset 35"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7001", "expected '-' at offset 52"},
      {"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", "invalid character 'g'"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z", "invalid character 'z'"},
      {"0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "invalid character 'x'"},
      {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "all-zero trace id"},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "all-zero parent id"},
      {std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\0", 55),
       "invalid character \\x00"},
      // ztunnel indexes segments blindly; a 55-byte value without dashes must not crash here.
      {std::string(55, 'a'), "expected '-' at offset 2"},
  };
  for (const auto& c : cases) {
    CAPTURE(ambit::printable(c.in));
    check_error(parse_traceparent(c.in), c.why);
  }
}
