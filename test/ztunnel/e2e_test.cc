// ztunnel end to end, as deployed: real istiod and ztunnel processes, two nodes and their pods
// as network namespaces, Istio's in-pod iptables capture, a ZDS test double standing in for the
// node agent, an independent HBONE peer (python3-h2) and a raw packet sniffer on the underlay.
// Root only.
#include <doctest/doctest.h>

#include <csignal>
#include <chrono>
#include <thread>

#include "common/base/strings.h"
#include "common/sim/command.h"
#include "common/sim/process.h"
#include "test/support/mesh_env.h"
#include "test/support/root.h"

using namespace ambit;
using namespace ambit::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kTools = AMBIT_SOURCE_DIR "/test/tools";

std::vector<PodSpec> pods() {
  return {{.name = "client", .node = 0, .sa = "client"},
          {.name = "server", .node = 1, .sa = "server"},
          {.name = "plain", .node = 0, .sa = "plain", .enrolled = false}};
}
std::vector<ServiceSpec> services() { return {{.name = "echo", .app = "server", .vip = "10.96.0.10"}}; }

bool all_ok(const std::vector<std::string>& lines) {
  if (lines.empty()) return false;
  for (const auto& l : lines) {
    if (l != "ok") return false;
  }
  return true;
}

std::string joined(const std::vector<std::string>& lines) { return join(lines, " | "); }

// Waits (bounded) until `pred` holds; used after config changes, which propagate asynchronously.
template <typename F>
bool eventually(F pred, std::chrono::seconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

// Runs the independent HBONE client in a namespace; returns its output.
std::string hbone(MeshEnv& m, const std::string& ns, const std::string& authority, const std::string& extra) {
  std::vector<std::string> argv = {"ip", "netns", "exec", ns, "/usr/bin/python3", str_cat(kTools, "/hbone_client.py"),
                                   "--connect", m.pod_ip("server") + ":15008", "--authority", authority, "--ca",
                                   m.ca_dir() + "/root-cert.pem"};
  for (auto p : split_nonempty(extra, ' ')) argv.emplace_back(p);
  auto r = sim::run_raw(argv, 30s);
  return r.ok() ? r->out + r->err : std::string(r.status().message());
}

const char* kDenyClient = R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-client, namespace: default}
spec:
  selector: {matchLabels: {app: server}}
  action: DENY
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/client"]}}]}]
)";

}  // namespace

TEST_CASE("cross-node TCP over HBONE: by pod IP and by service VIP, mutual TLS on the wire") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), services());
  AMBIT_REQUIRE_OK(m.start());

  // Watch the underlay on node 2 while the client talks: the payload marker must never appear.
  auto sniffer = h.spawn(m.node_ns(1), "", {"/usr/bin/python3", str_cat(kTools, "/sniff.py"), "u0", "ambit-ambit", "6"},
                         "sniffer");
  AMBIT_REQUIRE_OK(sniffer);
  for (int i = 0; i < 100 && (*sniffer)->log().find("sniffing") == std::string::npos; ++i) std::this_thread::sleep_for(20ms);

  auto direct = m.client("client", m.pod_ip("server") + ":8080", "--count 3 --size 4096");
  CHECK_MESSAGE(all_ok(direct), joined(direct));
  auto vip = m.client("client", "10.96.0.10:80", "--count 3 --size 4096");
  CHECK_MESSAGE(all_ok(vip), joined(vip));

  REQUIRE((*sniffer)->wait_for(15s).has_value());
  std::string sniff = (*sniffer)->log();
  CHECK_MESSAGE(sniff.find("marker_seen no") != std::string::npos, sniff);
  CHECK_MESSAGE(sniff.find("packets 0 ") == std::string::npos, sniff);  // the sniffer saw the traffic

  std::string dst_metrics = m.metrics(1);
  CHECK_MESSAGE(dst_metrics.find("connection_security_policy=\"mutual_tls\"") != std::string::npos, dst_metrics);
  CHECK(dst_metrics.find("source_principal=\"spiffe://cluster.local/ns/default/sa/client\"") != std::string::npos);
  CHECK(dst_metrics.find("destination_principal=\"spiffe://cluster.local/ns/default/sa/server\"") != std::string::npos);
  CHECK(dst_metrics.find("istio_tcp_connections_opened_total{reporter=\"destination\"") != std::string::npos);
  std::string src_metrics = m.metrics(0);
  CHECK(src_metrics.find("istio_tcp_connections_closed_total{reporter=\"source\"") != std::string::npos);
  CHECK(src_metrics.find("destination_service=\"echo.default.svc.cluster.local\"") != std::string::npos);
  std::string logs = m.logs();
  CHECK(logs.find("src.identity=spiffe://cluster.local/ns/default/sa/client") != std::string::npos);
  CHECK(logs.find("direction=inbound security=mutual_tls") != std::string::npos);
}

