#include "test/support/mesh_env.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/iptables/inpod_rules.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/ca.h"
#include "common/crypto/certificate.h"
#include "common/sim/command.h"
#include "common/sim/topology.h"

namespace ambit::test {

namespace {
constexpr const char* kIstiod = AMBIT_ISTIOD_BIN;
constexpr const char* kZtunnel = AMBIT_ZTUNNEL_BIN;
constexpr const char* kAgent = AMBIT_AGENT_BIN;
constexpr const char* kCni = AMBIT_CNI_BIN;
constexpr const char* kPyapi = AMBIT_PYAPI_DIR;
constexpr const char* kTools = AMBIT_SOURCE_DIR "/test/tools";
constexpr const char* kPython = "/usr/bin/python3";
}  // namespace

MeshEnv::MeshEnv(Harness& h, std::vector<PodSpec> pods, std::vector<ServiceSpec> services, MeshOptions opts)
    : h_(h), pods_(std::move(pods)), services_(std::move(services)), opts_(std::move(opts)) {
  dir_ = h_.work_dir() + "/mesh";
  std::vector<int> per_node(static_cast<size_t>(opts_.nodes), 0);
  for (const auto& p : pods_) {
    int n = ++per_node.at(static_cast<size_t>(p.node));
    pod_ips_[p.name] = str_cat("10.40.", p.node + 1, ".", n + 1);
  }
  zds_.assign(static_cast<size_t>(opts_.nodes), nullptr);
  agents_.assign(static_cast<size_t>(opts_.nodes), nullptr);
  ztunnels_.assign(static_cast<size_t>(opts_.nodes), nullptr);
}

MeshEnv::~MeshEnv() {
  if (current_test_failed() || std::uncaught_exceptions() > 0) {
    std::fprintf(stderr, "\n===== component logs (test failed) =====\n%s\n", logs().c_str());
  }
}

std::string MeshEnv::pod_ip(const std::string& pod) const { return pod_ips_.at(pod); }
std::string MeshEnv::node_ip(int node) const { return str_cat("172.31.0.", node + 1); }

std::string MeshEnv::logs() const {
  std::string out;
  std::vector<std::string> files;
  if (DIR* d = ::opendir(h_.work_dir().c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 4 && n.substr(n.size() - 4) == ".log") files.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(h_.work_dir() + "/" + f);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() > 20000) text = "...\n" + text.substr(text.size() - 20000);
    str_append(&out, "----- ", f, " -----\n", text, "\n");
  }
  return out;
}

absl::Status MeshEnv::build_topology() {
  for (int i = 0; i < opts_.nodes; ++i) {
    std::string n = str_node(i);
    AMBIT_RETURN_IF_ERROR(h_.netns(n).status());
    AMBIT_RETURN_IF_ERROR(h_.bridge(n, "br0"));
    AMBIT_RETURN_IF_ERROR(h_.address(n, "br0", str_cat("10.40.", i + 1, ".1/24")));
    AMBIT_RETURN_IF_ERROR(sim::sysctl(h_.name(n), "net.ipv4.ip_forward", "1"));
  }
  // Underlay: node 1 is the hub, a veth to every other node.
  for (int i = 1; i < opts_.nodes; ++i) {
    std::string a = str_node(0), b = str_node(i);
    std::string ifa = str_cat("u", i), ifb = "u0";
    AMBIT_RETURN_IF_ERROR(h_.veth(a, ifa, b, ifb));
    AMBIT_RETURN_IF_ERROR(h_.address(a, ifa, str_cat("172.31.", i, ".1/24")));
    AMBIT_RETURN_IF_ERROR(h_.address(b, ifb, str_cat("172.31.", i, ".2/24")));
    // Stable per-node addresses on loopback-ish dummy: use the link addresses as node IPs.
    AMBIT_RETURN_IF_ERROR(h_.up(a, ifa));
    AMBIT_RETURN_IF_ERROR(h_.up(b, ifb));
    AMBIT_RETURN_IF_ERROR(h_.route(b, "default", str_cat("172.31.", i, ".1")));
    AMBIT_RETURN_IF_ERROR(h_.route(a, str_cat("10.40.", i + 1, ".0/24"), str_cat("172.31.", i, ".2")));
  }
  for (const auto& p : pods_) {
    std::string pns = pod_ns(p.name);
    std::string node = str_node(p.node);
    AMBIT_RETURN_IF_ERROR(h_.netns(pns).status());
    std::string host_if = str_cat("v", p.name.substr(0, 12));
    AMBIT_RETURN_IF_ERROR(h_.veth(node, host_if, pns, "eth0"));
    AMBIT_RETURN_IF_ERROR(h_.attach(node, host_if, "br0"));
    AMBIT_RETURN_IF_ERROR(h_.up(node, host_if));
    AMBIT_RETURN_IF_ERROR(h_.address(pns, "eth0", pod_ip(p.name) + "/24"));
    AMBIT_RETURN_IF_ERROR(h_.up(pns, "eth0"));
    AMBIT_RETURN_IF_ERROR(h_.route(pns, "default", str_cat("10.40.", p.node + 1, ".1")));
  }
  return absl::OkStatus();
}

