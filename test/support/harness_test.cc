#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/sim/cgroup.h"
#include "common/sim/command.h"
#include "common/sim/topology.h"
#include "test/support/harness.h"
#include "test/support/root.h"

using namespace ambit;
using namespace std::chrono_literals;

TEST_CASE("harness: two hosts over a veth, a process in netns + cgroup, output collected") {
  AMBIT_REQUIRE_ROOT();
  test::Harness h;
  AMBIT_REQUIRE_OK(h.netns("n1"));
  AMBIT_REQUIRE_OK(h.netns("n2"));
  AMBIT_REQUIRE_OK(h.veth("n1", "eth0", "n2", "eth0"));
  AMBIT_REQUIRE_OK(h.address("n1", "eth0", "10.251.0.1/24"));
  AMBIT_REQUIRE_OK(h.address("n2", "eth0", "10.251.0.2/24"));
  AMBIT_REQUIRE_OK(h.up("n1", "eth0"));
  AMBIT_REQUIRE_OK(h.up("n2", "eth0"));
  auto cg = h.cgroup("pod-a");
  AMBIT_REQUIRE_OK(cg);

  auto server = h.spawn("n2", "", {"/usr/bin/python3", "-c",
      "import socket\n"
      "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
      "s.bind(('10.251.0.2', 7000)); s.listen()\n"
      "print('listening', flush=True)\n"
      "c,a=s.accept(); c.sendall(b'hello from n2 to '+a[0].encode()); c.close()\n"}, "server");
  AMBIT_REQUIRE_OK(server);
  for (int i = 0; i < 200 && (*server)->log().find("listening") == std::string::npos; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto client = h.spawn("n1", *cg, {"bash", "-c",
      "cat /proc/self/cgroup; exec 3<>/dev/tcp/10.251.0.2/7000; cat <&3"}, "client");
  AMBIT_REQUIRE_OK(client);
  auto code = (*client)->wait_for(10s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  std::string out = (*client)->log();
  CHECK_MESSAGE(out.find("hello from n2 to 10.251.0.1") != std::string::npos, out);
  CHECK_MESSAGE(out.find(h.prefix() + "/pod-a") != std::string::npos, out);

  // The root namespace has no route to the simulated addresses.
  auto root_addrs = sim::run({"ip", "-o", "addr"});
  AMBIT_REQUIRE_OK(root_addrs);
  CHECK(root_addrs->find("10.251.0.") == std::string::npos);

  std::string ns1 = h.name("n1"), cgpath = *cg;
  AMBIT_REQUIRE_OK(h.teardown());
  CHECK_FALSE(sim::netns_exists(ns1));
  CHECK_FALSE(std::ifstream(cgpath + "/cgroup.procs").good());
}

TEST_CASE("harness: tears down when the test fails part-way (destructor) and sweeps dead runs") {
  AMBIT_REQUIRE_ROOT();
  std::string ns;
  {
    test::Harness h;
    auto n = h.netns("x");
    AMBIT_REQUIRE_OK(n);
    ns = *n;
    auto p = h.spawn("x", "", {"sleep", "600"});
    AMBIT_REQUIRE_OK(p);
    // leaving scope without teardown(), as an exception from a failed REQUIRE would
  }
  CHECK_FALSE(sim::netns_exists(ns));

  // A namespace owned by a dead pid (a SIGKILLed test run) is swept by the next harness.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  std::string stale = "at" + std::to_string(child) + "x0-stale";
  AMBIT_REQUIRE_OK(sim::add_netns(stale));
  REQUIRE(sim::netns_exists(stale));
  test::Harness::sweep_stale();
  CHECK_FALSE(sim::netns_exists(stale));
}

TEST_CASE("harness: errors name the command that failed") {
  AMBIT_REQUIRE_ROOT();
  test::Harness h;
  AMBIT_REQUIRE_OK(h.netns("e"));
  auto s = h.address("e", "nonexistent0", "10.0.0.1/24");
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("ip -n " + h.name("e") + " addr add 10.0.0.1/24 dev nonexistent0") != std::string::npos);
  auto dup = sim::add_netns(h.name("e"));
  CHECK_FALSE(dup.ok());
}

TEST_CASE("harness: the sweep kills processes a crashed run left outside its cgroups") {
  AMBIT_REQUIRE_ROOT();
  // A process naming the work directory of a run whose owner (pid 4194303, above any pid this
  // machine hands out by default) is gone — as istiod does when its test aborted mid-way.
  ambit::sim::SpawnOptions o;
  // One process (no shell forking a child that would keep running) whose command line names the
  // dead run's directory; its output goes to a file so it holds none of ctest's pipes.
  o.argv = {"/usr/bin/python3", "-c", "import time; time.sleep(300)", "/tmp/ambit-test/at4194303x0-gone/mesh/config"};
  o.log_path = "/dev/null";
  auto orphan = ambit::sim::Process::spawn(o);
  REQUIRE(orphan.ok());
  REQUIRE(orphan->running());
  { ambit::test::Harness h; }  // construction sweeps
  auto code = orphan->wait_for(std::chrono::seconds(10));
  REQUIRE(code.has_value());
  CHECK(*code == 128 + SIGKILL);
}
