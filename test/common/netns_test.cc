#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/net/netns.h"
#include "common/sim/topology.h"
#include "test/support/harness.h"
#include "test/support/root.h"

using namespace ambit;

TEST_CASE("netns: open, run inside, create sockets inside, read cookies") {
  AMBIT_REQUIRE_ROOT();
  test::Harness h;
  auto ns = h.netns("a");
  AMBIT_REQUIRE_OK(ns);
  AMBIT_REQUIRE_OK(h.exec("a", {"ip", "link", "add", "dummy0", "type", "veth", "peer", "name", "dummy1"}));
  AMBIT_REQUIRE_OK(h.address("a", "dummy0", "10.250.0.1/24"));
  AMBIT_REQUIRE_OK(h.up("a", "dummy0"));

  auto fd = net::open_netns(sim::netns_path(*ns));
  AMBIT_REQUIRE_OK(fd);
  auto root_cookie = net::current_netns_cookie();
  AMBIT_REQUIRE_OK(root_cookie);
  auto cookie = net::netns_cookie(fd->get());
  AMBIT_REQUIRE_OK(cookie);
  CHECK(*cookie != *root_cookie);
  CHECK(*net::netns_cookie(fd->get()) == *cookie);  // stable

  // Inside the namespace, 10.250.0.1 is local; outside it is not.
  bool bound_inside = false;
  AMBIT_REQUIRE_OK(net::run_in_netns(fd->get(), [&]() -> absl::Status {
    CHECK(*net::current_netns_cookie() == *cookie);
    int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "10.250.0.1", &a.sin_addr);
    bound_inside = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    ::close(s);
    return absl::OkStatus();
  }));
  CHECK(bound_inside);
  CHECK(*net::current_netns_cookie() == *root_cookie);  // back home

  // A socket made inside stays in that namespace after we return.
  auto sock = net::socket_in_netns(fd->get(), AF_INET, SOCK_STREAM, 0);
  AMBIT_REQUIRE_OK(sock);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "10.250.0.1", &a.sin_addr);
  CHECK(::bind(sock->get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  CHECK(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0);  // not local in root
  ::close(s);

  // Errors from the function propagate and the thread still returns.
  auto err = net::run_in_netns(fd->get(), [] { return absl::InternalError("boom"); });
  CHECK(err.message() == "boom");
  CHECK(*net::current_netns_cookie() == *root_cookie);
}

TEST_CASE("netns: a missing namespace is a clear error") {
  auto fd = net::open_netns("/run/netns/definitely-not-here");
  REQUIRE_FALSE(fd.ok());
  CHECK(absl::IsNotFound(fd.status()));
  CHECK(fd.status().message().find("/run/netns/definitely-not-here") != std::string::npos);
}
