// Building blocks for simulated hosts: named network namespaces, veth pairs, bridges, addresses
// and routes, created only inside namespaces we create (never in the root namespace, which must
// get no route to any simulated address). Used by `ambitctl local` and the test harness.
//
//   AMBIT_RETURN_IF_ERROR(add_netns("n1"));
//   AMBIT_RETURN_IF_ERROR(add_veth("n1", "eth0", "n2", "eth0"));
//   AMBIT_RETURN_IF_ERROR(add_address("n1", "eth0", "10.0.0.1/24"));
//   AMBIT_RETURN_IF_ERROR(set_up("n1", "eth0"));
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ambit::sim {

// `ip netns add` + loopback up. Fails if it exists.
absl::Status add_netns(const std::string& ns);
// `ip netns del`; OK if absent.
absl::Status del_netns(const std::string& ns);
bool netns_exists(const std::string& ns);
std::vector<std::string> list_netns();
std::string netns_path(const std::string& ns);  // /run/netns/<ns>

// A veth pair whose ends are created directly inside two namespaces (never visible in root).
absl::Status add_veth(const std::string& ns_a, const std::string& if_a, const std::string& ns_b,
                      const std::string& if_b);
absl::Status add_bridge(const std::string& ns, const std::string& name);
absl::Status set_master(const std::string& ns, const std::string& ifname, const std::string& bridge);
absl::Status add_address(const std::string& ns, const std::string& ifname, const std::string& cidr);
absl::Status set_up(const std::string& ns, const std::string& ifname);
// `ip route add <dst> [via <via>] [dev <dev>]` inside ns.
absl::Status add_route(const std::string& ns, const std::string& dst, const std::string& via,
                       const std::string& dev = "");
absl::Status sysctl(const std::string& ns, const std::string& key, const std::string& value);

// Runs `argv` inside `ns` via `ip netns exec`, returning stdout (for iptables, ss, ...).
absl::StatusOr<std::string> exec_in(const std::string& ns, const std::vector<std::string>& argv);

}  // namespace ambit::sim
