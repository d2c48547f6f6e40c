// Data-path benchmark over two simulated nodes (network namespaces joined by an underlay veth),
// all variants measured in the same run and reported as ratios:
//   direct   — TCP from a non-mesh pod to a non-mesh pod (no capture, no proxy): the baseline;
//   ambit    — enrolled pods: Ambit's eBPF capture (the real ambit-agent) → ztunnel → HBONE (mTLS, HTTP/2) →
//              ztunnel → app; release builds of the real istiod/ztunnel processes;
//   stunnel  — a stunnel4 TLS 1.3 mutual-auth tunnel pair between two non-mesh pods, what a user
//              would pick instead for an mTLS tunnel.
// Measures: 1-stream and 8-stream throughput, 64 B and 1 KiB request/response p50/p99, new
// connections per second, ztunnel CPU-seconds per GB (both ztunnels), ztunnel RSS idle and with
// 1,000 idle tunnelled connections. Every load is bounded in time and count.
//   ztunnel_datapath_bench [--seconds 5] [--rounds 3]
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/sim/command.h"
#include "test/support/mesh_env.h"

using namespace ambit;
using namespace ambit::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kNetperf = AMBIT_NETPERF_BIN;

double field(const std::string& out, const std::string& key) {
  auto p = out.find(key + "=");
  if (p == std::string::npos) return -1;
  return std::atof(out.c_str() + p + key.size() + 1);
}

struct ProcStat {
  double cpu_s = 0;
  double rss_mb = 0;
  // Proportional and private memory: shared-library pages (gRPC, OpenSSL, protobuf: most of RSS)
  // are shared with every process using them and count once per machine.
  double pss_mb = 0;
  double private_mb = 0;
};

