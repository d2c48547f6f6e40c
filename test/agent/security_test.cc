// The capture threat model (docs/threat-model.md), on the real kernel: a process inside an enrolled
// pod — its network namespace and cgroup, uid 0, every capability dropped — cannot un-enroll the
// pod through the pinned maps, detach or query the cgroup programs, reach BPF objects by id, set
// ztunnel's SO_MARK 0x539, open a raw socket or a namespace with a fresh cookie that leads out;
// and after all of that, its connects (plain, dual-stack, TCP Fast Open, MPTCP) still land on
// ztunnel's 15001. Inbound, a SYN carrying IPv4 options or arriving in fragments does not get
// around the tc steering. The hostile steps run in test/tools/capture_attacker.py under
// `setpriv`; this file asserts on the lines it prints. Root only.
#include <doctest/doctest.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <sstream>
#include <thread>

#include "agent/capture.h"
#include "ambit/abi.h"
#include "ambit_capture.skel.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/net/netns.h"
#include "common/sim/command.h"
#include "common/sim/topology.h"
#include "test/support/harness.h"
#include "test/support/root.h"
#include "test/agent/capture_topology.h"

using namespace ambit;
using namespace ambit::agent;
using namespace ambit::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kAttacker = AMBIT_SOURCE_DIR "/test/tools/capture_attacker.py";
// uid 0 stays, capabilities go: nothing inherited or ambient, and an empty bounding set, so no
// later execve (setuid-root binaries included) can bring any back.
const std::vector<std::string> kDropAllCaps = {"setpriv", "--inh-caps=-all", "--ambient-caps=-all",
                                               "--bounding-set=-all", "--"};

using Topo = CaptureTopo;  // test/agent/capture_topology.h

// Runs argv in a pod (its netns and the pods cgroup) to completion; returns its output.
std::string run_in_pod(Topo& t, const std::string& pod, std::vector<std::string> argv, const std::string& log) {
  auto p = t.h.spawn(pod, t.cg, std::move(argv), log);
  if (!p.ok()) return std::string(p.status().message());
  auto code = (*p)->wait_for(120s);
  if (!code) (*p)->kill();
  return (*p)->log();
}

