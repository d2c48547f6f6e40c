#include "agent/bpf/datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "ambit_capture.skel.h"
#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/net/netns.h"

namespace ambit::agent {

namespace {

spdlog::logger& lg() { return log::scope("bpf"); }
constexpr uint32_t kTcHandle = 0xa3b1;
constexpr uint32_t kTcPriority = 1;

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// Directories are created with no permission bits at all. The pins are root's, and owner bits
// would admit any uid-0 process even with every capability dropped: since Linux 6.5 BPF_OBJ_GET
// has no capability check of its own, so bpffs permissions are the only gate, and a root process
// in a pod that sees this bpffs could open the maps, delete its enrollment, detach the links or
// unpin them. With mode 0, looking a pin up takes CAP_DAC_READ_SEARCH and pinning or unpinning
// CAP_DAC_OVERRIDE, which the agent (privileged) has and a pod's root must not.
absl::Status mkdirs(const std::string& path) {
  std::string cur;
  for (auto part : split_nonempty(path, '/')) {
    str_append(&cur, "/", part);
    if (::mkdir(cur.c_str(), 0) != 0 && errno != EEXIST) return errno_error(errno, "mkdir ", cur);
  }
  // The pin directory is ours even if an older agent created it with 0700.
  if (::chmod(path.c_str(), 0) != 0) return errno_error(errno, "chmod 0 ", path);
  return absl::OkStatus();
}

struct MapSpec {
  const char* pin;
  bpf_map* (*get)(ambit_capture*);
  // Holds only counters: a pinned one of another size (a counter was added) is replaced instead
  // of adopted, which would leave the new counters outside the map.
  bool resettable = false;
};

const MapSpec kMaps[] = {
    {AMBIT_PIN_PODS, [](ambit_capture* s) { return s->maps.ambit_pods; }},
    {AMBIT_PIN_POD_IPS, [](ambit_capture* s) { return s->maps.ambit_pod_ips; }},
    {AMBIT_PIN_ORIG, [](ambit_capture* s) { return s->maps.ambit_orig; }},
    {AMBIT_PIN_SK_ORIG, [](ambit_capture* s) { return s->maps.ambit_sk_orig; }},
    {AMBIT_PIN_EXCL_PORTS, [](ambit_capture* s) { return s->maps.ambit_excl_ports; }},
    {AMBIT_PIN_STATS, [](ambit_capture* s) { return s->maps.ambit_stats; }, true},
    {AMBIT_PIN_NODE, [](ambit_capture* s) { return s->maps.ambit_node; }},
    {AMBIT_PIN_META, [](ambit_capture* s) { return s->maps.ambit_meta; }},
};

struct LinkSpec {
  const char* pin;
  bpf_program* (*get)(ambit_capture*);
};

const LinkSpec kLinks[] = {
    {"link_connect4", [](ambit_capture* s) { return s->progs.ambit_connect4; }},
    {"link_connect6", [](ambit_capture* s) { return s->progs.ambit_connect6; }},
    {"link_sockops", [](ambit_capture* s) { return s->progs.ambit_sockops; }},
    {"link_getsockopt", [](ambit_capture* s) { return s->progs.ambit_getsockopt; }},
    {"link_setsockopt", [](ambit_capture* s) { return s->progs.ambit_setsockopt; }},
    {"link_sock_create", [](ambit_capture* s) { return s->progs.ambit_sock_create; }},
    {"link_getpeername4", [](ambit_capture* s) { return s->progs.ambit_getpeername4; }},
    {"link_getpeername6", [](ambit_capture* s) { return s->progs.ambit_getpeername6; }},
};

void v4_mapped(uint8_t* out, const net::IpAddr& ip) {
  std::memset(out, 0, 16);
  out[10] = out[11] = 0xff;
  std::memcpy(out + 12, ip.raw().data(), 4);
}

uint32_t v4_net(const net::IpAddr& ip) {
  uint32_t v;
  std::memcpy(&v, ip.raw().data(), 4);
  return v;
}

// The first IPv6 address on `ifname` in the calling thread's namespace that another host could
// send to (not link-local, not loopback), or nothing.
std::optional<net::IpAddr> interface_ip6(const std::string& ifname) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return std::nullopt;
  std::optional<net::IpAddr> out;
  for (ifaddrs* a = list; a && !out; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET6 || ifname != a->ifa_name) continue;
    const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr)->sin6_addr;
    if (IN6_IS_ADDR_LINKLOCAL(&v6) || IN6_IS_ADDR_LOOPBACK(&v6) || IN6_IS_ADDR_MULTICAST(&v6)) continue;
    out = net::IpAddr::from_in6(v6);
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace

const char* stat_name(int id) {
  static const char* kNames[] = {"captured",       "skip_mark",          "skip_loopback",   "skip_self",
                                 "skip_excluded",  "skip_not_tcp",       "orig_recorded",   "orig_deleted",
                                 "orig_answered",  "peer_restored",      "inbound_steered", "inbound_probe",
                                 "drop_no_listener", "err_storage",     "err_map_full",    "probe_bound",
                                 "err_probe_bind", "orig_evicted",     "raw_refused"};
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == AMBIT_STAT_MAX, "one name per ambit_stat");
  return id >= 0 && id < AMBIT_STAT_MAX ? kNames[id] : "unknown";
}

