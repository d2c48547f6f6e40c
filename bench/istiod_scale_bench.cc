// istiod at scale: full initial push to C concurrent delta ADS streams, and the latency and CPU
// cost of one pod change, for N pods — with ratios against a baseline measured in the same run
// (the machine is shared and noisy, so only ratios are comparable across runs).
//
//   istiod_scale_bench [--pods 1000,10000] [--streams 10,100] [--changes 50]
//                      [--client-threads 2] [--deadline-s 1800] [--istiod PATH]
//
// Per (pods, streams) configuration:
//  - a fresh temp config directory: pods in pods/100 namespaces labelled ambient (one file per
//    pod, so a change rewrites one small file), 1 Service per 10 pods, 1 AuthorizationPolicy per
//    50 pods, pods spread over 100 nodes;
//  - a fresh istiod *child process* (the real binary, plaintext xDS on 127.0.0.1:0). A child, not
//    Istiod::start in-process, so /proc/<pid> gives istiod's CPU (per-thread schedstat, in ns) and
//    RSS alone: the client holds streams × (pods + services) entries and would otherwise dominate
//    RSS and blur CPU. The client's own CPU is reported beside it (both share the machine);
//  - C streams, each on its own channel and TCP connection (as C ztunnels would be), driven by the
//    async gRPC API from a small pool of completion-queue threads; every stream speaks as ztunnel
//    does (node id ztunnel~ip~pod.ns~ns.svc.cluster.local, wildcard Address + Authorization, ACK
//    with response_nonce);
//  - full push: from the moment every stream's first requests are issued until every stream holds
//    all Address and Authorization resources and has written the ACK of the completing response;
//  - changes: one pod's file rewritten with a new IP (temp file + rename), measured from just
//    before the rename to the arrival of the new Workload at each stream, sequentially;
//  - checks (fatal): every stream holds exactly the expected resource names, all streams hold the
//    same versions, nothing is removed; reported: Address resources sent per change per stream
//    (1.00 means nothing unrelated was pushed).
// Bounded: flag ranges are capped, every wait has a timeout, and a global deadline aborts the run
// with a message naming the phase. Temp dirs and the istiod child are removed on every exit path.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/base/strings.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "istio/workload/workload.pb.h"
#include "istiod/ambient/mesh_config.h"
#include "istiod/ambient/resource.h"

using namespace ambit;
namespace ambient = ambit::istiod::ambient;
using Clock = std::chrono::steady_clock;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;

namespace {

constexpr int kNodes = 100;
constexpr auto kConnectTimeout = std::chrono::seconds(30);
constexpr auto kPushTimeout = std::chrono::seconds(300);
constexpr auto kChangeTimeout = std::chrono::seconds(20);
constexpr auto kStopTimeout = std::chrono::seconds(10);

// ---------------------------------------------------------------------------------------------
// Process-wide cleanup: the istiod child and the temp root go on every exit path (normal end,
// failure, global deadline, SIGINT/SIGTERM), all through exit_with().

struct Global {
  std::string tmp_root;
  std::atomic<pid_t> child{0};
  std::atomic<const char*> phase{"startup"};
};
Global g;

// exit_with() takes this and never releases it, so concurrent aborts (deadline, signal, a stream
// failing because the deadline killed istiod) clean up once and report only the first cause.
std::mutex cleanup_mu;

void cleanup_locked() {
  pid_t p = g.child.exchange(0);
  if (p > 0) {
    ::kill(p, SIGKILL);
    ::waitpid(p, nullptr, 0);
  }
  if (!g.tmp_root.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(g.tmp_root, ec);
    if (ec) std::fprintf(stderr, "istiod_scale_bench: removing %s: %s\n", g.tmp_root.c_str(), ec.message().c_str());
  }
}

[[noreturn]] void exit_with(int code, const std::string& msg) {
  cleanup_mu.lock();  // never released: the process ends here
  if (!msg.empty()) std::fprintf(stderr, "istiod_scale_bench: %s\n", msg.c_str());
  std::fflush(stdout);
  cleanup_locked();
  std::_Exit(code);
}

[[noreturn]] void die(const std::string& msg) { exit_with(1, str_cat("FAILED during ", g.phase.load(), ": ", msg)); }

class Watchdog {
 public:
  explicit Watchdog(int seconds) {
    t_ = std::thread([this, seconds] {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return stop_; })) return;
      exit_with(3, str_cat("global deadline of ", seconds, " s exceeded during ", g.phase.load(), "; aborting"));
    });
  }
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    t_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread t_;
};

// ---------------------------------------------------------------------------------------------
// /proc readings for one process.
//
// CPU: /proc/<pid>/stat counts user+sys in clock ticks (10 ms here), too coarse for one change of
// a few ms; so a sample also keeps each thread's exact on-CPU nanoseconds (task/*/schedstat).
// The exact figure is used when no thread of the first sample exited before the second (then
// nothing was lost); otherwise the tick figure is.

