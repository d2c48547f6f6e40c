// Soak: many tunnelled connections held at once plus churn, through the mesh as deployed (the
// real ambit-agent with eBPF capture, istiod, two ztunnels, two simulated nodes), then everything
// closed — and the ztunnels must come back to where they started.
//
//   soak_bench [--conns 10000] [--hold-seconds 40] [--churn-seconds 20] [--pool-idle-seconds 5]
//
// Phases (every load bounded in count and time, stops by itself):
//   baseline  warm-up churn, then both ztunnels' RSS and open fds;
//   hold      --conns connections from the client pod to the server pod, each echoing once when
//             opened and once more at the end (netperf_lite hold), held --hold-seconds;
//   churn     meanwhile, short connections (connect, 1-byte echo, RST) for --churn-seconds;
//   after     all closed: wait (bounded) until both ztunnels' fds are back to the baseline (the
//             client's idle HBONE pool is released after --pool-idle-seconds), then until their
//             RSS stops falling (the allocator returns freed pages over seconds), and measure.
// Prints each phase's RSS and fds as ratios against the baseline of the same run, the held and
// churned counts, and every failure. Exit status 1 if a connection failed or an fd leaked.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/base/strings.h"
#include "test/support/mesh_env.h"

using namespace ambit;
using namespace ambit::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kNetperf = AMBIT_NETPERF_BIN;

struct Usage {
  double rss_mb = 0;
  int fds = 0;
};

Usage usage(pid_t pid) {
  Usage u;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) u.rss_mb = std::atof(line.c_str() + 6) / 1024.0;
  }
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = ::readdir(d)) u.fds += e->d_name[0] != '.';
    ::closedir(d);
  }
  return u;
}

int field(const std::string& out, const std::string& key) {
  auto p = out.rfind(key + "=");
  return p == std::string::npos ? -1 : std::atoi(out.c_str() + p + key.size() + 1);
}

void row(const char* phase, const Usage& base1, const Usage& u1, const Usage& base2, const Usage& u2) {
  std::printf("%-10s %9.1f MB %6.2fx %7d fds %+7d | %9.1f MB %6.2fx %7d fds %+7d\n", phase, u1.rss_mb,
              u1.rss_mb / base1.rss_mb, u1.fds, u1.fds - base1.fds, u2.rss_mb, u2.rss_mb / base2.rss_mb, u2.fds,
              u2.fds - base2.fds);
}

}  // namespace