absl::StatusOr<std::unique_ptr<EbpfDatapath>> EbpfDatapath::open(const std::string& pin_dir,
                                                                 const std::string& cgroup_path,
                                                                 DatapathOptions options) {
  std::unique_ptr<EbpfDatapath> d(new EbpfDatapath());
  d->status_.pin_dir = pin_dir;
  d->status_.cgroup = cgroup_path;
  AMBIT_RETURN_IF_ERROR(mkdirs(pin_dir));
  auto pin = [&](const char* name) { return str_cat(pin_dir, "/", name); };

  // Is there a compatible datapath pinned already?
  bool adopt = false;
  if (exists(pin(AMBIT_PIN_META))) {
    UniqueFd meta(bpf_obj_get(pin(AMBIT_PIN_META).c_str()));
    ambit_meta m{};
    uint32_t key = 0;
    if (meta && bpf_map_lookup_elem(meta.get(), &key, &m) == 0 && m.abi_version == AMBIT_ABI_VERSION &&
        m.layout == AMBIT_LAYOUT) {
      adopt = true;
    } else {
      lg().warn("pinned datapath in {} has ABI {} layout {:#x}, want {} {:#x}: replacing it", pin_dir, m.abi_version,
                m.layout, AMBIT_ABI_VERSION, AMBIT_LAYOUT);
      d->status_.replaced = true;
    }
  }
  d->status_.adopted = adopt;

  d->skel_ = ambit_capture::open();
  if (!d->skel_) return errno_error(errno, "open BPF skeleton");
  if (options.orig_capacity != 0 && bpf_map__set_max_entries(d->skel_->maps.ambit_orig, options.orig_capacity) != 0) {
    return errno_error(errno, "set map_orig capacity to ", options.orig_capacity);
  }
  std::vector<UniqueFd> reused;
  std::vector<const MapSpec*> to_pin;  // maps created by this load
  for (const auto& m : kMaps) {
    if (!adopt) {
      to_pin.push_back(&m);
      continue;
    }
    UniqueFd fd(bpf_obj_get(pin(m.pin).c_str()));
    if (!fd) return errno_error(errno, "open pinned map ", pin(m.pin));
    if (m.resettable) {
      bpf_map_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return errno_error(errno, "inspect pinned map ", m.pin);
      if (info.max_entries != bpf_map__max_entries(m.get(d->skel_))) {
        lg().warn("pinned {} has {} entries, this agent counts {}: starting its counters over", m.pin,
                  info.max_entries, bpf_map__max_entries(m.get(d->skel_)));
        d->status_.stats_reset = true;
        to_pin.push_back(&m);
        continue;
      }
    }
    if (bpf_map__reuse_fd(m.get(d->skel_), fd.get()) != 0) return errno_error(errno, "reuse pinned map ", m.pin);
    reused.push_back(std::move(fd));
  }
  if (int err = ambit_capture::load(d->skel_); err != 0) {
    return errno_error(-err, "load BPF programs (see the verifier log above)");
  }

  if (!adopt) {
    ambit_meta m{AMBIT_ABI_VERSION, AMBIT_LAYOUT};
    uint32_t key = 0;
    if (bpf_map_update_elem(bpf_map__fd(d->skel_->maps.ambit_meta), &key, &m, BPF_ANY) != 0) {
      return errno_error(errno, "write datapath meta");
    }
  }

  // Links: swap programs into pinned links atomically, or attach and pin new ones.
  UniqueFd cgroup(::open(cgroup_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup) return errno_error(errno, "open cgroup ", cgroup_path);
  for (const auto& l : kLinks) {
    int prog = bpf_program__fd(l.get(d->skel_));
    std::string path = pin(l.pin);
    if (exists(path)) {
      UniqueFd link(bpf_obj_get(path.c_str()));
      if (link && bpf_link_update(link.get(), prog, nullptr) == 0) {
        d->links_.push_back(std::move(link));
        continue;
      }
      // A link we cannot update (other program type, detached cgroup): replace it.
      lg().warn("cannot update pinned link {} ({}): re-attaching", path, std::strerror(errno));
      ::unlink(path.c_str());
    }
    bpf_link* link = bpf_program__attach_cgroup(l.get(d->skel_), cgroup.get());
    if (!link) return errno_error(errno, "attach ", l.pin, " to cgroup ", cgroup_path);
    if (bpf_link__pin(link, path.c_str()) != 0) {
      int e = errno;
      bpf_link__destroy(link);
      return errno_error(e, "pin ", path);
    }
    d->links_.emplace_back(::dup(bpf_link__fd(link)));
    // Destroying an fd-based link only closes libbpf's fd; the pin keeps it attached beyond this
    // process. (bpf_link__disconnect would skip that close and leak the fd.)
    bpf_link__destroy(link);
  }

  // Maps: pin the ones that are new. A replacement pins under a temporary name first and renames
  // over the old pin, so a reader never finds a missing pin.
  for (const MapSpec* m : to_pin) {
    std::string path = pin(m->pin), tmp = path + "_new";  // bpffs names may not contain dots
    ::unlink(tmp.c_str());
    if (bpf_obj_pin(bpf_map__fd(m->get(d->skel_)), tmp.c_str()) != 0) return errno_error(errno, "pin ", tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return errno_error(errno, "rename ", tmp, " to ", path);
  }
  lg().info("eBPF datapath {} in {} (cgroup {})", adopt ? "adopted" : "loaded", pin_dir, cgroup_path);
  return d;
}

EbpfDatapath::~EbpfDatapath() {
  if (skel_) ambit_capture::destroy(skel_);  // pinned links and maps stay
}

int EbpfDatapath::map_fd(const char* pin_name) const {
  for (const auto& m : kMaps) {
    if (std::strcmp(m.pin, pin_name) == 0) return bpf_map__fd(m.get(skel_));
  }
  return -1;
}

absl::StatusOr<std::optional<net::IpAddr>> EbpfDatapath::pod_ip6(const CapturedPod& pod, int ns_fd) {
  if (pod.ip6 && !pod.ip6->is_v4()) return pod.ip6;
  std::optional<net::IpAddr> found;
  AMBIT_RETURN_IF_ERROR(net::run_in_netns(ns_fd, [&]() -> absl::Status {
    found = interface_ip6(pod.ifname);
    return absl::OkStatus();
  }));
  if (found) lg().info("pod {}: IPv6 address {} found on {} (not in what the agent was told)", pod.uid,
                       found->to_string(), pod.ifname);
  return found;
}

absl::Status EbpfDatapath::attach_tc(const CapturedPod& pod, bool attach) {
  AMBIT_ASSIGN_OR_RETURN(UniqueFd ns, net::open_netns(pod.netns_path));
  int prog = bpf_program__fd(skel_->progs.ambit_inbound);
  return net::run_in_netns(ns.get(), [&]() -> absl::Status {
    unsigned ifindex = if_nametoindex(pod.ifname.c_str());
    if (ifindex == 0) return errno_error(errno, "interface ", pod.ifname, " in ", pod.netns_path);
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex), .attach_point = BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    if (!attach) {
      int err = bpf_tc_detach(&hook, &opts);
      if (err != 0 && err != -ENOENT && err != -EINVAL) return errno_error(-err, "detach tc from ", pod.ifname);
      return absl::OkStatus();
    }
    int err = bpf_tc_hook_create(&hook);
    if (err != 0 && err != -EEXIST) return errno_error(-err, "create clsact on ", pod.ifname);
    opts.prog_fd = prog;
    opts.flags = BPF_TC_F_REPLACE;
    err = bpf_tc_attach(&hook, &opts);
    if (err != 0) return errno_error(-err, "attach tc ingress on ", pod.ifname, " in ", pod.netns_path);
    return absl::OkStatus();
  });
}

absl::Status EbpfDatapath::enroll(const CapturedPod& pod) {
  AMBIT_ASSIGN_OR_RETURN(UniqueFd ns, net::open_netns(pod.netns_path));
  AMBIT_ASSIGN_OR_RETURN(uint64_t cookie, net::netns_cookie(ns.get()));
  // Inbound first (it drops SYNs only while ztunnel has no listener, which it has by now),
  // then the pods map that turns on outbound capture.
  AMBIT_RETURN_IF_ERROR(attach_tc(pod, true));
  ambit_ip_key ipk{};
  v4_mapped(ipk.addr, pod.ip4);
  ambit_pod_ip pip{AMBIT_POD_ENROLLED, 0};
  if (bpf_map_update_elem(map_fd(AMBIT_PIN_POD_IPS), &ipk, &pip, BPF_ANY) != 0) {
    return errno_error(errno, "pod_ips map update for ", pod.ip4.to_string());
  }
  // A dual-stack pod's IPv6 address too: without it the tc program would let IPv6 SYNs reach
  // the app around ztunnel. When the agent was not told one (a CNI result listing none, a pod
  // enrolled before IPv6 capture and refreshed from an old state file), the interface's own
  // address is used: an address missing here is a bypass, an extra one is not.
  AMBIT_ASSIGN_OR_RETURN(std::optional<net::IpAddr> ip6, pod_ip6(pod, ns.get()));
  if (ip6) {
    ambit_ip_key k6{};
    std::memcpy(k6.addr, ip6->raw().data(), 16);
    if (bpf_map_update_elem(map_fd(AMBIT_PIN_POD_IPS), &k6, &pip, BPF_ANY) != 0) {
      return errno_error(errno, "pod_ips map update for ", ip6->to_string());
    }
  }
  ambit_pod p{};
  p.flags = AMBIT_POD_ENROLLED;
  p.ip4 = v4_net(pod.ip4);
  if (ip6) std::memcpy(p.ip6, ip6->raw().data(), 16);
  if (bpf_map_update_elem(map_fd(AMBIT_PIN_PODS), &cookie, &p, BPF_ANY) != 0) {
    return errno_error(errno, "pods map update for ", pod.uid);
  }
  return absl::OkStatus();
}

absl::Status EbpfDatapath::set_node_netns(uint64_t netns_cookie) {
  ambit_node n{};
  n.netns_cookie = netns_cookie;
  uint32_t key = 0;
  if (bpf_map_update_elem(map_fd(AMBIT_PIN_NODE), &key, &n, BPF_ANY) != 0) {
    return errno_error(errno, "node map update");
  }
  return absl::OkStatus();
}

absl::Status EbpfDatapath::release(const CapturedPod& pod) {
  absl::Status first;
  auto ns = net::open_netns(pod.netns_path);
  // The IPv6 address enroll used is the one in the pod's map_pods entry (it may have come from
  // the interface rather than from `pod`).
  ambit_pod entry{};
  if (ns.ok()) {
    if (auto cookie = net::netns_cookie(ns->get()); cookie.ok()) {
      (void)bpf_map_lookup_elem(map_fd(AMBIT_PIN_PODS), &*cookie, &entry);
      bpf_map_delete_elem(map_fd(AMBIT_PIN_PODS), &*cookie);
    }
  }
  ambit_ip_key ipk{};
  v4_mapped(ipk.addr, pod.ip4);
  bpf_map_delete_elem(map_fd(AMBIT_PIN_POD_IPS), &ipk);
  static constexpr uint8_t kNone[16] = {};
  if (std::memcmp(entry.ip6, kNone, 16) != 0) {
    ambit_ip_key k6{};
    std::memcpy(k6.addr, entry.ip6, 16);
    bpf_map_delete_elem(map_fd(AMBIT_PIN_POD_IPS), &k6);
  }
  if (pod.ip6 && !pod.ip6->is_v4()) {
    ambit_ip_key k6{};
    std::memcpy(k6.addr, pod.ip6->raw().data(), 16);
    bpf_map_delete_elem(map_fd(AMBIT_PIN_POD_IPS), &k6);
  }
  if (ns.ok()) first = attach_tc(pod, false);
  return first;
}

std::vector<uint64_t> EbpfDatapath::enrolled_cookies() const {
  std::vector<uint64_t> out;
  int fd = map_fd(AMBIT_PIN_PODS);
  uint64_t key = 0, next = 0;
  uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    out.push_back(next);
    key = next;
    prev = &key;
  }
  return out;
}

