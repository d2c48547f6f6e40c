#include "common/base/strings.h"
#include "common/sim/topology.h"

#include <dirent.h>
#include <sys/stat.h>

#include "common/base/status.h"
#include "common/sim/command.h"

namespace ambit::sim {

std::string netns_path(const std::string& ns) { return "/run/netns/" + ns; }

bool netns_exists(const std::string& ns) {
  struct stat st {};
  return ::stat(netns_path(ns).c_str(), &st) == 0;
}

std::vector<std::string> list_netns() {
  std::vector<std::string> out;
  DIR* d = ::opendir("/run/netns");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  return out;
}

absl::Status add_netns(const std::string& ns) {
  AMBIT_RETURN_IF_ERROR(run({"ip", "netns", "add", ns}).status());
  return run({"ip", "-n", ns, "link", "set", "lo", "up"}).status();
}

absl::Status del_netns(const std::string& ns) {
  if (!netns_exists(ns)) return absl::OkStatus();
  return run({"ip", "netns", "del", ns}).status();
}

absl::Status add_veth(const std::string& ns_a, const std::string& if_a, const std::string& ns_b,
                      const std::string& if_b) {
  return run({"ip", "-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b,
              "netns", ns_b})
      .status();
}

absl::Status add_bridge(const std::string& ns, const std::string& name) {
  return run({"ip", "-n", ns, "link", "add", name, "type", "bridge"}).status();
}

absl::Status set_master(const std::string& ns, const std::string& ifname, const std::string& bridge) {
  return run({"ip", "-n", ns, "link", "set", ifname, "master", bridge}).status();
}

absl::Status add_address(const std::string& ns, const std::string& ifname, const std::string& cidr) {
  return run({"ip", "-n", ns, "addr", "add", cidr, "dev", ifname}).status();
}

absl::Status set_up(const std::string& ns, const std::string& ifname) {
  return run({"ip", "-n", ns, "link", "set", ifname, "up"}).status();
}

absl::Status add_route(const std::string& ns, const std::string& dst, const std::string& via,
                       const std::string& dev) {
  std::vector<std::string> argv = {"ip", "-n", ns, "route", "add", dst};
  if (!via.empty()) argv.insert(argv.end(), {"via", via});
  if (!dev.empty()) argv.insert(argv.end(), {"dev", dev});
  return run(argv).status();
}

absl::Status sysctl(const std::string& ns, const std::string& key, const std::string& value) {
  return run({"ip", "netns", "exec", ns, "sysctl", "-q", "-w", str_cat(key, "=", value)}).status();
}

absl::StatusOr<std::string> exec_in(const std::string& ns, const std::vector<std::string>& argv) {
  std::vector<std::string> full = {"ip", "netns", "exec", ns};
  full.insert(full.end(), argv.begin(), argv.end());
  return run(full);
}

}  // namespace ambit::sim
