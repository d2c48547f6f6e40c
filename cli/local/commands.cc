#include "cli/local/commands.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/local/local_store.h"
#include "cli/local/manifest.h"
#include "cli/local/node_http.h"
#include "cli/local/plan.h"
#include "cli/local/supervisor.h"
#include "cli/output.h"
#include "common/base/files.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/sim/cgroup.h"
#include "common/sim/command.h"
#include "common/sim/process.h"
#include "common/sim/topology.h"

namespace ambit::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::string self_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

std::string self_exe() { return self_dir() + "/ambitctl"; }

json read_json(const std::string& path) {
  auto text = crypto::read_file(path);
  if (!text.ok()) return json::object();
  auto j = json::parse(*text, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

// The supervisor's pid if it is alive and really ours (pids are reused).
pid_t supervisor_pid(const MeshPlan& plan) {
  auto text = crypto::read_file(plan.supervisor_pid_file());
  if (!text.ok()) return 0;
  pid_t pid = std::atoi(text->c_str());
  if (pid <= 0 || ::kill(pid, 0) != 0) return 0;
  auto cmdline = crypto::read_file(str_cat("/proc/", pid, "/cmdline"));
  if (!cmdline.ok() || cmdline->find("supervise") == std::string::npos || cmdline->find(plan.dir) == std::string::npos) {
    return 0;
  }
  return pid;
}

// "ready" or why not, for one component.
std::string probe(const MeshPlan& plan, const std::string& kind, int node) {
  int port = kind == "istiod" ? 15014 : kind == "agent" ? 15031 : 15021;
  auto r = http_get_in_netns(plan.node_netns(node), port, "/healthz/ready", std::chrono::milliseconds(1500));
  if (!r.ok()) return "down";
  if (r->status == 200) return "ready";
  return str_cat("not ready (", trim(r->body).substr(0, 60), ")");
}

// The node agent's /status: capture mode and its pods with their enrollment.
json agent_status(const MeshPlan& plan, int node) {
  auto r = http_get_in_netns(plan.node_netns(node), 15031, "/status", std::chrono::milliseconds(1500));
  if (!r.ok() || r->status != 200) return json::object();
  auto j = json::parse(r->body, nullptr, false);
  return j.is_object() ? j : json::object();
}

absl::Status wait_components_ready(const MeshPlan& plan, int timeout_s, bool verbose) {
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  std::vector<std::pair<std::string, int>> want = {{"istiod", 1}};
  for (int i = 1; i <= plan.nodes; ++i) {
    want.push_back({"agent", i});
    want.push_back({"ztunnel", i});
  }
  for (const auto& [kind, node] : want) {
    std::string last;
    for (;;) {
      last = probe(plan, kind, node);
      if (last == "ready") break;
      if (Clock::now() > deadline) {
        std::string log = kind == "istiod" ? plan.logs_dir() + "/istiod.log"
                                           : str_cat(plan.logs_dir(), "/", plan.node_name(node), "/", kind, ".log");
        return absl::DeadlineExceededError(str_cat(component_name(kind, plan, node), " is ", last, " after ", timeout_s,
                                                   " s; see ", log));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (verbose) std::printf("  %-16s ready\n", component_name(kind, plan, node).c_str());
  }
  return absl::OkStatus();
}

absl::Status wait_pods_running(const MeshPlan& plan, int timeout_s) {
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  std::set<std::string> expected;
  for (;;) {
    json st = read_json(plan.status_file());
    std::string pending;
    for (const auto& p : st.value("pods", json::array())) {
      std::string phase = p.value("phase", "");
      if (phase != "Running" && phase != "Completed") {
        pending = str_cat(p.value("namespace", ""), "/", p.value("name", ""), " is ", phase,
                          p.value("message", "").empty() ? "" : ": " + p.value("message", ""));
      }
    }
    // Every applied workload must have been picked up (the supervisor polls workloads/).
    size_t applied_pods = 0;
    for (const auto& f : list_dir(plan.workloads_dir(), ".yaml")) {
      auto text = crypto::read_file(plan.workloads_dir() + "/" + f);
      auto ms = text.ok() ? parse_manifests(*text, f, "default") : absl::StatusOr<std::vector<Manifest>>(text.status());
      if (!ms.ok()) continue;
      for (const auto& m : *ms) {
        auto pods = expand_workload(m);
        if (pods.ok()) applied_pods += pods->size();
      }
    }
    if (st.value("pods", json::array()).size() < applied_pods) pending = "the supervisor has not picked up every pod yet";
    if (!st.value("errors", json::array()).empty()) {
      const auto& e = st["errors"][0];
      return absl::InvalidArgumentError(str_cat(e.value("source", ""), ": ", e.value("error", "")));
    }
    if (pending.empty()) return absl::OkStatus();
    if (Clock::now() > deadline) return absl::DeadlineExceededError(str_cat(pending, " after ", timeout_s, " s"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

absl::Status build_topology(const MeshPlan& plan) {
  for (int i = 1; i <= plan.nodes; ++i) {
    std::string n = plan.node_netns(i);
    AMBIT_RETURN_IF_ERROR(sim::add_netns(n));
    AMBIT_RETURN_IF_ERROR(sim::add_bridge(n, "br0"));
    AMBIT_RETURN_IF_ERROR(sim::add_address(n, "br0", plan.pod_gateway(i) + "/24"));
    AMBIT_RETURN_IF_ERROR(sim::set_up(n, "br0"));
    AMBIT_RETURN_IF_ERROR(sim::sysctl(n, "net.ipv4.ip_forward", "1"));
  }
  // Underlay: node1 is the hub with a link to every other node (172.31.<i-1>.0/24).
  for (int i = 2; i <= plan.nodes; ++i) {
    std::string hub = plan.node_netns(1), n = plan.node_netns(i);
    std::string hub_if = str_cat("u", i - 1);
    AMBIT_RETURN_IF_ERROR(sim::add_veth(hub, hub_if, n, "u0"));
    AMBIT_RETURN_IF_ERROR(sim::add_address(hub, hub_if, str_cat("172.31.", i - 1, ".1/24")));
    AMBIT_RETURN_IF_ERROR(sim::add_address(n, "u0", plan.node_ip(i) + "/24"));
    AMBIT_RETURN_IF_ERROR(sim::set_up(hub, hub_if));
    AMBIT_RETURN_IF_ERROR(sim::set_up(n, "u0"));
    AMBIT_RETURN_IF_ERROR(sim::add_route(n, "default", str_cat("172.31.", i - 1, ".1")));
    AMBIT_RETURN_IF_ERROR(sim::add_route(hub, plan.pod_subnet(i), plan.node_ip(i)));
  }
  if (plan.nodes == 1) {
    // A single node still gets its stable node address (on a dummy-free loopback alias).
    AMBIT_RETURN_IF_ERROR(sim::add_address(plan.node_netns(1), "lo", plan.node_ip(1) + "/32"));
  }
  return absl::OkStatus();
}

// Everything `local up` created, removed; returns what is left (empty when clean).
std::vector<std::string> teardown(const MeshPlan& plan) {
  if (pid_t sup = supervisor_pid(plan)) {
    ::kill(sup, SIGTERM);
    for (int i = 0; i < 600 && ::kill(sup, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Any process still in the mesh's cgroups (supervisor that hung, orphaned pods) is killed with it.
  auto root = sim::cgroup2_root();
  std::string cg = root.ok() ? *root + "/" + plan.cgroup_root() : "";
  // Pins, tc filters and in-pod rules of each node, while the namespaces still exist.
  if (exists(plan.bin("ambit-agent"))) {
    for (int i = 1; i <= plan.nodes; ++i) {
      if (!sim::netns_exists(plan.node_netns(i))) continue;
      (void)sim::run_raw({"ip", "netns", "exec", plan.node_netns(i), plan.bin("ambit-agent"), "uninstall",
                          "--node-name", plan.node_name(i), "--bpf-root", plan.bpf_root(), "--state-dir",
                          plan.node_dir(i) + "/agent-state"},
                         std::chrono::seconds(30));
    }
  }
  if (!cg.empty()) (void)sim::remove_cgroup(cg);
  for (const auto& ns : sim::list_netns()) {
    if (ns.rfind(plan.name + "-", 0) == 0) (void)sim::del_netns(ns);
  }
  (void)sim::run_raw({"rm", "-rf", plan.bpf_root()});
  for (const auto& f : list_dir(plan.config_dir())) {
    if (f.rfind("pod-", 0) == 0) ::unlink((plan.config_dir() + "/" + f).c_str());
  }
  (void)sim::run_raw({"rm", "-rf", plan.run_dir()});

  std::vector<std::string> left;
  for (const auto& ns : sim::list_netns()) {
    if (ns.rfind(plan.name + "-", 0) == 0) left.push_back("network namespace " + ns);
  }
  if (!cg.empty() && exists(cg)) left.push_back("cgroup " + cg);
  if (exists(plan.bpf_root())) left.push_back("BPF pins " + plan.bpf_root());
  return left;
}

absl::StatusOr<json> find_pod(const MeshPlan& plan, const std::string& ns, const std::string& name) {
  json st = read_json(plan.status_file());
  for (const auto& p : st.value("pods", json::array())) {
    if (p.value("namespace", "") == ns && p.value("name", "") == name) return p;
  }
  return absl::NotFoundError(str_cat("pod ", ns, "/", name, " not found (see `ambitctl local status`)"));
}

// Resolves -f arguments: files as given, directories' *.yaml|*.yml in name order.
absl::StatusOr<std::vector<std::string>> manifest_files(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    struct stat st {};
    if (::stat(a.c_str(), &st) != 0) return absl::NotFoundError(str_cat("-f ", a, ": no such file or directory"));
    if (S_ISDIR(st.st_mode)) {
      for (const auto& f : list_dir(a)) {
        if (f.size() > 5 && (f.substr(f.size() - 5) == ".yaml" || f.substr(f.size() - 4) == ".yml")) out.push_back(a + "/" + f);
      }
    } else {
      out.push_back(a);
    }
  }
  if (out.empty()) return absl::InvalidArgumentError("no manifest files given");
  return out;
}

absl::StatusOr<std::vector<Manifest>> read_manifests(const std::vector<std::string>& args, const std::string& ns) {
  AMBIT_ASSIGN_OR_RETURN(auto files, manifest_files(args));
  std::vector<Manifest> all;
  for (const auto& f : files) {
    AMBIT_ASSIGN_OR_RETURN(std::string text, crypto::read_file(f));
    AMBIT_ASSIGN_OR_RETURN(auto ms, parse_manifests(text, f, ns.empty() ? "default" : ns));
    for (auto& m : ms) {
      if (m.workload()) AMBIT_RETURN_IF_ERROR(expand_workload(m).status());  // validate now, not in the supervisor
      all.push_back(std::move(m));
    }
  }
  return all;
}

std::string lower_kind(const Manifest& m) {
  std::string k = m.kind;
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return k;
}

}  // namespace

int local_supervise(const CliOptions& o) {
  auto plan = MeshPlan::load(o.dir);
  if (!plan.ok()) return fail(plan.status());
  return run_supervisor(*plan);
}

int local_up(const CliOptions& o, int nodes, const std::string& name, int timeout_s) {
  if (::geteuid() != 0) return fail(absl::PermissionDeniedError("local up needs root (network namespaces, cgroups, eBPF)"));
  if (nodes < 1 || nodes > 8) return fail(absl::InvalidArgumentError("--nodes must be 1..8"));
  if (auto existing = MeshPlan::load(o.dir); existing.ok()) {
    if (supervisor_pid(*existing)) {
      if (existing->nodes != nodes) {
        return fail(absl::FailedPreconditionError(str_cat("a mesh with ", existing->nodes, " nodes is already up in ", o.dir,
                                                          "; run `ambitctl local down` first")));
      }
      std::printf("local mesh \"%s\" is already up in %s\n", existing->name.c_str(), o.dir.c_str());
      if (auto s = wait_components_ready(*existing, timeout_s, false); !s.ok()) return fail(s);
      return 0;
    }
    std::printf("cleaning up the remains of an earlier local mesh in %s\n", o.dir.c_str());
    teardown(*existing);
  }
  MeshPlan plan;
  plan.dir = o.dir;
  plan.nodes = nodes;
  plan.name = name;
  const char* bin_env = std::getenv("AMBIT_BIN_DIR");
  plan.bin_dir = bin_env && *bin_env ? bin_env : self_dir();
  for (const char* b : {"istiod", "ztunnel", "ambit-agent", "ambit-cni"}) {
    if (!exists(plan.bin(b))) return fail(absl::NotFoundError(str_cat("missing binary ", plan.bin(b), " (build first)")));
  }
  for (const auto& ns : sim::list_netns()) {
    if (ns.rfind(plan.name + "-", 0) == 0) {
      return fail(absl::AlreadyExistsError(str_cat("network namespace ", ns, " exists: another mesh named \"", plan.name,
                                                   "\" is running (use --name, or `ambitctl local down` for its --dir)")));
    }
  }
  std::printf("creating local mesh \"%s\": %d nodes, state in %s\n", plan.name.c_str(), nodes, o.dir.c_str());
  for (const auto& d : {plan.config_dir(), plan.workloads_dir(), plan.ca_dir(), plan.logs_dir(), plan.run_dir() + "/stopped"}) {
    if (auto r = sim::run({"mkdir", "-p", d}); !r.ok()) return fail(r.status());
  }
  if (auto s = plan.save(); !s.ok()) return fail(s);
  if (auto s = build_topology(plan); !s.ok()) {
    teardown(plan);
    return fail(s);
  }
  for (int i = 1; i <= nodes; ++i) {
    if (auto r = sim::run({"mkdir", "-p", plan.node_dir(i)}); !r.ok()) return fail(r.status());
    // The node's bootstrap credential (first run also creates the mesh CA).
    auto token = sim::run({plan.bin("istiod"), "node-token", "--ca-dir", plan.ca_dir(), "--node", plan.node_name(i)});
    if (!token.ok()) return fail(token.status());
    if (auto s = crypto::write_file_atomic(plan.node_dir(i) + "/token", trim(*token), 0600); !s.ok()) return fail(s);
    std::printf("  %-16s underlay %s, pods %s\n", plan.node_name(i).c_str(), plan.node_ip(i).c_str(),
                plan.pod_subnet(i).c_str());
  }
  auto control = sim::create_cgroup(plan.control_cgroup());
  if (!control.ok()) return fail(control.status());
  sim::SpawnOptions so;
  so.argv = {self_exe(), "local", "supervise", "--dir", o.dir};
  so.cgroup = *control;
  so.log_path = plan.logs_dir() + "/supervisor.log";
  auto sup = sim::Process::spawn(so);
  if (!sup.ok()) return fail(sup.status());
  pid_t pid = sup->detach();
  if (auto s = crypto::write_file_atomic(plan.supervisor_pid_file(), std::to_string(pid)); !s.ok()) return fail(s);
  std::printf("waiting for the control plane and the node components:\n");
  if (auto s = wait_components_ready(plan, timeout_s, true); !s.ok()) return fail(s);
  std::printf("local mesh is up. Next: ambitctl local apply -f examples/\n");
  return 0;
}

int local_down(const CliOptions& o, bool purge) {
  auto plan = MeshPlan::load(o.dir);
  if (!plan.ok()) {
    std::printf("no local mesh in %s: nothing to do\n", o.dir.c_str());
    return 0;
  }
  auto left = teardown(*plan);
  if (!left.empty()) {
    for (const auto& l : left) std::fprintf(stderr, "ambitctl: still present: %s\n", l.c_str());
    return 1;
  }
  ::unlink((o.dir + "/mesh.json").c_str());
  if (purge) (void)sim::run_raw({"rm", "-rf", o.dir});
  std::printf("local mesh \"%s\" removed: no namespaces, cgroups, BPF pins or processes left%s\n", plan->name.c_str(),
              purge ? "" : str_cat(" (config, CA and logs kept in ", o.dir, ")").c_str());
  return 0;
}

int local_wait(const CliOptions& o, int timeout_s) {
  auto plan = MeshPlan::load(o.dir);
  if (!plan.ok()) return fail(plan.status());
  if (auto s = wait_components_ready(*plan, timeout_s, false); !s.ok()) return fail(s);
  if (auto s = wait_pods_running(*plan, timeout_s); !s.ok()) return fail(s);
  return 0;
}

int local_apply(const CliOptions& o, const std::vector<std::string>& files, bool wait) {
  auto plan = MeshPlan::load(o.dir);
  if (!plan.ok()) return fail(plan.status());
  auto objs = read_manifests(files, o.ns);
  if (!objs.ok()) return fail(objs.status());  // nothing written: a bad file changes nothing
  LocalObjectStore store(*plan);
  auto results = store.apply(std::move(*objs));
  if (!results.ok()) return fail(results.status());
  int rc = 0;
  for (const auto& r : *results) {
    if (r.verb == "rejected") {
      std::fprintf(stderr, "ambitctl: istiod rejected %s\n", r.error.c_str());
      rc = 1;
    }
    std::printf("%s %s\n", r.what.c_str(),
                r.verb != "rejected" ? r.verb.c_str() : r.kept_previous ? "rejected (previous version kept)" : "rejected (not created)");
  }
  if (wait && rc == 0) {
    if (auto s = wait_pods_running(*plan, 120); !s.ok()) return fail(s);
  }
  return rc;
}

int local_delete(const CliOptions& o, const std::vector<std::string>& files) {
  auto plan = MeshPlan::load(o.dir);
  if (!plan.ok()) return fail(plan.status());
  auto objs = read_manifests(files, o.ns);
  if (!objs.ok()) return fail(objs.status());
  LocalObjectStore store(*plan);
  for (const auto& m : *objs) {
    auto removed = store.remove(m.kind, m.ns, m.name);
    if (!removed.ok()) return fail(removed.status());
    std::printf("%s/%s %s\n", lower_kind(m).c_str(), m.name.c_str(), *removed ? "deleted" : "not found");
  }
  return 0;
}

int local_exec(const CliOptions& o, const std::string& pod, const std::string& node, const std::vector<std::string>& argv) {
  auto plan = MeshPlan::load(o.dir);
  if (!plan.ok()) return fail(plan.status());
  if (argv.empty()) return fail(absl::InvalidArgumentError("no command given: ambitctl local exec POD -- CMD..."));
  std::string netns, cgroup;
  if (!node.empty()) {
    auto i = plan->node_index(node);
    if (!i.ok()) return fail(i.status());
    netns = plan->node_netns(*i);
  } else {
    auto p = find_pod(*plan, o.ns.empty() ? "default" : o.ns, pod);
    if (!p.ok()) return fail(p.status());
    netns = p->value("netns", "");
    cgroup = p->value("cgroup", "");
    ::setenv("POD_NAME", pod.c_str(), 1);
    ::setenv("POD_NAMESPACE", p->value("namespace", "").c_str(), 1);
    ::setenv("POD_IP", p->value("ip", "").c_str(), 1);
    // What the supervisor gives the pod's own processes (kubectl exec sees the container's
    // environment): its service-account token and where istiod's CA is.
    if (auto n = plan->node_index(p->value("node", "")); n.ok()) {
      std::string token = plan->pod_dir(*n, p->value("namespace", ""), pod) + "/token";
      ::setenv("AMBIT_SA_TOKEN_FILE", token.c_str(), 1);
      ::setenv("CA_ADDRESS", plan->pod_istiod_address().c_str(), 1);
      ::setenv("CA_ROOT_CA", (plan->ca_dir() + "/root-cert.pem").c_str(), 1);
    }
  }
  // Like the pod's own processes: its cgroup (eBPF capture is attached per cgroup) and netns.
  if (!cgroup.empty()) {
    if (auto s = sim::enter_cgroup(cgroup, ::getpid()); !s.ok()) return fail(s);
  }
  int fd = ::open(sim::netns_path(netns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) return fail(errno_error(errno, "enter network namespace ", netns));
  ::close(fd);
  std::string path = plan->bin_dir + ":" + (std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
  ::setenv("PATH", path.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  return fail(errno_error(errno, "exec ", argv[0]));
}

int local_status(const CliOptions& o) {
  auto plan = MeshPlan::load(o.dir);
  if (!plan.ok()) return fail(plan.status());
  json st = read_json(plan->status_file());
  pid_t sup = supervisor_pid(*plan);
  // "Enrolled" is what the node agents report: the pod's traffic is captured for ztunnel now.
  std::set<std::string> enrolled;
  json nodes = json::array();
  for (int i = 1; i <= plan->nodes; ++i) {
    json agent = agent_status(*plan, i);
    for (const auto& p : agent.value("pods", json::array())) {
      if (p.value("enrolled", false)) enrolled.insert(p.value("uid", ""));
    }
    nodes.push_back({{"name", plan->node_name(i)}, {"address", plan->node_ip(i)}, {"podCIDR", plan->pod_subnet(i)},
                     {"agent", probe(*plan, "agent", i)}, {"captureMode", agent.value("mode", "")},
                     {"ztunnel", probe(*plan, "ztunnel", i)}});
  }
  json pods = json::array();
  for (auto p : st.value("pods", json::array())) {
    if (!o.ns.empty() && p.value("namespace", "") != o.ns) continue;
    p["enrolled"] = enrolled.count(p.value("uid", "")) > 0;
    p.erase("containers");
    pods.push_back(p);
  }
  json out = {{"name", plan->name}, {"dir", plan->dir}, {"supervisor", sup ? "running" : "not running"},
              {"istiod", probe(*plan, "istiod", 1)}, {"nodes", nodes}, {"pods", pods},
              {"components", st.value("components", json::array())}, {"errors", st.value("errors", json::array())}};
  if (o.output == "json" || o.output == "yaml") {
    std::fputs(render_structured(out, o.output).c_str(), stdout);
    return 0;
  }
  std::printf("MESH %s (%s), supervisor %s, istiod %s\n\n", plan->name.c_str(), plan->dir.c_str(),
              sup ? "running" : "NOT RUNNING", out["istiod"].get<std::string>().c_str());
  Table nt({"NODE", "ADDRESS", "POD CIDR", "AGENT", "CAPTURE", "ZTUNNEL"});
  for (const auto& n : nodes) {
    nt.add({n["name"], n["address"], n["podCIDR"], n["agent"], n["captureMode"], n["ztunnel"]});
  }
  std::fputs(nt.render().c_str(), stdout);
  std::printf("\n");
  Table pt({"NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "IP", "NODE", "ENROLLED"});
  for (const auto& p : pods) {
    pt.add({p.value("namespace", ""), p.value("name", ""), p.value("ready", ""), p.value("phase", ""),
            std::to_string(p.value("restarts", 0)), p.value("ip", ""), p.value("node", ""),
            p.value("enrolled", false) ? "yes" : "no"});
  }
  std::fputs(pods.empty() ? "no pods (ambitctl local apply -f examples/)\n" : pt.render().c_str(), stdout);
  Table ct({"COMPONENT", "NODE", "STATE", "PID", "RESTARTS"});
  for (const auto& c : out["components"]) {
    std::string state = c.value("stopped", false) ? "stopped" : c.value("running", false) ? "running" : "restarting";
    ct.add({c.value("name", ""), c.value("node", ""), state, std::to_string(c.value("pid", 0)),
            std::to_string(c.value("restarts", 0))});
  }
  std::printf("\n%s", ct.render().c_str());
  for (const auto& e : out["errors"]) {
    std::printf("\nerror: %s: %s\n", e.value("source", "").c_str(), e.value("error", "").c_str());
  }
  return 0;
}

int local_logs(const CliOptions& o, const std::string& pod, const std::string& node, const std::string& component,
               const std::string& container, int tail, bool follow) {
  auto plan = MeshPlan::load(o.dir);
  if (!plan.ok()) return fail(plan.status());
  std::string path;
  if (!pod.empty()) {
    auto p = find_pod(*plan, o.ns.empty() ? "default" : o.ns, pod);
    if (!p.ok()) return fail(p.status());
    std::string c = container;
    auto cs = p->value("containers", json::array());
    if (c.empty()) {
      if (cs.size() > 1) {
        return fail(absl::InvalidArgumentError(str_cat("pod ", pod, " has ", cs.size(), " containers: choose one with -c")));
      }
      c = cs.empty() ? "" : cs[0].value("name", "");
    }
    path = str_cat(plan->logs_dir(), "/pods/", p->value("namespace", ""), "/", pod, "/", c, ".log");
  } else if (component == "istiod") {
    path = plan->logs_dir() + "/istiod.log";
  } else if (component == "supervisor") {
    path = plan->logs_dir() + "/supervisor.log";
  } else if (component == "agent" || component == "ztunnel") {
    auto i = plan->node_index(node.empty() ? "node1" : node);
    if (!i.ok()) return fail(i.status());
    path = str_cat(plan->logs_dir(), "/", plan->node_name(*i), "/", component, ".log");
  } else {
    return fail(absl::InvalidArgumentError("give a POD, or --component istiod|agent|ztunnel|supervisor [--node NODE]"));
  }
  std::ifstream in(path);
  if (!in) return fail(absl::NotFoundError(str_cat("no log yet at ", path)));
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  size_t from = tail > 0 && lines.size() > static_cast<size_t>(tail) ? lines.size() - static_cast<size_t>(tail) : 0;
  for (size_t i = from; i < lines.size(); ++i) std::printf("%s\n", lines[i].c_str());
  std::fflush(stdout);
  if (follow) {
    in.clear();
    for (;;) {
      std::string l;
      if (std::getline(in, l)) {
        std::printf("%s\n", l.c_str());
        std::fflush(stdout);
      } else {
        in.clear();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  }
  return 0;
}

int local_component(const CliOptions& o, const std::string& action, const std::string& component, const std::string& node) {
  auto plan = MeshPlan::load(o.dir);
  if (!plan.ok()) return fail(plan.status());
  std::vector<std::string> names;
  if (component == "istiod") {
    names.push_back("istiod");
  } else if (component == "agent" || component == "ztunnel") {
    if (node.empty()) {
      for (int i = 1; i <= plan->nodes; ++i) names.push_back(component_name(component, *plan, i));
    } else {
      auto i = plan->node_index(node);
      if (!i.ok()) return fail(i.status());
      names.push_back(component_name(component, *plan, *i));
    }
  } else {
    return fail(absl::InvalidArgumentError(str_cat("unknown component \"", component, "\": istiod, agent or ztunnel")));
  }
  for (const auto& n : names) {
    if (action == "stop") {
      if (auto s = crypto::write_file_atomic(plan->stopped_marker(n), "stopped by ambitctl\n"); !s.ok()) return fail(s);
    } else {
      ::unlink(plan->stopped_marker(n).c_str());
    }
  }
  // Wait for the supervisor to act.
  bool want_running = action != "stop";
  auto deadline = Clock::now() + std::chrono::seconds(30);
  for (;;) {
    json st = read_json(plan->status_file());
    bool done = true;
    for (const auto& c : st.value("components", json::array())) {
      if (std::find(names.begin(), names.end(), c.value("name", "")) != names.end()) {
        done = done && c.value("running", false) == want_running;
      }
    }
    if (done) break;
    if (Clock::now() > deadline) return fail(absl::DeadlineExceededError(str_cat(action, " did not take effect in 30 s")));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const auto& n : names) std::printf("%s %s\n", n.c_str(), want_running ? "started" : "stopped");
  return 0;
}

}  // namespace ambit::cli
