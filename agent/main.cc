// ambit-agent: the node agent. Probes the kernel, loads and pins Ambit's eBPF capture (or falls
// back to Istio's in-pod iptables rules), learns pods from the CNI plugin and their mesh status
// from istiod (WDS), enrolls/releases them, and serves ZDS to ztunnel. It carries no data bytes.
//
//   ambit-agent --node-name n1 --xds-address 10.0.0.1:15012 --root-cert root.pem --token T
//       --zds-socket /var/run/ztunnel/ztunnel.sock --cni-socket /var/run/ambit/cni.sock
//   ambit-agent probe                      what this kernel supports
//   ambit-agent uninstall --node-name n1   remove every pin, link, filter and rule
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "agent/capture.h"
#include "agent/cni_server.h"
#include "agent/enrollment.h"
#include "agent/iptables/inpod_rules.h"
#include "agent/probe_address.h"
#include "agent/zds_server.h"
#include "common/admin/admin_server.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/base/version.h"
#include "common/crypto/certificate.h"
#include "common/metrics/registry.h"
#include "common/net/netns.h"
#include "common/sim/cgroup.h"
#include "common/sim/command.h"
#include "common/xds/delta_client.h"
#include "istio/workload/workload.pb.h"

namespace asio = boost::asio;
using namespace ambit;
using namespace ambit::agent;

namespace {

spdlog::logger& lg() { return log::scope("agent"); }

struct Flags {
  std::string node, xds, root_cert, token, istiod_san = "istiod.istio-system.svc";
  std::string zds_socket = "/var/run/ztunnel/ztunnel.sock";
  std::string cni_socket = "/var/run/ambit/cni.sock";
  std::string bpf_root = "/sys/fs/bpf/ambit";
  std::string cgroup;  // default: the cgroup v2 root
  std::string state_dir = "/var/run/ambit";
  std::string mode = "auto";
  std::string admin = "127.0.0.1:15031";
  std::string instance_ip = "127.0.0.1";
  std::vector<int> exclude_ports;
  std::vector<uid_t> zds_peer_uids = {0};
  std::vector<uid_t> cni_peer_uids = {0};
};

class ZdsLink : public ZtunnelLink {
 public:
  explicit ZdsLink(ZdsServer* s) : s_(s) {}
  absl::Status add(const PodRecord& p, const std::string& sa, std::chrono::milliseconds t) override {
    return s_->add(ZdsPod{p.uid, p.name, p.ns, sa, p.netns_path}, t);
  }
  absl::Status del(const std::string& uid, std::chrono::milliseconds t) override { return s_->del(uid, t); }

 private:
  ZdsServer* s_;
};

class CniBridge : public CniHandler {
 public:
  explicit CniBridge(Enrollment* e) : e_(e) {}
  static PodRecord record(const CniPod& p) {
    PodRecord r;
    r.uid = p.uid.empty() ? p.container_id : p.uid;
    r.container_id = p.container_id;
    r.name = p.name;
    r.ns = p.ns;
    r.netns_path = p.netns;
    r.ifname = p.ifname.empty() ? "eth0" : p.ifname;
    // The first address of each family (a dual-stack pod has one of each).
    for (const auto& ip : p.ips) {
      if (ip.is_v4() && r.ip4.empty()) r.ip4 = ip.to_string();
      if (!ip.is_v4() && r.ip6.empty()) r.ip6 = ip.to_string();
    }
    return r;
  }
  absl::Status add(const CniPod& pod, std::chrono::steady_clock::time_point deadline) override {
    PodRecord r = record(pod);
    if (r.ip4.empty()) return absl::InvalidArgumentError(str_cat(pod.describe(), ": no IPv4 address in prevResult"));
    return e_->cni_add(r, deadline);
  }
  absl::Status del(const CniPod& pod) override { return e_->cni_del(pod.uid.empty() ? pod.container_id : pod.uid); }
  absl::StatusOr<std::string> check(const CniPod& pod) override {
    return e_->check(pod.uid.empty() ? pod.container_id : pod.uid);
  }

 private:
  Enrollment* e_;
};

std::vector<CapturedPod> persisted_pods(const std::string& state_file) {
  std::vector<CapturedPod> out;
  auto text = crypto::read_file(state_file);
  if (!text.ok()) return out;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& e : j) {
    CapturedPod p;
    p.uid = e.value("uid", "");
    p.netns_path = e.value("netns", "");
    p.ifname = e.value("ifname", "eth0");
    if (auto ip = net::IpAddr::parse(e.value("ip4", ""))) p.ip4 = *ip;
    if (auto ip = net::IpAddr::parse(e.value("ip6", "")); ip && !ip->is_v4()) p.ip6 = *ip;
    out.push_back(p);
  }
  return out;
}

