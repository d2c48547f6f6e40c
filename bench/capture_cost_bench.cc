// What capturing a pod's outbound TCP costs, by mechanism, measured in one run:
//   none      the client dials the answering listener directly: no capture at all (the baseline);
//   iptables  Istio's in-pod rules (agent::apply_inpod_rules: nat OUTPUT REDIRECT to 15001, with
//             its mangle/connmark rules) turn a connect to an outside address into one to 15001;
//   ebpf      Ambit's datapath (agent::EbpfDatapath, the real capture object: cgroup/connect4,
//             sockops, getsockopt, ...) does the same with no NAT and no conntrack.
// The listener on 15001 answers by itself (an epoll echo server that, like ztunnel, asks for
// SO_ORIGINAL_DST on every accepted connection), so only the capture mechanism differs between
// modes; nothing is spliced onward. Each mode has its own pod (network namespace + cgroup), so
// iptables' conntrack hooks and the cgroup programs touch only their own mode. In the captured
// modes the client dials the node's address on a port where nothing listens: a connection that
// escaped capture would be refused and counted as a failure.
//
// Measures, per mode, from a client inside the pod (its netns and cgroup):
//   crr   connect + 1-byte request/response + close (RST, so no TIME_WAIT): connections/s, and
//         the connect() call's p50 latency;
//   rr    64-byte request/response on one connection: round trips/s, p50 latency.
// Client and answering server are pinned to one CPU, so the figures are CPU cost per operation.
// Every load is bounded in time; rounds interleave the modes; figures are medians.
//
//   capture_cost_bench [--seconds 3] [--repeat 3]
//   (internal) capture_cost_bench serve --port P | client crr|rr --to IP:PORT --seconds S
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/sysinfo.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "agent/bpf/datapath.h"
#include "agent/iptables/inpod_rules.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/sim/topology.h"
#include "test/support/harness.h"

using namespace ambit;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kAnswerPort = 15001;

// ---- the processes inside pods ----

sockaddr_in parse_addr(const std::string& hp) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  auto c = hp.rfind(':');
  inet_pton(AF_INET, hp.substr(0, c).c_str(), &a.sin_addr);
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(hp.c_str() + c + 1)));
  return a;
}

// Client and answering servers share the last CPU: every mode gets the same placement (left to
// the scheduler, loopback round trips swing by 1.5-3x between same-CPU and cross-CPU wakeups), and
// on one CPU a round trip costs exactly the CPU work on its path, which is what capture adds to.
void pin_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(get_nprocs() - 1, &set);
  (void)sched_setaffinity(0, sizeof(set), &set);
}

// Single-threaded epoll echo server; asks SO_ORIGINAL_DST of every accepted socket, as ztunnel
// does (answered by conntrack under iptables, by the getsockopt program under eBPF).
int serve(int port) {
  pin_cpu();
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(lfd, 4096) != 0) {
    std::perror("listen");
    return 1;
  }
  int ep = ::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::printf("listening\n");
  std::fflush(stdout);
  std::vector<char> buf(64 * 1024);
  epoll_event evs[256];
  for (;;) {
    int n = ::epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          int c = ::accept4(lfd, nullptr, nullptr, 0);
          if (c < 0) break;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          sockaddr_in orig{};
          socklen_t len = sizeof(orig);
          (void)::getsockopt(c, SOL_IP, 80 /* SO_ORIGINAL_DST */, &orig, &len);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t r = ::read(fd, buf.data(), buf.size());
      if (r <= 0) {
        ::close(fd);  // also leaves the epoll set
        continue;
      }
      ssize_t off = 0;
      while (off < r) {
        ssize_t w = ::write(fd, buf.data() + off, static_cast<size_t>(r - off));
        if (w <= 0) break;
        off += w;
      }
    }
  }
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

bool read_full(int fd, char* p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, p + got, n - got);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

