// InboundAdmission and AcceptBackoff (ztunnel/proxy/admission.h): pure logic, no sockets.
#include "ztunnel/proxy/admission.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <thread>
#include <vector>

using namespace ambit;
using namespace ambit::ztunnel;
using namespace std::chrono_literals;

namespace {
net::IpAddr ip(const char* s) { return *net::IpAddr::parse(s); }
}  // namespace

TEST_CASE("admission: the per-source cap refuses one source and not the others") {
  InboundAdmission a({.max_total = 100, .max_per_source = 3});
  std::vector<InboundAdmission::TicketPtr> held;
  Refusal why;
  for (int i = 0; i < 3; ++i) {
    held.push_back(a.admit(ip("10.0.0.1"), &why));
    REQUIRE(held.back());
    CHECK(why == Refusal::kNone);
  }
  CHECK(a.admit(ip("10.0.0.1"), &why) == nullptr);
  CHECK(why == Refusal::kPerSource);
  CHECK(refusal_name(why) == "per_source");
  auto other = a.admit(ip("10.0.0.2"), &why);
  CHECK(other != nullptr);
  CHECK(a.from(ip("10.0.0.1")) == 3);
  CHECK(a.total() == 4);
  held.pop_back();  // a connection ends: its slot comes back
  CHECK(a.from(ip("10.0.0.1")) == 2);
  CHECK(a.admit(ip("10.0.0.1"), &why) != nullptr);
}

TEST_CASE("admission: the total cap refuses everyone, and every ticket gives its slot back") {
  size_t last_seen = 999;
  InboundAdmission a({.max_total = 4, .max_per_source = 10}, [&](size_t n) { last_seen = n; });
  std::vector<InboundAdmission::TicketPtr> held;
  Refusal why;
  for (const char* src : {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}) held.push_back(a.admit(ip(src), &why));
  CHECK(last_seen == 4);
  CHECK(a.admit(ip("10.0.0.9"), &why) == nullptr);
  CHECK(why == Refusal::kTotal);
  CHECK(a.from(ip("10.0.0.9")) == 0);  // a refusal leaves no entry behind
  held.clear();
  CHECK(a.total() == 0);
  CHECK(last_seen == 0);
  CHECK(a.from(ip("10.0.0.1")) == 0);
}

TEST_CASE("admission: concurrent admits and releases from several threads keep exact counts") {
  InboundAdmission a({.max_total = 1000000, .max_per_source = 1000000});
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      Refusal why;
      for (int i = 0; i < 5000; ++i) {
        auto k = a.admit(ip("10.0.0.1"), &why);
        auto k2 = a.admit(ip("10.0.0.2"), &why);
      }
    });
  }
  for (auto& t : ts) t.join();
  CHECK(a.total() == 0);
  CHECK(a.from(ip("10.0.0.1")) == 0);
}

TEST_CASE("accept back-off: doubles from 5 ms to a 1 s ceiling and resets on success") {
  AcceptBackoff b;
  CHECK(b.failed() == 5ms);
  CHECK(b.failed() == 10ms);
  CHECK(b.failed() == 20ms);
  for (int i = 0; i < 20; ++i) b.failed();
  CHECK(b.failed() == 1000ms);
  b.succeeded();
  CHECK(b.failed() == 5ms);
}

TEST_CASE("accept back-off: only resource exhaustion backs off") {
  for (int e : {EMFILE, ENFILE, ENOBUFS, ENOMEM}) CHECK(is_resource_exhaustion(e));
  for (int e : {ECONNABORTED, EPERM, EPROTO, EINTR}) CHECK_FALSE(is_resource_exhaustion(e));
}