int uninstall(const Flags& f) {
  std::string pins = str_cat(f.bpf_root, "/", f.node);
  std::string state = str_cat(f.state_dir, "/", f.node, "/pods.json");
  auto pods = persisted_pods(state);
  int rc = 0;
  if (auto s = EbpfDatapath::uninstall(pins, pods); !s.ok()) {
    std::fprintf(stderr, "ambit-agent uninstall: %s\n", s.ToString().c_str());
    rc = 1;
  }
  for (const auto& p : pods) (void)remove_inpod_rules(p.netns_path);
  if (auto s = remove_probe_address(); !s.ok()) {
    std::fprintf(stderr, "ambit-agent uninstall: %s\n", s.ToString().c_str());
    rc = 1;
  }
  (void)remove_probe_address6();  // absent on nodes without IPv6
  ::unlink(state.c_str());
  std::printf("removed pins under %s, tc filters and in-pod rules of %zu pods\n", pins.c_str(), pods.size());
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ambit-agent: eBPF capture, enrollment and ZDS for one node", "ambit-agent"};
  app.set_version_flag("--version", kVersion);
  Flags f;
  std::string log_level = "info";
  app.add_option("--node-name", f.node, "This node's name")->envname("NODE_NAME");
  app.add_option("--xds-address", f.xds, "istiod address host:port (TLS)")->envname("XDS_ADDRESS");
  app.add_option("--root-cert", f.root_cert, "Mesh root certificate")->envname("CA_ROOT_CA");
  app.add_option("--token", f.token, "Node credential (file path or literal)")->envname("AUTH_TOKEN");
  app.add_option("--istiod-san", f.istiod_san, "Name expected on istiod's certificate")->capture_default_str();
  app.add_option("--instance-ip", f.instance_ip, "This node's IP (xDS node id)")->capture_default_str();
  app.add_option("--zds-socket", f.zds_socket, "ZDS socket ztunnel connects to")->capture_default_str();
  app.add_option("--cni-socket", f.cni_socket, "Socket the CNI plugin talks to")->capture_default_str();
  app.add_option("--bpf-root", f.bpf_root, "bpffs directory; pins go to <root>/<node>")->capture_default_str();
  app.add_option("--cgroup", f.cgroup, "cgroup v2 directory to attach capture to (default: the root)");
  app.add_option("--state-dir", f.state_dir, "Where pod records persist across restarts")->capture_default_str();
  app.add_option("--mode", f.mode, "auto, ebpf or iptables")->check(CLI::IsMember({"auto", "ebpf", "iptables"}))->capture_default_str();
  app.add_option("--admin-address", f.admin, "Metrics/status HTTP address")->capture_default_str();
  app.add_option("--exclude-ports", f.exclude_ports, "Ports never captured");
  app.add_option("--zds-peer-uids", f.zds_peer_uids, "uids ztunnel may connect to the ZDS socket as (SO_PEERCRED)")
      ->capture_default_str();
  app.add_option("--cni-peer-uids", f.cni_peer_uids, "uids the CNI plugin may connect as (SO_PEERCRED)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "level, or scope:level,...")->capture_default_str();
  auto* probe_cmd = app.add_subcommand("probe", "Print which capture mode this kernel supports");
  auto* uninstall_cmd = app.add_subcommand("uninstall", "Remove every pin, link, tc filter and in-pod rule of this node");
  probe_cmd->fallthrough();
  uninstall_cmd->fallthrough();
  CLI11_PARSE(app, argc, argv);
  if (auto s = log::init(log_level); !s.ok()) {
    std::fprintf(stderr, "ambit-agent: --log-level: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (*probe_cmd) {
    FeatureReport r = probe_features();
    std::printf("ebpf: %s\n", r.ebpf_ok ? "supported" : "not supported");
    for (const auto& m : r.missing) std::printf("missing: %s\n", m.c_str());
    return r.ebpf_ok ? 0 : 1;
  }
  if (f.node.empty()) {
    std::fprintf(stderr, "ambit-agent: --node-name is required\n");
    return 2;
  }
  if (*uninstall_cmd) return uninstall(f);
  if (f.xds.empty() || f.root_cert.empty()) {
    std::fprintf(stderr, "ambit-agent: --xds-address and --root-cert are required\n");
    return 2;
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  metrics::Registry reg;
  reg.gauge("istio_build", "Istio component build info", {"component", "tag"}).with({"ambit-agent", kVersion}).set(1);

  // Mode.
  FeatureReport features = probe_features();
  std::string mode = f.mode == "auto" ? (features.ebpf_ok ? "ebpf" : "iptables") : f.mode;
  if (mode == "ebpf" && !features.ebpf_ok) {
    std::fprintf(stderr, "ambit-agent: --mode ebpf but the kernel lacks: %s\n", join(features.missing, ", ").c_str());
    return 1;
  }
  if (!features.ebpf_ok) lg().warn("eBPF capture unavailable ({}); using iptables", join(features.missing, ", "));
  std::unique_ptr<Capture> capture;
  EbpfDatapath* datapath = nullptr;
  if (mode == "ebpf") {
    std::string cg = f.cgroup;
    if (cg.empty()) {
      auto root = sim::cgroup2_root();
      if (!root.ok()) {
        std::fprintf(stderr, "ambit-agent: %s\n", root.status().ToString().c_str());
        return 1;
      }
      cg = *root;
    }
    auto dp = EbpfDatapath::open(str_cat(f.bpf_root, "/", f.node), cg);
    if (!dp.ok()) {
      std::fprintf(stderr, "ambit-agent: %s\n", dp.status().ToString().c_str());
      return 1;
    }
    std::vector<uint16_t> excl;
    for (int p : f.exclude_ports) excl.push_back(static_cast<uint16_t>(p));
    (void)(*dp)->set_excluded_ports(excl);
    // Kubelet's probes: the node's own connects to its pods leave from the probe address, the only
    // source inbound capture lets through (bpf/capture.bpf.c bind_node_probe). Without the
    // address those connects are captured like any other (fail closed), so say so loudly.
    auto node_cookie = net::current_netns_cookie();
    absl::Status probe = node_cookie.ok() ? ensure_probe_address() : node_cookie.status();
    if (probe.ok()) probe = (*dp)->set_node_netns(*node_cookie);
    if (!probe.ok()) lg().error("probe exemption off, kubelet probes will be captured: {}", probe.ToString());
    // The IPv6 probe address: without it the node's IPv6 connects to enrolled pods fail to bind
    // and are captured (fail closed); a node without IPv6 has none to make.
    if (auto s6 = ensure_probe_address6(); probe.ok() && !s6.ok()) {
      lg().warn("IPv6 probe exemption off, kubelet's IPv6 probes will be captured: {}", s6.ToString());
    }
    datapath = dp->get();
    capture = std::make_unique<EbpfCapture>(std::move(*dp));
  } else {
    capture = std::make_unique<IptablesCapture>();
  }
  reg.collector("ambit_agent_mode", "Capture mode in use (1)", metrics::Type::kGauge, {"mode"},
                [mode] { return metrics::Registry::Rows{{{mode}, 1}}; });
  reg.collector("ambit_agent_missing_features", "Kernel features the eBPF mode needs and this kernel lacks",
                metrics::Type::kGauge, {"feature"}, [features] {
                  metrics::Registry::Rows rows;
                  for (const auto& m : features.missing) rows.push_back({{m}, 1});
                  return rows;
                });
  if (datapath) {
    reg.collector("ambit_capture_events_total", "Capture decisions and errors counted in the kernel", metrics::Type::kCounter,
                  {"event"}, [datapath] {
                    metrics::Registry::Rows rows;
                    auto st = datapath->stats();
                    for (int i = 0; i < AMBIT_STAT_MAX; ++i) rows.push_back({{stat_name(i)}, static_cast<double>(st[i])});
                    return rows;
                  });
    reg.collector("ambit_bpf_map_entries", "Entries in each capture map, against its capacity", metrics::Type::kGauge,
                  {"map", "kind"}, [datapath] {
                    metrics::Registry::Rows rows;
                    for (const char* m : {AMBIT_PIN_PODS, AMBIT_PIN_POD_IPS, AMBIT_PIN_ORIG, AMBIT_PIN_EXCL_PORTS}) {
                      rows.push_back({{m, "used"}, static_cast<double>(datapath->map_entries(m))});
                      rows.push_back({{m, "capacity"}, static_cast<double>(EbpfDatapath::map_capacity(m))});
                    }
                    return rows;
                  });
  }

  // Enrollment, ZDS, CNI.
  std::string state_dir = str_cat(f.state_dir, "/", f.node);
  if (auto s = sim::run({"mkdir", "-p", state_dir}); !s.ok()) {
    std::fprintf(stderr, "ambit-agent: %s\n", s.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<ZdsServer> zds;
  std::unique_ptr<Enrollment> enrollment;
  ZdsServerOptions zo;
  zo.allowed_uids = f.zds_peer_uids;
  zds = std::make_unique<ZdsServer>(
      f.zds_socket,
      [&enrollment] {
        std::vector<ZdsPod> out;
        if (!enrollment) return out;
        for (const auto& [p, sa] : enrollment->snapshot()) out.push_back(ZdsPod{p.uid, p.name, p.ns, sa, p.netns_path});
        return out;
      },
      zo);
  ZdsLink link(zds.get());
  enrollment = std::make_unique<Enrollment>(f.node, capture.get(), &link, state_dir + "/pods.json", &reg);
  if (auto s = enrollment->load(); !s.ok()) {
    std::fprintf(stderr, "ambit-agent: %s\n", s.ToString().c_str());
    return 1;
  }
  if (auto s = zds->start(); !s.ok()) {
    std::fprintf(stderr, "ambit-agent: ZDS: %s\n", s.ToString().c_str());
    return 1;
  }
  reg.gauge_fn("ambit_agent_ztunnel_connected", "1 while ztunnel is connected over ZDS",
               [&zds] { return zds->connected() ? 1.0 : 0.0; });

  // WDS from istiod.
  auto root_pem = crypto::read_file(f.root_cert);
  if (!root_pem.ok()) {
    std::fprintf(stderr, "ambit-agent: %s\n", root_pem.status().ToString().c_str());
    return 1;
  }
  xds::NodeInfo node;
  node.id = str_cat("ztunnel~", f.instance_ip, "~ambit-agent-", f.node, ".istio-system~istio-system.svc.cluster.local");
  node.metadata = {{"NAME", "ambit-agent-" + f.node}, {"NAMESPACE", "istio-system"}, {"NODE_NAME", f.node}};
  node.user_agent = "ambit-agent";
  Enrollment* e = enrollment.get();
  std::vector<xds::TypeHandler> handlers = {
      {"type.googleapis.com/istio.workload.Address",
       [e](const std::string&, const std::string& bytes) -> absl::Status {
         istio::workload::Address a;
         if (!a.ParseFromString(bytes)) return absl::InvalidArgumentError("cannot decode istio.workload.Address");
         if (a.has_workload()) e->wds_upsert(a.workload());
         return absl::OkStatus();
       },
       [e](const std::string& name) { e->wds_remove(name); }, nullptr}};
  xds::DeltaClient wds(xds::make_istiod_channel(f.xds, *root_pem, f.istiod_san), f.token, node, handlers, {}, f.xds);
  enrollment->set_wds_synced([&wds] { return wds.synced(); });
  wds.start();
  enrollment->start();

  CniBridge bridge(enrollment.get());
  CniServerOptions co;
  co.socket_path = f.cni_socket;
  co.allowed_uids = f.cni_peer_uids;
  auto cni = CniServer::start(co, &bridge);
  if (!cni.ok()) {
    std::fprintf(stderr, "ambit-agent: CNI: %s\n", cni.status().ToString().c_str());
    return 1;
  }
  CniServer* cni_server = cni->get();
  reg.collector("ambit_agent_socket_peers_refused_total",
                "Connections to the agent's sockets refused because the peer's uid (SO_PEERCRED) is not allowed",
                metrics::Type::kCounter, {"socket"}, [&zds, cni_server] {
                  return metrics::Registry::Rows{{{"zds"}, static_cast<double>(zds->stats().peer_refused)},
                                                 {{"cni"}, static_cast<double>(cni_server->stats().peer_refused)}};
                });

  // Admin.
  asio::io_context io;
  admin::AdminServer adm(io);
  adm.add_metrics(&reg);
  adm.add_logging();
  adm.add_readiness([&]() -> absl::Status {
    if (!wds.synced()) return absl::UnavailableError("waiting for WDS from istiod");
    return absl::OkStatus();
  });
  adm.handle("/status", [&](const admin::Request&) {
    nlohmann::json j = nlohmann::json::parse(enrollment->status_json());
    j["missingFeatures"] = features.missing;
    j["ztunnelConnected"] = zds->connected();
    j["wdsSynced"] = wds.synced();
    if (datapath) {
      j["datapath"] = {{"pinDir", datapath->status().pin_dir}, {"cgroup", datapath->status().cgroup},
                       {"adopted", datapath->status().adopted}, {"replaced", datapath->status().replaced}};
    }
    return admin::Response{200, "application/json", j.dump(2)};
  });
  auto colon = f.admin.rfind(':');
  if (auto s = adm.listen(f.admin.substr(0, colon), static_cast<uint16_t>(std::atoi(f.admin.c_str() + colon + 1)));
      !s.ok()) {
    std::fprintf(stderr, "ambit-agent: admin: %s\n", s.ToString().c_str());
    return 1;
  }
  std::thread io_thread([&] {
    auto guard = asio::make_work_guard(io);
    io.run();
  });
  lg().info("ambit-agent up on node {}: mode {}, ZDS {}, CNI {}, admin {}", f.node, mode, f.zds_socket, f.cni_socket,
            f.admin);

  int sig = 0;
  sigwait(&set, &sig);
  lg().info("stopping (capture stays pinned; `ambit-agent uninstall` removes it)");
  (*cni)->stop();
  enrollment->stop();
  wds.stop();
  zds->stop();
  asio::post(io, [&] {
    adm.stop();
    io.stop();
  });
  io_thread.join();
  return 0;
}
