#include "agent/capture.h"

#include <bpf/libbpf.h>

#include <algorithm>

#include "agent/inpod_routing.h"
#include "agent/iptables/inpod_rules.h"
#include "ambit_capture.skel.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/net/netns.h"
#include "common/sim/cgroup.h"

namespace ambit::agent {

FeatureReport probe_features() {
  FeatureReport r;
  struct ProgType {
    bpf_prog_type type;
    const char* name;
  };
  for (const ProgType& t : {ProgType{BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "prog:cgroup_sock_addr"},
                            ProgType{BPF_PROG_TYPE_SOCK_OPS, "prog:sock_ops"},
                            ProgType{BPF_PROG_TYPE_CGROUP_SOCKOPT, "prog:cgroup_sockopt"},
                            ProgType{BPF_PROG_TYPE_CGROUP_SOCK, "prog:cgroup_sock"},
                            ProgType{BPF_PROG_TYPE_SCHED_CLS, "prog:sched_cls"}}) {
    if (libbpf_probe_bpf_prog_type(t.type, nullptr) != 1) r.missing.push_back(t.name);
  }
  struct Helper {
    bpf_prog_type type;
    bpf_func_id id;
    const char* name;
  };
  for (const Helper& h : {Helper{BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_get_netns_cookie, "helper:get_netns_cookie"},
                          Helper{BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_sk_storage_get, "helper:sk_storage_get"},
                          // sock_create and setsockopt find the pod by cookie, like connect4.
                          Helper{BPF_PROG_TYPE_CGROUP_SOCK, BPF_FUNC_get_netns_cookie, "helper:get_netns_cookie(cgroup_sock)"},
                          Helper{BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_FUNC_get_netns_cookie, "helper:get_netns_cookie(cgroup_sockopt)"},
                          Helper{BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_sk_assign, "helper:sk_assign"},
                          Helper{BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_skc_lookup_tcp, "helper:skc_lookup_tcp"}}) {
    if (libbpf_probe_bpf_helper(h.type, h.id, nullptr) != 1) r.missing.push_back(h.name);
  }
  if (!sim::cgroup2_root().ok()) r.missing.push_back("cgroup v2 mount");
  if (!net::current_netns_cookie().ok()) r.missing.push_back("SO_NETNS_COOKIE (Linux 5.14)");
  // The decisive check: does the real object pass the verifier here?
  if (r.missing.empty()) {
    ambit_capture* skel = ambit_capture::open_and_load();
    if (!skel) r.missing.push_back(str_cat("loading the capture programs: ", std::strerror(errno)));
    else ambit_capture::destroy(skel);
  }
  r.ebpf_ok = r.missing.empty();
  return r;
}

absl::Status EbpfCapture::enroll(const CapturedPod& pod) {
  AMBIT_RETURN_IF_ERROR(apply_reply_routing(pod.netns_path));
  return dp_->enroll(pod);
}

// The reply routing stays: connections ztunnel delivered before the release still carry the
// client's address, and their replies need it for as long as they live. It only acts on sockets
// marked 0x111, which nothing but those connections has; the pod's namespace takes it along.
absl::Status EbpfCapture::release(const CapturedPod& pod) { return dp_->release(pod); }

bool EbpfCapture::captured(const CapturedPod& pod) const {
  auto ns = net::open_netns(pod.netns_path);
  if (!ns.ok()) return false;
  auto cookie = net::netns_cookie(ns->get());
  if (!cookie.ok()) return false;
  auto all = dp_->enrolled_cookies();
  return std::find(all.begin(), all.end(), *cookie) != all.end();
}

std::vector<std::string> EbpfCapture::remove_stale(const std::vector<CapturedPod>& known) {
  std::vector<uint64_t> live;
  std::vector<net::IpAddr> live_ips;
  for (const auto& p : known) {
    auto ns = net::open_netns(p.netns_path);
    if (!ns.ok()) continue;  // gone: whatever it had enrolled is stale
    auto cookie = net::netns_cookie(ns->get());
    if (!cookie.ok()) continue;
    live.push_back(*cookie);
    live_ips.push_back(p.ip4);
    if (p.ip6) live_ips.push_back(*p.ip6);
  }
  std::vector<std::string> out;
  for (const auto& e : dp_->remove_stale(live, live_ips)) {
    out.push_back(str_cat("netns cookie ", e.netns_cookie, " (pod address ", e.ip4.to_string(),
                          e.ip6 ? str_cat(", ", e.ip6->to_string()) : std::string(), ")"));
  }
  return out;
}

absl::Status IptablesCapture::enroll(const CapturedPod& pod) { return apply_inpod_rules(pod.netns_path); }
absl::Status IptablesCapture::release(const CapturedPod& pod) { return remove_inpod_rules(pod.netns_path); }
bool IptablesCapture::captured(const CapturedPod& pod) const { return has_inpod_rules(pod.netns_path); }

}  // namespace ambit::agent
