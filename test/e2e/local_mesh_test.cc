// The end-to-end suite: a whole mesh on this machine, driven only through `ambitctl` and observed
// as a user would (pods' clients, ztunnel metrics and logs, a packet sniffer on the underlay).
// Every process is real: istiod, ambit-agent (eBPF capture), ambit-cni, ztunnel, ambit-echo.
// Root only.
#include <doctest/doctest.h>
#include <signal.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "test/e2e/local_mesh_fixture.h"
#include "test/support/root.h"

using namespace ambit;
using namespace ambit::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kTools = AMBIT_SOURCE_DIR "/test/tools";
constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kVip = "10.96.0.20";

// Client and two echo replicas on different nodes, a third echo replica beside the client, a pod
// outside the mesh, and a Service over the three echo pods.
constexpr const char* kApps = R"(apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: outside}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo-remote, namespace: demo}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: echo}}
    spec:
      nodeName: node2
      serviceAccountName: echo
      containers: [{name: echo, command: [ambit-echo, serve, --http-port, "8080", --tcp-port, "9000"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: echo-local, namespace: demo, labels: {app: echo}}
spec:
  nodeName: node1
  serviceAccountName: echo
  containers: [{name: echo, command: [ambit-echo, serve, --http-port, "8080", --tcp-port, "9000"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: demo, labels: {app: client}}
spec:
  nodeName: node1
  serviceAccountName: client
  containers: [{name: main, command: [sleep, infinity]}]
---
apiVersion: v1
kind: Pod
metadata: {name: legacy, namespace: outside, labels: {app: legacy}}
spec:
  nodeName: node1
  containers: [{name: main, command: [sleep, infinity]}]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: demo}
spec:
  clusterIP: 10.96.0.20
  selector: {app: echo}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: tcp, port: 9000, targetPort: 9000}
)";

constexpr const char* kDenyClient = R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-client, namespace: demo}
spec:
  selector: {matchLabels: {app: echo}}
  action: DENY
  rules: [{from: [{source: {principals: ["cluster.local/ns/demo/sa/client"]}}]}]
)";

constexpr const char* kStrict = R"(apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: demo}
spec: {mtls: {mode: STRICT}}
)";

bool eventually(const std::function<bool()>& f, std::chrono::seconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return f();
}

std::string pod_ip(LocalMesh& m, const std::string& ns, const std::string& name) {
  auto r = m.ctl({"local", "status", "-o", "json"});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (!j.is_object()) return "";
  for (const auto& p : j["pods"]) {
    if (p.value("namespace", "") == ns && p.value("name", "") == name) return p.value("ip", "");
  }
  return "";
}

// tcp_client.py from a pod: one line per connection ("ok", "reset", ...).
sim::CommandResult tcp(LocalMesh& m, const std::string& ns, const std::string& pod, const std::string& addr,
                       const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {kPython, str_cat(kTools, "/tcp_client.py"), addr};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return m.exec_pod(ns, pod, argv);
}

bool all_ok(const sim::CommandResult& r) {
  return r.exit_code == 0 && count_lines(r.out, "ok") > 0 && r.out.find("error") == std::string::npos;
}

struct Mesh {
  LocalMesh m;
  explicit Mesh(std::map<std::string, std::string> env = {}) : m(std::move(env)) {}
  void start() {
    AMBIT_REQUIRE_ROOT();
    AMBIT_REQUIRE_OK(m.up());
    AMBIT_REQUIRE_OK(m.apply(kApps));
  }
};

// Starts a sniffer on the hub's underlay link to node2 for `seconds`; returns once it listens.
absl::StatusOr<sim::Process> sniff_underlay(LocalMesh& m, int seconds) {
  auto p = m.ctl_background({"local", "exec", "--node", "node1", "--", kPython, str_cat(kTools, "/sniff.py"), "u1",
                             "ambit-ambit", std::to_string(seconds)},
                            "sniffer");
  if (!p.ok()) return p;
  for (int i = 0; i < 150 && p->log().find("sniffing") == std::string::npos; ++i) std::this_thread::sleep_for(20ms);
  return p;
}

