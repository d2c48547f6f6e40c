#include "common/base/strings.h"
#include "test/support/harness.h"

#include <fstream>
#include <iterator>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "common/base/status.h"
#include "common/sim/cgroup.h"
#include "common/sim/command.h"
#include "common/sim/topology.h"

namespace ambit::test {
namespace {

// Harness names: "at<pid>x<n>-<short>". Kept short: interface names inside are separate, but
// `ip netns` names show up in logs.
constexpr const char* kPrefix = "at";
constexpr const char* kCgroupDir = "ambit-test";

std::mutex g_mu;
std::vector<Harness*> g_live;
std::atomic<int> g_seq{0};

bool pid_alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

// Parses the owning pid out of "at<pid>x<n>-..."; 0 if the name is not ours.
pid_t owner_of(const std::string& name) {
  if (!starts_with(name, kPrefix)) return 0;
  auto x = name.find('x', 2);
  if (x == std::string::npos) return 0;
  std::string digits = name.substr(2, x - 2);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return 0;
  return static_cast<pid_t>(std::stol(digits));
}

void rm_rf(const std::string& path) { (void)sim::run({"rm", "-rf", "--", path}); }

void signal_handler(int sig) {
  Harness::cleanup_all();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

Harness::Harness() {
  sweep_stale();
  int seq = g_seq.fetch_add(1);
  prefix_ = str_cat(kPrefix, ::getpid(), "x", seq, "-");
  work_dir_ = str_cat("/tmp/ambit-test/", prefix_);
  (void)sim::run({"mkdir", "-p", work_dir_});
  std::lock_guard lock(g_mu);
  g_live.push_back(this);
}

Harness::~Harness() {
  (void)teardown();
  std::lock_guard lock(g_mu);
  g_live.erase(std::remove(g_live.begin(), g_live.end(), this), g_live.end());
}

absl::StatusOr<std::string> Harness::netns(const std::string& short_name) {
  std::string full = name(short_name);
  AMBIT_RETURN_IF_ERROR(sim::add_netns(full));
  namespaces_.push_back(full);
  return full;
}

absl::Status Harness::veth(const std::string& ns_a, const std::string& if_a,
                           const std::string& ns_b, const std::string& if_b) {
  return sim::add_veth(name(ns_a), if_a, name(ns_b), if_b);
}

absl::Status Harness::bridge(const std::string& ns, const std::string& br) {
  AMBIT_RETURN_IF_ERROR(sim::add_bridge(name(ns), br));
  return sim::set_up(name(ns), br);
}

absl::Status Harness::attach(const std::string& ns, const std::string& ifname, const std::string& br) {
  return sim::set_master(name(ns), ifname, br);
}

absl::Status Harness::address(const std::string& ns, const std::string& ifname, const std::string& cidr) {
  return sim::add_address(name(ns), ifname, cidr);
}

absl::Status Harness::up(const std::string& ns, const std::string& ifname) {
  return sim::set_up(name(ns), ifname);
}

absl::Status Harness::route(const std::string& ns, const std::string& dst, const std::string& via,
                            const std::string& dev) {
  return sim::add_route(name(ns), dst, via, dev);
}

absl::StatusOr<std::string> Harness::exec(const std::string& ns, const std::vector<std::string>& argv) {
  return sim::exec_in(name(ns), argv);
}

absl::StatusOr<std::string> Harness::cgroup(const std::string& short_name) {
  if (cgroup_base_.empty()) {
    AMBIT_ASSIGN_OR_RETURN(cgroup_base_, sim::create_cgroup(str_cat(kCgroupDir, "/", prefix_)));
  }
  return sim::create_cgroup(str_cat(kCgroupDir, "/", prefix_, "/", short_name));
}

absl::StatusOr<sim::Process*> Harness::spawn(const std::string& ns, const std::string& cgroup,
                                             std::vector<std::string> argv, std::string log_name) {
  if (log_name.empty()) log_name = str_cat("proc", counter_++);
  sim::SpawnOptions o;
  o.argv = std::move(argv);
  o.netns = ns.empty() ? "" : name(ns);
  o.cgroup = cgroup;
  o.log_path = str_cat(work_dir_, "/", log_name, ".log");
  AMBIT_ASSIGN_OR_RETURN(sim::Process p, sim::Process::spawn(o));
  processes_.push_back(std::make_unique<sim::Process>(std::move(p)));
  return processes_.back().get();
}

std::string Harness::bpf_dir(const std::string& short_name) {
  std::string d = str_cat("/sys/fs/bpf/ambit-test/", prefix_, short_name);
  bpf_dirs_.push_back(d);
  return d;
}

absl::Status Harness::teardown() {
  absl::Status first;
  for (auto& p : processes_) p->kill();
  processes_.clear();
  for (const auto& d : bpf_dirs_) rm_rf(d);  // unpinning detaches links and frees maps
  bpf_dirs_.clear();
  if (!cgroup_base_.empty()) {
    if (auto s = sim::remove_cgroup(cgroup_base_); !s.ok() && first.ok()) first = s;
    cgroup_base_.clear();
  }
  for (const auto& ns : namespaces_) {
    if (auto s = sim::del_netns(ns); !s.ok() && first.ok()) first = s;
  }
  namespaces_.clear();
  return first;
}

void Harness::install_signal_cleanup() {
  for (int sig : {SIGINT, SIGTERM, SIGABRT, SIGHUP}) ::signal(sig, signal_handler);
}

void Harness::cleanup_all() {
  std::vector<Harness*> live;
  {
    std::lock_guard lock(g_mu);
    live = g_live;
  }
  for (Harness* h : live) (void)h->teardown();
}

namespace {
bool (*g_failure_probe)() = nullptr;
}  // namespace

bool current_test_failed() { return g_failure_probe && g_failure_probe(); }
void set_failure_probe(bool (*probe)()) { g_failure_probe = probe; }

namespace {
// Processes spawned outside the harness cgroups (istiod, a ztunnel in ZDS-double mode) outlive a
// test that crashed before its teardown. Each names its work directory /tmp/ambit-test/<name>/
// on its command line, and <name> names the test process that owned it.
// The contents of a /proc file, or "" once its process is gone. Not through an ifstream: a read of
// a process that exits after the open fails with ESRCH, which libstdc++'s streambuf iterator
// turns into an exception — a Harness on a busy machine would then fail at random.
std::string read_proc_file(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

void kill_stale_processes(pid_t (*owner_of)(const std::string&), bool (*alive)(pid_t)) {
  DIR* d = ::opendir("/proc");
  if (!d) return;
  const std::string marker = "/tmp/ambit-test/";
  while (dirent* e = ::readdir(d)) {
    std::string pid = e->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t p = static_cast<pid_t>(std::stol(pid));
    if (p == ::getpid()) continue;
    std::string cmd = read_proc_file("/proc/" + pid + "/cmdline");
    size_t at = cmd.find(marker);
    if (at == std::string::npos) continue;
    size_t end = cmd.find_first_of(std::string("/\0", 2), at + marker.size());
    pid_t owner = owner_of(cmd.substr(at + marker.size(), end == std::string::npos ? std::string::npos : end - at - marker.size()));
    if (owner > 0 && owner != ::getpid() && !alive(owner)) ::kill(p, SIGKILL);
  }
  ::closedir(d);
}
}  // namespace

void Harness::sweep_stale() {
  kill_stale_processes(owner_of, pid_alive);
  for (const std::string& ns : sim::list_netns()) {
    pid_t owner = owner_of(ns);
    if (owner > 0 && owner != ::getpid() && !pid_alive(owner)) (void)sim::del_netns(ns);
  }
  if (auto root = sim::cgroup2_root(); root.ok()) {
    std::string base = str_cat(*root, "/", kCgroupDir);
    if (DIR* d = ::opendir(base.c_str())) {
      std::vector<std::string> stale;
      while (dirent* e = ::readdir(d)) {
        pid_t owner = owner_of(e->d_name);
        if (owner > 0 && owner != ::getpid() && !pid_alive(owner)) stale.push_back(e->d_name);
      }
      ::closedir(d);
      for (const auto& s : stale) (void)sim::remove_cgroup(str_cat(base, "/", s));
    }
  }
  if (DIR* d = ::opendir("/sys/fs/bpf/ambit-test")) {
    std::vector<std::string> stale;
    while (dirent* e = ::readdir(d)) {
      pid_t owner = owner_of(e->d_name);
      if (owner > 0 && owner != ::getpid() && !pid_alive(owner)) stale.push_back(e->d_name);
    }
    ::closedir(d);
    for (const auto& s : stale) rm_rf(str_cat("/sys/fs/bpf/ambit-test/", s));
  }
  if (DIR* d = ::opendir("/tmp/ambit-test")) {
    std::vector<std::string> stale;
    while (dirent* e = ::readdir(d)) {
      pid_t owner = owner_of(e->d_name);
      if (owner > 0 && owner != ::getpid() && !pid_alive(owner)) stale.push_back(e->d_name);
    }
    ::closedir(d);
    for (const auto& s : stale) rm_rf(str_cat("/tmp/ambit-test/", s));
  }
}

}  // namespace ambit::test
