// Moving CNI protocol messages (agent/cni/protocol.h) over a unix stream socket, every step bounded
// by a deadline. Used by the plugin (call_agent) and the agent's server (read/write_message).
//
//   auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
//   AMBIT_ASSIGN_OR_RETURN(CniResponse r, call_agent("/var/run/ambit/cni.sock", req, deadline));
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "agent/cni/protocol.h"

namespace ambit::agent {

using CniDeadline = std::chrono::steady_clock::time_point;

// Reads one '\n'-terminated message (returned without the newline) of at most
// kCniMaxMessageBytes. Errors: DeadlineExceeded; ResourceExhausted when the limit passes without a
// newline; Cancelled when `wake_fd` (if >= 0) becomes readable; NotFound when the peer closed
// before sending anything; InvalidArgument when it closed in the middle of a message.
absl::StatusOr<std::string> read_message(int fd, CniDeadline deadline, int wake_fd = -1);

// Writes all of `msg` (no SIGPIPE). Errors: DeadlineExceeded, Unavailable (peer gone).
absl::Status write_message(int fd, std::string_view msg, CniDeadline deadline);

// One request/response with the agent at `socket_path`. Unavailable when nobody listens there
// (no socket, refused), DeadlineExceeded when no answer came in time; the message always names
// the socket.
absl::StatusOr<CniResponse> call_agent(const std::string& socket_path, const CniRequest& req,
                                       CniDeadline deadline);

}  // namespace ambit::agent