// "step result..." lines → step → result.
std::map<std::string, std::string> steps(const std::string& out) {
  std::map<std::string, std::string> m;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (starts_with(line, "connect ")) {
      auto sp = line.find(' ', 8);
      m[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(sp + 1);
      continue;
    }
    auto sp = line.find(' ');
    if (sp != std::string::npos) m[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return m;
}

uint32_t object_id(const std::string& pin) {
  UniqueFd fd(bpf_obj_get(pin.c_str()));
  if (!fd) return 0;
  if (pin.find("/link_") != std::string::npos) {
    bpf_link_info info{};
    uint32_t len = sizeof(info);
    return bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 ? info.id : 0;
  }
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 ? info.id : 0;
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (auto p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) ++n;
  return n;
}

// The pinned datapath is intact and still captures pod a: its entry is in the pinned pods map
// with the enrolled flag, the pins exist, the connect4 link is attached to the cgroup.
void check_datapath_intact(Topo& t, const std::string& pins) {
  auto ns = net::open_netns(t.pod_a().netns_path);
  AMBIT_REQUIRE_OK(ns);
  auto cookie = net::netns_cookie(ns->get());
  AMBIT_REQUIRE_OK(cookie);
  UniqueFd pods(bpf_obj_get((pins + "/" AMBIT_PIN_PODS).c_str()));
  REQUIRE_MESSAGE(pods, "pinned pods map is gone: ", std::strerror(errno));
  ambit_pod v{};
  REQUIRE(bpf_map_lookup_elem(pods.get(), &*cookie, &v) == 0);
  CHECK((v.flags & AMBIT_POD_ENROLLED) != 0);
  struct stat st {};
  CHECK(::stat((pins + "/link_connect4").c_str(), &st) == 0);
  auto links = sim::run({"bpftool", "cgroup", "show", t.cg});
  AMBIT_REQUIRE_OK(links);
  CHECK_MESSAGE(links->find("connect4") != std::string::npos, *links);
  CHECK(links->find("sock_ops") != std::string::npos);
  auto tc = t.h.exec("a", {"tc", "filter", "show", "dev", "eth0", "ingress"});
  AMBIT_REQUIRE_OK(tc);
  CHECK_MESSAGE(tc->find("ambit_inbound") != std::string::npos, *tc);
}

// Every connect the attacker made after its attempts reached the stand-in's 15001 with the
// original destination, and none reached pod b's app.
void check_connects_captured(Topo& t, std::map<std::string, std::string>& r, const std::string& out) {
  CHECK_MESSAGE(r["connect plain"].find("peer=10.50.0.3:8080") != std::string::npos, out);
  CHECK_MESSAGE(r["connect plain"].find("echo=ok") != std::string::npos, out);
  CHECK_MESSAGE(r["connect v4mapped"].find("peer=::ffff:10.50.0.3:8080") != std::string::npos, out);
  CHECK_MESSAGE(r["connect fastopen"].find("echo=ok") != std::string::npos, out);
  CHECK_MESSAGE(r["connect mptcp"].find("echo=ok") != std::string::npos, out);
  CHECK_MESSAGE(r["done"] == "ok", out);
  // plain, v4-mapped, fastopen, mptcp: four accepts on 15001, each with the original destination.
  std::string standin;
  for (int i = 0; i < 300; ++i) {
    standin = t.standin->log();
    if (count(standin, "accept port=15001") >= 4) break;
    std::this_thread::sleep_for(10ms);
  }
  CHECK_MESSAGE(count(standin, "accept port=15001") >= 4, standin);
  CHECK_MESSAGE(count(standin, "orig=10.50.0.3:8080") >= 4, standin);
  CHECK_MESSAGE(t.app_b->log().find("peer=10.50.0.2") == std::string::npos, t.app_b->log());
}

}  // namespace

TEST_CASE("security: a capability-less root process in an enrolled pod cannot un-enroll, detach, mark or escape capture") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  std::string pins = h.bpf_dir("node");
  auto dp = EbpfDatapath::open(pins, t.cg);
  AMBIT_REQUIRE_OK(dp);
  EbpfCapture cap(std::move(*dp));
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  uint32_t map_id = object_id(pins + "/" AMBIT_PIN_PODS), link_id = object_id(pins + "/link_connect4");
  REQUIRE(map_id != 0);
  REQUIRE(link_id != 0);

  // A pod has a mount namespace of its own, without the node's bpffs: unshare one and unmount it
  // (while still privileged), then drop every capability and attack.
  std::vector<std::string> argv = {"unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                                   "umount -l /sys/fs/bpf && exec \"$@\"", "sh"};
  argv.insert(argv.end(), kDropAllCaps.begin(), kDropAllCaps.end());
  argv.insert(argv.end(), {"/usr/bin/python3", kAttacker, "--pin-dir", pins, "--cgroup", t.cg, "--map-id",
                           std::to_string(map_id), "--link-id", std::to_string(link_id), "--connect", "10.50.0.3:8080"});
  std::string out = run_in_pod(t, "a", argv, "attacker");
  auto r = steps(out);
  INFO("attacker output:\n", out);
  REQUIRE_MESSAGE(r["identity"] == "uid=0 capeff=0000000000000000 capbnd=0000000000000000", out);

  // (a) Un-enrolling through the maps: the pins are not in the pod's mount namespace, objects
  // cannot be opened by id without CAP_SYS_ADMIN, and bpffs cannot be mounted.
  CHECK(r["obj_get_pods_rw"] == "errno=ENOENT");
  CHECK(r["obj_get_pods_rdonly"] == "errno=ENOENT");
  CHECK(r.count("map_delete_own_entry") == 0);  // never got a map fd to try with
  CHECK(r["map_get_fd_by_id"] == "errno=EPERM");
  CHECK(r["link_get_fd_by_id"] == "errno=EPERM");
  CHECK(r["mount_bpffs"] == "errno=EPERM");
  // (c) Listing the cgroup programs needs CAP_NET_ADMIN. Detaching does not (Linux 6.18 lets a
  // process with no capability at all BPF_PROG_DETACH a program attached the legacy way from any
  // cgroup directory it can open); what stops it is that Ambit attaches through bpf_links, which
  // only a link fd can detach: EINVAL here (EPERM on kernels that still check the capability).
  CHECK(r["prog_query_connect4"] == "errno=EPERM");
  CHECK((r["prog_detach_connect4"] == "errno=EINVAL" || r["prog_detach_connect4"] == "errno=EPERM"));
  // The inbound tc filter lives in the pod's own namespace, which the initial user namespace
  // owns: changing it takes CAP_NET_ADMIN there.
  CHECK(r["tc_filter_del"] == "errno=EPERM");
  CHECK(r["tc_qdisc_del"] == "errno=EPERM");
  // (b) ztunnel's mark cannot be set (CAP_NET_ADMIN), so the bypass the programs grant to
  // ztunnel's own sockets is out of reach; neither can raw sockets (CAP_NET_RAW) go around connect().
  CHECK(r["so_mark_0x539"] == "errno=EPERM");
  CHECK(r["so_mark_value"] == "0x0");
  CHECK(r["raw_socket"] == "errno=EPERM");
  // A namespace with a fresh (unenrolled) cookie: refused outright, or — through a new user
  // namespace — granted but with no route out.
  CHECK(r["unshare_netns"] == "errno=EPERM");
  CHECK((starts_with(r["unshare_userns_netns"], "errno=") || r["unshare_userns_netns"] == "ok connect=errno=ENETUNREACH"));

  // (d) After all of it, the pod is still enrolled and its connects are still captured.
  check_datapath_intact(t, pins);
  check_connects_captured(t, r, out);
  auto st = cap.datapath().stats();
  CHECK(st[AMBIT_STAT_CAPTURED] >= 4);
  CHECK(st[AMBIT_STAT_SKIP_MARK] == 0);
}

