// BPF_PROG_TEST_RUN of the tc inbound program on hand-built IPv4/TCP and IPv6/TCP packets: the
// capture and security suites both judge the program packet by packet this way.
//
//   InboundProgram prog;                       // loaded, with kPod enrolled (kNode is its node)
//   CHECK(prog.run({.src = kOther, .dst = kPod}) == kTcShot);   // a SYN with no listener
//   CHECK(prog.run({.v6 = true, .next_header = 44}) == kTcShot); // IPv6 fragment to kPod6
#pragma once

#include <doctest/doctest.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "ambit/abi.h"
#include "ambit_capture.skel.h"

namespace ambit::test {

inline const uint32_t kPod = htonl(0x0a320002);    // 10.50.0.2, enrolled
inline const uint32_t kNode = htonl(0x0a320001);   // 10.50.0.1, its node
inline const uint32_t kOther = htonl(0x0a320009);  // 10.50.0.9, not enrolled
inline const uint32_t kProbe = htonl(AMBIT_PROBE_SRC4);  // 169.254.7.127, kubelet's probes
constexpr uint32_t kTcOk = 0, kTcShot = 2;         // TC_ACT_OK, TC_ACT_SHOT

inline in6_addr ula6(uint8_t last) {  // fd00:50::<last>
  in6_addr a{};
  a.s6_addr[0] = 0xfd;
  a.s6_addr[3] = 0x50;
  a.s6_addr[15] = last;
  return a;
}
inline const in6_addr kPod6 = ula6(2);    // fd00:50::2, enrolled (pod kPod's IPv6)
inline const in6_addr kOther6 = ula6(9);  // fd00:50::9, not enrolled
inline const in6_addr kProbe6 = [] {       // fd16:9254:7127:1337:ffff:ffff:ffff:ffff
  in6_addr a{};
  const uint32_t w[4] = {htonl(AMBIT_PROBE_SRC6_0), htonl(AMBIT_PROBE_SRC6_1), htonl(AMBIT_PROBE_SRC6_2),
                         htonl(AMBIT_PROBE_SRC6_3)};
  std::memcpy(&a, w, 16);
  return a;
}();

struct TcPacket {
  uint32_t src = kOther, dst = kPod;
  uint16_t dport = 8080;
  bool syn = true, ack = false;
  int opt_words = 0;      // IPv4 option words (ihl = 5 + opt_words), NOPs
  uint16_t frag_off = 0;  // host order: 0x2000 = MF, low 13 bits = offset
  int tcp_bytes = sizeof(tcphdr);
  // IPv6 instead (src6/dst6; opt_words and frag_off do not apply). next_header is the IPv6
  // header's: an extension header or another protocol puts its type there, and the TCP header
  // still follows directly (what matters is that the program does not take it for bare TCP).
  bool v6 = false;
  in6_addr src6 = kOther6, dst6 = kPod6;
  uint8_t next_header = IPPROTO_TCP;
};

inline void fill_tcp(tcphdr* tcp, const TcPacket& p) {
  tcp->source = htons(40000);
  tcp->dest = htons(p.dport);
  tcp->doff = 5;
  tcp->syn = p.syn;
  tcp->ack = p.ack;
}

// Two bytes of headroom so the IP header after the 14-byte Ethernet header is 4-aligned; the
// program sees the buffer from byte 2.
inline std::vector<uint8_t> build_tc_packet(const TcPacket& p) {
  if (p.v6) {
    std::vector<uint8_t> b(2 + sizeof(ethhdr) + sizeof(ipv6hdr) + static_cast<size_t>(p.tcp_bytes), 0);
    auto* eth = reinterpret_cast<ethhdr*>(b.data() + 2);
    eth->h_proto = htons(ETH_P_IPV6);
    auto* ip6 = reinterpret_cast<ipv6hdr*>(eth + 1);
    ip6->version = 6;
    ip6->payload_len = htons(static_cast<uint16_t>(p.tcp_bytes));
    ip6->nexthdr = p.next_header;
    ip6->hop_limit = 64;
    ip6->saddr = p.src6;
    ip6->daddr = p.dst6;
    if (p.tcp_bytes >= static_cast<int>(sizeof(tcphdr))) fill_tcp(reinterpret_cast<tcphdr*>(ip6 + 1), p);
    return b;
  }
  size_t ihl = 5 + static_cast<size_t>(p.opt_words);
  std::vector<uint8_t> b(2 + sizeof(ethhdr) + ihl * 4 + static_cast<size_t>(p.tcp_bytes), 0);
  auto* eth = reinterpret_cast<ethhdr*>(b.data() + 2);
  eth->h_proto = htons(ETH_P_IP);
  auto* ip = reinterpret_cast<iphdr*>(eth + 1);
  ip->version = 4;
  ip->ihl = static_cast<unsigned>(ihl);
  ip->protocol = IPPROTO_TCP;
  ip->tot_len = htons(static_cast<uint16_t>(ihl * 4 + static_cast<size_t>(p.tcp_bytes)));
  ip->frag_off = htons(p.frag_off);
  ip->saddr = p.src;
  ip->daddr = p.dst;
  ip->ttl = 64;
  auto* opts = reinterpret_cast<uint8_t*>(ip + 1);
  for (int i = 0; i < p.opt_words * 4; ++i) opts[i] = 1;  // NOP
  if (p.tcp_bytes >= static_cast<int>(sizeof(tcphdr))) {
    fill_tcp(reinterpret_cast<tcphdr*>(opts + p.opt_words * 4), p);
  }
  return b;
}

// The capture skeleton loaded on its own (nothing attached), with kPod and kPod6 enrolled.
class InboundProgram {
 public:
  InboundProgram() : skel_(ambit_capture::open_and_load()) {
    REQUIRE_MESSAGE(skel_ != nullptr, "load: ", std::strerror(errno));
    ambit_ip_key k{};
    k.addr[10] = k.addr[11] = 0xff;
    std::memcpy(k.addr + 12, &kPod, 4);
    ambit_pod_ip v{AMBIT_POD_ENROLLED, 0};
    REQUIRE(bpf_map_update_elem(bpf_map__fd(skel_->maps.ambit_pod_ips), &k, &v, BPF_ANY) == 0);
    ambit_ip_key k6{};
    std::memcpy(k6.addr, &kPod6, 16);
    REQUIRE(bpf_map_update_elem(bpf_map__fd(skel_->maps.ambit_pod_ips), &k6, &v, BPF_ANY) == 0);
  }
  ~InboundProgram() { ambit_capture::destroy(skel_); }
  InboundProgram(const InboundProgram&) = delete;
  InboundProgram& operator=(const InboundProgram&) = delete;

  uint32_t run(const TcPacket& p) {
    auto pkt = build_tc_packet(p);
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt.data() + 2, .data_size_in = static_cast<uint32_t>(pkt.size() - 2));
    REQUIRE(bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.ambit_inbound), &o) == 0);
    return o.retval;
  }
  // A per-CPU counter of the ABI's stats enum, summed.
  uint64_t stat(uint32_t id) {
    std::vector<uint64_t> vals(static_cast<size_t>(libbpf_num_possible_cpus()));
    REQUIRE(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.ambit_stats), &id, vals.data()) == 0);
    uint64_t sum = 0;
    for (auto x : vals) sum += x;
    return sum;
  }

 private:
  ambit_capture* skel_;
};

}  // namespace ambit::test
