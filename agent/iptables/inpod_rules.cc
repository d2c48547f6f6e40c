#include "agent/iptables/inpod_rules.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "agent/inpod_routing.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/sim/command.h"

namespace ambit::agent {

std::string inpod_iptables_rules(bool ipv6, const InpodPorts& p) {
  const char* lo = ipv6 ? "::1/128" : "127.0.0.1/32";
  const char* probe = ipv6 ? "fd16:9254:7127:1337:ffff:ffff:ffff:ffff/128" : "169.254.7.127/32";
  return str_cat(
      "*mangle\n"
      ":ISTIO_PRERT - [0:0]\n"
      ":ISTIO_OUTPUT - [0:0]\n"
      "-A PREROUTING -j ISTIO_PRERT\n"
      "-A OUTPUT -j ISTIO_OUTPUT\n"
      "-A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff\n"
      "-A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff\n"
      "COMMIT\n"
      "*nat\n"
      ":ISTIO_PRERT - [0:0]\n"
      ":ISTIO_OUTPUT - [0:0]\n"
      "-A PREROUTING -j ISTIO_PRERT\n"
      "-A OUTPUT -j ISTIO_OUTPUT\n",
      "-A ISTIO_PRERT -s ", probe, " -p tcp -m tcp -j ACCEPT\n",
      "-A ISTIO_OUTPUT -d ", probe, " -p tcp -m tcp -j ACCEPT\n",
      "-A ISTIO_PRERT ! -d ", lo, " -p tcp ! --dport ", p.inbound_hbone,
      " -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports ", p.inbound_plaintext, "\n",
      "-A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT\n",
      "-A ISTIO_OUTPUT ! -d ", lo, " -o lo -j ACCEPT\n",
      "-A ISTIO_OUTPUT ! -d ", lo, " -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports ", p.outbound,
      "\n", "COMMIT\n");
}

namespace {

std::string netns_path(const std::string& netns) {
  return netns.find('/') == std::string::npos ? "/run/netns/" + netns : netns;
}

// Commands run inside the namespace with nsenter, which takes paths as well as /run/netns names.
std::vector<std::string> in_ns(const std::string& netns, std::vector<std::string> argv) {
  std::vector<std::string> out = {"nsenter", "--net=" + netns_path(netns), "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

absl::Status restore(const std::string& ns, const std::string& tool, const std::string& rules) {
  char path[] = "/tmp/ambit-iptables-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return errno_error(errno, "mkstemp");
  ::close(fd);
  {
    std::ofstream out(path);
    out << rules;
  }
  auto r = sim::run(in_ns(ns, {tool, "--noflush", path}));
  ::unlink(path);
  return r.status();
}

}  // namespace

bool has_inpod_rules(const std::string& ns) {
  return sim::run(in_ns(ns, {"iptables", "-t", "nat", "-S", "ISTIO_OUTPUT"})).ok();
}

absl::Status apply_inpod_rules(const std::string& ns, const InpodPorts& ports) {
  if (has_inpod_rules(ns)) return absl::OkStatus();
  AMBIT_RETURN_IF_ERROR(restore(ns, "iptables-restore", inpod_iptables_rules(false, ports)));
  return apply_reply_routing(netns_path(ns));
}

absl::Status remove_inpod_rules(const std::string& ns) {
  for (const char* table : {"mangle", "nat"}) {
    (void)sim::run(in_ns(ns, {"iptables", "-t", table, "-D", "PREROUTING", "-j", "ISTIO_PRERT"}));
    (void)sim::run(in_ns(ns, {"iptables", "-t", table, "-D", "OUTPUT", "-j", "ISTIO_OUTPUT"}));
    for (const char* chain : {"ISTIO_PRERT", "ISTIO_OUTPUT"}) {
      (void)sim::run(in_ns(ns, {"iptables", "-t", table, "-F", chain}));
      (void)sim::run(in_ns(ns, {"iptables", "-t", table, "-X", chain}));
    }
  }
  // The reply routing stays, as in eBPF mode (agent/capture.cc): open connections need it.
  return absl::OkStatus();
}

}  // namespace ambit::agent