TEST_CASE("security: with the node's bpffs visible (a hostPath mount), a capability-less root still cannot open or unpin the datapath") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  std::string pins = h.bpf_dir("node");
  {
    // The agent loads, enrolls and exits: nothing but the pins holds the links now, so an unpin
    // would detach capture.
    auto dp = EbpfDatapath::open(pins, t.cg);
    AMBIT_REQUIRE_OK(dp);
    AMBIT_REQUIRE_OK((*dp)->enroll(t.pod_a()));
  }
  struct stat st {};
  REQUIRE(::stat(pins.c_str(), &st) == 0);
  CHECK_MESSAGE((st.st_mode & 07777) == 0, "pin directory mode ", std::oct, (st.st_mode & 07777));
  uint32_t map_id = object_id(pins + "/" AMBIT_PIN_PODS), link_id = object_id(pins + "/link_connect4");
  REQUIRE(map_id != 0);

  std::vector<std::string> argv = kDropAllCaps;
  argv.insert(argv.end(), {"/usr/bin/python3", kAttacker, "--pin-dir", pins, "--cgroup", t.cg, "--map-id",
                           std::to_string(map_id), "--link-id", std::to_string(link_id), "--connect", "10.50.0.3:8080"});
  std::string out = run_in_pod(t, "a", argv, "attacker");
  auto r = steps(out);
  INFO("attacker output:\n", out);
  REQUIRE_MESSAGE(r["identity"] == "uid=0 capeff=0000000000000000 capbnd=0000000000000000", out);
  // uid 0 owns the pins, so owner permission bits alone would let it in; the pin directory has
  // none, and without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH the lookup fails.
  CHECK(r["obj_get_pods_rw"] == "errno=EACCES");
  CHECK(r["obj_get_pods_rdonly"] == "errno=EACCES");
  CHECK(r["obj_get_link_connect4"] == "errno=EACCES");
  CHECK(r.count("map_delete_own_entry") == 0);
  CHECK(r.count("link_detach_connect4") == 0);
  CHECK(r["unlink_link_connect4"] == "errno=EACCES");
  CHECK(r["unlink_map_pods"] == "errno=EACCES");
  check_datapath_intact(t, pins);
  check_connects_captured(t, r, out);
}