struct CpuSample {
  double ticks_s = 0;                  // user + sys of the whole process, tick resolution
  std::map<std::string, uint64_t> ns;  // tid -> on-CPU ns (live threads)
};

double ticks_cpu(pid_t pid) {
  std::ifstream f(str_cat("/proc/", pid, "/stat"));
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto rp = s.rfind(')');
  if (rp == std::string::npos || rp + 2 > s.size()) die(str_cat("cannot read /proc/", pid, "/stat"));
  std::istringstream in(s.substr(rp + 2));
  std::vector<std::string> fields;  // fields[0] is field 3 (state); utime is field 14, stime 15
  for (std::string x; in >> x && fields.size() < 13;) fields.push_back(x);
  if (fields.size() < 13) die(str_cat("short /proc/", pid, "/stat"));
  return (std::stod(fields[11]) + std::stod(fields[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

CpuSample cpu_sample(pid_t pid) {
  CpuSample c;
  c.ticks_s = ticks_cpu(pid);
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(str_cat("/proc/", pid, "/task"), ec)) {
    std::ifstream f(e.path() / "schedstat");
    unsigned long long ns = 0;
    if (f >> ns) c.ns[e.path().filename().string()] = ns;
  }
  return c;
}

bool cpu_coarse = false;  // some figure fell back to ticks; the report says so

// CPU seconds between two samples.
double cpu_between(const CpuSample& a, const CpuSample& b) {
  bool exact = !a.ns.empty();
  uint64_t sum = 0;
  for (const auto& [tid, ns] : b.ns) {
    auto it = a.ns.find(tid);
    sum += ns - (it == a.ns.end() ? 0 : std::min(ns, it->second));
  }
  for (const auto& [tid, _] : a.ns) exact = exact && b.ns.count(tid);
  if (!exact) cpu_coarse = true;
  return exact ? static_cast<double>(sum) / 1e9 : b.ticks_s - a.ticks_s;
}

// VmRSS and VmHWM in MiB.
std::pair<double, double> rss_of(pid_t pid) {
  std::ifstream f(str_cat("/proc/", pid, "/status"));
  double rss = 0, hwm = 0;
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::atof(line.c_str() + 6) / 1024.0;
    if (line.rfind("VmHWM:", 0) == 0) hwm = std::atof(line.c_str() + 6) / 1024.0;
  }
  return {rss, hwm};
}

// ---------------------------------------------------------------------------------------------
// The generated mesh.

struct PodSpec {
  std::string ns, name, app, tier, file;
  int node = 0;
};

struct World {
  int pods = 0, namespaces = 0, services = 0, policies = 0;
  std::vector<PodSpec> pod_list;
  std::set<std::string> address_names, authz_names;
};

std::string ipv4(uint32_t a) { return str_cat(a >> 24, ".", (a >> 16) & 255, ".", (a >> 8) & 255, ".", a & 255); }
// Initial pod IPs live in 10.16.0.0/12 and changed ones in 10.128.0.0/9, so they never collide.
std::string pod_ip(int i) { return ipv4((10u << 24) + (16u << 16) + static_cast<uint32_t>(i) + 1); }
std::string changed_ip(int k) { return ipv4((10u << 24) + (128u << 16) + static_cast<uint32_t>(k) + 1); }

void write_file(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) die(str_cat("cannot create ", path, ": ", std::strerror(errno)));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) die(str_cat("cannot write ", path));
}

std::string pod_yaml(const PodSpec& p, const std::string& ip) {
  return str_cat("apiVersion: v1\nkind: Pod\nmetadata:\n  name: ", p.name, "\n  namespace: ", p.ns,
                 "\n  labels: {app: ", p.app, ", tier: ", p.tier,
                 ", version: v1, pod-template-hash: 5d8f7c}\n  ownerReferences: [{kind: ReplicaSet, name: ", p.app,
                 "-5d8f7c}]\nspec:\n  nodeName: node-", p.node, "\n  serviceAccountName: ", p.app,
                 "\n  containers: [{name: main, image: example/app:1, ports: [{name: http, containerPort: 8080}]}]\n"
                 "status:\n  phase: Running\n  podIP: ",
                 ip, "\n  conditions: [{type: Ready, status: \"True\"}]\n");
}

