// Network-namespace helpers. ztunnel opens per-pod listeners inside pod namespaces, the agent
// reads namespace cookies for the BPF enrollment map, and the test harness runs processes in
// simulated nodes and pods — all through these.
//
//   AMBIT_ASSIGN_OR_RETURN(UniqueFd ns, open_netns("/run/netns/pod-a"));
//   AMBIT_ASSIGN_OR_RETURN(UniqueFd lfd, socket_in_netns(ns.get(), AF_INET, SOCK_STREAM, 0));
//   AMBIT_ASSIGN_OR_RETURN(uint64_t cookie, netns_cookie(ns.get()));
//
// setns() switches only the calling thread, and these functions always switch it back before
// returning; a failure to switch back would leave the thread in a pod's namespace, so it aborts.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/base/unique_fd.h"

namespace ambit::net {

// Opens a namespace file (/run/netns/NAME, /proc/PID/ns/net, or a bind mount) read-only.
absl::StatusOr<UniqueFd> open_netns(std::string_view path);

// Opens the calling thread's current network namespace.
absl::StatusOr<UniqueFd> current_netns();

// Runs fn with the calling thread inside `ns_fd`, then returns to the original namespace.
absl::Status run_in_netns(int ns_fd, const std::function<absl::Status()>& fn);

// socket(2) inside a namespace: the socket stays bound to that namespace for its lifetime.
absl::StatusOr<UniqueFd> socket_in_netns(int ns_fd, int domain, int type, int protocol);

// The kernel's 64-bit cookie for a namespace (SO_NETNS_COOKIE, Linux 5.14+): the same value
// bpf_get_netns_cookie() returns in BPF programs running for sockets of that namespace.
absl::StatusOr<uint64_t> netns_cookie(int ns_fd);
absl::StatusOr<uint64_t> current_netns_cookie();

// Inode number of a namespace fd, for logs and equality checks.
absl::StatusOr<uint64_t> netns_inode(int ns_fd);

}  // namespace ambit::net