TEST_CASE("security: an inbound SYN carrying IPv4 options is steered to ztunnel like any other") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  auto dp = EbpfDatapath::open(h.bpf_dir("node"), t.cg);
  AMBIT_REQUIRE_OK(dp);
  EbpfCapture cap(std::move(*dp));
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  // From pod b, with no privilege at all: IP_OPTIONS is an ordinary socket option.
  std::vector<std::string> argv = kDropAllCaps;
  argv.insert(argv.end(), {"/usr/bin/python3", kAttacker, "ipopts", "10.50.0.2:9091"});
  std::string out = run_in_pod(t, "b", argv, "ipopts-client");
  CHECK_MESSAGE(out.find("connect ipopts peer=10.50.0.2:9091") != std::string::npos, out);
  CHECK_MESSAGE(out.find("echo=ok") != std::string::npos, out);
  bool steered = false;
  for (int i = 0; i < 300 && !steered; ++i) {
    steered = t.standin->log().find("accept port=15006 local=10.50.0.2:9091 peer=10.50.0.3") != std::string::npos;
    if (!steered) std::this_thread::sleep_for(10ms);
  }
  CHECK_MESSAGE(steered, t.standin->log());
  CHECK_MESSAGE(t.app_a->log().find("peer=10.50.0.3") == std::string::npos, t.app_a->log());
  CHECK(cap.datapath().stats()[AMBIT_STAT_INBOUND_STEERED] >= 1);
}

// Finding 1 of the hardening review: the tc program looked up ztunnel's listener with the SYN's
// own source, so a connection the client already held to pod:15006 from the same source port
// matched first and the SYN to the app port was passed on — straight to the app, no policy.
TEST_CASE("security: a SYN reusing the source port of an established connection to 15006 still goes to ztunnel") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  auto dp = EbpfDatapath::open(h.bpf_dir("node"), t.cg);
  AMBIT_REQUIRE_OK(dp);
  EbpfCapture cap(std::move(*dp));
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  constexpr int kRounds = 50;
  std::vector<std::string> argv = kDropAllCaps;
  argv.insert(argv.end(), {"/usr/bin/python3", kAttacker, "portreuse", "10.50.0.2:9091", std::to_string(kRounds)});
  std::string out = run_in_pod(t, "b", argv, "portreuse-client");
  INFO("attacker output:\n", out);
  REQUIRE(out.find("portreuse done") != std::string::npos);
  // Every round's second connection was answered (by whoever accepted it) ...
  CHECK(count(out, "echo=ok") == kRounds);
  // ... and every one of them by ztunnel's 15006, holding the app port as its local address.
  std::string standin;
  for (int i = 0; i < 300; ++i) {
    standin = t.standin->log();
    if (count(standin, "accept port=15006 local=10.50.0.2:9091 peer=10.50.0.3:") >= kRounds) break;
    std::this_thread::sleep_for(10ms);
  }
  CHECK_MESSAGE(count(standin, "accept port=15006 local=10.50.0.2:9091 peer=10.50.0.3:") == kRounds, standin);
  CHECK_MESSAGE(count(standin, "accept port=15006 local=10.50.0.2:15006 peer=10.50.0.3:") == kRounds, standin);
  CHECK_MESSAGE(t.app_a->log().find("peer=10.50.0.3") == std::string::npos, t.app_a->log());
  CHECK(cap.datapath().stats()[AMBIT_STAT_INBOUND_STEERED] >= kRounds);
}

