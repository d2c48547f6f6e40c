#include "cli/local/supervisor.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/local/manifest.h"
#include "cli/local/node_http.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/identity/sa_token.h"
#include "common/sim/cgroup.h"
#include "common/sim/command.h"
#include "common/sim/process.h"
#include "common/sim/topology.h"

namespace ambit::cli {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

template <typename... Args>
void say(const Args&... args) {
  char ts[32];
  std::time_t now = std::time(nullptr);
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::printf("%s %s\n", ts, str_cat(args...).c_str());
  std::fflush(stdout);
}

bool file_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::string random_uid() {
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string container_path(const MeshPlan& plan) {
  return plan.bin_dir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

// Exponential backoff 0.5 s .. 10 s, reset after a run of 30 s.
milliseconds next_backoff(int failures) { return milliseconds(std::min(10000, 500 << std::min(failures, 5))); }

struct Component {
  std::string name;
  int node = 0;
  std::string netns;
  std::string cgroup;  // absolute
  std::vector<std::string> argv;
  std::string log;
  std::optional<sim::Process> proc;
  int restarts = 0;
  int failures = 0;
  Clock::time_point started{}, next_start{};
  std::optional<int> last_exit;
};

struct ContainerRun {
  Container spec;
  std::optional<sim::Process> proc;
  int restarts = 0;
  int failures = 0;
  std::optional<int> last_exit;
  Clock::time_point started{}, next_start{};
  bool finished = false;  // exited and the policy says stay down
};

enum class PodPhase { kCni, kRunning };

struct PodRun {
  PodTemplate tmpl;
  std::string key;  // ns/name
  int node = 0;
  std::string ip, uid, netns, cgroup, host_if, log_dir;
  std::string token_dir;  // nodes/<node>/pods/<ns>.<pod>: the service-account token
  PodPhase phase = PodPhase::kCni;
  std::optional<sim::Process> cni;
  int cni_attempts = 0;
  Clock::time_point next_cni{};
  std::string message;
  std::vector<ContainerRun> containers;
  std::string labels_fingerprint;
  bool ready = true;  // the Ready condition in the Pod object istiod sees
  Clock::time_point next_probe{};
};

std::string labels_fingerprint(const PodTemplate& t) {
  std::string s;
  for (const auto& [k, v] : t.labels) str_append(&s, k, "=", v, ";");
  s += "|";
  for (const auto& [k, v] : t.annotations) str_append(&s, k, "=", v, ";");
  return s;
}

class Supervisor {
 public:
  explicit Supervisor(const MeshPlan& plan) : plan_(plan) {}

  int run() {
    if (auto s = init(); !s.ok()) {
      say("supervisor: cannot start: ", s.ToString());
      return 1;
    }
    say("supervisor: mesh \"", plan_.name, "\" with ", plan_.nodes, " nodes in ", plan_.dir);
    while (!g_stop) {
      tick_components();
      tick_pods();
      write_status();
      std::this_thread::sleep_for(milliseconds(100));
    }
    say("supervisor: stopping");
    teardown();
    write_status();
    say("supervisor: stopped");
    return 0;
  }

 private:
  absl::Status init() {
    AMBIT_ASSIGN_OR_RETURN(std::string root, sim::cgroup2_root());
    cg_root_ = root;
    AMBIT_ASSIGN_OR_RETURN(std::string control, sim::create_cgroup(plan_.control_cgroup()));
    // The key pods' service-account tokens are minted with, shared with istiod (which verifies
    // them). Created here, before istiod is started, if `local up` has not made it yet.
    AMBIT_ASSIGN_OR_RETURN(auto keys, identity::ServiceAccountTokens::load_or_create(plan_.ca_dir()));
    sa_tokens_.emplace(std::move(keys));
    Component istiod;
    istiod.name = "istiod";
    istiod.node = 1;
    istiod.netns = plan_.node_netns(1);
    istiod.cgroup = control;
    istiod.log = plan_.logs_dir() + "/istiod.log";
    // The waypoint deployment controller writes Deployments where the supervisor reads pods, and
    // status where `ambitctl waypoint` reads it; waypoint pods reach istiod at node1's underlay
    // address (every node routes to the hub).
    istiod.argv = {plan_.bin("istiod"), "--config-dir", plan_.config_dir(), "--ca-dir", plan_.ca_dir(),
                   "--grpc-address", "0.0.0.0:15012", "--plaintext-address", "", "--http-port", "15014",
                   "--workloads-dir", plan_.workloads_dir(), "--status-dir", plan_.path("status"),
                   "--waypoint-xds-address", plan_.node_ip(1) + ":15012"};
    components_.push_back(std::move(istiod));
    for (int i = 1; i <= plan_.nodes; ++i) {
      AMBIT_ASSIGN_OR_RETURN(std::string node_cg, sim::create_cgroup(plan_.node_cgroup(i)));
      std::string nd = plan_.node_dir(i);
      AMBIT_RETURN_IF_ERROR(sim::run({"mkdir", "-p", str_cat(plan_.logs_dir(), "/", plan_.node_name(i))}).status());
      // The node's DaemonSet pods: both talk to istiod as this node, with its credential.
      auto node_component = [&](const std::string& kind, std::vector<std::string> flags) {
        Component c;
        c.name = component_name(kind, plan_, i);
        c.node = i;
        c.netns = plan_.node_netns(i);
        c.cgroup = node_cg;
        c.log = str_cat(plan_.logs_dir(), "/", plan_.node_name(i), "/", kind, ".log");
        c.argv = {plan_.bin(kind == "agent" ? "ambit-agent" : kind), "--node-name", plan_.node_name(i),
                  "--instance-ip", plan_.node_ip(i), "--xds-address", plan_.xds_address(i), "--root-cert",
                  plan_.ca_dir() + "/root-cert.pem", "--token", nd + "/token", "--zds-socket", nd + "/zds.sock"};
        c.argv.insert(c.argv.end(), flags.begin(), flags.end());
        components_.push_back(std::move(c));
      };
      node_component("agent", {"--cni-socket", nd + "/cni.sock", "--bpf-root", plan_.bpf_root(), "--cgroup", node_cg,
                               "--state-dir", nd + "/agent-state", "--mode", mode_from_env(), "--admin-address",
                               "127.0.0.1:15031"});
      node_component("ztunnel", {"--log-level", "info"});
    }
    // Pods of an earlier supervisor (crash) are recreated from scratch: remove their leftovers.
    for (const auto& ns : sim::list_netns()) {
      if (ns.rfind(plan_.name + "-pod-", 0) == 0) (void)sim::del_netns(ns);
    }
    for (int i = 1; i <= plan_.nodes; ++i) {
      remove_pod_cgroups(i);
      (void)sim::run({"rm", "-rf", plan_.node_dir(i) + "/pods"});  // their tokens
    }
    if (DIR* d = ::opendir(plan_.config_dir().c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n.rfind("pod-", 0) == 0) ::unlink((plan_.config_dir() + "/" + n).c_str());
      }
      ::closedir(d);
    }
    return absl::OkStatus();
  }

  static std::string mode_from_env() {
    const char* m = std::getenv("AMBIT_CAPTURE_MODE");
    return m && *m ? m : "auto";
  }

  void remove_pod_cgroups(int node) {
    std::string dir = cg_root_ + "/" + plan_.node_cgroup(node);
    if (DIR* d = ::opendir(dir.c_str())) {
      std::vector<std::string> subs;
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n.rfind("pod-", 0) == 0) subs.push_back(dir + "/" + n);
      }
      ::closedir(d);
      for (const auto& s : subs) (void)sim::remove_cgroup(s);
    }
  }