std::vector<StaleEntry> EbpfDatapath::remove_stale(const std::vector<uint64_t>& live,
                                                  const std::vector<net::IpAddr>& live_ips) {
  std::vector<StaleEntry> out;
  int pods = map_fd(AMBIT_PIN_PODS), ips = map_fd(AMBIT_PIN_POD_IPS);
  // The live pods' own entries name addresses too: an IPv6 address enroll found on the interface
  // is in no CapturedPod, and deleting it with a stale entry that had the same address would
  // stop steering the live pod's IPv6.
  std::vector<net::IpAddr> keep = live_ips;
  static constexpr uint8_t kNone[16] = {};
  for (uint64_t cookie : live) {
    ambit_pod p{};
    if (bpf_map_lookup_elem(pods, &cookie, &p) != 0 || std::memcmp(p.ip6, kNone, 16) == 0) continue;
    in6_addr a6{};
    std::memcpy(&a6, p.ip6, 16);
    keep.push_back(net::IpAddr::from_in6(a6));
  }
  for (uint64_t cookie : enrolled_cookies()) {
    if (std::find(live.begin(), live.end(), cookie) != live.end()) continue;
    ambit_pod p{};
    if (bpf_map_lookup_elem(pods, &cookie, &p) != 0) continue;  // gone meanwhile
    if (bpf_map_delete_elem(pods, &cookie) != 0 && errno != ENOENT) {
      lg().warn("removing stale pods-map entry for netns cookie {}: {}", cookie, std::strerror(errno));
      continue;
    }
    StaleEntry e;
    e.netns_cookie = cookie;
    if (p.ip4 != 0) {
      e.ip4 = net::IpAddr::v4(ntohl(p.ip4));
      if (std::find(live_ips.begin(), live_ips.end(), e.ip4) == live_ips.end()) {
        ambit_ip_key ipk{};
        v4_mapped(ipk.addr, e.ip4);
        bpf_map_delete_elem(ips, &ipk);
      }
    }
    if (std::memcmp(p.ip6, kNone, 16) != 0) {
      in6_addr a6{};
      std::memcpy(&a6, p.ip6, 16);
      e.ip6 = net::IpAddr::from_in6(a6);
      if (std::find(keep.begin(), keep.end(), *e.ip6) == keep.end()) {
        ambit_ip_key k6{};
        std::memcpy(k6.addr, p.ip6, 16);
        bpf_map_delete_elem(ips, &k6);
      }
    }
    out.push_back(e);
  }
  return out;
}