TEST_CASE("DENY policy: the app connection is reset, a raw CONNECT gets 401, the log names the policy") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), services());
  AMBIT_REQUIRE_OK(m.start());
  REQUIRE(all_ok(m.client("client", m.pod_ip("server") + ":8080")));
  AMBIT_REQUIRE_OK(m.apply("deny.yaml", kDenyClient));
  CHECK(eventually([&] { return m.client("client", m.pod_ip("server") + ":8080") == std::vector<std::string>{"reset"}; }));
  CHECK(m.logs().find("policy=default/deny-client") != std::string::npos);

  // Same identity from an independent HBONE client: 401.
  AMBIT_REQUIRE_OK(m.issue_cert("spiffe://cluster.local/ns/default/sa/client", "client"));
  std::string out = hbone(m, h.name(m.node_ns(1)), m.pod_ip("server") + ":8080",
                          str_cat("--cert ", m.dir(), "/client.crt --key ", m.dir(), "/client.key"));
  CHECK_MESSAGE(out.find("status 401") != std::string::npos, out);
  // Another identity is not denied.
  AMBIT_REQUIRE_OK(m.issue_cert("spiffe://cluster.local/ns/default/sa/other", "other"));
  out = hbone(m, h.name(m.node_ns(1)), m.pod_ip("server") + ":8080",
              str_cat("--cert ", m.dir(), "/other.crt --key ", m.dir(), "/other.key"));
  CHECK_MESSAGE(out.find("echo ok") != std::string::npos, out);
  // Removing the policy restores access.
  AMBIT_REQUIRE_OK(m.remove("deny.yaml"));
  CHECK(eventually([&] { return all_ok(m.client("client", m.pod_ip("server") + ":8080")); }));
}

TEST_CASE("ALLOW policy for another principal denies the client, allowing the client restores it") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), services());
  AMBIT_REQUIRE_OK(m.start());
  AMBIT_REQUIRE_OK(m.apply("allow.yaml", R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-other, namespace: default}
spec:
  selector: {matchLabels: {app: server}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/other"]}}]}]
)"));
  CHECK(eventually([&] { return m.client("client", "10.96.0.10:80") == std::vector<std::string>{"reset"}; }));
  AMBIT_REQUIRE_OK(m.apply("allow.yaml", R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-other, namespace: default}
spec:
  selector: {matchLabels: {app: server}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/client"]}}], to: [{operation: {ports: ["8080"]}}]}]
)"));
  CHECK(eventually([&] { return all_ok(m.client("client", "10.96.0.10:80")); }));
}

TEST_CASE("PeerAuthentication: STRICT refuses plaintext from a non-mesh pod, PERMISSIVE accepts it") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), services());
  AMBIT_REQUIRE_OK(m.start());
  // No PeerAuthentication: plaintext is allowed (captured on the server side, policy applied).
  auto plain = m.client("plain", m.pod_ip("server") + ":8080");
  CHECK_MESSAGE(all_ok(plain), joined(plain));
  CHECK(m.logs().find("direction=inbound security=none") != std::string::npos);

  AMBIT_REQUIRE_OK(m.apply("pa.yaml", R"(apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: default}
spec: {mtls: {mode: STRICT}}
)"));
  CHECK(eventually([&] { return m.client("plain", m.pod_ip("server") + ":8080") == std::vector<std::string>{"reset"}; }));
  CHECK(m.logs().find("istio_converted_static_strict") != std::string::npos);
  // mTLS from a mesh pod still works under STRICT.
  CHECK(all_ok(m.client("client", m.pod_ip("server") + ":8080")));

  AMBIT_REQUIRE_OK(m.apply("pa.yaml", R"(apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: default}
spec: {mtls: {mode: PERMISSIVE}}
)"));
  CHECK(eventually([&] { return all_ok(m.client("plain", m.pod_ip("server") + ":8080")); }));
}

TEST_CASE("HBONE server checks: independent h2 peer gets 200 and an echo, bad requests are refused") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), services());
  AMBIT_REQUIRE_OK(m.start());
  AMBIT_REQUIRE_OK(m.issue_cert("spiffe://cluster.local/ns/default/sa/peer", "peer"));
  AMBIT_REQUIRE_OK(m.issue_cert("spiffe://evil.example/ns/default/sa/peer", "evil"));
  std::string ns = h.name(m.node_ns(1));
  std::string good = str_cat("--cert ", m.dir(), "/peer.crt --key ", m.dir(), "/peer.key");
  std::string srv = m.pod_ip("server");

  std::string out = hbone(m, ns, srv + ":8080", good);
  CHECK_MESSAGE(out.find("status 200") != std::string::npos, out);
  CHECK_MESSAGE(out.find("echo ok") != std::string::npos, out);

  out = hbone(m, ns, "10.40.2.99:8080", good);  // not this pod's IP
  CHECK_MESSAGE(out.find("status 400") != std::string::npos, out);
  for (int port : {15001, 15006, 15008}) {
    out = hbone(m, ns, str_cat(srv, ":", port), good);  // ztunnel's own ports
    CHECK_MESSAGE(out.find("status 503") != std::string::npos, out);
  }
  out = hbone(m, ns, srv + ":8080", good + " --mode path");  // CONNECT with :path/:scheme
  CHECK_MESSAGE(out.find("refused") != std::string::npos, out);
  CHECK(out.find("status 200") == std::string::npos);
  out = hbone(m, ns, srv + ":8080", good + " --mode http1");  // HTTP/1.1 CONNECT
  CHECK_MESSAGE(out.find("refused") != std::string::npos, out);
  out = hbone(m, ns, srv + ":8080", "");  // no client certificate
  CHECK_MESSAGE(out.find("refused") != std::string::npos, out);
  CHECK(out.find("status") == std::string::npos);
  out = hbone(m, ns, srv + ":8080", str_cat("--cert ", m.dir(), "/evil.crt --key ", m.dir(), "/evil.key"));
  CHECK_MESSAGE(out.find("refused") != std::string::npos, out);  // wrong trust domain
  CHECK(out.find("status") == std::string::npos);
  CHECK(m.logs().find("trust domain 'evil.example', want 'cluster.local'") != std::string::npos);
}