int client(const std::string& kind, const sockaddr_in& to, double seconds) {
  pin_cpu();
  int one = 1;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<double> us;
  us.reserve(1 << 20);
  long ok = 0, failed = 0;
  auto t0 = Clock::now();
  if (kind == "crr") {
    while (Clock::now() < deadline && ok + failed < 5'000'000) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      auto c0 = Clock::now();
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0) {
        ++failed;
        ::close(fd);
        continue;
      }
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - c0).count());
      char b = 'c';
      if (::write(fd, &b, 1) == 1 && read_full(fd, &b, 1)) ++ok;
      else ++failed;
      linger lg{1, 0};  // RST: no TIME_WAIT, so the ephemeral ports never run out
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
      ::close(fd);
    }
    double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("conns_per_s=%.0f connect_p50_us=%.1f ok=%ld failed=%ld\n", ok / dt, pct(us, 0.5), ok, failed);
    return failed ? 1 : 0;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0) {
    std::printf("error=connect %s\n", std::strerror(errno));
    return 1;
  }
  char out[64], in[64];
  std::memset(out, 'r', sizeof(out));
  while (Clock::now() < deadline && ok < 50'000'000) {
    auto r0 = Clock::now();
    if (::write(fd, out, sizeof(out)) != static_cast<ssize_t>(sizeof(out)) || !read_full(fd, in, sizeof(in))) {
      ++failed;
      break;
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - r0).count());
    ++ok;
  }
  double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  ::close(fd);
  std::printf("rr_per_s=%.0f rr_p50_us=%.1f ok=%ld failed=%ld\n", ok / dt, pct(us, 0.5), ok, failed);
  return failed ? 1 : 0;
}

// ---- the driver ----

double field(const std::string& out, const std::string& key) {
  auto p = out.find(key + "=");
  if (p == std::string::npos) return -1;
  return std::atof(out.c_str() + p + key.size() + 1);
}

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "capture_cost_bench";
}

struct Mode {
  std::string name;
  std::string pod;  // short netns name
  std::string ip;
  std::string cg;
  std::string dial;  // what the client connects to
};