std::string MeshEnv::mesh_yaml() const {
  std::set<std::string> namespaces;
  for (const auto& p : pods_) namespaces.insert(p.ns);
  std::string y;
  for (const auto& ns : namespaces) {
    str_append(&y, "apiVersion: v1\nkind: Namespace\nmetadata: {name: ", ns, "}\n---\n");
  }
  for (const auto& p : pods_) {
    str_append(&y, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ", p.name, "\n  namespace: ", p.ns,
               "\n  uid: uid-", p.name, "\n  labels: {app: ", p.name, ", istio.io/dataplane-mode: ",
               p.enrolled ? "ambient" : "none", "}\nspec:\n  nodeName: ", str_node(p.node),
               "\n  serviceAccountName: ", p.sa, "\n  containers: [{name: main}]\nstatus:\n  phase: Running\n  podIP: ",
               pod_ip(p.name), "\n  conditions: [{type: Ready, status: \"True\"}]\n---\n");
  }
  for (const auto& s : services_) {
    str_append(&y, "apiVersion: v1\nkind: Service\nmetadata: {name: ", s.name, ", namespace: ", s.ns,
               "}\nspec:\n  selector: {app: ", s.app, "}\n  clusterIP: ", s.vip, "\n  ports: [{name: tcp, port: ",
               s.port, ", targetPort: ", s.target_port, "}]\n---\n");
  }
  return y;
}

absl::Status MeshEnv::apply(const std::string& file, const std::string& yaml) {
  return crypto::write_file_atomic(config_dir() + "/" + file, yaml);
}

absl::Status MeshEnv::set_enrolled(const std::string& pod, bool enrolled) {
  for (auto& p : pods_) {
    if (p.name == pod) p.enrolled = enrolled;
  }
  return apply("mesh.yaml", mesh_yaml());
}

absl::Status MeshEnv::remove(const std::string& file) {
  if (::unlink((config_dir() + "/" + file).c_str()) != 0) return errno_error(errno, "unlink ", file);
  return absl::OkStatus();
}

absl::StatusOr<std::string> MeshEnv::exec(const std::string& ns, const std::vector<std::string>& argv) {
  return h_.exec(ns, argv);
}

std::string MeshEnv::http_get(int node, int port, const std::string& path) {
  auto r = sim::run({"ip", "netns", "exec", h_.name(str_node(node)), "curl", "-s", "-m", "5",
                     str_cat("http://127.0.0.1:", port, path)});
  return r.ok() ? *r : str_cat("(curl failed: ", r.status().message(), ")");
}

std::vector<std::string> MeshEnv::client(const std::string& pod, const std::string& addr, const std::string& extra) {
  // Inside the pod's netns *and* cgroup, like the pod's own processes (eBPF capture is per cgroup).
  std::vector<std::string> argv = {kPython, str_cat(kTools, "/tcp_client.py"), addr};
  for (auto part : split_nonempty(extra, ' ')) argv.emplace_back(part);
  std::vector<std::string> lines;
  auto p = h_.spawn(pod_ns(pod), pod_cgroup(pod), argv, str_cat("client-", pod, "-", ++client_runs_));
  if (!p.ok()) {
    lines.push_back(str_cat("error ", p.status().message()));
    return lines;
  }
  if (!(*p)->wait_for(std::chrono::seconds(180)).has_value()) {
    (*p)->kill();
    lines.push_back("error client did not finish in 180 s");
    return lines;
  }
  std::string log = (*p)->log();  // split returns views into it: keep it alive
  for (auto l : split_nonempty(log, '\n')) lines.emplace_back(l);
  if (lines.empty()) lines.push_back("error no output");
  return lines;
}

