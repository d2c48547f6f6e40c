#include "agent/peer_cred.h"

#include <sys/socket.h>

#include <algorithm>

#include "common/base/status.h"
#include "common/base/strings.h"

namespace ambit::agent {

absl::StatusOr<PeerCred> peer_cred(int fd) {
  ucred c{};
  socklen_t len = sizeof(c);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) return errno_error(errno, "SO_PEERCRED");
  return PeerCred{c.pid, c.uid, c.gid};
}

absl::Status check_peer(int fd, const std::vector<uid_t>& allowed_uids, std::string_view where) {
  auto c = peer_cred(fd);
  if (!c.ok()) {
    return absl::PermissionDeniedError(str_cat(where, ": cannot tell who connected: ", c.status().message()));
  }
  if (std::find(allowed_uids.begin(), allowed_uids.end(), c->uid) != allowed_uids.end()) return absl::OkStatus();
  std::vector<std::string> allowed;
  for (uid_t u : allowed_uids) allowed.push_back(str_cat(u));
  return absl::PermissionDeniedError(str_cat(where, ": refused peer pid ", c->pid, " uid ", c->uid, " gid ", c->gid,
                                             " (allowed uids: ", join(allowed, ","), ")"));
}

}  // namespace ambit::agent