  // ---- components ----

  void tick_components() {
    auto now = Clock::now();
    for (auto& c : components_) {
      bool stopped = file_exists(plan_.stopped_marker(c.name));
      if (c.proc && !c.proc->running()) {
        c.last_exit = c.proc->wait_for(milliseconds(0));
        say("component ", c.name, " exited with ", c.last_exit.value_or(-1));
        c.proc.reset();
        c.failures = now - c.started > std::chrono::seconds(30) ? 0 : c.failures + 1;
        c.next_start = now + next_backoff(c.failures);
      }
      if (stopped && c.proc) {
        say("component ", c.name, " stopped on request");
        c.last_exit = c.proc->stop(std::chrono::seconds(10));
        c.proc.reset();
        c.failures = 0;
      }
      // Node components need the mesh root that istiod publishes when its CA is up (a DaemonSet
      // would wait for the istio-ca-root-cert ConfigMap the same way).
      bool deps = c.name == "istiod" || file_exists(plan_.ca_dir() + "/root-cert.pem");
      if (!stopped && !c.proc && deps && now >= c.next_start) start_component(c);
    }
  }

  void start_component(Component& c) {
    sim::SpawnOptions o;
    o.argv = c.argv;
    o.netns = c.netns;
    o.cgroup = c.cgroup;
    o.log_path = c.log;
    auto p = sim::Process::spawn(o);
    if (!p.ok()) {
      say("component ", c.name, ": ", p.status().ToString());
      c.failures++;
      c.next_start = Clock::now() + next_backoff(c.failures);
      return;
    }
    if (c.started != Clock::time_point{}) c.restarts++;
    c.started = Clock::now();
    c.proc = std::move(*p);
    say("component ", c.name, " started, pid ", c.proc->pid());
  }