int main(int argc, char** argv) {
  int conns = 10000, hold_s = 40, churn_s = 20, pool_idle_s = 5, linger_s = 0;
  for (int i = 1; i + 1 < argc; ++i) {
    std::string a = argv[i];
    if (a == "--conns") conns = std::atoi(argv[i + 1]);
    if (a == "--hold-seconds") hold_s = std::atoi(argv[i + 1]);
    if (a == "--churn-seconds") churn_s = std::atoi(argv[i + 1]);
    if (a == "--pool-idle-seconds") pool_idle_s = std::atoi(argv[i + 1]);
    if (a == "--linger-seconds") linger_s = std::atoi(argv[i + 1]);  // keep the mesh up to inspect it
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "soak_bench: needs root (network namespaces, eBPF)\n");
    return 2;
  }
  Harness h;
  std::vector<std::string> serve = {kNetperf, "serve", "--port", "9000"};
  MeshEnv m(h,
            {{.name = "client", .node = 0, .sa = "client", .app = serve},
             {.name = "server", .node = 1, .sa = "server", .app = serve}},
            {},
            MeshOptions{.agent_mode = "ebpf",
                        .ztunnel_args = {"--log-level", "warn", "--pool-idle-seconds", std::to_string(pool_idle_s)}});
  if (auto s = m.start(); !s.ok()) {
    std::fprintf(stderr, "setup failed: %s\n%s\n", s.ToString().c_str(), m.logs().c_str());
    return 1;
  }
  pid_t z1 = m.ztunnel(0)->pid(), z2 = m.ztunnel(1)->pid();
  std::string server = m.pod_ip("server");
  int runs = 0;
  // Clients run in the client pod's netns *and* cgroup, so eBPF capture applies to them.
  auto run = [&](const std::vector<std::string>& args, std::chrono::seconds limit) {
    std::vector<std::string> argv = {kNetperf};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = h.spawn(m.pod_ns("client"), m.pod_cgroup("client"), argv, str_cat("run", ++runs));
    if (!p.ok()) return std::string("spawn failed");
    (void)(*p)->wait_for(limit);
    return (*p)->log();
  };

  // Baseline after a warm-up (certificates fetched, workers touched); the warm-up's pooled
  // connection is released before the baseline is taken.
  std::string warm = run({"churn", "--to", str_cat(server, ":9000"), "--count", "200"}, 60s);
  std::this_thread::sleep_for(std::chrono::seconds(pool_idle_s + 12));
  Usage base1 = usage(z1), base2 = usage(z2);

  auto holder = h.spawn(m.pod_ns("client"), m.pod_cgroup("client"),
                        {kNetperf, "hold", "--to", str_cat(server, ":9003"), "--conns", std::to_string(conns), "--seconds",
                         std::to_string(hold_s)},
                        "holder");
  if (!holder.ok()) {
    std::fprintf(stderr, "holder did not start\n");
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  bool held = false;
  while (std::chrono::steady_clock::now() - t0 < 600s) {
    std::string log = (*holder)->log();
    if (log.find(str_cat("held=", conns)) != std::string::npos) {
      held = true;
      break;
    }
    if (log.find("error") != std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  }
  double open_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Usage peak1 = usage(z1), peak2 = usage(z2);

  // Churn while they are held.
  int churn_ok = 0, churn_failed = 0;
  auto c0 = std::chrono::steady_clock::now();
  while (held && std::chrono::steady_clock::now() - c0 < std::chrono::seconds(churn_s)) {
    std::string out = run({"churn", "--to", str_cat(server, ":9000"), "--count", "500"}, 120s);
    churn_ok += std::max(0, field(out, "ok"));
    churn_failed += out.find("churn ok=") == std::string::npos ? 500 : field(out, "failed");
  }
  double churn_elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
  Usage churn1 = usage(z1), churn2 = usage(z2);

  auto code = (*holder)->wait_for(std::chrono::seconds(hold_s + 120));
  std::string hold_log = (*holder)->log();
  int verify_failed = field(hold_log, "verify_failed");
  Usage closed1 = usage(z1), closed2 = usage(z2);

  // After: fds back to the baseline (bounded wait: pool release + the sweeper's period).
  auto a0 = std::chrono::steady_clock::now();
  Usage after1, after2;
  do {
    std::this_thread::sleep_for(1s);
    after1 = usage(z1);
    after2 = usage(z2);
  } while ((after1.fds > base1.fds || after2.fds > base2.fds) && std::chrono::steady_clock::now() - a0 < 120s);
  double settle_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - a0).count();
  // Then RSS: freed pages go back as the allocator decays them; wait until neither ztunnel's RSS
  // has dropped for 15 s (bounded: 3 minutes).
  auto r0 = std::chrono::steady_clock::now();
  double low1 = after1.rss_mb, low2 = after2.rss_mb;
  auto last_drop = r0;
  while (std::chrono::steady_clock::now() - last_drop < 15s && std::chrono::steady_clock::now() - r0 < 180s) {
    std::this_thread::sleep_for(1s);
    after1 = usage(z1);
    after2 = usage(z2);
    if (after1.rss_mb < low1 - 0.2 || after2.rss_mb < low2 - 0.2) last_drop = std::chrono::steady_clock::now();
    low1 = std::min(low1, after1.rss_mb);
    low2 = std::min(low2, after2.rss_mb);
  }
  double rss_settle_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();

  std::printf("\nsoak_bench: %d held connections for %d s, churn for %d s; ratios against this run's baseline\n\n", conns,
              hold_s, churn_s);
  std::printf("%-10s %-31s | %-31s\n", "phase", "ztunnel node1 (client side)", "ztunnel node2 (server side)");
  row("baseline", base1, base1, base2, base2);
  row("held", base1, peak1, base2, peak2);
  row("churn", base1, churn1, base2, churn2);
  row("closed", base1, closed1, base2, closed2);
  row("after", base1, after1, base2, after2);
  std::printf("\nheld: %s (opened in %.1f s), verified at the end: %d failed; holder exit %d\n",
              held ? "all" : "NOT ALL", open_s, verify_failed, code ? *code : -1);
  std::printf("churn: %d ok, %d failed in %.1f s (%.0f conns/s) while held\n", churn_ok, churn_failed, churn_elapsed,
              churn_elapsed > 0 ? churn_ok / churn_elapsed : 0.0);
  std::printf("fds back to baseline %.1f s after the holder ended; RSS settled %.1f s after that; warm-up: %s",
              settle_s, rss_settle_s, warm.c_str());
  std::printf("per held connection: +%.1f KiB (node1), +%.1f KiB (node2)\n",
              (peak1.rss_mb - base1.rss_mb) * 1024 / conns, (peak2.rss_mb - base2.rss_mb) * 1024 / conns);
  bool ok = held && verify_failed == 0 && churn_failed == 0 && after1.fds <= base1.fds && after2.fds <= base2.fds;
  if (!ok) std::printf("FAILED (holder: %s)\n", hold_log.c_str());
  if (linger_s > 0) {
    std::printf("lingering %d s: ztunnel pids %d %d\n", linger_s, z1, z2);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(linger_s));
  }
  return ok ? 0 : 1;
}