int run_bench(double seconds, int repeat) {
  test::Harness::install_signal_cleanup();
  test::Harness h;
  auto fail = [&](const absl::Status& s) {
    std::fprintf(stderr, "capture_cost_bench: %s\n", s.ToString().c_str());
    (void)h.teardown();
    return 1;
  };
  // Node n bridges three pods, one per mode; nothing listens on the node's 10.60.0.1:9.
  if (auto s = h.netns("n").status(); !s.ok()) return fail(s);
  if (auto s = h.bridge("n", "br0"); !s.ok()) return fail(s);
  if (auto s = h.address("n", "br0", "10.60.0.1/24"); !s.ok()) return fail(s);
  std::vector<Mode> modes = {{"none", "pnone", "10.60.0.11", "", ""},
                             {"iptables", "pipt", "10.60.0.12", "", "10.60.0.1:9"},
                             {"ebpf", "pebpf", "10.60.0.13", "", "10.60.0.1:9"}};
  std::string exe = self_exe();
  for (auto& m : modes) {
    for (auto s : {h.netns(m.pod).status(), h.veth("n", "v" + m.pod, m.pod, "eth0"), h.attach("n", "v" + m.pod, "br0"),
                   h.up("n", "v" + m.pod), h.address(m.pod, "eth0", m.ip + "/24"), h.up(m.pod, "eth0")}) {
      if (!s.ok()) return fail(s);
    }
    auto cg = h.cgroup(m.pod);
    if (!cg.ok()) return fail(cg.status());
    m.cg = *cg;
    if (m.dial.empty()) m.dial = str_cat(m.ip, ":", kAnswerPort);
    auto srv = h.spawn(m.pod, m.cg, {exe, "serve", "--port", std::to_string(kAnswerPort)}, "answer-" + m.name);
    if (!srv.ok()) return fail(srv.status());
    for (int i = 0; i < 300 && (*srv)->log().find("listening") == std::string::npos; ++i) std::this_thread::sleep_for(10ms);
    if ((*srv)->log().find("listening") == std::string::npos) return fail(absl::InternalError("answer server did not start"));
  }
  // iptables: Istio's in-pod rules in pipt. eBPF: the real datapath on pebpf's cgroup only.
  if (auto s = agent::apply_inpod_rules(sim::netns_path(h.name("pipt"))); !s.ok()) return fail(s);
  (void)log::init("warn");
  auto dp = agent::EbpfDatapath::open(h.bpf_dir("node"), modes[2].cg);
  if (!dp.ok()) return fail(dp.status());
  agent::CapturedPod pod;
  pod.uid = "bench";
  pod.netns_path = sim::netns_path(h.name("pebpf"));
  pod.ip4 = *net::IpAddr::parse(modes[2].ip);
  if (auto s = (*dp)->enroll(pod); !s.ok()) return fail(s);

  auto run = [&](const Mode& m, const std::string& kind, double secs) {
    auto p = h.spawn(m.pod, m.cg, {exe, "client", kind, "--to", m.dial, "--seconds", str_cat(secs)});
    if (!p.ok()) return std::string("error=") + std::string(p.status().message());
    if (!(*p)->wait_for(std::chrono::milliseconds(static_cast<int>(secs * 1000) + 30'000))) {
      (*p)->kill();
      return std::string("error=timeout");
    }
    return (*p)->log();
  };
  for (const auto& m : modes) {  // warm-up, and proof that each path works
    std::string out = run(m, "crr", 0.3);
    if (field(out, "ok") <= 0 || field(out, "failed") != 0) {
      return fail(absl::InternalError(str_cat("mode ", m.name, " does not work: ", out)));
    }
  }
  auto before = (*dp)->stats();
  std::map<std::string, std::map<std::string, std::vector<double>>> res;  // metric -> mode -> samples
  long failures = 0;
  for (int r = 0; r < repeat; ++r) {
    for (const auto& m : modes) {
      std::string out = run(m, "crr", seconds);
      res["conns_per_s"][m.name].push_back(field(out, "conns_per_s"));
      res["connect_p50_us"][m.name].push_back(field(out, "connect_p50_us"));
      failures += std::max(0L, static_cast<long>(field(out, "failed")));
      if (out.find("conns_per_s") == std::string::npos) ++failures;
      out = run(m, "rr", seconds);
      res["rr64_per_s"][m.name].push_back(field(out, "rr_per_s"));
      res["rr64_p50_us"][m.name].push_back(field(out, "rr_p50_us"));
      failures += std::max(0L, static_cast<long>(field(out, "failed")));
      if (out.find("rr_per_s") == std::string::npos) ++failures;
      std::fprintf(stderr, "round %d %-8s crr %.0f/s  rr %.0f/s\n", r + 1, m.name.c_str(),
                   res["conns_per_s"][m.name].back(), res["rr64_per_s"][m.name].back());
    }
  }
  auto after = (*dp)->stats();

  std::printf("\ncapture_cost_bench: %d rounds x %gs per load, medians (min-max); ratios against none in the same run\n\n",
              repeat, seconds);
  std::printf("%-16s %-26s %-26s %-26s %9s %9s\n", "metric", "none", "iptables", "ebpf", "ipt/none", "ebpf/none");
  for (const char* metric : {"conns_per_s", "connect_p50_us", "rr64_per_s", "rr64_p50_us"}) {
    auto cell = [&](const std::string& mode) {
      auto v = res[metric][mode];
      std::sort(v.begin(), v.end());
      if (v.empty()) return std::string("-");
      char b[96];
      std::snprintf(b, sizeof(b), "%.1f (%.1f-%.1f)", median(v), v.front(), v.back());
      return std::string(b);
    };
    double n = median(res[metric]["none"]), i = median(res[metric]["iptables"]), e = median(res[metric]["ebpf"]);
    std::printf("%-16s %-26s %-26s %-26s %9.3f %9.3f\n", metric, cell("none").c_str(), cell("iptables").c_str(),
                cell("ebpf").c_str(), n > 0 ? i / n : -1, n > 0 ? e / n : -1);
  }
  double cap = static_cast<double>(after[AMBIT_STAT_CAPTURED] - before[AMBIT_STAT_CAPTURED]);
  double ans = static_cast<double>(after[AMBIT_STAT_ORIG_ANSWERED] - before[AMBIT_STAT_ORIG_ANSWERED]);
  std::printf("\nebpf datapath during the measured rounds: %.0f connects captured, %.0f SO_ORIGINAL_DST answered; "
              "failed connections in all modes: %ld\n",
              cap, ans, failures);
  dp->reset();
  if (auto s = h.teardown(); !s.ok()) std::fprintf(stderr, "teardown: %s\n", s.ToString().c_str());
  return failures == 0 ? 0 : 1;
}

std::string arg(int argc, char** argv, const char* name, const char* def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "serve") == 0) return serve(std::atoi(arg(argc, argv, "--port", "15001").c_str()));
  if (argc >= 3 && std::strcmp(argv[1], "client") == 0) {
    return client(argv[2], parse_addr(arg(argc, argv, "--to", "127.0.0.1:15001")),
                  std::atof(arg(argc, argv, "--seconds", "3").c_str()));
  }
  double seconds = std::atof(arg(argc, argv, "--seconds", "3").c_str());
  int repeat = std::atoi(arg(argc, argv, "--repeat", "3").c_str());
  if (seconds <= 0 || seconds > 60 || repeat < 1 || repeat > 20) {
    std::fprintf(stderr, "usage: capture_cost_bench [--seconds 0<S<=60] [--repeat 1..20]\n");
    return 2;
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "capture_cost_bench: needs root (network namespaces, cgroups, BPF, iptables)\n");
    return 2;
  }
  return run_bench(seconds, repeat);
}