  // ---- pods ----

  std::map<std::string, PodTemplate> desired_pods() {
    std::map<std::string, PodTemplate> out;
    std::vector<std::string> files;
    if (DIR* d = ::opendir(plan_.workloads_dir().c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n.size() > 5 && n.substr(n.size() - 5) == ".yaml") files.push_back(n);
      }
      ::closedir(d);
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto text = crypto::read_file(plan_.workloads_dir() + "/" + f);
      if (!text.ok()) continue;
      auto ms = parse_manifests(*text, f, "default");
      if (!ms.ok()) {
        note_error(f, ms.status().ToString());
        continue;
      }
      for (const auto& m : *ms) {
        auto pods = expand_workload(m);
        if (!pods.ok()) {
          note_error(f, pods.status().ToString());
          continue;
        }
        for (auto& p : *pods) out.emplace(p.ns + "/" + p.name, std::move(p));
      }
    }
    return out;
  }

  // Logs an error once (not on every pass); status.json lists the current ones.
  void note_error(const std::string& file, const std::string& err) {
    auto prev = errors_prev_.find(file);
    if (prev == errors_prev_.end() || prev->second != err) say(file, ": ", err);
    errors_[file] = err;
  }

  void tick_pods() {
    errors_prev_ = std::move(errors_);
    errors_.clear();
    auto desired = desired_pods();
    // Removed or changed pods go first, so a recreated pod can reuse its name.
    for (auto it = pods_.begin(); it != pods_.end();) {
      auto d = desired.find(it->first);
      bool gone = d == desired.end();
      bool changed = !gone && d->second.spec_hash() != it->second->tmpl.spec_hash();
      if (gone || changed) {
        say("pod ", it->first, gone ? " deleted" : " spec changed: recreating");
        delete_pod(*it->second);
        it = pods_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [key, tmpl] : desired) {
      auto it = pods_.find(key);
      if (it == pods_.end()) {
        auto pod = create_pod(key, tmpl);
        if (!pod.ok()) {
          note_error(key, pod.status().ToString());
          continue;
        }
        it = pods_.emplace(key, std::move(*pod)).first;
      } else if (labels_fingerprint(tmpl) != it->second->labels_fingerprint) {
        say("pod ", key, " labels changed");
        it->second->tmpl = tmpl;
        if (auto s = write_pod_object(*it->second); !s.ok()) note_error(key, s.ToString());
      }
      advance_pod(*it->second);
    }
  }

  int schedule(const PodTemplate& t) {
    if (!t.node_name.empty()) {
      auto n = plan_.node_index(t.node_name);
      return n.ok() ? *n : -1;
    }
    // Round-robin by count: the node with the fewest pods, lowest index on ties.
    std::vector<int> count(static_cast<size_t>(plan_.nodes + 1), 0);
    for (const auto& [k, p] : pods_) count[static_cast<size_t>(p->node)]++;
    int best = 1;
    for (int i = 2; i <= plan_.nodes; ++i) {
      if (count[static_cast<size_t>(i)] < count[static_cast<size_t>(best)]) best = i;
    }
    return best;
  }

  std::string allocate_ip(int node) {
    std::set<std::string> used;
    for (const auto& [k, p] : pods_) used.insert(p->ip);
    for (int h = 2; h < 255; ++h) {
      std::string ip = str_cat("10.40.", node, ".", h);
      if (!used.count(ip)) return ip;
    }
    return "";
  }

  absl::StatusOr<std::unique_ptr<PodRun>> create_pod(const std::string& key, const PodTemplate& tmpl) {
    auto pod = std::make_unique<PodRun>();
    pod->tmpl = tmpl;
    pod->key = key;
    pod->node = schedule(tmpl);
    if (pod->node < 1) {
      return absl::InvalidArgumentError(str_cat("pod ", key, ": spec.nodeName \"", tmpl.node_name, "\" is not a node of this mesh"));
    }
    pod->ip = allocate_ip(pod->node);
    if (pod->ip.empty()) return absl::ResourceExhaustedError(str_cat("no free address on ", plan_.node_name(pod->node)));
    pod->uid = random_uid();
    pod->netns = plan_.pod_netns(tmpl.ns, tmpl.name);
    pod->host_if = str_cat("vp", ++veth_seq_);
    pod->log_dir = str_cat(plan_.logs_dir(), "/pods/", tmpl.ns, "/", tmpl.name);
    pod->labels_fingerprint = labels_fingerprint(tmpl);
    pod->ready = !tmpl.readiness_http;  // with a probe: not Ready until it passes
    std::string node_ns = plan_.node_netns(pod->node);
    auto fail = [&](const absl::Status& s) {
      (void)sim::del_netns(pod->netns);
      return s;
    };
    AMBIT_RETURN_IF_ERROR(sim::run({"mkdir", "-p", pod->log_dir}).status());
    if (sim::netns_exists(pod->netns)) (void)sim::del_netns(pod->netns);
    AMBIT_RETURN_IF_ERROR(sim::add_netns(pod->netns));
    for (auto s : {sim::add_veth(node_ns, pod->host_if, pod->netns, "eth0"),
                   sim::set_master(node_ns, pod->host_if, "br0"), sim::set_up(node_ns, pod->host_if),
                   sim::add_address(pod->netns, "eth0", pod->ip + "/24"), sim::set_up(pod->netns, "eth0"),
                   sim::add_route(pod->netns, "default", plan_.pod_gateway(pod->node))}) {
      if (!s.ok()) return fail(s);
    }
    auto cg = sim::create_cgroup(plan_.pod_cgroup(pod->node, tmpl.ns, tmpl.name));
    if (!cg.ok()) return fail(cg.status());
    pod->cgroup = *cg;
    if (auto s = write_pod_object(*pod); !s.ok()) return fail(s);
    if (auto s = write_pod_token(*pod); !s.ok()) return fail(s);
    for (const auto& c : tmpl.containers) {
      ContainerRun run;
      run.spec = c;
      pod->containers.push_back(std::move(run));
    }
    say("pod ", key, " scheduled on ", plan_.node_name(pod->node), " with IP ", pod->ip);
    return pod;
  }

  std::string pod_object_file(const PodRun& pod) const {
    return str_cat(plan_.config_dir(), "/pod-", pod.tmpl.ns, ".", pod.tmpl.name, ".yaml");
  }

  absl::Status write_pod_object(PodRun& pod) {
    pod.labels_fingerprint = labels_fingerprint(pod.tmpl);
    return crypto::write_file_atomic(pod_object_file(pod),
                                     realized_pod_yaml(pod.tmpl, plan_.node_name(pod.node), pod.ip, pod.uid, pod.ready));
  }

  // The pod's service-account token, bound to its uid: as a kubelet projects one into the pod.
  // Only root (the local mesh's kubelet, and the pod's processes) can read it.
  absl::Status write_pod_token(PodRun& pod) {
    pod.token_dir = plan_.pod_dir(pod.node, pod.tmpl.ns, pod.tmpl.name);
    AMBIT_RETURN_IF_ERROR(sim::run({"mkdir", "-p", "-m", "0700", pod.token_dir}).status());
    AMBIT_ASSIGN_OR_RETURN(std::string token,
                           sa_tokens_->issue({pod.tmpl.ns, pod.tmpl.name, pod.uid, pod.tmpl.service_account}));
    return crypto::write_file_atomic(pod.token_dir + "/token", token, 0600);
  }

  std::string cni_config(const PodRun& pod) const {
    nlohmann::json conf = {
        {"cniVersion", "1.0.0"},
        {"name", "ambit"},
        {"type", "ambit-cni"},
        {"agent_socket", plan_.node_dir(pod.node) + "/cni.sock"},
        {"timeout_seconds", 30},
        {"prevResult",
         {{"cniVersion", "1.0.0"},
          {"interfaces", {{{"name", "eth0"}, {"sandbox", sim::netns_path(pod.netns)}}}},
          {"ips", {{{"address", pod.ip + "/24"}, {"gateway", plan_.pod_gateway(pod.node)}, {"interface", 0}}}}}}};
    return conf.dump();
  }

  // The plugin as a kubelet runs it: config on stdin, parameters in CNI_* variables.
  absl::StatusOr<sim::Process> spawn_cni(const PodRun& pod, const std::string& command, const std::string& out) {
    std::string conf_path = pod.log_dir + "/cni-config.json";
    AMBIT_RETURN_IF_ERROR(crypto::write_file_atomic(conf_path, cni_config(pod)));
    ::unlink(out.c_str());
    sim::SpawnOptions o;
    o.argv = {"/bin/sh", "-c", str_cat("exec '", plan_.bin("ambit-cni"), "' < '", conf_path, "'")};
    o.log_path = out;
    o.env = {{"CNI_COMMAND", command},
                {"CNI_CONTAINERID", "ctr-" + pod.uid},
                {"CNI_NETNS", sim::netns_path(pod.netns)},
                {"CNI_IFNAME", "eth0"},
                {"CNI_PATH", plan_.bin_dir},
                {"CNI_ARGS", str_cat("IgnoreUnknown=1;K8S_POD_NAMESPACE=", pod.tmpl.ns, ";K8S_POD_NAME=", pod.tmpl.name,
                                     ";K8S_POD_UID=", pod.uid)}};
    return sim::Process::spawn(o);
  }

  void advance_pod(PodRun& pod) {
    auto now = Clock::now();
    if (pod.phase == PodPhase::kCni) {
      std::string out = pod.log_dir + "/cni.out";
      if (!pod.cni) {
        if (now < pod.next_cni) return;
        auto p = spawn_cni(pod, "ADD", out);
        if (!p.ok()) {
          pod.message = p.status().ToString();
          pod.next_cni = now + std::chrono::seconds(2);
          return;
        }
        pod.cni = std::move(*p);
        pod.cni_attempts++;
        return;
      }
      auto code = pod.cni->wait_for(milliseconds(0));
      if (!code) return;
      pod.cni.reset();
      std::string text = crypto::read_file(out).value_or("");
      if (*code == 0) {
        pod.phase = PodPhase::kRunning;
        pod.message = "";
        say("pod ", pod.key, " network ready (CNI ADD ok after ", pod.cni_attempts, " attempt(s))");
      } else {
        // Code 11 is "try again later" (ztunnel not connected yet); anything else is a real error
        // that a kubelet would also keep retrying, more slowly.
        bool again = text.find("\"code\":11") != std::string::npos || text.find("\"code\": 11") != std::string::npos;
        pod.message = str_cat("CNI ADD failed: ", trim(text));
        pod.next_cni = now + (again ? milliseconds(250) : next_backoff(std::min(pod.cni_attempts, 5)));
        if (!again || pod.cni_attempts % 20 == 0) say("pod ", pod.key, ": ", pod.message);
        return;
      }
    }
    for (auto& c : pod.containers) {
      if (c.proc && !c.proc->running()) {
        c.last_exit = c.proc->wait_for(milliseconds(0));
        c.proc.reset();
        int code = c.last_exit.value_or(-1);
        const std::string& rp = pod.tmpl.restart_policy;
        c.finished = rp == "Never" || (rp == "OnFailure" && code == 0);
        say("pod ", pod.key, " container ", c.spec.name, " exited with ", code, c.finished ? "" : ": restarting");
        c.failures = now - c.started > std::chrono::seconds(30) ? 0 : c.failures + 1;
        c.next_start = now + next_backoff(c.failures);
      }
      if (!c.proc && !c.finished && now >= c.next_start) start_container(pod, c);
    }
    probe_readiness(pod);
  }

  // A pod with a readiness probe is Ready while all its containers run and the probe answers 200
  // (probed once a second, as periodSeconds: 1); the Pod object is rewritten when that changes,
  // which is how istiod learns whether a waypoint has a ready pod.
  void probe_readiness(PodRun& pod) {
    if (!pod.tmpl.readiness_http || pod.phase != PodPhase::kRunning) return;
    auto now = Clock::now();
    bool running = std::all_of(pod.containers.begin(), pod.containers.end(), [](const ContainerRun& c) { return c.proc.has_value(); });
    bool ready = false;
    if (running) {
      if (now < pod.next_probe) return;
      pod.next_probe = now + std::chrono::seconds(1);
      auto r = http_get_in_netns(pod.netns, pod.tmpl.readiness_http->second, pod.tmpl.readiness_http->first,
                                 milliseconds(300));
      ready = r.ok() && r->status == 200;
    }
    if (ready == pod.ready) return;
    pod.ready = ready;
    say("pod ", pod.key, ready ? " ready" : " not ready");
    if (auto s = write_pod_object(pod); !s.ok()) note_error(pod.key, s.ToString());
  }

  void start_container(PodRun& pod, ContainerRun& c) {
    sim::SpawnOptions o;
    o.argv = c.spec.command;
    o.netns = pod.netns;
    o.cgroup = pod.cgroup;
    o.log_path = str_cat(pod.log_dir, "/", c.spec.name, ".log");
    o.env = c.spec.env;
    o.env["PATH"] = container_path(plan_);
    o.env["POD_NAME"] = pod.tmpl.name;
    o.env["POD_NAMESPACE"] = pod.tmpl.ns;
    o.env["POD_IP"] = pod.ip;
    o.env["NODE_NAME"] = plan_.node_name(pod.node);
    o.env["HOSTNAME"] = pod.tmpl.name;
    // Istio's pilot-agent reads CA_ADDRESS and CA_ROOT_CA; the token stands in for
    // /var/run/secrets/tokens/istio-token.
    o.env["AMBIT_SA_TOKEN_FILE"] = pod.token_dir + "/token";
    o.env["CA_ADDRESS"] = plan_.pod_istiod_address();
    o.env["CA_ROOT_CA"] = plan_.ca_dir() + "/root-cert.pem";
    auto p = sim::Process::spawn(o);
    if (!p.ok()) {
      pod.message = str_cat("container ", c.spec.name, ": ", p.status().ToString());
      c.failures++;
      c.next_start = Clock::now() + next_backoff(c.failures);
      say("pod ", pod.key, ": ", pod.message);
      return;
    }
    if (c.started != Clock::time_point{}) c.restarts++;
    c.started = Clock::now();
    c.proc = std::move(*p);
  }

  void delete_pod(PodRun& pod) {
    for (auto& c : pod.containers) {
      if (c.proc) c.proc->stop(std::chrono::seconds(2));
    }
    if (pod.cni) pod.cni->kill();
    // CNI DEL while the agent still knows the netns: it releases the pod from ztunnel.
    auto del = spawn_cni(pod, "DEL", pod.log_dir + "/cni-del.out");
    if (del.ok()) {
      if (!del->wait_for(std::chrono::seconds(30))) del->kill();
    }
    ::unlink(pod_object_file(pod).c_str());
    if (!pod.token_dir.empty()) (void)sim::run({"rm", "-rf", pod.token_dir});
    (void)sim::remove_cgroup(pod.cgroup);
    (void)sim::del_netns(pod.netns);
  }

  void teardown() {
    for (auto& [k, p] : pods_) delete_pod(*p);
    pods_.clear();
    // Reverse order: ztunnels drain, then agents (their pins stay until `local down` uninstalls),
    // then istiod.
    for (auto it = components_.rbegin(); it != components_.rend(); ++it) {
      if (it->proc) it->last_exit = it->proc->stop(std::chrono::seconds(10));
      it->proc.reset();
    }
  }

  void write_status() {
    nlohmann::json comps = nlohmann::json::array();
    for (auto& c : components_) {
      comps.push_back({{"name", c.name},
                       {"node", plan_.node_name(c.node)},
                       {"running", c.proc.has_value()},
                       {"pid", c.proc ? c.proc->pid() : 0},
                       {"restarts", c.restarts},
                       {"stopped", file_exists(plan_.stopped_marker(c.name))},
                       {"lastExit", c.last_exit ? nlohmann::json(*c.last_exit) : nlohmann::json()}});
    }
    nlohmann::json pods = nlohmann::json::array();
    for (auto& [key, p] : pods_) {
      nlohmann::json cs = nlohmann::json::array();
      int ready = 0, restarts = 0;
      bool all_done = true;
      for (auto& c : p->containers) {
        std::string state = c.proc ? "Running" : c.finished ? "Terminated" : "Waiting";
        ready += c.proc ? 1 : 0;
        restarts += c.restarts;
        all_done = all_done && c.finished;
        cs.push_back({{"name", c.spec.name}, {"state", state}, {"restarts", c.restarts},
                      {"pid", c.proc ? c.proc->pid() : 0},
                      {"lastExit", c.last_exit ? nlohmann::json(*c.last_exit) : nlohmann::json()}});
      }
      std::string phase = p->phase == PodPhase::kCni ? "ContainerCreating"
                          : all_done                 ? "Completed"
                          : ready == static_cast<int>(p->containers.size()) ? "Running"
                                                                            : "CrashLoopBackOff";
      auto label = p->tmpl.labels.find("istio.io/dataplane-mode");
      pods.push_back({{"namespace", p->tmpl.ns}, {"name", p->tmpl.name}, {"uid", p->uid},
                      {"node", plan_.node_name(p->node)}, {"ip", p->ip}, {"phase", phase},
                      {"ready", str_cat(ready, "/", p->containers.size())}, {"podReady", p->ready}, {"restarts", restarts},
                      {"netns", p->netns}, {"cgroup", p->cgroup}, {"message", p->message},
                      {"dataplaneMode", label == p->tmpl.labels.end() ? "" : label->second},
                      {"containers", cs}});
    }
    nlohmann::json errs = nlohmann::json::array();
    for (const auto& [f, e] : errors_) errs.push_back({{"source", f}, {"error", e}});
    nlohmann::json j = {{"supervisorPid", ::getpid()}, {"stopping", g_stop != 0}, {"components", comps},
                        {"pods", pods}, {"errors", errs}};
    std::string text = j.dump(2) + "\n";
    if (text != last_status_) {
      (void)crypto::write_file_atomic(plan_.status_file(), text);
      last_status_ = text;
    }
  }

  MeshPlan plan_;
  std::optional<identity::ServiceAccountTokens> sa_tokens_;
  std::string cg_root_;
  std::vector<Component> components_;
  std::map<std::string, std::unique_ptr<PodRun>> pods_;
  std::map<std::string, std::string> errors_, errors_prev_;
  std::string last_status_;
  int veth_seq_ = 0;
};

}  // namespace

int run_supervisor(const MeshPlan& plan) {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  Supervisor s(plan);
  return s.run();
}

}  // namespace ambit::cli