absl::Status EbpfDatapath::set_excluded_ports(const std::vector<uint16_t>& ports) {
  int fd = map_fd(AMBIT_PIN_EXCL_PORTS);
  // Clear, then add: the set is small.
  uint16_t key = 0, next = 0;
  while (bpf_map_get_next_key(fd, nullptr, &next) == 0) bpf_map_delete_elem(fd, &next);
  (void)key;
  for (uint16_t p : ports) {
    uint16_t k = htons(p);
    uint8_t v = 1;
    if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) != 0) return errno_error(errno, "exclude port ", p);
  }
  return absl::OkStatus();
}

std::array<uint64_t, AMBIT_STAT_MAX> EbpfDatapath::stats() const {
  std::array<uint64_t, AMBIT_STAT_MAX> out{};
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> vals(static_cast<size_t>(std::max(ncpu, 1)));
  for (uint32_t i = 0; i < AMBIT_STAT_MAX; ++i) {
    if (bpf_map_lookup_elem(map_fd(AMBIT_PIN_STATS), &i, vals.data()) != 0) continue;
    for (auto v : vals) out[i] += v;
  }
  return out;
}

size_t EbpfDatapath::map_entries(const char* pin_name) const {
  int fd = map_fd(pin_name);
  if (fd < 0) return 0;
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return 0;
  std::vector<char> key(info.key_size), next(info.key_size);
  size_t n = 0;
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    ++n;
    key = next;
    prev = key.data();
    if (n > 10'000'000) break;
  }
  return n;
}