absl::Status MeshEnv::start_zds(int node) {
  std::vector<std::string> argv = {kPython, str_cat(kTools, "/zds_agent_double.py"), "--socket",
                                   str_cat(dir_, "/zds-", str_node(node), ".sock"), "--pyapi", kPyapi};
  for (const auto& p : pods_) {
    if (p.node != node || !p.enrolled) continue;
    argv.push_back("--pod");
    argv.push_back(str_cat("uid-", p.name, ",", p.name, ",", p.ns, ",", p.sa, ",", sim::netns_path(h_.name(pod_ns(p.name)))));
  }
  AMBIT_ASSIGN_OR_RETURN(zds_[static_cast<size_t>(node)], h_.spawn("", "", argv, str_cat("agent-", str_node(node))));
  // Wait for its socket.
  for (int i = 0; i < 500; ++i) {
    struct stat st {};
    if (::stat(str_cat(dir_, "/zds-", str_node(node), ".sock").c_str(), &st) == 0) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError("ZDS test double did not create its socket");
}

std::string MeshEnv::pod_cgroup(const std::string& pod) const {
  auto it = cgroups_.find(pod);
  return it == cgroups_.end() ? std::string() : it->second;
}

absl::Status MeshEnv::start_agent(int node) {
  std::string n = str_node(node);
  std::string ip = node == 0 ? "172.31.1.1" : str_cat("172.31.", node, ".2");
  std::string xds = node == 0 ? "127.0.0.1:15012" : str_cat("172.31.", node, ".1:15012");
  std::vector<std::string> argv = {kAgent, "--node-name", n, "--instance-ip", ip, "--xds-address", xds,
                                   "--root-cert", ca_dir() + "/root-cert.pem", "--token", tokens_.at(static_cast<size_t>(node)),
                                   "--zds-socket", str_cat(dir_, "/zds-", n, ".sock"), "--cni-socket",
                                   str_cat(dir_, "/cni-", n, ".sock"), "--bpf-root", bpf_root_, "--cgroup",
                                   cgroups_.at(n), "--state-dir", dir_ + "/agent-state", "--mode", opts_.agent_mode,
                                   "--admin-address", "127.0.0.1:15031"};
  AMBIT_ASSIGN_OR_RETURN(agents_[static_cast<size_t>(node)], h_.spawn(n, cgroups_.at(n), argv, str_cat("agent-", n)));
  for (int i = 0; i < 600; ++i) {
    struct stat st {};
    if (::stat(str_cat(dir_, "/cni-", n, ".sock").c_str(), &st) == 0 &&
        http_get(node, 15031, "/healthz/ready").find("ready") == 0) {
      return absl::OkStatus();
    }
    if (!agents_[static_cast<size_t>(node)]->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(str_cat("agent on ", n, " did not become ready"));
}

int MeshEnv::kill_agent(int node) {
  sim::Process* p = agents_.at(static_cast<size_t>(node));
  if (!p) return -1;
  p->kill();
  return p->wait_for(std::chrono::seconds(5)).value_or(-1);
}

absl::StatusOr<std::string> MeshEnv::cni(const std::string& command, const std::string& pod_name) {
  const PodSpec* spec = nullptr;
  for (const auto& p : pods_) {
    if (p.name == pod_name) spec = &p;
  }
  if (!spec) return absl::NotFoundError(str_cat("no pod ", pod_name));
  std::string n = str_node(spec->node);
  std::string conf = str_cat(
      R"({"cniVersion":"1.0.0","name":"ambit","type":"ambit-cni","agent_socket":")", dir_, "/cni-", n,
      R"(.sock","timeout_seconds":30,"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":")",
      sim::netns_path(h_.name(pod_ns(pod_name))), R"("}],"ips":[{"address":")", pod_ip(pod_name), R"(/24","gateway":"10.40.)",
      spec->node + 1, R"(.1","interface":0}]}})");
  std::string env = str_cat("CNI_COMMAND=", command, " CNI_CONTAINERID=ctr-", pod_name, " CNI_NETNS=",
                            sim::netns_path(h_.name(pod_ns(pod_name))), " CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin",
                            " CNI_ARGS='IgnoreUnknown=1;K8S_POD_NAMESPACE=", spec->ns, ";K8S_POD_NAME=", pod_name,
                            ";K8S_POD_UID=uid-", pod_name, "'");
  std::string conf_path = str_cat(dir_, "/cni-", pod_name, ".json");
  AMBIT_RETURN_IF_ERROR(crypto::write_file_atomic(conf_path, conf));
  AMBIT_ASSIGN_OR_RETURN(auto r, sim::run_raw({"sh", "-c", str_cat("env ", env, " ", kCni, " < ", conf_path)},
                                              std::chrono::seconds(60)));
  if (r.exit_code != 0) {
    return absl::InternalError(str_cat("ambit-cni ", command, " for ", pod_name, " exited ", r.exit_code, ": ", r.out, r.err));
  }
  return r.out + r.err;
}