TEST_CASE("a policy change closes an open connection it now denies") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), services());
  AMBIT_REQUIRE_OK(m.start());
  // A connection held open for 8 s, echoing once a second.
  std::vector<std::string> held;
  std::thread t([&] { held = m.client("client", m.pod_ip("server") + ":8080", "--hold 8"); });
  std::this_thread::sleep_for(2s);
  AMBIT_REQUIRE_OK(m.apply("deny.yaml", kDenyClient));
  t.join();
  CHECK_MESSAGE(held.size() == 1, joined(held));
  CHECK_MESSAGE((held == std::vector<std::string>{"reset"} || held == std::vector<std::string>{"eof"}), joined(held));
  CHECK(m.logs().find("closing connection now denied by policy") != std::string::npos);
}

TEST_CASE("drain: SIGTERM lets an open connection finish, refuses new ones, then ztunnel exits") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), services(), MeshOptions{.ztunnel_args = {"--drain-seconds", "8"}});
  AMBIT_REQUIRE_OK(m.start());
  std::vector<std::string> held;
  std::thread t([&] { held = m.client("client", m.pod_ip("server") + ":8080", "--hold 4"); });
  std::this_thread::sleep_for(1500ms);
  m.ztunnel(0)->signal(SIGTERM);
  std::this_thread::sleep_for(500ms);
  // New connections are not accepted any more (listeners are closed).
  auto fresh = m.client("client", m.pod_ip("server") + ":8080");
  CHECK_MESSAGE(!all_ok(fresh), joined(fresh));
  t.join();
  CHECK_MESSAGE(all_ok(held), joined(held));  // the open one finished normally
  auto code = m.ztunnel(0)->wait_for(30s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(m.logs().find("draining") != std::string::npos);
}

TEST_CASE("certificate rotation with a short TTL under continuous traffic: zero failed connections") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  MeshEnv m(h, pods(), services(), MeshOptions{.ztunnel_args = {"--secret-ttl-seconds", "4"}});
  AMBIT_REQUIRE_OK(m.start());
  auto serial = [&](int node) {
    std::string dump = m.config_dump(node);
    auto p = dump.find("\"serialNumber\"");
    return p == std::string::npos ? std::string() : dump.substr(p, 60);
  };
  std::string before0 = serial(0), before1 = serial(1);
  REQUIRE(!before0.empty());
  auto lines = m.client("client", "10.96.0.10:80", "--count 40 --interval 0.25");
  CHECK_MESSAGE(all_ok(lines), joined(lines));
  CHECK(lines.size() == 40);
  CHECK(serial(0) != before0);  // rotated (at half-life, every ~2 s)
  CHECK(serial(1) != before1);
}

namespace {

// Sum of a metric's samples whose line contains `labels` (e.g. reason="per_source"); 0 if none.
double metric_sum(const std::string& text, const std::string& name, const std::string& labels = "") {
  double sum = 0;
  for (const auto& line : split_nonempty(text, '\n')) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    char next = line[name.size()];
    if (next != '{' && next != ' ') continue;
    if (!labels.empty() && line.find(labels) == std::string::npos) continue;
    sum += std::stod(std::string(line.substr(line.rfind(' ') + 1)));
  }
  return sum;
}