size_t EbpfDatapath::map_capacity(const char* pin_name) {
  if (std::strcmp(pin_name, AMBIT_PIN_PODS) == 0) return AMBIT_MAX_PODS;
  if (std::strcmp(pin_name, AMBIT_PIN_POD_IPS) == 0) return AMBIT_MAX_PODS * 2;
  if (std::strcmp(pin_name, AMBIT_PIN_ORIG) == 0) return AMBIT_MAX_ORIG;
  if (std::strcmp(pin_name, AMBIT_PIN_EXCL_PORTS) == 0) return AMBIT_MAX_EXCLUDED;
  return 0;
}

absl::Status EbpfDatapath::uninstall(const std::string& pin_dir, const std::vector<CapturedPod>& pods) {
  for (const auto& pod : pods) {
    auto ns = net::open_netns(pod.netns_path);
    if (!ns.ok()) continue;
    (void)net::run_in_netns(ns->get(), [&]() -> absl::Status {
      unsigned ifindex = if_nametoindex(pod.ifname.c_str());
      if (ifindex == 0) return absl::OkStatus();
      LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex), .attach_point = BPF_TC_INGRESS);
      LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
      bpf_tc_detach(&hook, &opts);
      return absl::OkStatus();
    });
  }
  DIR* d = ::opendir(pin_dir.c_str());
  if (!d) return absl::OkStatus();
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    std::string p = str_cat(pin_dir, "/", n);
    if (::unlink(p.c_str()) != 0) return errno_error(errno, "unpin ", p);
  }
  if (::rmdir(pin_dir.c_str()) != 0 && errno != ENOENT) return errno_error(errno, "rmdir ", pin_dir);
  return absl::OkStatus();
}

}  // namespace ambit::agent
