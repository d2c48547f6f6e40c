// The protocol between the CNI plugin (`ambit-cni`, run by the container runtime) and the node
// agent's CNI endpoint (agent/cni_server.h). Istio's equivalent is the plugin → node-agent
// "pluginevent" call (istio/istio cni/pkg/plugin); ours is smaller and has one rule that matters:
// an ADD answers only once the pod is enrolled and ztunnel acknowledged it (or is known not to
// belong in the mesh), so a pod never starts uncaptured.
//
// Transport: a unix stream socket (default /var/run/ambit/cni.sock, mode 0600). One request and
// one response per connection, each a single JSON object on one line terminated by '\n', at most
// kCniMaxMessageBytes bytes before the newline. Unknown fields are ignored (forward compatible);
// a different `version` is refused.
//
//   → {"version":1,"command":"ADD","container_id":"3f2a…","netns":"/var/run/netns/cni-1234",
//      "ifname":"eth0","pod_name":"web-0","pod_namespace":"default","pod_uid":"0b1c…",
//      "ips":["10.244.1.5","fd00::5"],"gateways":["10.244.1.1"],"timeout_ms":28000}
//   ← {"version":1,"ok":false,"retry":true,"status":"DEADLINE_EXCEEDED",
//      "error":"ztunnel did not acknowledge default/web-0 in time","state":""}
//
//   std::string line = encode_request(req);            // ends with '\n'
//   AMBIT_ASSIGN_OR_RETURN(CniRequest back, decode_request(line));
//   CniResponse r = CniResponse::from_status(handler_status);
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/net/ip_addr.h"

namespace ambit::agent {

inline constexpr int kCniProtocolVersion = 1;
// Bound on each message (request or response), not counting the terminating '\n'.
inline constexpr size_t kCniMaxMessageBytes = 64 * 1024;
inline constexpr std::string_view kDefaultCniSocket = "/var/run/ambit/cni.sock";

enum class CniCommand { kAdd, kDel, kCheck };
// "ADD", "DEL", "CHECK" — the CNI_COMMAND spelling, also used on the wire.
std::string_view cni_command_name(CniCommand c);

// A pod as the CNI plugin sees it: runtime arguments plus the pod's addresses from the main
// plugin's result. On ADD and CHECK every string but `uid` is set and validated; DEL needs only
// `container_id` (the runtime may call DEL for a sandbox it never fully created).
struct CniPod {
  std::string container_id;           // CNI_CONTAINERID (the sandbox id)
  std::string netns;                  // CNI_NETNS: absolute path of the pod's network namespace
  std::string ifname;                 // CNI_IFNAME, e.g. eth0
  std::string name;                   // K8S_POD_NAME
  std::string ns;                     // K8S_POD_NAMESPACE
  std::string uid;                    // K8S_POD_UID; empty if the runtime does not pass it
  std::vector<net::IpAddr> ips;       // prevResult ips[].address without prefix length, in order
  std::vector<net::IpAddr> gateways;  // distinct prevResult ips[].gateway, in order (one per family
                                      // normally; the IPv4 one is where kubelet probes come from)
  // "default/web-0 (container 3f2a…)" for logs and errors.
  std::string describe() const;
};

struct CniRequest {
  CniCommand command = CniCommand::kAdd;
  CniPod pod;
  // ADD: how long the plugin is prepared to wait for enrollment. The agent answers before then
  // (the plugin sends its own budget minus a margin). Zero: the agent's default.
  std::chrono::milliseconds timeout{0};
};

struct CniResponse {
  bool ok = false;
  std::string error;   // why not ok; human-readable, names the pod or the bad field
  bool retry = false;  // transient (agent busy, ztunnel not acked in time): CNI code 11
  std::string status;  // absl code name ("OK", "DEADLINE_EXCEEDED", ...), for logs
  std::string state;   // CHECK: the pod's state as the agent sees it (e.g. "enrolled")

  // ok ⇔ s.ok(); retry ⇔ is_retryable(s).
  static CniResponse from_status(const absl::Status& s, std::string state = "");
};

// Unavailable, DeadlineExceeded and ResourceExhausted are worth retrying: the runtime will call
// ADD again (CNI "try again later").
bool is_retryable(const absl::Status& s);

// One line each, '\n'-terminated. Encoding never fails: strings that are not valid UTF-8 have the
// bad bytes replaced.
std::string encode_request(const CniRequest& r);
std::string encode_response(const CniResponse& r);

// Parse and validate one message (a trailing '\n' is allowed). Errors are InvalidArgument and
// name the offending field, e.g. `field "netns": required for ADD`.
absl::StatusOr<CniRequest> decode_request(std::string_view line);
absl::StatusOr<CniResponse> decode_response(std::string_view line);

// Field checks shared by the plugin (to reject bad CNI_* variables early, with CNI's codes) and
// the decoder. Each returns InvalidArgument naming `what`.
absl::Status validate_container_id(std::string_view id, std::string_view what);
absl::Status validate_ifname(std::string_view ifname, std::string_view what);
absl::Status validate_k8s_name(std::string_view name, std::string_view what);

}  // namespace ambit::agent