World generate(int pods, const std::string& dir) {
  const ambient::MeshConfig mesh;  // istiod's defaults: cluster id, domain suffix
  World w;
  w.pods = pods;
  w.namespaces = std::max(1, pods / 100);
  std::string ns_yaml;
  int global = 0, svc_ip = 0;
  for (int n = 0; n < w.namespaces; ++n) {
    std::string ns = str_cat("bench-", n);
    int count = pods / w.namespaces + (n < pods % w.namespaces ? 1 : 0);
    str_append(&ns_yaml, n ? "---\n" : "", "apiVersion: v1\nkind: Namespace\nmetadata: {name: ", ns, ", labels: {",
               ambient::kDataplaneModeLabel, ": ", ambient::kDataplaneModeAmbient, "}}\n");
    std::string svc_yaml, authz_yaml;
    for (int i = 0; i < count; ++i, ++global) {
      PodSpec p;
      p.ns = ns;
      p.app = str_cat("app-", i / 10);
      p.tier = str_cat("tier-", i / 50);
      p.name = str_cat(p.app, "-5d8f7c-", i % 10);
      p.node = global % kNodes;
      p.file = str_cat("pod-", ns, "-", p.name, ".yaml");
      write_file(str_cat(dir, "/", p.file), pod_yaml(p, pod_ip(global)));
      w.address_names.insert(str_cat(mesh.cluster_id, "//Pod/", ns, "/", p.name));
      if (i % 10 == 0) {
        ++svc_ip;
        str_append(&svc_yaml, svc_yaml.empty() ? "" : "---\n",
                   "apiVersion: v1\nkind: Service\nmetadata: {name: ", p.app, ", namespace: ", ns,
                   "}\nspec:\n  selector: {app: ", p.app,
                   "}\n  clusterIP: ", ipv4((10u << 24) + (96u << 16) + static_cast<uint32_t>(svc_ip)),
                   "\n  ports: [{name: http, port: 80, targetPort: http}]\n");
        w.address_names.insert(str_cat(ns, "/", p.app, ".", ns, ".svc.", mesh.domain_suffix));
        ++w.services;
      }
      if (i % 50 == 0) {
        std::string name = str_cat("allow-", p.tier);
        str_append(&authz_yaml, authz_yaml.empty() ? "" : "---\n",
                   "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ", name,
                   ", namespace: ", ns, "}\nspec:\n  selector: {matchLabels: {tier: ", p.tier,
                   "}}\n  action: ALLOW\n  rules: [{from: [{source: {principals: [\"", mesh.trust_domain, "/ns/", ns,
                   "/sa/app-0\"]}}], to: [{operation: {ports: [\"8080\"]}}]}]\n");
        w.authz_names.insert(str_cat(ns, "/", name));
        ++w.policies;
      }
      w.pod_list.push_back(std::move(p));
    }
    write_file(str_cat(dir, "/services-", ns, ".yaml"), svc_yaml);
    write_file(str_cat(dir, "/policies-", ns, ".yaml"), authz_yaml);
  }
  write_file(str_cat(dir, "/namespaces.yaml"), ns_yaml);
  return w;
}

// ---------------------------------------------------------------------------------------------
// The istiod child.

struct Child {
  pid_t pid = 0;
  int port = 0;
  std::string log;
};

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string tail(const std::string& s, size_t n = 2000) { return s.size() > n ? s.substr(s.size() - n) : s; }