// conn_flood.py's "key N" lines.
int flood_field(const std::string& out, const std::string& key) {
  for (const auto& line : split_nonempty(out, '\n')) {
    if (line.rfind(key + " ", 0) == 0) return std::stoi(std::string(line.substr(key.size() + 1)));
  }
  return -1;
}

std::string flood(MeshEnv& m, const std::string& from, const std::string& target, int count, double hold) {
  auto r = m.exec(m.pod_ns(from), {"/usr/bin/python3", str_cat(kTools, "/conn_flood.py"), target, std::to_string(count),
                                   "--partial", "--early", "1", "--hold", str_cat(hold)});
  return r.ok() ? *r : std::string(r.status().message());
}

}  // namespace

// Hardening finding 4 and the overload item: idle TCP connections and half-done TLS handshakes
// to 15008 used to be held forever, without a cap, and at EMFILE the accept loop spun.
TEST_CASE("overload: a flood of idle connections and stalled handshakes is capped and timed out, other pods keep working") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  std::vector<PodSpec> ps = pods();
  ps.push_back({.name = "plain2", .node = 0, .sa = "plain", .enrolled = false});
  MeshEnv m(h, ps, services(),
            MeshOptions{.ztunnel_args = {"--max-inbound-per-source", "20", "--max-inbound-connections", "30",
                                         "--handshake-timeout-ms", "4000"}});
  AMBIT_REQUIRE_OK(m.start());
  std::string target = m.pod_ip("server") + ":15008";
  // A mesh connection held open through the flood: pooled HBONE from the client's node.
  std::vector<std::string> held;
  std::thread t([&] { held = m.client("client", m.pod_ip("server") + ":8080", "--hold 10"); });
  std::this_thread::sleep_for(1500ms);

  // One source past its cap: 20 admitted, the other 40 reset at once (well before the 4 s
  // handshake deadline), and the 20 closed by that deadline.
  std::string out1, out2;
  std::thread f1([&] { out1 = flood(m, "plain", target, 60, 9); });
  std::this_thread::sleep_for(1500ms);
  // Meanwhile other pods' new connections are admitted (new HBONE links: one pool per worker).
  auto during = m.client("client", m.pod_ip("server") + ":8080", "--count 3");
  CHECK_MESSAGE(all_ok(during), joined(during));
  // A second source fills the total cap (30, the client's HBONE links included): refused too.
  // New connections are refused quickly while it lasts; open ones keep flowing (`held`).
  std::thread f2([&] { out2 = flood(m, "plain2", target, 60, 8); });
  f1.join();
  f2.join();
  t.join();
  CHECK_MESSAGE(all_ok(held), joined(held));
  INFO("flood from plain: ", out1, "flood from plain2: ", out2);
  CHECK(flood_field(out1, "connected") == 60);
  CHECK(flood_field(out1, "early_closed") == 40);
  CHECK(flood_field(out1, "closed") == 60);
  CHECK(flood_field(out2, "connected") == 60);
  CHECK(flood_field(out2, "early_closed") > 40);  // more than its own per-source cap refuses
  CHECK(flood_field(out2, "closed") == 60);
  std::string metrics = m.metrics(1);
  CHECK_MESSAGE(metric_sum(metrics, "ztunnel_inbound_refused_total", "reason=\"per_source\"") >= 40, metrics);
  CHECK(metric_sum(metrics, "ztunnel_inbound_refused_total", "reason=\"total\"") >= 1);
  CHECK(metric_sum(metrics, "ztunnel_deadlines_exceeded_total", "phase=\"inbound_handshake\"") >= 20);

  // Afterwards new HBONE connections are admitted again: a fresh TLS connection from the
  // independent peer, and the gauge is back down to the pooled connections.
  AMBIT_REQUIRE_OK(m.issue_cert("spiffe://cluster.local/ns/default/sa/peer", "peer"));
  std::string peer = hbone(m, h.name(m.node_ns(1)), m.pod_ip("server") + ":8080",
                           str_cat("--cert ", m.dir(), "/peer.crt --key ", m.dir(), "/peer.key"));
  CHECK_MESSAGE(peer.find("echo ok") != std::string::npos, peer);
  CHECK(eventually([&] { return metric_sum(m.metrics(1), "ztunnel_inbound_connections") <= 2; }));
}

// The EMFILE back-off (AcceptBackoff) is covered by test/ztunnel/admission_test.cc. Driving the
// sanitizer-built ztunnel to EMFILE here does not work: UBSan's vptr check then cannot open
// /proc/self/maps and aborts the process with a false "invalid vptr".
