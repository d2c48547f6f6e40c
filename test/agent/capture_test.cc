// The capture contract, on the real kernel, in both modes: enrolled pods' connects reach 15001 and
// the original destination is read back (SO_ORIGINAL_DST), the app's getpeername shows the
// original, unenrolled pods are untouched, inbound plaintext lands on 15006 with the original
// destination, probes from the node bypass (eBPF), enroll/release work live, no per-connection
// state leaks under churn, pins survive the agent object and are adopted, an incompatible layout
// is replaced, uninstall leaves nothing. Root only.
#include <doctest/doctest.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <array>
#include <chrono>
#include <cstring>
#include <initializer_list>
#include <string_view>
#include <thread>

#include "agent/capture.h"
#include "agent/iptables/inpod_rules.h"
#include "agent/probe_address.h"
#include "ambit/abi.h"
#include "ambit_capture.skel.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/sim/command.h"
#include "common/sim/topology.h"
#include "test/support/harness.h"
#include "test/support/root.h"
#include "test/agent/capture_topology.h"
#include "test/agent/tc_test_run.h"

using namespace ambit;
using namespace ambit::agent;
using namespace ambit::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kNetperf = AMBIT_NETPERF_BIN;

using Topo = CaptureTopo;

// Waits (bounded) for `needle` in a process log.
bool log_has(sim::Process* p, const std::string& needle) {
  for (int i = 0; i < 300; ++i) {
    if (p->log().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// Waits (bounded) for one line of a process log that holds every needle.
bool log_line_has(sim::Process* p, std::initializer_list<std::string> needles) {
  for (int i = 0; i < 300; ++i) {
    std::string log = p->log();
    size_t start = 0;
    while (start < log.size()) {
      size_t end = log.find('\n', start);
      if (end == std::string::npos) end = log.size();
      std::string_view line(log.data() + start, end - start);
      bool all = true;
      for (const auto& n : needles) all = all && line.find(n) != std::string_view::npos;
      if (all) return true;
      start = end + 1;
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

void check_capture_contract(Topo& t, bool ebpf) {
  // Outbound: a → b:8080 lands on the stand-in's 15001 with the original destination readable.
  std::string out = t.connect("a", "10.50.0.3:8080");
  CHECK_MESSAGE(out.find("connected peer=10.50.0.3:8080") != std::string::npos, out);  // getpeername
  CHECK_MESSAGE(log_has(t.standin, "accept port=15001"), t.standin->log());
  CHECK_MESSAGE(log_has(t.standin, "orig=10.50.0.3:8080"), t.standin->log());
  CHECK_MESSAGE(t.app_b->log().find("peer=10.50.0.2") == std::string::npos, t.app_b->log());  // never reached b

  // Unenrolled pod: untouched.
  out = t.connect("u", "10.50.0.3:8080");
  CHECK_MESSAGE(log_has(t.app_b, "accept port=8080 local=10.50.0.3:8080 peer=10.50.0.4"), t.app_b->log());

  // Inbound plaintext: b → a:9091 is steered to 15006; the original destination is the local
  // address (eBPF) or SO_ORIGINAL_DST (iptables).
  out = t.connect("b", "10.50.0.2:9091");
  CHECK_MESSAGE(log_has(t.standin, "accept port=15006"), t.standin->log());
  if (ebpf) {
    CHECK_MESSAGE(log_has(t.standin, "accept port=15006 local=10.50.0.2:9091 peer=10.50.0.3"), t.standin->log());
  } else {
    CHECK_MESSAGE(log_has(t.standin, "orig=10.50.0.2:9091"), t.standin->log());
  }
  CHECK(t.app_a->log().find("peer=10.50.0.3") == std::string::npos);
}

}  // namespace

TEST_CASE("bpf: the tc inbound program drops a SYN for an enrolled pod with no ztunnel listener, passes the rest") {
  AMBIT_REQUIRE_ROOT();
  InboundProgram prog;
  CHECK(prog.run({}) == kTcShot);                                     // SYN, enrolled, no listener: fail closed
  CHECK(prog.run({.ack = true}) == kTcOk);                            // SYN-ACK: not a new inbound connection
  CHECK(prog.run({.syn = false, .ack = true}) == kTcOk);              // established traffic
  CHECK(prog.run({.dport = 15008}) == kTcOk);                         // HBONE goes to ztunnel's own listener
  CHECK(prog.run({.src = kProbe}) == kTcOk);                          // probe (source 169.254.7.127)
  CHECK(prog.run({.dst = kOther}) == kTcOk);                          // not an enrolled pod
  // The node's own address is no exemption: NodePort traffic is masqueraded to it.
  CHECK(prog.run({.src = kNode}) == kTcShot);
  CHECK(prog.stat(AMBIT_STAT_DROP_NO_LISTENER) == 2);
  CHECK(prog.stat(AMBIT_STAT_INBOUND_PROBE) == 1);
}

TEST_CASE("bpf: the tc inbound program fails closed on SYNs with IPv4 options and on TCP fragments") {
  AMBIT_REQUIRE_ROOT();
  InboundProgram prog;
  // No ztunnel listener here: a SYN that the program recognises is dropped (fail closed), one it
  // does not recognise would pass to the app. So SHOT means "treated as an inbound connection".
  CHECK(prog.run({}) == kTcShot);                                     // baseline
  CHECK(prog.run({.opt_words = 1}) == kTcShot);                       // 4 bytes of options
  CHECK(prog.run({.opt_words = 10}) == kTcShot);                      // the maximum, ihl 15
  CHECK(prog.run({.ack = true, .opt_words = 1}) == kTcOk);            // established traffic
  CHECK(prog.run({.src = kProbe, .opt_words = 1}) == kTcOk);          // the node's probe
  CHECK(prog.run({.src = kNode, .opt_words = 1}) == kTcShot);         // the node's address is no probe
  // Fragments reach the app only after reassembly, past this hook: TCP to an enrolled pod must
  // not arrive fragmented — a first fragment too short to show its flags, a full first fragment
  // and a later fragment are all dropped. Other destinations are not ours to judge.
  CHECK(prog.run({.frag_off = 0x2000, .tcp_bytes = 8}) == kTcShot);
  CHECK(prog.run({.frag_off = 0x2000}) == kTcShot);
  CHECK(prog.run({.syn = false, .frag_off = 0x0003}) == kTcShot);
  CHECK(prog.run({.dst = kOther, .frag_off = 0x2000, .tcp_bytes = 8}) == kTcOk);
  // A TCP header cut short in an unfragmented packet: the kernel drops it later anyway.
  CHECK(prog.run({.dst = kOther, .tcp_bytes = 8}) == kTcOk);
}

TEST_CASE("bpf: the tc inbound program judges IPv6 SYNs, fails closed on IPv6 extension headers, passes ICMPv6") {
  AMBIT_REQUIRE_ROOT();
  InboundProgram prog;
  // No ztunnel listener: SHOT means "treated as an inbound connection to the enrolled pod".
  CHECK(prog.run({.v6 = true}) == kTcShot);                                    // SYN to kPod6
  CHECK(prog.run({.ack = true, .v6 = true}) == kTcOk);                         // SYN-ACK
  CHECK(prog.run({.syn = false, .ack = true, .v6 = true}) == kTcOk);           // established traffic
  CHECK(prog.run({.dport = 15008, .v6 = true}) == kTcOk);                      // HBONE
  CHECK(prog.run({.dport = 15006, .v6 = true}) == kTcOk);                      // ztunnel's own port
  CHECK(prog.run({.v6 = true, .dst6 = kOther6}) == kTcOk);                     // not an enrolled pod
  CHECK(prog.run({.v6 = true, .src6 = kProbe6}) == kTcOk);                     // the node's IPv6 probe
  CHECK(prog.stat(AMBIT_STAT_INBOUND_PROBE) == 1);
  // TCP behind an extension header — hop-by-hop, routing, a fragment, destination options, AH —
  // would reach the app unexamined: to an enrolled pod it is dropped, elsewhere not ours.
  for (uint8_t ext : {0, 43, 44, 60, 51}) {
    CAPTURE(ext);
    CHECK(prog.run({.v6 = true, .next_header = ext}) == kTcShot);
    CHECK(prog.run({.syn = false, .ack = true, .v6 = true, .next_header = ext}) == kTcShot);
    CHECK(prog.run({.v6 = true, .dst6 = kOther6, .next_header = ext}) == kTcOk);
  }
  // Neighbour discovery and UDP are not extension headers: they pass.
  CHECK(prog.run({.v6 = true, .next_header = IPPROTO_ICMPV6}) == kTcOk);
  CHECK(prog.run({.v6 = true, .next_header = IPPROTO_UDP}) == kTcOk);
  // A TCP header cut short: not a SYN the program can see, the kernel drops it later.
  CHECK(prog.run({.tcp_bytes = 8, .v6 = true}) == kTcOk);
  CHECK(prog.stat(AMBIT_STAT_DROP_NO_LISTENER) == 1);
}

TEST_CASE("ebpf capture: outbound, original destination, getpeername, inbound steering, probes, live release") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  std::string pins = h.bpf_dir("node");
  auto dp = EbpfDatapath::open(pins, t.cg);
  AMBIT_REQUIRE_OK(dp);
  EbpfCapture cap(std::move(*dp));
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  CHECK(cap.captured(t.pod_a()));
  check_capture_contract(t, true);

  // A probe from the node itself reaches the app untouched, from the probe address.
  AMBIT_REQUIRE_OK(t.set_node(cap.datapath()));
  std::string out = t.connect("n", "10.50.0.2:9091");
  CHECK_MESSAGE(log_has(t.app_a, "accept port=9091 local=10.50.0.2:9091 peer=169.254.7.127"), t.app_a->log());

  auto st = cap.datapath().stats();
  CHECK(st[AMBIT_STAT_CAPTURED] >= 1);
  CHECK(st[AMBIT_STAT_ORIG_ANSWERED] >= 1);
  CHECK(st[AMBIT_STAT_PEER_RESTORED] >= 1);
  CHECK(st[AMBIT_STAT_INBOUND_STEERED] >= 1);
  CHECK(st[AMBIT_STAT_INBOUND_PROBE] >= 1);
  CHECK(st[AMBIT_STAT_PROBE_BOUND] >= 1);
  CHECK(st[AMBIT_STAT_ERR_PROBE_BIND] == 0);

  // Release live: the next connection goes direct to b.
  AMBIT_REQUIRE_OK(cap.release(t.pod_a()));
  CHECK_FALSE(cap.captured(t.pod_a()));
  out = t.connect("a", "10.50.0.3:8080");
  CHECK_MESSAGE(log_has(t.app_b, "peer=10.50.0.2"), t.app_b->log());
  out = t.connect("b", "10.50.0.2:9091");
  CHECK_MESSAGE(log_has(t.app_a, "peer=10.50.0.3"), t.app_a->log());
  // And enroll again.
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  std::string log_before = t.standin->log();
  t.connect("a", "10.50.0.3:8080");
  std::string log_after = t.standin->log();
  CHECK(std::count(log_after.begin(), log_after.end(), '\n') > std::count(log_before.begin(), log_before.end(), '\n'));
}

TEST_CASE("ebpf capture: IPv6 and IPv4-mapped connects are captured, SO_ORIGINAL_DST (IPv6) and getpeername6 answer") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  auto dp = EbpfDatapath::open(h.bpf_dir("node"), t.cg);
  AMBIT_REQUIRE_OK(dp);
  EbpfCapture cap(std::move(*dp));
  // Enrolled while it has no IPv6 address: IPv6 connects made once it has one go to ztunnel on
  // [::1]:15001.
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  CHECK(cap.datapath().map_entries(AMBIT_PIN_POD_IPS) == 1);
  AMBIT_REQUIRE_OK(t.add_ipv6());
  std::string out = t.connect("a", "[fd00:50::3]:8080");
  CHECK_MESSAGE(out.find("connected peer=[fd00:50::3]:8080") != std::string::npos, out);
  CHECK_MESSAGE(log_line_has(t.standin6, {"accept port=15001 local=[::1]:15001 peer=[::1]:", "orig=[fd00:50::3]:8080"}),
                t.standin6->log());
  CHECK_MESSAGE(t.app_b6->log().find("peer=[fd00:50::2]") == std::string::npos, t.app_b6->log());

  // Enrolled again (as an agent refreshes the pods it finds at start) without being told the
  // IPv6 address: the interface's is used, for the redirect and in map_pod_ips.
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  CHECK(cap.datapath().map_entries(AMBIT_PIN_POD_IPS) == 2);

  // Native IPv6: a → [fd00:50::3]:8080 lands on the stand-in's 15001 at the pod's own IPv6
  // address, which reads the original destination with IP6T_SO_ORIGINAL_DST; the app sees it as
  // its peer; b never hears from a.
  out = t.connect("a", "[fd00:50::3]:8080");
  CHECK_MESSAGE(out.find("connected peer=[fd00:50::3]:8080") != std::string::npos, out);
  CHECK_MESSAGE(log_line_has(t.standin6, {"accept port=15001 local=[fd00:50::2]:15001 peer=[fd00:50::2]:",
                                          "orig=[fd00:50::3]:8080"}),
                t.standin6->log());
  CHECK_MESSAGE(t.app_b6->log().find("peer=[fd00:50::2]") == std::string::npos, t.app_b6->log());

  // IPv4-mapped from a dual-stack socket: IPv4 on the wire, captured like connect4 (the v4
  // stand-in answers SOL_IP SO_ORIGINAL_DST); getpeername6 gives the mapped original.
  out = t.connect("a", "[::ffff:10.50.0.3]:8080");
  CHECK_MESSAGE(out.find("connected peer=[::ffff:10.50.0.3]:8080") != std::string::npos, out);
  CHECK_MESSAGE(log_line_has(t.standin, {"accept port=15001 local=10.50.0.2:15001", "orig=10.50.0.3:8080"}),
                t.standin->log());
  CHECK_MESSAGE(t.app_b->log().find("peer=10.50.0.2") == std::string::npos, t.app_b->log());

  // Not captured: the pod's own IPv6 address and ::1 (local traffic), and an unenrolled pod.
  out = t.connect("a", "[fd00:50::2]:9091");
  CHECK_MESSAGE(out.find("connected peer=[fd00:50::2]:9091") != std::string::npos, out);
  CHECK_MESSAGE(log_has(t.app_a6, "accept port=9091 local=[fd00:50::2]:9091 peer=[fd00:50::2]:"), t.app_a6->log());
  out = t.connect("a", "[::1]:9091");
  CHECK_MESSAGE(log_has(t.app_a6, "accept port=9091 local=[::1]:9091 peer=[::1]:"), t.app_a6->log());
  out = t.connect("u", "[fd00:50::3]:8080");
  CHECK_MESSAGE(out.find("connected peer=[fd00:50::3]:8080") != std::string::npos, out);
  CHECK_MESSAGE(log_has(t.app_b6, "accept port=8080 local=[fd00:50::3]:8080 peer=[fd00:50::4]:"), t.app_b6->log());

  auto st = cap.datapath().stats();
  CHECK(st[AMBIT_STAT_CAPTURED] == 3);
  CHECK(st[AMBIT_STAT_ORIG_ANSWERED] == 3);
  CHECK(st[AMBIT_STAT_PEER_RESTORED] >= 3);
  CHECK(st[AMBIT_STAT_SKIP_SELF] >= 1);
  CHECK(st[AMBIT_STAT_SKIP_LOOPBACK] >= 1);

  // Released (the IPv6 address it found goes too): IPv6 goes direct.
  AMBIT_REQUIRE_OK(cap.release(t.pod_a()));
  CHECK(cap.datapath().map_entries(AMBIT_PIN_POD_IPS) == 0);
  out = t.connect("a", "[fd00:50::3]:8080");
  CHECK_MESSAGE(log_has(t.app_b6, "accept port=8080 local=[fd00:50::3]:8080 peer=[fd00:50::2]:"), t.app_b6->log());
}

TEST_CASE("ebpf capture: inbound IPv6 is steered to 15006, the pod's IPv6 address leaves the map on release") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  AMBIT_REQUIRE_OK(t.add_ipv6());
  auto dp = EbpfDatapath::open(h.bpf_dir("node"), t.cg);
  AMBIT_REQUIRE_OK(dp);
  EbpfCapture cap(std::move(*dp));
  CapturedPod a = t.pod_a();
  a.ip6 = *net::IpAddr::parse("fd00:50::2");
  AMBIT_REQUIRE_OK(cap.enroll(a));
  CHECK(cap.datapath().map_entries(AMBIT_PIN_POD_IPS) == 2);

  // b → [fd00:50::2]:9091 lands on the stand-in's IPv6 15006 listener; its local address is the
  // original destination; the app never sees b.
  std::string out = t.connect("b", "[fd00:50::2]:9091");
  CHECK_MESSAGE(out.find("connected peer=[fd00:50::2]:9091") != std::string::npos, out);
  CHECK_MESSAGE(log_has(t.standin6, "accept port=15006 local=[fd00:50::2]:9091 peer=[fd00:50::3]:"), t.standin6->log());
  CHECK_MESSAGE(t.app_a6->log().find("peer=[fd00:50::3]") == std::string::npos, t.app_a6->log());
  // IPv4 keeps working beside it.
  out = t.connect("b", "10.50.0.2:9091");
  CHECK_MESSAGE(log_has(t.standin, "accept port=15006 local=10.50.0.2:9091 peer=10.50.0.3"), t.standin->log());
  auto st = cap.datapath().stats();
  CHECK(st[AMBIT_STAT_INBOUND_STEERED] == 2);

  // A probe from the node itself reaches the app untouched, from the IPv6 probe address.
  AMBIT_REQUIRE_OK(t.set_node(cap.datapath()));
  out = t.connect("n", "[fd00:50::2]:9091");
  CHECK_MESSAGE(log_has(t.app_a6, "accept port=9091 local=[fd00:50::2]:9091 peer=[fd16:9254:7127:1337:ffff:ffff:ffff:ffff]:"),
                t.app_a6->log());
  st = cap.datapath().stats();
  CHECK(st[AMBIT_STAT_PROBE_BOUND] == 1);
  CHECK(st[AMBIT_STAT_INBOUND_PROBE] == 1);
  CHECK(st[AMBIT_STAT_ERR_PROBE_BIND] == 0);

  // With no ztunnel listener on 15006 the IPv6 SYN is dropped (fail closed), never delivered.
  t.standin6->kill();
  out = t.connect("b", "[fd00:50::2]:9091");
  CHECK_MESSAGE(out.find("error") != std::string::npos, out);
  CHECK(cap.datapath().stats()[AMBIT_STAT_DROP_NO_LISTENER] >= 1);
  CHECK_MESSAGE(t.app_a6->log().find("peer=[fd00:50::3]") == std::string::npos, t.app_a6->log());

  // Released: both addresses leave the map and IPv6 reaches the app directly.
  AMBIT_REQUIRE_OK(cap.release(a));
  CHECK(cap.datapath().map_entries(AMBIT_PIN_POD_IPS) == 0);
  out = t.connect("b", "[fd00:50::2]:9091");
  CHECK_MESSAGE(log_has(t.app_a6, "accept port=9091 local=[fd00:50::2]:9091 peer=[fd00:50::3]:"), t.app_a6->log());

  // A stale entry (its pod's namespace gone while no agent ran) takes its IPv6 address along,
  // unless a live pod has that address.
  AMBIT_REQUIRE_OK(cap.enroll(a));
  auto removed = cap.datapath().remove_stale({}, {*a.ip6});
  REQUIRE(removed.size() == 1);
  CHECK(removed[0].ip6 == a.ip6);
  CHECK(cap.datapath().map_entries(AMBIT_PIN_POD_IPS) == 1);  // the live IPv6 address stays
  AMBIT_REQUIRE_OK(cap.enroll(a));
  removed = cap.datapath().remove_stale({}, {});
  REQUIRE(removed.size() == 1);
  CHECK(cap.datapath().map_entries(AMBIT_PIN_POD_IPS) == 0);

  // A stale entry sharing its IPv6 address with a live pod whose address the agent found on the
  // interface (so it is in no CapturedPod): the live pod keeps its key.
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  {
    UniqueFd pods(bpf_obj_get((h.bpf_dir("node") + "/" AMBIT_PIN_PODS).c_str()));
    REQUIRE(pods);
    uint64_t dead = 0xdead;
    ambit_pod p{};
    p.flags = AMBIT_POD_ENROLLED;
    std::memcpy(p.ip6, a.ip6->raw().data(), 16);
    REQUIRE(bpf_map_update_elem(pods.get(), &dead, &p, BPF_ANY) == 0);
  }
  auto ns_a = net::open_netns(t.pod_a().netns_path);
  AMBIT_REQUIRE_OK(ns_a);
  auto cookie_a = net::netns_cookie(ns_a->get());
  AMBIT_REQUIRE_OK(cookie_a);
  removed = cap.datapath().remove_stale({*cookie_a}, {t.pod_a().ip4});
  REQUIRE(removed.size() == 1);
  CHECK(removed[0].netns_cookie == 0xdead);
  CHECK(cap.datapath().map_entries(AMBIT_PIN_POD_IPS) == 2);
  out = t.connect("b", "[fd00:50::2]:9091");
  CHECK(cap.datapath().stats()[AMBIT_STAT_DROP_NO_LISTENER] >= 2);  // still steered (no listener)
  CHECK_MESSAGE(t.app_a6->log().find("accept port=9091 local=[fd00:50::2]:9091 peer=[fd00:50::3]") ==
                    t.app_a6->log().rfind("accept port=9091 local=[fd00:50::2]:9091 peer=[fd00:50::3]"),
                t.app_a6->log());  // the app saw only the connection made while released
}

TEST_CASE("probe addresses: the IPv4 one with host scope, the IPv6 one deprecated, both idempotent") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  AMBIT_REQUIRE_OK(h.netns("n").status());
  auto ns = net::open_netns(sim::netns_path(h.name("n")));
  AMBIT_REQUIRE_OK(ns);
  AMBIT_REQUIRE_OK(net::run_in_netns(ns->get(), [] {
    AMBIT_RETURN_IF_ERROR(ensure_probe_address());
    AMBIT_RETURN_IF_ERROR(ensure_probe_address6());
    AMBIT_RETURN_IF_ERROR(ensure_probe_address6());  // already there: OK
    return absl::OkStatus();
  }));
  auto lo = h.exec("n", {"ip", "addr", "show", "dev", "lo"});
  AMBIT_REQUIRE_OK(lo);
  CHECK_MESSAGE(lo->find("inet 169.254.7.127/32 scope host") != std::string::npos, *lo);
  // Deprecated: the kernel never picks it as a source, only the connect hook's bind does.
  size_t v6 = lo->find("inet6 fd16:9254:7127:1337:ffff:ffff:ffff:ffff/128 scope global");
  REQUIRE_MESSAGE(v6 != std::string::npos, *lo);
  std::string line = lo->substr(v6, lo->find('\n', v6) - v6);
  CHECK_MESSAGE(line.find("deprecated") != std::string::npos, *lo);
  AMBIT_REQUIRE_OK(net::run_in_netns(ns->get(), [] {
    AMBIT_RETURN_IF_ERROR(remove_probe_address6());
    AMBIT_RETURN_IF_ERROR(remove_probe_address6());  // already gone: OK
    return remove_probe_address();
  }));
  lo = h.exec("n", {"ip", "addr", "show", "dev", "lo"});
  AMBIT_REQUIRE_OK(lo);
  CHECK_MESSAGE(lo->find("fd16:9254") == std::string::npos, *lo);
  CHECK_MESSAGE(lo->find("169.254.7.127") == std::string::npos, *lo);
}

TEST_CASE("ebpf capture: no per-connection state leaks under 100k connections of churn") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  t.standin->kill();  // a fast C++ stand-in instead: echo on 15001
  auto fast = h.spawn("a", t.cg, {kNetperf, "serve", "--port", "15001"}, "fast-standin");
  AMBIT_REQUIRE_OK(fast);
  REQUIRE(log_has(*fast, "listening"));
  auto dp = EbpfDatapath::open(h.bpf_dir("node"), t.cg);
  AMBIT_REQUIRE_OK(dp);
  EbpfCapture cap(std::move(*dp));
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  auto churn = h.spawn("a", t.cg, {kNetperf, "churn", "--to", "10.50.0.3:8080", "--count", "100000"}, "churn");
  AMBIT_REQUIRE_OK(churn);
  auto code = (*churn)->wait_for(600s);
  REQUIRE(code.has_value());
  CHECK_MESSAGE((*churn)->log().find("churn ok=100000 failed=0") != std::string::npos, (*churn)->log());
  std::this_thread::sleep_for(500ms);
  auto st = cap.datapath().stats();
  CHECK(st[AMBIT_STAT_CAPTURED] >= 100000);
  CHECK(st[AMBIT_STAT_ORIG_RECORDED] >= 100000);
  // Every record was deleted at close; whatever is left is bounded by connections still closing.
  size_t left = cap.datapath().map_entries(AMBIT_PIN_ORIG);
  CHECK_MESSAGE(left < 100, "orig entries left: ", left);
  CHECK(st[AMBIT_STAT_ORIG_DELETED] + left >= st[AMBIT_STAT_ORIG_RECORDED]);
}

