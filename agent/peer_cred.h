// Who is at the other end of an accepted unix socket, and whether the agent talks to them. The
// ZDS and CNI sockets sit on host paths with mode 0600, but file permissions admit any uid-0
// process that can see the path — also one that dropped every capability — and over ZDS such a
// process could pose as ztunnel and receive every pod's namespace, over CNI send DEL for any pod.
// SO_PEERCRED is what the kernel recorded at connect(): the peer cannot choose it.
//
//   AMBIT_RETURN_IF_ERROR(check_peer(fd, {0}, "ZDS socket /var/run/ztunnel/ztunnel.sock"));
#pragma once

#include <sys/types.h>

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ambit::agent {

struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

absl::StatusOr<PeerCred> peer_cred(int fd);

// OK when the peer's uid is one of `allowed_uids`; PermissionDenied naming the peer's pid and uid
// and `where` otherwise (or when the credentials cannot be read).
absl::Status check_peer(int fd, const std::vector<uid_t>& allowed_uids, std::string_view where);

}  // namespace ambit::agent