absl::Status MeshEnv::start_istiod() {
  std::vector<std::string> argv = {kIstiod, "--config-dir", config_dir(), "--ca-dir", ca_dir(),
                                   "--grpc-address", "0.0.0.0:15012", "--plaintext-address", "",
                                   "--http-port", "15014"};
  argv.insert(argv.end(), opts_.istiod_args.begin(), opts_.istiod_args.end());
  AMBIT_ASSIGN_OR_RETURN(istiod_, h_.spawn(str_node(0), "", argv, "istiod"));
  for (int i = 0; i < 600; ++i) {
    if (http_get(0, 15014, "/healthz/ready").find("ready") == 0) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError("istiod did not become ready");
}

int MeshEnv::stop_istiod() { return istiod_ ? istiod_->stop(std::chrono::seconds(10)) : -1; }

absl::Status MeshEnv::start_ztunnel(int node, std::vector<std::string> extra) {
  std::string cg = opts_.agent_mode.empty() ? "" : cgroups_.at(str_node(node));
  std::string xds = node == 0 ? "127.0.0.1:15012" : str_cat("172.31.", node, ".1:15012");
  std::string ip = node == 0 ? "172.31.1.1" : str_cat("172.31.", node, ".2");
  std::vector<std::string> argv = {kZtunnel, "--node-name", str_node(node), "--instance-ip", ip,
                                   "--xds-address", xds, "--root-cert", ca_dir() + "/root-cert.pem",
                                   "--token", tokens_.at(static_cast<size_t>(node)), "--zds-socket",
                                   str_cat(dir_, "/zds-", str_node(node), ".sock")};
  // Info by default; a caller's own --log-level (benchmarks: warn) replaces it.
  if (std::find(opts_.ztunnel_args.begin(), opts_.ztunnel_args.end(), "--log-level") == opts_.ztunnel_args.end()) {
    argv.insert(argv.end(), {"--log-level", "info"});
  }
  argv.insert(argv.end(), opts_.ztunnel_args.begin(), opts_.ztunnel_args.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  AMBIT_ASSIGN_OR_RETURN(ztunnels_[static_cast<size_t>(node)],
                         h_.spawn(str_node(node), cg, argv, str_cat("ztunnel-", str_node(node), "-", ztunnel_starts_++)));
  return absl::OkStatus();
}

int MeshEnv::stop_ztunnel(int node, bool kill) {
  sim::Process* p = ztunnels_.at(static_cast<size_t>(node));
  if (!p) return -1;
  if (kill) {
    p->kill();
    return p->wait_for(std::chrono::seconds(5)).value_or(-1);
  }
  return p->stop(std::chrono::seconds(20));
}

absl::Status MeshEnv::wait_ready(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int n = 0; n < opts_.nodes; ++n) {
    for (;;) {
      std::string r = http_get(n, 15021, "/healthz/ready");
      if (r.find("ready") == 0) break;
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::DeadlineExceededError(str_cat("ztunnel on ", str_node(n), " not ready: ", r));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return absl::OkStatus();
}

absl::Status MeshEnv::issue_cert(const std::string& spiffe_id, const std::string& tag) {
  AMBIT_ASSIGN_OR_RETURN(auto ca, crypto::CertificateAuthority::load_dir(ca_dir()));
  AMBIT_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::generate_p256());
  // Signs any URI the test asks for (e.g. a foreign trust domain), bypassing SpiffeId checks
  // only in the trust domain: the id must still be well formed.
  AMBIT_ASSIGN_OR_RETURN(SpiffeId id, SpiffeId::parse(spiffe_id));
  AMBIT_ASSIGN_OR_RETURN(auto chain, ca.sign_key(key.get(), id, std::chrono::hours(1)));
  AMBIT_RETURN_IF_ERROR(crypto::write_file_atomic(str_cat(dir_, "/", tag, ".crt"), join(chain, "")));
  return crypto::write_file_atomic(str_cat(dir_, "/", tag, ".key"), key.to_pem(), 0600);
}

absl::Status MeshEnv::start() {
  AMBIT_RETURN_IF_ERROR(sim::run({"mkdir", "-p", config_dir(), ca_dir()}).status());
  AMBIT_RETURN_IF_ERROR(build_topology());
  AMBIT_RETURN_IF_ERROR(apply("mesh.yaml", mesh_yaml()));
  for (int n = 0; n < opts_.nodes; ++n) {
    AMBIT_ASSIGN_OR_RETURN(std::string t, sim::run({kIstiod, "node-token", "--ca-dir", ca_dir(), "--node", str_node(n)}));
    tokens_.emplace_back(trim(t));
  }
  AMBIT_RETURN_IF_ERROR(start_istiod());
  bool agent = !opts_.agent_mode.empty();
  if (agent) {
    bpf_root_ = h_.bpf_dir("mesh");
    for (int n = 0; n < opts_.nodes; ++n) {
      AMBIT_ASSIGN_OR_RETURN(cgroups_[str_node(n)], h_.cgroup(str_node(n)));
    }
    for (const auto& p : pods_) {
      AMBIT_ASSIGN_OR_RETURN(cgroups_[p.name], h_.cgroup(str_cat(str_node(p.node), "/", p.name)));
    }
    for (int n = 0; n < opts_.nodes; ++n) AMBIT_RETURN_IF_ERROR(start_agent(n));
  } else {
    for (const auto& p : pods_) {
      if (p.enrolled) AMBIT_RETURN_IF_ERROR(agent::apply_inpod_rules(h_.name(pod_ns(p.name))));
    }
    for (int n = 0; n < opts_.nodes; ++n) AMBIT_RETURN_IF_ERROR(start_zds(n));
  }
  for (int n = 0; n < opts_.nodes; ++n) AMBIT_RETURN_IF_ERROR(start_ztunnel(n));
  if (agent) {
    // The kubelet's part: the CNI plugin for every pod; for ambient pods it returns only once
    // ztunnel has acknowledged them.
    // Like a kubelet, retry while the plugin says "try again later" (code 11: e.g. ztunnel has
    // not connected to the agent yet).
    for (const auto& p : pods_) {
      absl::StatusOr<std::string> r;
      for (int attempt = 0; attempt < 40; ++attempt) {
        r = cni("ADD", p.name);
        if (r.ok() || std::string(r.status().message()).find("\"code\":11") == std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
      AMBIT_RETURN_IF_ERROR(r.status());
    }
  }
  for (const auto& p : pods_) {
    std::vector<std::string> argv = p.app;
    if (argv.empty()) {
      argv = {kPython, str_cat(kTools, "/echo_server.py")};
      for (int port : p.echo_ports) argv.push_back(std::to_string(port));
    }
    AMBIT_RETURN_IF_ERROR(h_.spawn(pod_ns(p.name), pod_cgroup(p.name), argv, "app-" + p.name).status());
  }
  return wait_ready();
}

}  // namespace ambit::test