TEST_CASE("ebpf capture: LRU evictions of original-destination records are counted") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  // A map of 16 records and 200 connections held open at once: at least 184 records must have
  // been evicted while their sockets were still open.
  constexpr uint32_t kCapacity = 16;
  constexpr int kConns = 200;
  auto dp = EbpfDatapath::open(h.bpf_dir("node"), t.cg, DatapathOptions{.orig_capacity = kCapacity});
  AMBIT_REQUIRE_OK(dp);
  EbpfCapture cap(std::move(*dp));
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  auto p = h.spawn("a", t.cg, {"/usr/bin/python3", CaptureTopo::kProbe, "hold", "10.50.0.3:8080", std::to_string(kConns)},
                   "holder");
  AMBIT_REQUIRE_OK(p);
  REQUIRE((*p)->wait_for(300s).has_value());
  CHECK_MESSAGE((*p)->log().find(str_cat("held ok=", kConns, " failed=0")) != std::string::npos, (*p)->log());
  CHECK((*p)->log().find("closed") != std::string::npos);
  // Every recorded socket has closed (or is closing): each record was either deleted at close or
  // counted as evicted there. Wait (bounded) for the last closes.
  std::array<uint64_t, AMBIT_STAT_MAX> st{};
  for (int i = 0; i < 500; ++i) {
    st = cap.datapath().stats();
    if (st[AMBIT_STAT_ORIG_RECORDED] == st[AMBIT_STAT_ORIG_DELETED] + st[AMBIT_STAT_ORIG_EVICTED]) break;
    std::this_thread::sleep_for(20ms);
  }
  INFO("recorded=", st[AMBIT_STAT_ORIG_RECORDED], " deleted=", st[AMBIT_STAT_ORIG_DELETED],
       " evicted=", st[AMBIT_STAT_ORIG_EVICTED]);
  CHECK(st[AMBIT_STAT_ORIG_RECORDED] == static_cast<uint64_t>(kConns));
  CHECK(st[AMBIT_STAT_ORIG_EVICTED] >= static_cast<uint64_t>(kConns - kCapacity));
  CHECK(st[AMBIT_STAT_ORIG_RECORDED] == st[AMBIT_STAT_ORIG_DELETED] + st[AMBIT_STAT_ORIG_EVICTED]);
  CHECK(st[AMBIT_STAT_ERR_MAP_FULL] == 0);
}