ProcStat proc(pid_t pid) {
  ProcStat s;
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(st, line);
  auto rp = line.rfind(')');
  std::istringstream rest(line.substr(rp + 2));
  std::vector<std::string> f;
  std::string tok;
  while (rest >> tok) f.push_back(tok);
  // fields after ')' start at field 3 (state); utime is field 14, stime 15.
  if (f.size() > 13) s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_mb = std::atof(line.c_str() + 6) / 1024.0;
  }
  std::ifstream rollup("/proc/" + std::to_string(pid) + "/smaps_rollup");
  while (std::getline(rollup, line)) {
    if (line.rfind("Pss:", 0) == 0) s.pss_mb = std::atof(line.c_str() + 4) / 1024.0;
    if (line.rfind("Private_Clean:", 0) == 0) s.private_mb += std::atof(line.c_str() + 14) / 1024.0;
    if (line.rfind("Private_Dirty:", 0) == 0) s.private_mb += std::atof(line.c_str() + 14) / 1024.0;
  }
  return s;
}

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Variant {
  std::string name;
  std::string pod;   // where the client runs
  std::string host;  // what it dials
  int base_port;     // echo; +1 discard; +2 accept-close
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  int rounds = 3;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--seconds") seconds = std::atof(argv[i + 1]);
    if (std::string(argv[i]) == "--rounds") rounds = std::atoi(argv[i + 1]);
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "ztunnel_datapath_bench: needs root (network namespaces)\n");
    return 2;
  }
  Harness h;
  std::vector<std::string> serve = {kNetperf, "serve", "--port", "9000"};
  MeshEnv m(h,
            {{.name = "client", .node = 0, .sa = "client", .app = serve},
             {.name = "server", .node = 1, .sa = "server", .app = serve},
             {.name = "pclient", .node = 0, .sa = "plain", .enrolled = false, .app = serve},
             {.name = "pserver", .node = 1, .sa = "plain", .enrolled = false, .app = serve},
             {.name = "sclient", .node = 0, .sa = "plain", .enrolled = false, .app = serve},
             {.name = "sserver", .node = 1, .sa = "plain", .enrolled = false, .app = serve}},
            {}, MeshOptions{.agent_mode = "ebpf", .ztunnel_args = {"--log-level", "warn"}});
  if (auto s = m.start(); !s.ok()) {
    std::fprintf(stderr, "setup failed: %s\n%s\n", s.ToString().c_str(), m.logs().c_str());
    return 1;
  }

  // stunnel pair: client side in sclient (127.0.0.1:1900x), server side in sserver (1910x).
  auto cert = [&](const std::string& id, const std::string& tag) {
    if (auto s = m.issue_cert(id, tag); !s.ok()) std::fprintf(stderr, "cert: %s\n", s.ToString().c_str());
  };
  cert("spiffe://cluster.local/ns/default/sa/stunnel-client", "stc");
  cert("spiffe://cluster.local/ns/default/sa/stunnel-server", "sts");
  std::string common = str_cat("foreground = yes\npid =\nsslVersionMin = TLSv1.3\nciphersuites = TLS_AES_128_GCM_SHA256\n",
                               "CAfile = ", m.ca_dir(), "/root-cert.pem\nverifyChain = yes\n");
  std::string ccfg = common, scfg = common;
  for (int i = 0; i < 3; ++i) {
    str_append(&ccfg, "[c", i, "]\nclient = yes\naccept = 127.0.0.1:", 19000 + i, "\nconnect = ", m.pod_ip("sserver"), ":",
               19100 + i, "\ncert = ", m.dir(), "/stc.crt\nkey = ", m.dir(), "/stc.key\n");
    str_append(&scfg, "[s", i, "]\naccept = 0.0.0.0:", 19100 + i, "\nconnect = 127.0.0.1:", 9000 + i, "\ncert = ", m.dir(),
               "/sts.crt\nkey = ", m.dir(), "/sts.key\nrequireCert = yes\n");
  }
  (void)crypto::write_file_atomic(m.dir() + "/stunnel-client.conf", ccfg);
  (void)crypto::write_file_atomic(m.dir() + "/stunnel-server.conf", scfg);
  auto stc = h.spawn(m.pod_ns("sclient"), "", {"stunnel4", m.dir() + "/stunnel-client.conf"}, "stunnel-client");
  auto sts = h.spawn(m.pod_ns("sserver"), "", {"stunnel4", m.dir() + "/stunnel-server.conf"}, "stunnel-server");
  if (!stc.ok() || !sts.ok()) {
    std::fprintf(stderr, "stunnel4 did not start (apt install stunnel4)\n");
    return 1;
  }
  std::this_thread::sleep_for(1s);

  std::vector<Variant> variants = {{"direct", "pclient", m.pod_ip("pserver"), 9000},
                                   {"ambit", "client", m.pod_ip("server"), 9000},
                                   {"stunnel", "sclient", "127.0.0.1", 19000}};
  // Clients run in their pod's netns *and* cgroup: eBPF capture applies per cgroup, so a client
  // outside it would bypass the client-side ztunnel (and measure something else).
  int runs = 0;
  auto run = [&](const Variant& v, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kNetperf};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = h.spawn(m.pod_ns(v.pod), m.pod_cgroup(v.pod), argv, str_cat("run-", ++runs));
    if (!p.ok()) return std::string("error=") + std::string(p.status().message());
    if (!(*p)->wait_for(std::chrono::seconds(120)).has_value()) {
      (*p)->kill();
      return std::string("error=timeout");
    }
    return (*p)->log();
  };
  auto addr = [](const Variant& v, int off) { return str_cat(v.host, ":", v.base_port + off); };

  // Warm up every path (certificates, pools, ARP).
  for (const auto& v : variants) run(v, {"rr", "--to", addr(v, 0), "--size", "64", "--count", "200"});

  std::map<std::string, std::map<std::string, std::vector<double>>> res;  // metric -> variant -> samples
  pid_t z1 = m.ztunnel(0)->pid(), z2 = m.ztunnel(1)->pid();
  std::string secs = str_cat(seconds);
  for (int r = 0; r < rounds; ++r) {
    for (const auto& v : variants) {
      ProcStat a1 = proc(z1), a2 = proc(z2);
      std::string out = run(v, {"stream", "--to", addr(v, 1), "--conns", "1", "--seconds", secs});
      ProcStat b1 = proc(z1), b2 = proc(z2);
      res["stream1_gbps"][v.name].push_back(field(out, "gbps"));
      if (v.name == "ambit") {
        double gb = field(out, "bytes") / 1e9;
        if (gb > 0) res["ztunnel_cpu_s_per_gb"][v.name].push_back((b1.cpu_s - a1.cpu_s + b2.cpu_s - a2.cpu_s) / gb);
      }
      out = run(v, {"stream", "--to", addr(v, 1), "--conns", "8", "--seconds", secs});
      res["stream8_gbps"][v.name].push_back(field(out, "gbps"));
      for (int size : {64, 1024}) {
        out = run(v, {"rr", "--to", addr(v, 0), "--size", std::to_string(size), "--count", "5000"});
        res[str_cat("rr", size, "_p50_us")][v.name].push_back(field(out, "p50_us"));
        res[str_cat("rr", size, "_p99_us")][v.name].push_back(field(out, "p99_us"));
      }
      out = run(v, {"crr", "--to", addr(v, 2), "--seconds", str_cat(seconds / 2)});
      res["new_conns_per_s"][v.name].push_back(field(out, "conns_per_s"));
    }
  }

  // Memory: idle, then with 1,000 idle tunnelled connections held open.
  std::this_thread::sleep_for(2s);
  ProcStat idle1 = proc(z1), idle2 = proc(z2);
  auto holder = h.spawn(m.pod_ns("client"), m.pod_cgroup("client"),
                        {kNetperf, "hold", "--to", addr(variants[1], 0), "--conns", "1000", "--seconds", "20"}, "holder");
  bool held = false;
  for (int i = 0; i < 300 && holder.ok(); ++i) {
    if ((*holder)->log().find("held=1000") != std::string::npos) {
      held = true;
      break;
    }
    if ((*holder)->log().find("error") != std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(1s);
  ProcStat busy1 = proc(z1), busy2 = proc(z2);

  std::printf("\nztunnel_datapath_bench: %d rounds, %gs per load, medians; ratios against the same run\n\n", rounds, seconds);
  std::printf("%-22s %12s %12s %12s %14s %14s\n", "metric", "direct", "ambit", "stunnel", "ambit/direct", "ambit/stunnel");
  for (const char* metric : {"stream1_gbps", "stream8_gbps", "rr64_p50_us", "rr64_p99_us", "rr1024_p50_us", "rr1024_p99_us",
                             "new_conns_per_s"}) {
    double d = median(res[metric]["direct"]), a = median(res[metric]["ambit"]), s = median(res[metric]["stunnel"]);
    std::printf("%-22s %12.2f %12.2f %12.2f %14.2f %14.2f\n", metric, d, a, s, d > 0 ? a / d : -1, s > 0 ? a / s : -1);
  }
  double d64 = median(res["rr64_p50_us"]["direct"]), a64 = median(res["rr64_p50_us"]["ambit"]);
  std::printf("\nadded p50 latency per HBONE hop (64 B, two hops): %.1f us\n", (a64 - d64) / 2);
  std::printf("ztunnel CPU-seconds per GB (both ztunnels, 1 stream): %.2f\n", median(res["ztunnel_cpu_s_per_gb"]["ambit"]));
  std::printf("ztunnel RSS idle: node1 %.1f MB, node2 %.1f MB\n", idle1.rss_mb, idle2.rss_mb);
  std::printf("ztunnel PSS idle: node1 %.1f MB, node2 %.1f MB; private: node1 %.1f MB, node2 %.1f MB\n",
              idle1.pss_mb, idle2.pss_mb, idle1.private_mb, idle2.private_mb);
  if (held) {
    std::printf("ztunnel RSS with 1000 idle tunnelled connections: node1 %.1f MB (+%.1f KiB/conn), node2 %.1f MB (+%.1f KiB/conn)\n",
                busy1.rss_mb, (busy1.rss_mb - idle1.rss_mb) * 1024 / 1000, busy2.rss_mb,
                (busy2.rss_mb - idle2.rss_mb) * 1024 / 1000);
  } else {
    std::printf("1000 idle connections: could not be established (%s)\n", holder.ok() ? (*holder)->log().c_str() : "spawn failed");
  }
  std::printf("goals: throughput >= 2x stunnel at <= 1.2 CPU-s/GB; <= 30 us p50 per hop; <= 12 MB idle; <= 32 KiB/idle conn\n");
  return 0;
}