// Finding 2 of the hardening review: the probe exemption used to be "source = the pod's gateway
// address", and kube-proxy masquerades NodePort/LoadBalancer traffic to exactly that address on
// bridge and ptp CNIs — so any outside client reached the app around ztunnel. Now only the node's
// own connects (bound to 169.254.7.127 by the connect hook) are exempt.
TEST_CASE("security: NodePort traffic masqueraded to the node's address is captured, the node's own probe is not") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  auto dp = EbpfDatapath::open(h.bpf_dir("node"), t.cg);
  AMBIT_REQUIRE_OK(dp);
  EbpfCapture cap(std::move(*dp));
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  AMBIT_REQUIRE_OK(t.set_node(cap.datapath()));
  // kube-proxy on node n: NodePort 30091 → pod a's 9091, masqueraded to the node's address (only
  // what was DNATed, as kube-proxy's KUBE-MARK-MASQ does: the node's own connects keep their source).
  for (std::vector<std::string> cmd : {
           std::vector<std::string>{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
           std::vector<std::string>{"iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "30091", "-j", "DNAT",
                                    "--to-destination", "10.50.0.2:9091"},
           std::vector<std::string>{"iptables", "-t", "nat", "-A", "POSTROUTING", "-m", "conntrack", "--ctstate",
                                    "DNAT", "-d", "10.50.0.2", "-j", "MASQUERADE"}}) {
    AMBIT_REQUIRE_OK(h.exec("n", cmd).status());
  }
  // A client in pod u (not in the mesh) through the NodePort: ztunnel's 15006 gets it, seeing the
  // masqueraded source, and the app never does.
  std::string out = t.connect("u", "10.50.0.1:30091");
  CHECK_MESSAGE(out.find("connected peer=10.50.0.1:30091") != std::string::npos, out);
  bool steered = false;
  for (int i = 0; i < 300 && !steered; ++i) {
    steered = t.standin->log().find("accept port=15006 local=10.50.0.2:9091 peer=10.50.0.1:") != std::string::npos;
    if (!steered) std::this_thread::sleep_for(10ms);
  }
  CHECK_MESSAGE(steered, t.standin->log());
  CHECK_MESSAGE(t.app_a->log().find("peer=10.50.0.1") == std::string::npos, t.app_a->log());
  // Kubelet's probe from the node still reaches the app directly, from the probe address.
  out = t.connect("n", "10.50.0.2:9091");
  CHECK_MESSAGE(out.find("connected peer=10.50.0.2:9091") != std::string::npos, out);
  bool probed = false;
  for (int i = 0; i < 300 && !probed; ++i) {
    probed = t.app_a->log().find("accept port=9091 local=10.50.0.2:9091 peer=169.254.7.127:") != std::string::npos;
    if (!probed) std::this_thread::sleep_for(10ms);
  }
  CHECK_MESSAGE(probed, t.app_a->log());
  auto st = cap.datapath().stats();
  CHECK(st[AMBIT_STAT_PROBE_BOUND] == 1);
  CHECK(st[AMBIT_STAT_INBOUND_PROBE] == 1);
}

// The same SYN judged packet by packet (BPF_PROG_TEST_RUN): test/agent/capture_test.cc.

TEST_CASE("security: in an enrolled pod, raw sockets that could write TCP are refused, raw ICMP (ping) works, unenrolled pods keep all") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  auto dp = EbpfDatapath::open(h.bpf_dir("node"), t.cg);
  AMBIT_REQUIRE_OK(dp);
  EbpfCapture cap(std::move(*dp));
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  // The default container capability set has CAP_NET_RAW: keep exactly that.
  std::vector<std::string> argv = {"setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all,+net_raw",
                                   "--", "/usr/bin/python3", kAttacker, "rawsockets", "10.50.0.3"};

  std::string out = run_in_pod(t, "a", argv, "raw-enrolled");
  auto r = steps(out);
  INFO("enrolled pod:\n", out);
  for (const char* kind : {"raw_tcp", "raw_ipproto_raw", "raw6_tcp", "raw6_ipproto_raw", "raw_icmp_hdrincl",
                           "raw6_icmp_hdrincl"}) {
    CHECK_MESSAGE(r[kind] == "errno=EPERM", kind);
  }
  CHECK(r["raw_icmp"] == "ok");
  CHECK(r["raw_icmp_echo"] == "ok");
  CHECK(r["raw_udp"] == "ok");  // cannot carry TCP without IP_HDRINCL
  auto st = cap.datapath().stats();
  CHECK(st[AMBIT_STAT_RAW_REFUSED] >= 6);

  out = run_in_pod(t, "u", argv, "raw-unenrolled");
  r = steps(out);
  INFO("unenrolled pod:\n", out);
  for (const char* kind : {"raw_tcp", "raw_ipproto_raw", "raw6_tcp", "raw6_ipproto_raw", "raw_icmp_hdrincl",
                           "raw6_icmp_hdrincl", "packet_raw", "packet_dgram", "raw_udp", "raw_icmp", "raw_icmp_echo"}) {
    CHECK_MESSAGE(r[kind] == "ok", kind);
  }
  CHECK(cap.datapath().stats()[AMBIT_STAT_RAW_REFUSED] == st[AMBIT_STAT_RAW_REFUSED]);
}