// Whether every pod of namespace demo is (or, with want=false, none is) enrolled, per the agents.
bool demo_pods_enrolled(LocalMesh& m, bool want) {
  auto st = nlohmann::json::parse(m.ctl({"local", "status", "-o", "json"}).out, nullptr, false);
  if (!st.is_object()) return false;
  for (const auto& p : st["pods"]) {
    if (p.value("namespace", "") == "demo" && p.value("enrolled", !want) != want) return false;
  }
  return true;
}

// Command lines of live processes that name `text` (the mesh's directory is in every component's).
std::string processes_mentioning(const std::string& text) {
  std::string out;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      std::string pid = e->d_name;
      if (pid.find_first_not_of("0123456789") != std::string::npos || std::stoi(pid) == ::getpid()) continue;
      std::string cmd = crypto::read_file("/proc/" + pid + "/cmdline").value_or("");
      std::replace(cmd.begin(), cmd.end(), '\0', ' ');
      if (cmd.find(text) != std::string::npos) str_append(&out, pid, ": ", cmd, "\n");
    }
    ::closedir(d);
  }
  return out;
}

}  // namespace

TEST_CASE("local up is idempotent and local down leaves no namespace, cgroup, BPF pin or process") {
  AMBIT_REQUIRE_ROOT();
  LocalMesh m;
  AMBIT_REQUIRE_OK(m.up());
  AMBIT_REQUIRE_OK(m.apply(kApps));
  auto again = m.ctl({"local", "up", "--name", m.name()});
  CHECK_MESSAGE(again.exit_code == 0, again.out, again.err);
  CHECK(again.out.find("already up") != std::string::npos);
  auto status = m.ctl({"local", "status", "-o", "json"});
  auto j = nlohmann::json::parse(status.out, nullptr, false);
  REQUIRE_MESSAGE(j.is_object(), status.out);
  CHECK(j["pods"].size() == 5);
  for (const auto& p : j["pods"]) {
    CHECK_MESSAGE(p.value("phase", "") == "Running", p.dump());
    // Enrolled means a ztunnel serves the pod: every pod of demo, not the one outside.
    CHECK_MESSAGE(p.value("enrolled", false) == (p.value("namespace", "") == "demo"), p.dump());
  }
  for (const auto& n : j["nodes"]) CHECK_MESSAGE(n.value("captureMode", "") == "ebpf", n.dump());

  // restartPolicy: Never runs once; Always restarts a crashing container (with backoff).
  AMBIT_REQUIRE_OK(m.apply(R"(apiVersion: v1
kind: Pod
metadata: {name: once, namespace: outside}
spec: {nodeName: node2, restartPolicy: Never, containers: [{name: main, command: [sh, -c, "echo done once"]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: crashy, namespace: outside}
spec: {nodeName: node2, containers: [{name: main, command: [sh, -c, "echo crashing; exit 3"]}]}
)", false));
  auto pod_field = [&](const std::string& name, const char* field) {
    auto st = nlohmann::json::parse(m.ctl({"-n", "outside", "local", "status", "-o", "json"}).out, nullptr, false);
    for (const auto& p : st.is_object() ? st["pods"] : nlohmann::json::array()) {
      if (p.value("name", "") == name) return p[field].dump();
    }
    return std::string();
  };
  CHECK(eventually([&] { return pod_field("once", "phase") == "\"Completed\""; }));
  CHECK(pod_field("once", "restarts") == "0");
  CHECK(eventually([&] { return std::atoi(pod_field("crashy", "restarts").c_str()) >= 2; }));
  CHECK(m.ctl({"-n", "outside", "local", "logs", "once"}).out.find("done once") != std::string::npos);
  CHECK(count_lines(m.ctl({"-n", "outside", "local", "logs", "crashy"}).out, "crashing") >= 2);
  // What istiod rejects is reported with its reason and taken back.
  auto bad = m.apply("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                     "metadata: {name: p, namespace: demo}\nspec: {action: MAYBE}\n", false);
  REQUIRE_FALSE(bad.ok());
  CHECK_MESSAGE(std::string(bad.message()).find("unknown action 'MAYBE'") != std::string::npos, bad.message());
  CHECK_MESSAGE(std::string(bad.message()).find("rejected (not created)") != std::string::npos, bad.message());
  struct stat pst {};
  CHECK(::stat((m.dir() + "/config/authorizationpolicy-demo.p.yaml").c_str(), &pst) != 0);

  // Every process of every pod (from the pods' cgroups), to check they are gone afterwards.
  std::vector<std::string> pod_pids;
  auto before = nlohmann::json::parse(m.ctl({"local", "status", "-o", "json"}).out, nullptr, false);
  for (const auto& p : before.is_object() ? before["pods"] : nlohmann::json::array()) {
    std::string procs = crypto::read_file(p.value("cgroup", "") + "/cgroup.procs").value_or("");
    for (auto pid : split_nonempty(procs, '\n')) pod_pids.emplace_back(pid);
  }
  CHECK(pod_pids.size() >= 5);
  auto down = m.ctl({"local", "down"});
  CHECK_MESSAGE(down.exit_code == 0, down.out, down.err);
  CHECK(down.out.find("no namespaces, cgroups, BPF pins or processes left") != std::string::npos);
  auto ns = sim::run({"ip", "netns", "list"});
  REQUIRE(ns.ok());
  CHECK_MESSAGE(ns->find(std::string(m.name()) + "-") == std::string::npos, *ns);
  struct stat st {};
  CHECK(::stat((std::string("/sys/fs/bpf/") + m.name()).c_str(), &st) != 0);
  auto cg = sim::run({"sh", "-c", std::string("ls -d /sys/fs/cgroup/") + m.name() + " /sys/fs/cgroup/unified/" +
                                      m.name() + " 2>/dev/null || true"});
  CHECK_MESSAGE(trim(cg.value_or("x")).empty(), cg.value_or(""));
  CHECK_MESSAGE(processes_mentioning(m.dir()).empty(), processes_mentioning(m.dir()));
  for (const auto& pid : pod_pids) {
    struct stat ps {};
    CHECK_MESSAGE(::stat(("/proc/" + pid).c_str(), &ps) != 0, "pod process ", pid, " survived local down");
  }
  // Down twice is fine.
  CHECK(m.ctl({"local", "down"}).exit_code == 0);
}

TEST_CASE("requests to a service VIP reach every endpoint on both nodes over mutual TLS, never plaintext on the underlay") {
  Mesh f;
  f.start();
  LocalMesh& m = f.m;
  auto sniffer = sniff_underlay(m, 8);
  AMBIT_REQUIRE_OK(sniffer);
  auto tcpr = tcp(m, "demo", "client", str_cat(kVip, ":9000"), {"--count", "6", "--size", "4096"});
  CHECK_MESSAGE(all_ok(tcpr), tcpr.out, tcpr.err);
  CHECK(count_lines(tcpr.out, "ok") == 6);
  REQUIRE(sniffer->wait_for(20s).has_value());
  std::string sniff = sniffer->log();
  CHECK_MESSAGE(sniff.find("marker_seen no") != std::string::npos, sniff);
  CHECK_MESSAGE(sniff.find("packets 0 ") == std::string::npos, sniff);

  // HTTP through the VIP: curl as a real client; the answers come from all three replicas.
  auto http = m.exec_pod("demo", "client",
                         {"sh", "-c", str_cat("for i in $(seq 30); do curl -s -m 5 http://", kVip, "/hello; echo; done")});
  CHECK(http.exit_code == 0);
  for (const char* pod : {"echo-remote-0", "echo-remote-1", "echo-local"}) {
    CHECK_MESSAGE(http.out.find(pod) != std::string::npos, pod, " never answered:\n", http.out);
  }
  // Every replica, on the other node and on the client's own, saw the client's address as its
  // peer, not ztunnel's or its own (the delivery socket is transparent, replies route back).
  std::string client_ip = pod_ip(m, "demo", "client");
  REQUIRE(!client_ip.empty());
  size_t from_client = 0;
  for (size_t at = 0; (at = http.out.find(str_cat("peer: ", client_ip, ":"), at)) != std::string::npos; ++at) ++from_client;
  CHECK_MESSAGE(from_client == 30, http.out);
  // ambit-echo's own client: N requests, all successful.
  auto client = m.exec_pod("demo", "client", {"ambit-echo", "client", str_cat("http://", kVip, "/"), "--count", "20"});
  CHECK_MESSAGE(client.exit_code == 0, client.out, client.err);
  CHECK(client.out.find("ok=20") != std::string::npos);

  // Both nodes' ztunnels report the connections as mutual TLS between the SPIFFE identities.
  std::string remote = m.metrics(2), local = m.metrics(1);
  for (const std::string* text : {&remote, &local}) {
    CHECK_MESSAGE(text->find("reporter=\"destination\"") != std::string::npos, *text);
    CHECK(text->find("connection_security_policy=\"mutual_tls\"") != std::string::npos);
    CHECK(text->find("source_principal=\"spiffe://cluster.local/ns/demo/sa/client\"") != std::string::npos);
    CHECK(text->find("destination_principal=\"spiffe://cluster.local/ns/demo/sa/echo\"") != std::string::npos);
  }
  CHECK(remote.find("destination_workload=\"echo-remote\"") != std::string::npos);
  CHECK(local.find("destination_workload=\"echo-local\"") != std::string::npos);
  std::string zlog = m.ztunnel_log(2);
  CHECK(zlog.find("src.identity=spiffe://cluster.local/ns/demo/sa/client") != std::string::npos);
  CHECK(zlog.find("security=mutual_tls") != std::string::npos);
}

TEST_CASE("a DENY policy resets the client's connections and the access log names it, deleting it restores traffic") {
  Mesh f;
  f.start();
  LocalMesh& m = f.m;
  REQUIRE(all_ok(tcp(m, "demo", "client", str_cat(kVip, ":9000"))));
  AMBIT_REQUIRE_OK(m.apply(kDenyClient, false));
  CHECK(eventually([&] {
    auto r = tcp(m, "demo", "client", str_cat(kVip, ":9000"), {"--count", "3"});
    return count_lines(r.out, "ok") == 0 && r.exit_code != 0;
  }));
  // curl sees the connection reset (exit 56: failure receiving), an empty reply (52), or — when
  // ztunnel's reset lands before curl's non-blocking connect is checked (ztunnel decides at
  // accept, before any request byte) — a failed connect (7, SO_ERROR = ECONNRESET); never a 200.
  auto c = m.exec_pod("demo", "client", {"curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                                         str_cat("http://", kVip, "/")});
  CHECK_MESSAGE((c.exit_code == 56 || c.exit_code == 52 || c.exit_code == 7), c.exit_code, c.out);
  CHECK(c.out.find("200") == std::string::npos);
  CHECK(eventually([&] {
    return (m.ztunnel_log(1) + m.ztunnel_log(2)).find("policy=demo/deny-client") != std::string::npos;
  }));
  // The pod outside the mesh has no identity to deny... but is plaintext: PERMISSIVE still applies policy
  // without identity, and the DENY names only the client principal, so it gets through.
  auto legacy = tcp(m, "outside", "legacy", pod_ip(m, "demo", "echo-remote-0") + ":9000");
  CHECK_MESSAGE(all_ok(legacy), legacy.out);
  AMBIT_REQUIRE_OK(m.remove(kDenyClient));
  CHECK(eventually([&] { return all_ok(tcp(m, "demo", "client", str_cat(kVip, ":9000"))); }));
}

TEST_CASE("STRICT PeerAuthentication refuses plaintext from a pod outside the mesh, PERMISSIVE lets it in") {
  Mesh f;
  f.start();
  LocalMesh& m = f.m;
  std::string target = pod_ip(m, "demo", "echo-remote-0") + ":9000";
  REQUIRE(!target.empty());
  CHECK(all_ok(tcp(m, "outside", "legacy", target)));
  // Plaintext let in (PERMISSIVE) reaches the app from the outside pod's own address too.
  std::string legacy_ip = pod_ip(m, "outside", "legacy");
  auto hello = m.exec_pod("outside", "legacy",
                          {"curl", "-s", "-m", "5", str_cat("http://", pod_ip(m, "demo", "echo-remote-0"), ":8080/hello")});
  CHECK_MESSAGE(hello.out.find(str_cat("peer: ", legacy_ip, ":")) != std::string::npos, hello.out, hello.err);
  AMBIT_REQUIRE_OK(m.apply(kStrict, false));
  CHECK(eventually([&] { return count_lines(tcp(m, "outside", "legacy", target).out, "ok") == 0; }));
  // Mesh clients are unaffected: they arrive over mTLS.
  CHECK(all_ok(tcp(m, "demo", "client", target)));
  AMBIT_REQUIRE_OK(m.remove(kStrict));
  CHECK(eventually([&] { return all_ok(tcp(m, "outside", "legacy", target)); }));
}

TEST_CASE("release and re-enroll a namespace live: new connections switch between plaintext and mTLS, open ones stay") {
  Mesh f;
  f.start();
  LocalMesh& m = f.m;
  std::string target = pod_ip(m, "demo", "echo-remote-0") + ":9000";
  // A connection held open across both switches (echoing once a second for 14 s).
  auto held = m.ctl_background({"-n", "demo", "local", "exec", "client", "--", kPython, str_cat(kTools, "/tcp_client.py"),
                                target, "--hold", "14"},
                               "held");
  AMBIT_REQUIRE_OK(held);
  std::this_thread::sleep_for(1s);

  auto rel = m.ctl({"-n", "demo", "dataplane", "release"});
  CHECK_MESSAGE(rel.exit_code == 0, rel.out, rel.err);
  CHECK(rel.out.find("namespace/demo labeled") != std::string::npos);
  CHECK(eventually([&] { return demo_pods_enrolled(m, false); }));
  // Plaintext now: the sniffer on the underlay sees the payload.
  auto sniffer = sniff_underlay(m, 5);
  AMBIT_REQUIRE_OK(sniffer);
  CHECK(all_ok(tcp(m, "demo", "client", target, {"--count", "3", "--size", "4096"})));
  REQUIRE(sniffer->wait_for(20s).has_value());
  CHECK_MESSAGE(sniffer->log().find("marker_seen yes") != std::string::npos, sniffer->log());

  auto enr = m.ctl({"-n", "demo", "dataplane", "enroll"});
  CHECK_MESSAGE(enr.exit_code == 0, enr.out, enr.err);
  CHECK(eventually([&] { return demo_pods_enrolled(m, true); }));
  auto sniffer2 = sniff_underlay(m, 5);
  AMBIT_REQUIRE_OK(sniffer2);
  CHECK(all_ok(tcp(m, "demo", "client", target, {"--count", "3", "--size", "4096"})));
  REQUIRE(sniffer2->wait_for(20s).has_value());
  CHECK_MESSAGE(sniffer2->log().find("marker_seen no") != std::string::npos, sniffer2->log());

  // The connection opened before the release survived both switches.
  auto code = held->wait_for(40s);
  REQUIRE(code.has_value());
  CHECK_MESSAGE(*code == 0, held->log());
  CHECK(count_lines(held->log(), "ok") == 1);
}

TEST_CASE("agent kill -9 under traffic loses nothing, ztunnel kill -9 fails closed and recovers without leaking plaintext") {
  Mesh f;
  f.start();
  LocalMesh& m = f.m;
  std::string target = str_cat(kVip, ":9000");
  auto traffic = m.ctl_background({"-n", "demo", "local", "exec", "client", "--", kPython, str_cat(kTools, "/tcp_client.py"),
                                   target, "--count", "120", "--interval", "0.05"},
                                  "agent-traffic");
  AMBIT_REQUIRE_OK(traffic);
  std::this_thread::sleep_for(1s);
  auto status = nlohmann::json::parse(m.ctl({"local", "status", "-o", "json"}).out, nullptr, false);
  REQUIRE(status.is_object());
  int killed = 0;
  for (const auto& c : status["components"]) {
    if (c.value("name", "").rfind("agent-", 0) == 0 && c.value("pid", 0) > 0) {
      CHECK(::kill(c.value("pid", 0), SIGKILL) == 0);
      killed++;
    }
  }
  CHECK(killed == 2);
  auto code = traffic->wait_for(120s);
  REQUIRE(code.has_value());
  CHECK_MESSAGE(*code == 0, traffic->log());
  CHECK(count_lines(traffic->log(), "ok") == 120);
  // The supervisor restarted both agents, which adopted their pins — and released nothing while
  // their view of istiod was still empty.
  CHECK(eventually([&] { return m.ctl({"local", "wait", "--timeout", "5"}).exit_code == 0; }, 60s));
  for (const char* node : {"node1", "node2"}) {
    std::string agent_log = m.ctl({"local", "logs", "--component", "agent", "--node", node}).out;
    CHECK_MESSAGE(agent_log.find("adopted") != std::string::npos, agent_log);
    CHECK_MESSAGE(agent_log.find("released pod") == std::string::npos, agent_log);
  }

  // ztunnel on the client's node: killed, connections fail (closed, never bypassed) until the
  // supervisor's restart is ready; the underlay never carries the payload in the clear.
  auto sniffer = sniff_underlay(m, 12);
  AMBIT_REQUIRE_OK(sniffer);
  auto during = m.ctl_background({"-n", "demo", "local", "exec", "client", "--", kPython,
                                  str_cat(kTools, "/tcp_client.py"), pod_ip(m, "demo", "echo-remote-0") + ":9000",
                                  "--count", "60", "--interval", "0.1", "--size", "2048"},
                                 "ztunnel-traffic");
  AMBIT_REQUIRE_OK(during);
  std::this_thread::sleep_for(500ms);
  status = nlohmann::json::parse(m.ctl({"local", "status", "-o", "json"}).out, nullptr, false);
  for (const auto& c : status["components"]) {
    if (c.value("name", "") == "ztunnel-node1") CHECK(::kill(c.value("pid", 0), SIGKILL) == 0);
  }
  code = during->wait_for(120s);
  REQUIRE(code.has_value());
  std::string log = during->log();
  CHECK_MESSAGE(count_lines(log, "ok") > 0, log);
  CHECK_MESSAGE(count_lines(log, "ok") < 60, "the kill should have failed some connections:\n", log);
  REQUIRE(sniffer->wait_for(30s).has_value());
  CHECK_MESSAGE(sniffer->log().find("marker_seen no") != std::string::npos, sniffer->log());
  CHECK(eventually([&] { return all_ok(tcp(m, "demo", "client", target)); }, 60s));
}

TEST_CASE("with istiod stopped, open and new connections keep working on cached config and certificates") {
  Mesh f;
  f.start();
  LocalMesh& m = f.m;
  std::string target = str_cat(kVip, ":9000");
  auto held = m.ctl_background({"-n", "demo", "local", "exec", "client", "--", kPython, str_cat(kTools, "/tcp_client.py"),
                                target, "--hold", "6"},
                               "held");
  AMBIT_REQUIRE_OK(held);
  std::this_thread::sleep_for(500ms);
  auto stop = m.ctl({"local", "stop", "istiod"});
  REQUIRE_MESSAGE(stop.exit_code == 0, stop.out, stop.err);
  auto fresh = tcp(m, "demo", "client", target, {"--count", "10"});
  CHECK_MESSAGE(all_ok(fresh), fresh.out);
  CHECK(count_lines(fresh.out, "ok") == 10);
  auto code = held->wait_for(30s);
  REQUIRE(code.has_value());
  CHECK_MESSAGE(*code == 0, held->log());
  auto start = m.ctl({"local", "start", "istiod"});
  CHECK_MESSAGE(start.exit_code == 0, start.out, start.err);
  CHECK(m.ctl({"local", "wait", "--timeout", "60"}).exit_code == 0);
  CHECK(all_ok(tcp(m, "demo", "client", target)));
}

TEST_CASE("certificates rotate under continuous traffic without a failed connection") {
  Mesh f(std::map<std::string, std::string>{{"SECRET_TTL_SECONDS", "4"}});
  f.start();
  LocalMesh& m = f.m;
  auto serial = [&] {
    auto r = m.ctl({"ztunnel-config", "certificate", "--node", "node2", "-o", "json"});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    std::string s;
    for (const auto& c : j.is_array() ? j : nlohmann::json::array()) {
      if (c.value("identity", "") == "spiffe://cluster.local/ns/demo/sa/echo" && !c["certChain"].empty()) {
        s = c["certChain"][0].value("serialNumber", "");
      }
    }
    return s;
  };
  std::string before = serial();
  REQUIRE(!before.empty());
  auto traffic = tcp(m, "demo", "client", str_cat(kVip, ":9000"), {"--count", "80", "--interval", "0.1"});
  CHECK_MESSAGE(all_ok(traffic), traffic.out);
  CHECK(count_lines(traffic.out, "ok") == 80);
  std::string after = serial();
  CHECK(!after.empty());
  CHECK_MESSAGE(after != before, "the certificate was not rotated during 8 s with a 4 s TTL");
}