TEST_CASE("ebpf datapath: pins outlive the agent, are adopted, an incompatible layout is replaced, uninstall removes all") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  std::string pins = h.bpf_dir("node");
  {
    auto dp = EbpfDatapath::open(pins, t.cg);
    AMBIT_REQUIRE_OK(dp);
    CHECK_FALSE((*dp)->status().adopted);
    AMBIT_REQUIRE_OK((*dp)->enroll(t.pod_a()));
  }  // the agent's objects are gone; pins remain
  t.connect("a", "10.50.0.3:8080");
  CHECK_MESSAGE(log_has(t.standin, "orig=10.50.0.3:8080"), t.standin->log());

  {
    auto dp = EbpfDatapath::open(pins, t.cg);  // a new agent adopts
    AMBIT_REQUIRE_OK(dp);
    CHECK((*dp)->status().adopted);
    CHECK((*dp)->enrolled_cookies().size() == 1);
  }
  // An older agent's pins: a stats map with fewer counters and no sock_create/setsockopt links.
  // The stats map is replaced (counters restart), the missing links are attached and pinned,
  // enrollment stays.
  {
    for (const char* l : {"/link_sock_create", "/link_setsockopt"}) REQUIRE(::unlink((pins + l).c_str()) == 0);
    std::string stats_pin = pins + "/" AMBIT_PIN_STATS;
    UniqueFd old(bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "ambit_stats", sizeof(uint32_t), sizeof(uint64_t),
                                AMBIT_STAT_MAX - 2, nullptr));
    REQUIRE(old);
    REQUIRE(::unlink(stats_pin.c_str()) == 0);
    REQUIRE(bpf_obj_pin(old.get(), stats_pin.c_str()) == 0);
    auto dp = EbpfDatapath::open(pins, t.cg);
    AMBIT_REQUIRE_OK(dp);
    CHECK((*dp)->status().adopted);
    CHECK((*dp)->status().stats_reset);
    CHECK((*dp)->enrolled_cookies().size() == 1);
    UniqueFd now(bpf_obj_get(stats_pin.c_str()));
    REQUIRE(now);
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    REQUIRE(bpf_obj_get_info_by_fd(now.get(), &info, &len) == 0);
    CHECK(info.max_entries == AMBIT_STAT_MAX);
    struct stat pinned {};
    CHECK(::stat((pins + "/link_sock_create").c_str(), &pinned) == 0);
    CHECK(::stat((pins + "/link_setsockopt").c_str(), &pinned) == 0);
    auto links = sim::run({"bpftool", "cgroup", "show", t.cg});
    AMBIT_REQUIRE_OK(links);
    CHECK_MESSAGE(links->find("sock_create") != std::string::npos, *links);
    CHECK_MESSAGE(links->find("setsockopt") != std::string::npos, *links);
    t.connect("a", "10.50.0.3:8080");
    CHECK((*dp)->stats()[AMBIT_STAT_CAPTURED] >= 1);  // the new programs count into the new map
  }
  // Corrupt the layout version in the pinned meta map: the next agent must refuse and replace.
  {
    UniqueFd meta(bpf_obj_get((pins + "/" AMBIT_PIN_META).c_str()));
    REQUIRE(meta);
    ambit_meta bad{AMBIT_ABI_VERSION + 100, 0};
    uint32_t key = 0;
    REQUIRE(bpf_map_update_elem(meta.get(), &key, &bad, BPF_ANY) == 0);
  }
  auto dp = EbpfDatapath::open(pins, t.cg);
  AMBIT_REQUIRE_OK(dp);
  CHECK((*dp)->status().replaced);
  CHECK_FALSE((*dp)->status().adopted);
  CHECK((*dp)->enrolled_cookies().empty());  // new maps: the agent re-enrolls from its state
  AMBIT_REQUIRE_OK((*dp)->enroll(t.pod_a()));
  t.connect("a", "10.50.0.3:8080");
  CHECK(log_has(t.standin, "accept port=15001"));

  // Uninstall: no pins, no links on the cgroup, no tc filter in the pod.
  dp->reset();
  AMBIT_REQUIRE_OK(EbpfDatapath::uninstall(pins, {t.pod_a()}));
  struct stat st {};
  CHECK(::stat(pins.c_str(), &st) != 0);
  // The kernel frees a link whose last reference went away from a work queue: wait (bounded).
  absl::StatusOr<std::string> links;
  for (int i = 0; i < 100; ++i) {
    links = sim::run({"bpftool", "cgroup", "show", t.cg});
    if (links.ok() && links->find("connect4") == std::string::npos) break;
    std::this_thread::sleep_for(50ms);
  }
  AMBIT_REQUIRE_OK(links);
  CHECK_MESSAGE(links->find("connect4") == std::string::npos, *links);
  CHECK(links->find("sock_ops") == std::string::npos);
  auto tc = h.exec("a", {"tc", "filter", "show", "dev", "eth0", "ingress"});
  AMBIT_REQUIRE_OK(tc);
  CHECK_MESSAGE(tc->find("ambit_inbound") == std::string::npos, *tc);
  // And traffic is no longer captured.
  t.connect("a", "10.50.0.3:8080");
  CHECK(log_has(t.app_b, "peer=10.50.0.2"));
}

TEST_CASE("iptables capture: the same contract through Istio's in-pod rules") {
  AMBIT_REQUIRE_ROOT();
  Harness h;
  Topo t(h);
  AMBIT_REQUIRE_OK(t.build());
  IptablesCapture cap;
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));
  CHECK(cap.captured(t.pod_a()));
  AMBIT_REQUIRE_OK(cap.enroll(t.pod_a()));  // idempotent
  check_capture_contract(t, false);
  AMBIT_REQUIRE_OK(cap.release(t.pod_a()));
  CHECK_FALSE(cap.captured(t.pod_a()));
  t.connect("a", "10.50.0.3:8080");
  CHECK(log_has(t.app_b, "peer=10.50.0.2"));
}

TEST_CASE("feature probe: this kernel supports the eBPF mode") {
  AMBIT_REQUIRE_ROOT();
  FeatureReport r = probe_features();
  CHECK_MESSAGE(r.ebpf_ok, join(r.missing, ", "));
}
