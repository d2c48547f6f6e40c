// A pod's own SPIFFE certificate from istiod's CA, as the waypoint gets one: the local mesh's
// supervisor gives every pod a service-account token (AMBIT_SA_TOKEN_FILE, CA_ADDRESS,
// CA_ROOT_CA), a process in the pod presents it, and istiod's CA grants exactly the pod's
// identity. A token copied into another pod, or kept after its pod was deleted, is refused.
// Everything through the real ambitctl, istiod and supervisor. Root only.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <functional>
#include <thread>

#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "test/e2e/local_mesh_fixture.h"
#include "test/support/root.h"

using namespace ambit;
using namespace ambit::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kClient = AMBIT_IDENTITY_CLIENT_BIN;

std::string alice_pod() {
  return str_cat(R"(apiVersion: v1
kind: Pod
metadata: {name: alice, namespace: idtest}
spec:
  nodeName: node1
  serviceAccountName: alice
  containers: [{name: main, command: [/bin/sh, -c, ")",
                 kClient, R"( --timeout-s 90; exec sleep infinity"]}]
)");
}

std::string manifests() {
  return str_cat(R"(apiVersion: v1
kind: Namespace
metadata: {name: idtest}
---
)", alice_pod(), R"(---
apiVersion: v1
kind: Pod
metadata: {name: mallory, namespace: idtest}
spec:
  nodeName: node2
  serviceAccountName: mallory
  containers: [{name: main, command: [sleep, infinity]}]
)");
}

bool eventually(const std::function<bool()>& f, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(250ms);
  }
  return f();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("a pod gets its own certificate from istiod's CA with its service-account token, and no other pod can use it") {
  AMBIT_REQUIRE_ROOT();
  LocalMesh m;
  AMBIT_REQUIRE_OK(m.up());
  AMBIT_REQUIRE_OK(m.apply(manifests()));

  // The token, as a kubelet projects it: one file per pod, only for root, bound to the pod.
  std::string alice_token = m.dir() + "/nodes/node1/pods/idtest.alice/token";
  struct stat st {};
  REQUIRE(::stat(alice_token.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::string token = crypto::read_file(alice_token).value_or("");
  CHECK(token.rfind("ambit-sa.v1.idtest/alice/", 0) == 0);
  CHECK(contains(token, "/alice."));

  // alice's own container, started by the supervisor with the pod's environment, got its
  // certificate (it retries while istiod has not seen the pod yet).
  std::string log_path = m.dir() + "/logs/pods/idtest/alice/main.log";
  bool got = eventually(
      [&] { return contains(crypto::read_file(log_path).value_or(""), "certificate: spiffe://cluster.local/ns/idtest/sa/alice"); },
      120s);
  CHECK_MESSAGE(got, crypto::read_file(log_path).value_or("(no log)"));

  // A process exec'd into mallory (the pod's environment) gets mallory's identity, and only that.
  auto own = m.exec_pod("idtest", "mallory", {kClient, "--timeout-s", "60"});
  CHECK_MESSAGE(own.exit_code == 0, (own.out + own.err));
  CHECK_MESSAGE(contains(own.out, "certificate: spiffe://cluster.local/ns/idtest/sa/mallory"), own.out);

  // alice's token copied into mallory: refused, and istiod says why.
  auto stolen = m.exec_pod("idtest", "mallory", {kClient, "--token-file", alice_token, "--timeout-s", "5"});
  CHECK_MESSAGE(stolen.exit_code == 1, (stolen.out + stolen.err));
  CHECK_MESSAGE(contains(stolen.out, "refused: UNAUTHENTICATED"), stolen.out);
  CHECK_MESSAGE(contains(stolen.out, "pod token for idtest/alice rejected: presented from 10.40.2."), stolen.out);
  CHECK_MESSAGE(contains(stolen.out, "which is not the pod's address"), stolen.out);
  CHECK_FALSE(contains(stolen.out, "certificate:"));

  // Deleting alice removes its token file and revokes any copy of it.
  std::string copy = m.dir() + "/alice-token-copy";
  REQUIRE(crypto::write_file_atomic(copy, token, 0600).ok());
  AMBIT_REQUIRE_OK(m.remove(alice_pod()));
  CHECK(eventually([&] { return ::stat(alice_token.c_str(), &st) != 0; }, 60s));
  bool revoked = eventually(
      [&] {
        auto r = m.exec_pod("idtest", "mallory", {kClient, "--token-file", copy, "--timeout-s", "2"});
        return r.exit_code == 1 && contains(r.out, "pod token for idtest/alice rejected: no such pod");
      },
      60s);
  CHECK(revoked);
}