Child spawn_istiod(const std::string& bin, const std::string& config_dir, const std::string& ca_dir,
                   const std::string& log) {
  std::vector<std::string> args = {bin,           "--config-dir",   config_dir,    "--ca-dir",
                                   ca_dir,        "--grpc-address", "127.0.0.1:0", "--plaintext-address",
                                   "127.0.0.1:0", "--http-port",    "0",           "--log-level",
                                   "info",
                                   // Every simulated ztunnel is the same anonymous loopback client
                                   // to istiod; real ones each have their own node.
                                   "--xds-max-streams-per-client", "1000000"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) die(str_cat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the benchmark
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  g.child = pid;
  Child c{pid, 0, log};
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (Clock::now() < deadline) {
    std::string text = read_all(log);
    auto at = text.find("plaintext xDS on ");
    if (text.find("istiod ready:") != std::string::npos && at != std::string::npos) {
      c.port = std::atoi(text.c_str() + at + std::strlen("plaintext xDS on "));
      if (c.port > 0) return c;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      g.child = 0;
      die(str_cat("istiod (", bin, ") exited before it was ready; its log:\n", tail(text)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  die(str_cat("istiod was not ready within 120 s; its log:\n", tail(read_all(log))));
}

void stop_istiod(Child& c) {
  ::kill(c.pid, SIGTERM);
  auto deadline = Clock::now() + kStopTimeout;
  while (Clock::now() < deadline) {
    if (::waitpid(c.pid, nullptr, WNOHANG) == c.pid) {
      g.child = 0;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::fprintf(stderr, "istiod_scale_bench: istiod did not stop within 10 s of SIGTERM; killing it\n");
  ::kill(c.pid, SIGKILL);
  ::waitpid(c.pid, nullptr, 0);
  g.child = 0;
}

// ---------------------------------------------------------------------------------------------
// The client: C delta ADS streams on the async API. A stream is only ever touched by the one
// completion-queue thread it belongs to (the main thread reaches it through an Alarm), except its
// holdings, which the main thread reads under held_mu_ for verification.

struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  size_t want_addr = 0, want_authz = 0;
  int started = 0, synced = 0, finished = 0;
  Clock::time_point last_synced{};
  bool stopping = false;
  std::string failure;
  // The change being watched: resource name and the address it must carry.
  int watch_id = 0;
  std::string watch_name, watch_ip;
  std::vector<Clock::duration> samples;  // this change's arrivals
  Clock::time_point changed_at{};

  void fail(const std::string& why) {
    std::lock_guard lock(mu);
    if (failure.empty()) failure = why;
    cv.notify_all();
  }
};

class Stream {
 public:
  enum Op { kStart, kRead, kWrite, kKick, kFinish };
  struct Tag {
    Stream* s;
    Op op;
  };

  Stream(int id, const std::shared_ptr<grpc::Channel>& ch, grpc::CompletionQueue* cq, Shared* sh)
      : id_(id), cq_(cq), sh_(sh), stub_(AggregatedDiscoveryService::NewStub(ch)) {}

  void start() {
    rw_ = stub_->PrepareAsyncDeltaAggregatedResources(&ctx_, cq_);
    rw_->StartCall(&start_tag_);
  }
  void kick() { alarm_.Set(cq_, gpr_now(GPR_CLOCK_MONOTONIC), &kick_tag_); }
  void cancel() { ctx_.TryCancel(); }

  void on_event(Op op, bool ok) {
    switch (op) {
      case kStart:
        if (!ok) {
          sh_->fail(str_cat("stream ", id_, " could not start"));
          return;
        }
        {
          std::lock_guard lock(sh_->mu);
          ++sh_->started;
        }
        sh_->cv.notify_all();
        rw_->Read(&resp_, &read_tag_);
        return;
      case kKick:
        first_requests();
        return;
      case kRead:
        if (!ok) {
          read_failed_ = true;
          maybe_finish();
          return;
        }
        on_response(Clock::now());
        rw_->Read(&resp_, &read_tag_);
        return;
      case kWrite: {
        writing_ = false;
        bool synced = outq_.front().completes_sync;
        outq_.pop_front();
        if (ok && synced) {
          std::lock_guard lock(sh_->mu);
          ++sh_->synced;
          sh_->last_synced = Clock::now();
          sh_->cv.notify_all();
        }
        pump();
        maybe_finish();
        return;
      }
      case kFinish: {
        std::lock_guard lock(sh_->mu);
        ++sh_->finished;
        if (!sh_->stopping && sh_->failure.empty()) {
          sh_->failure = str_cat("stream ", id_, " ended by istiod: code ", static_cast<int>(status_.error_code()), " ",
                                 status_.error_message());
        }
        sh_->cv.notify_all();
        return;
      }
    }
  }

  // Verification (main thread).
  std::pair<std::unordered_map<std::string, std::string>, std::unordered_map<std::string, std::string>> holdings() {
    std::lock_guard lock(held_mu_);
    return {held_addr_, held_authz_};
  }
  uint64_t address_resources() const { return addr_resources_.load(); }
  uint64_t removed() const { return removed_.load(); }

 private:
  struct Out {
    DeltaDiscoveryRequest req;
    bool completes_sync = false;
  };

  void first_requests() {
    for (const char* type : {ambient::kAddressType, ambient::kAuthorizationType}) {
      Out o;
      o.req.set_type_url(type);
      if (type == ambient::kAddressType) {  // as ztunnel: the node rides on the first request
        std::string ip = str_cat("10.250.", id_ / 256, ".", id_ % 256);
        std::string pod = str_cat("ztunnel-", id_);
        auto* node = o.req.mutable_node();
        node->set_id(str_cat("ztunnel~", ip, "~", pod, ".istio-system~istio-system.svc.cluster.local"));
        auto& md = *node->mutable_metadata()->mutable_fields();
        md["NAME"].set_string_value(pod);
        md["NAMESPACE"].set_string_value("istio-system");
        md["INSTANCE_IPS"].set_string_value(ip);
        md["NODE_NAME"].set_string_value(str_cat("node-", id_ % kNodes));
        md["CLUSTER_ID"].set_string_value("Kubernetes");
        node->set_user_agent_name("ambit-bench");
      }
      outq_.push_back(std::move(o));
    }
    pump();
  }

  void on_response(Clock::time_point now) {
    bool address = resp_.type_url() == ambient::kAddressType;
    if (!address && resp_.type_url() != ambient::kAuthorizationType) {
      sh_->fail(str_cat("stream ", id_, " got unexpected type ", resp_.type_url()));
      return;
    }
    // The watched change, copied once per response.
    int watch_id = 0;
    std::string watch_name, watch_ip;
    if (address) {
      std::lock_guard lock(sh_->mu);
      if (sh_->watch_id != seen_change_) {
        watch_id = sh_->watch_id;
        watch_name = sh_->watch_name;
        watch_ip = sh_->watch_ip;
      }
    }
    bool hit = false;
    size_t na, nz;
    {
      std::lock_guard lock(held_mu_);
      auto& held = address ? held_addr_ : held_authz_;
      for (const auto& r : resp_.resources()) {
        if (r.resource().type_url() != resp_.type_url()) {
          sh_->fail(str_cat("stream ", id_, ": ", r.name(), " carries ", r.resource().type_url()));
        }
        held[r.name()] = r.version();
        if (watch_id && r.name() == watch_name) {
          istio::workload::Address a;
          if (a.ParseFromString(r.resource().value()) && a.has_workload() && a.workload().addresses_size() > 0 &&
              a.workload().addresses(0) == watch_ip) {
            hit = true;
          }
        }
      }
      for (const auto& n : resp_.removed_resources()) held.erase(n);
      na = held_addr_.size();
      nz = held_authz_.size();
    }
    if (address) addr_resources_ += static_cast<uint64_t>(resp_.resources_size());
    removed_ += static_cast<uint64_t>(resp_.removed_resources_size());
    if (hit) {
      seen_change_ = watch_id;
      std::lock_guard lock(sh_->mu);
      if (sh_->watch_id == watch_id) {
        sh_->samples.push_back(now - sh_->changed_at);
        sh_->cv.notify_all();
      }
    }
    Out ack;
    ack.req.set_type_url(resp_.type_url());
    ack.req.set_response_nonce(resp_.nonce());
    if (!synced_ && na >= sh_->want_addr && nz >= sh_->want_authz) {
      synced_ = true;
      ack.completes_sync = true;
    }
    outq_.push_back(std::move(ack));
    pump();
  }

  void pump() {
    if (writing_ || outq_.empty() || read_failed_) return;
    writing_ = true;
    rw_->Write(outq_.front().req, &write_tag_);
  }

  void maybe_finish() {
    if (!read_failed_ || writing_ || finish_started_) return;
    finish_started_ = true;
    rw_->Finish(&status_, &finish_tag_);
  }

  int id_;
  grpc::CompletionQueue* cq_;
  Shared* sh_;
  std::unique_ptr<AggregatedDiscoveryService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<DeltaDiscoveryRequest, DeltaDiscoveryResponse>> rw_;
  grpc::Alarm alarm_;
  Tag start_tag_{this, kStart}, read_tag_{this, kRead}, write_tag_{this, kWrite}, kick_tag_{this, kKick},
      finish_tag_{this, kFinish};
  DeltaDiscoveryResponse resp_;
  std::deque<Out> outq_;  // front is in flight while writing_
  bool writing_ = false, read_failed_ = false, finish_started_ = false, synced_ = false;
  grpc::Status status_;
  int seen_change_ = 0;
  std::mutex held_mu_;
  std::unordered_map<std::string, std::string> held_addr_, held_authz_;  // name -> version
  std::atomic<uint64_t> addr_resources_{0}, removed_{0};
};

// Waits on sh.cv until pred, a failure, or the timeout; dies with `what` on timeout/failure.
template <typename Pred>
void wait_for(Shared& sh, std::chrono::seconds timeout, Pred pred, const std::function<std::string()>& what) {
  std::unique_lock lock(sh.mu);
  bool ok = sh.cv.wait_for(lock, timeout, [&] { return pred() || !sh.failure.empty(); });
  if (!sh.failure.empty()) {
    std::string f = sh.failure;
    lock.unlock();
    die(f);
  }
  if (!ok) {
    std::string m = what();
    lock.unlock();
    die(str_cat(m, " (timed out after ", timeout.count(), " s)"));
  }
}

// ---------------------------------------------------------------------------------------------

struct Options {
  std::vector<int> pods{1000, 10000};
  std::vector<int> streams{10, 100};
  int changes = 50;
  int client_threads = 2;
  int deadline_s = 1800;
  std::string istiod = AMBIT_ISTIOD_BIN;
};

struct Result {
  int pods = 0, services = 0, policies = 0, streams = 0;
  double load_s = 0, load_cpu = 0;
  double push_s = 0, push_cpu = 0, client_cpu = 0, rss_push = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0, change_cpu = 0, cpu_per_change_ms = 0, rss_end = 0, hwm = 0;
  double addr_per_change = 0;
};

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p) {  // nearest rank
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(k, 1, v.size()) - 1];
}

void verify(const World& w, std::vector<std::unique_ptr<Stream>>& streams, const char* when) {
  auto [addr0, authz0] = streams[0]->holdings();
  std::set<std::string> got;
  for (const auto& [n, _] : addr0) got.insert(n);
  if (got != w.address_names) {
    std::vector<std::string> diff;
    std::set_symmetric_difference(got.begin(), got.end(), w.address_names.begin(), w.address_names.end(),
                                  std::back_inserter(diff));
    die(str_cat(when, ": stream 0 holds ", got.size(), " Address resources, want ", w.address_names.size(), "; ",
                diff.size(), " differ, e.g. ", diff.empty() ? "" : diff[0]));
  }
  got.clear();
  for (const auto& [n, _] : authz0) got.insert(n);
  if (got != w.authz_names) {
    die(str_cat(when, ": stream 0 holds ", got.size(), " Authorization resources, want ", w.authz_names.size()));
  }
  for (size_t i = 1; i < streams.size(); ++i) {
    auto [a, z] = streams[i]->holdings();
    if (a != addr0 || z != authz0) {
      die(str_cat(when, ": stream ", i, " holds different names or versions than stream 0 (", a.size(), "/", z.size(),
                  " vs ", addr0.size(), "/", authz0.size(), ")"));
    }
  }
}

Result run_one(const Options& o, int pods, int nstreams) {
  Result r;
  r.pods = pods;
  r.streams = nstreams;
  std::string root = str_cat(g.tmp_root, "/p", pods, "-s", nstreams);
  std::string config = root + "/config";
  std::filesystem::create_directories(config);

  g.phase = "generating config";
  World w = generate(pods, config);
  r.services = w.services;
  r.policies = w.policies;

  g.phase = "starting istiod";
  auto t_spawn = Clock::now();
  Child istiod = spawn_istiod(o.istiod, config, root + "/ca", root + "/istiod.log");
  r.load_s = std::chrono::duration<double>(Clock::now() - t_spawn).count();
  // Let the load's own push (to no one) pass the debouncer before measuring.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  r.load_cpu = ticks_cpu(istiod.pid);

  g.phase = "connecting streams";
  Shared sh;
  sh.want_addr = w.address_names.size();
  sh.want_authz = w.authz_names.size();
  int nthreads = std::clamp(o.client_threads, 1, nstreams);
  std::vector<std::unique_ptr<grpc::CompletionQueue>> cqs;
  for (int i = 0; i < nthreads; ++i) cqs.push_back(std::make_unique<grpc::CompletionQueue>());
  std::vector<std::thread> threads;
  for (auto& cq : cqs) {
    threads.emplace_back([cq = cq.get()] {
      void* tag;
      bool ok;
      while (cq->Next(&tag, &ok)) {
        auto* t = static_cast<Stream::Tag*>(tag);
        t->s->on_event(t->op, ok);
      }
    });
  }
  std::vector<std::unique_ptr<Stream>> streams;
  std::string target = str_cat("127.0.0.1:", istiod.port);
  for (int i = 0; i < nstreams; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a TCP connection per stream, as per ztunnel
    args.SetMaxReceiveMessageSize(200 * 1024 * 1024);    // as ztunnel's client
    auto ch = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    if (!ch->WaitForConnected(std::chrono::system_clock::now() + kConnectTimeout)) {
      die(str_cat("channel ", i, " could not connect to istiod at ", target));
    }
    streams.push_back(std::make_unique<Stream>(i, ch, cqs[static_cast<size_t>(i) % cqs.size()].get(), &sh));
    streams.back()->start();
  }
  wait_for(
      sh, kConnectTimeout, [&] { return sh.started == nstreams; },
      [&] { return str_cat(sh.started, " of ", nstreams, " streams started"); });

  g.phase = "initial push";
  CpuSample cpu0 = cpu_sample(istiod.pid), self0 = cpu_sample(::getpid());
  auto t0 = Clock::now();
  for (auto& s : streams) s->kick();
  wait_for(
      sh, kPushTimeout, [&] { return sh.synced == nstreams; },
      [&] {
        return str_cat(sh.synced, " of ", nstreams, " streams received all ", sh.want_addr, " Address and ",
                       sh.want_authz, " Authorization resources");
      });
  Clock::time_point t_synced;
  {
    std::lock_guard lock(sh.mu);
    t_synced = sh.last_synced;
  }
  r.push_s = std::chrono::duration<double>(t_synced - t0).count();
  r.push_cpu = cpu_between(cpu0, cpu_sample(istiod.pid));
  r.client_cpu = cpu_between(self0, cpu_sample(::getpid()));
  r.rss_push = rss_of(istiod.pid).first;
  verify(w, streams, "after the initial push");

  g.phase = "pod changes";
  uint64_t addr_before = 0;
  for (auto& s : streams) addr_before += s->address_resources();
  CpuSample cpu1 = cpu_sample(istiod.pid);
  std::vector<double> samples;
  for (int k = 0; k < o.changes; ++k) {
    const PodSpec& p = w.pod_list[(static_cast<size_t>(k) * 7919u) % w.pod_list.size()];
    std::string ip = changed_ip(k);
    std::string tmp = str_cat(config, "/.", p.file, ".tmp");  // ignored by istiod until renamed
    write_file(tmp, pod_yaml(p, ip));
    {
      std::lock_guard lock(sh.mu);
      sh.samples.clear();
      sh.watch_name = str_cat(ambient::MeshConfig{}.cluster_id, "//Pod/", p.ns, "/", p.name);
      in_addr a{};
      ::inet_pton(AF_INET, ip.c_str(), &a);
      sh.watch_ip.assign(reinterpret_cast<const char*>(&a), 4);
      sh.changed_at = Clock::now();
      sh.watch_id = k + 1;
    }
    if (::rename(tmp.c_str(), str_cat(config, "/", p.file).c_str()) != 0) {
      die(str_cat("rename ", tmp, ": ", std::strerror(errno)));
    }
    wait_for(
        sh, kChangeTimeout, [&] { return sh.samples.size() == static_cast<size_t>(nstreams); },
        [&] {
          return str_cat("change ", k + 1, " (pod ", p.ns, "/", p.name, " -> ", ip, ") reached ", sh.samples.size(),
                         " of ", nstreams, " streams");
        });
    std::lock_guard lock(sh.mu);
    for (auto d : sh.samples) samples.push_back(ms(d));
  }
  // Let the last ACKs reach istiod so their cost is counted.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  r.change_cpu = cpu_between(cpu1, cpu_sample(istiod.pid));
  r.cpu_per_change_ms = r.change_cpu * 1000.0 / o.changes;
  std::tie(r.rss_end, r.hwm) = rss_of(istiod.pid);
  r.p50_ms = percentile(samples, 0.50);
  r.p99_ms = percentile(samples, 0.99);
  r.max_ms = percentile(samples, 1.0);
  uint64_t addr_after = 0, removed = 0;
  for (auto& s : streams) {
    addr_after += s->address_resources();
    removed += s->removed();
  }
  r.addr_per_change = static_cast<double>(addr_after - addr_before) / (o.changes * nstreams);
  if (removed != 0) die(str_cat("istiod sent ", removed, " removed_resources; none were expected"));
  verify(w, streams, "after the changes");

  g.phase = "stopping";
  {
    std::lock_guard lock(sh.mu);
    sh.stopping = true;
  }
  for (auto& s : streams) s->cancel();
  wait_for(
      sh, kStopTimeout, [&] { return sh.finished == nstreams; },
      [&] { return str_cat(sh.finished, " of ", nstreams, " streams finished after cancel"); });
  for (auto& cq : cqs) cq->Shutdown();
  for (auto& t : threads) t.join();
  streams.clear();
  stop_istiod(istiod);
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return r;
}

// ---------------------------------------------------------------------------------------------

std::vector<int> int_list(const std::string& s, const char* flag, int lo, int hi) {
  std::vector<int> out;
  for (auto part : split_nonempty(s, ',')) {
    int v = std::atoi(std::string(part).c_str());
    if (v < lo || v > hi) {
      std::fprintf(stderr, "istiod_scale_bench: %s values must be %d..%d\n", flag, lo, hi);
      std::exit(2);
    }
    out.push_back(v);
  }
  if (out.empty()) {
    std::fprintf(stderr, "istiod_scale_bench: %s needs a value\n", flag);
    std::exit(2);
  }
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    if (auto eq = a.find('='); eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc && a.rfind("--", 0) == 0) {
      v = argv[++i];
    }
    if (a == "--pods")
      o.pods = int_list(v, "--pods", 1, 100000);
    else if (a == "--streams")
      o.streams = int_list(v, "--streams", 1, 1000);
    else if (a == "--changes")
      o.changes = int_list(v, "--changes", 1, 10000)[0];
    else if (a == "--client-threads")
      o.client_threads = int_list(v, "--client-threads", 1, 64)[0];
    else if (a == "--deadline-s")
      o.deadline_s = int_list(v, "--deadline-s", 10, 86400)[0];
    else if (a == "--istiod")
      o.istiod = v;
    else {
      std::fprintf(stderr,
                   "usage: istiod_scale_bench [--pods 1000,10000] [--streams 10,100] [--changes 50]\n"
                   "                          [--client-threads 2] [--deadline-s 1800] [--istiod PATH]\n");
      std::exit(2);
    }
  }
  return o;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}
std::string ratio(double v, double base) { return base > 0 ? fmt("%.2f", v / base) : "-"; }

void report(const Options& o, const std::vector<Result>& rs) {
  std::printf(
      "\nLoad and full initial push (istiod load = spawn to ready, all YAML read and translated):\n\n"
      "| pods | services | policies | streams | istiod load s | load CPU s | full push s | istiod CPU push s |"
      " client CPU push s | istiod RSS after push MiB |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : rs) {
    std::printf("| %d | %d | %d | %d | %.2f | %.2f | %.3f | %.3f | %.3f | %.1f |\n", r.pods, r.services, r.policies,
                r.streams, r.load_s, r.load_cpu, r.push_s, r.push_cpu, r.client_cpu, r.rss_push);
  }
  std::printf(
      "\nOne pod change at a time (%d changes; latency from rename to arrival, one sample per stream):\n\n"
      "| pods | streams | p50 ms | p99 ms | max ms | istiod CPU changes s | istiod CPU/change ms |"
      " istiod RSS after changes MiB | peak RSS MiB | Address res/change/stream |\n"
      "|---|---|---|---|---|---|---|---|---|---|\n",
      o.changes);
  for (const auto& r : rs) {
    std::printf("| %d | %d | %.1f | %.1f | %.1f | %.3f | %.2f | %.1f | %.1f | %.2f |\n", r.pods, r.streams, r.p50_ms,
                r.p99_ms, r.max_ms, r.change_cpu, r.cpu_per_change_ms, r.rss_end, r.hwm, r.addr_per_change);
  }
  const Result& b = rs.front();
  std::printf(
      "\nRatios against the baseline %d pods / %d streams (same run):\n\n"
      "| pods | streams | full push | istiod CPU push | change p50 | change p99 | istiod CPU/change |"
      " peak RSS |\n|---|---|---|---|---|---|---|---|\n",
      b.pods, b.streams);
  for (const auto& r : rs) {
    std::printf("| %d | %d | %s | %s | %s | %s | %s | %s |\n", r.pods, r.streams, ratio(r.push_s, b.push_s).c_str(),
                ratio(r.push_cpu, b.push_cpu).c_str(), ratio(r.p50_ms, b.p50_ms).c_str(),
                ratio(r.p99_ms, b.p99_ms).c_str(), ratio(r.cpu_per_change_ms, b.cpu_per_change_ms).c_str(),
                ratio(r.hwm, b.hwm).c_str());
  }

  int lo = *std::min_element(o.pods.begin(), o.pods.end());
  int hi = *std::max_element(o.pods.begin(), o.pods.end());
  if (lo != hi) {
    std::printf(
        "\nCost of one change independent of unrelated objects (%d vs %d pods; 1.00 is ideal, %.0f would be"
        " linear in pods):\n\n| streams | p50 ms %d → %d | ratio | p99 ratio | istiod CPU/change ms %d → %d |"
        " ratio |\n|---|---|---|---|---|---|\n",
        hi, lo, static_cast<double>(hi) / lo, lo, hi, lo, hi);
    for (int s : o.streams) {
      const Result *a = nullptr, *z = nullptr;
      for (const auto& r : rs) {
        if (r.streams == s && r.pods == lo) a = &r;
        if (r.streams == s && r.pods == hi) z = &r;
      }
      if (!a || !z) continue;
      std::printf("| %d | %.1f → %.1f | %s | %s | %.2f → %.2f | %s |\n", s, a->p50_ms, z->p50_ms,
                  ratio(z->p50_ms, a->p50_ms).c_str(), ratio(z->p99_ms, a->p99_ms).c_str(), a->cpu_per_change_ms,
                  z->cpu_per_change_ms, ratio(z->cpu_per_change_ms, a->cpu_per_change_ms).c_str());
    }
  }

  if (cpu_coarse) {
    std::printf("\nNote: a thread exited between two CPU samples, so some CPU figures have 10 ms tick resolution.\n");
  }
  std::printf("\nGoals (10000 pods, 100 streams): full push <= 1 s, one-change p99 <= 100 ms\n");
  bool any = false;
  for (const auto& r : rs) {
    if (r.pods != 10000 || r.streams != 100) continue;
    any = true;
    std::printf("  full push %.3f s: %s; one-change p99 %.1f ms: %s\n", r.push_s, r.push_s <= 1.0 ? "MET" : "MISSED",
                r.p99_ms, r.p99_ms <= 100.0 ? "MET" : "MISSED");
  }
  if (!any) std::printf("  not measured: this run has no 10000-pod / 100-stream configuration\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  if (::access(o.istiod.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "istiod_scale_bench: no istiod binary at %s (build the istiod target or pass --istiod)\n",
                 o.istiod.c_str());
    return 2;
  }
  // Signals go to one thread (sigwait), which cleans up; every other thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  char tmpl[] = "/tmp/istiod_scale_bench.XXXXXX";
  if (!::mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    return 1;
  }
  g.tmp_root = tmpl;
  std::thread([set] {
    int sig = 0;
    sigwait(&set, &sig);
    exit_with(128 + sig, str_cat("signal ", sig, " during ", g.phase.load(), "; cleaned up"));
  }).detach();
  Watchdog watchdog(o.deadline_s);

  std::printf(
      "istiod scale benchmark: istiod %s as a child process, delta ADS over plaintext gRPC on 127.0.0.1,\n"
      "%d client thread(s), %d sequential pod changes per configuration, global deadline %d s.\n"
      "Mesh: pods in pods/100 namespaces (ambient), 1 Service per 10 pods, 1 AuthorizationPolicy per 50 pods,"
      " %d nodes.\nistiod defaults: directory watch debounce 50 ms, push debounce 10 ms quiet / 100 ms max.\n",
      o.istiod.c_str(), o.client_threads, o.changes, o.deadline_s, kNodes);
  std::vector<Result> results;
  for (int p : o.pods) {
    for (int s : o.streams) {
      std::printf("running %d pods / %d streams ...\n", p, s);
      std::fflush(stdout);
      results.push_back(run_one(o, p, s));
      const Result& r = results.back();
      std::printf("  full push %.3f s, change p50 %.1f ms p99 %.1f ms, istiod CPU/change %.2f ms — checks passed\n",
                  r.push_s, r.p50_ms, r.p99_ms, r.cpu_per_change_ms);
      if (r.addr_per_change != 1.0) {
        std::printf("  WARNING: istiod sent %.2f Address resources per change per stream; 1.00 expected\n",
                    r.addr_per_change);
      }
      std::fflush(stdout);
    }
  }
  report(o, results);
  g.phase = "cleanup";
  exit_with(0, "");
}
