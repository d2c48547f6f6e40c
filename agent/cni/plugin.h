// The logic of `ambit-cni`, a chained CNI plugin (CNI spec 1.0.0; 0.4.0 configs accepted), kept
// apart from process I/O so it is tested without environment variables or stdin. Istio's
// equivalent is istio/istio cni/pkg/plugin (CmdAdd/CmdCheck/CmdDel).
//
//   CniEnv env{.command = "ADD", .container_id = "3f2a", .netns = "/var/run/netns/x",
//              .ifname = "eth0", .args = "K8S_POD_NAME=web-0;K8S_POD_NAMESPACE=default"};
//   PluginOutput o = run_plugin(env, stdin_json, call_agent);
//   // o.out goes to stdout, o.err to stderr, o.exit_code is the process's.
//
// ADD forwards the pod to the node agent and returns only when the agent answered (bounded by the
// config's `timeout_seconds`); on success it prints prevResult unchanged. It fails closed: no
// agent, no pod. DEL is best effort and always succeeds once its input is readable. CHECK asks the
// agent whether the pod is where it should be.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/cni/protocol.h"
#include "agent/cni/transport.h"

namespace ambit::agent::cni {

// Error codes from the CNI spec (SPEC.md "Error"; libcni pkg/types/types.go).
enum ErrorCode : int {
  kErrIncompatibleVersion = 1,
  kErrInvalidEnvironment = 4,
  kErrIoFailure = 5,
  kErrDecodingFailure = 6,
  kErrInvalidNetworkConfig = 7,
  kErrTryAgainLater = 11,
  kErrInternal = 999,
};

inline constexpr std::string_view kCniVersion = "1.0.0";
inline constexpr std::chrono::seconds kDefaultTimeout{30};
// DEL never waits longer than this for the agent: it is best effort, and a slow DEL holds up pod
// teardown.
inline constexpr std::chrono::seconds kMaxDelWait{10};

// {"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}
std::string version_json();
// OK for a supported cniVersion; otherwise an error listing the supported ones.
absl::Status check_cni_version(std::string_view version);

// What the runtime passes in CNI_* variables.
struct CniEnv {
  std::string command;       // CNI_COMMAND
  std::string container_id;  // CNI_CONTAINERID
  std::string netns;         // CNI_NETNS
  std::string ifname;        // CNI_IFNAME
  std::string args;          // CNI_ARGS
  std::string path;          // CNI_PATH (unused: this plugin delegates to nothing)
};

// The Kubernetes keys of CNI_ARGS.
struct K8sArgs {
  std::string pod_name;
  std::string pod_namespace;
  std::string pod_uid;
  std::string infra_container_id;
};
// "K8S_POD_NAME=a;K8S_POD_NAMESPACE=b;IgnoreUnknown=1". As libcni's LoadArgs: every non-empty
// piece is KEY=VALUE; unknown keys are an error unless IgnoreUnknown is 1/true (anywhere in the
// list). Values may contain '='.
absl::StatusOr<K8sArgs> parse_cni_args(std::string_view args);

// The network configuration on stdin.
struct NetConfig {
  std::string cni_version;
  std::string name;
  std::string type;
  std::string agent_socket = std::string(kDefaultCniSocket);
  std::chrono::milliseconds timeout = kDefaultTimeout;
  nlohmann::ordered_json prev_result;  // null when absent
};
// Syntax: JSON object (else CNI code 6).
absl::StatusOr<nlohmann::ordered_json> decode_config(std::string_view stdin_data);
// Semantics: field types and values (else CNI code 7). Does not check the version.
absl::StatusOr<NetConfig> parse_net_config(const nlohmann::ordered_json& conf);

// The pod's addresses from the main plugin's result (0.4.0 or 1.0.0 shape).
struct PodNetwork {
  std::vector<net::IpAddr> ips;
  std::vector<net::IpAddr> gateways;
};
absl::StatusOr<PodNetwork> parse_prev_result(const nlohmann::ordered_json& prev);

// prevResult, unchanged but for `cniVersion` (the config's), as a chained plugin must print it.
std::string format_result(const NetConfig& conf);
// {"cniVersion":…,"code":…,"msg":…,"details":…}; details omitted when empty.
std::string format_error(std::string_view cni_version, int code, std::string_view msg,
                         std::string_view details = "");

struct PluginOutput {
  int exit_code = 0;
  std::string out;  // stdout: the result or the CNI error object
  std::string err;  // stderr: a line for humans reading the runtime's log
};

// How the plugin reaches the agent; call_agent in the binary, a fake in tests.
using AgentCall = std::function<absl::StatusOr<CniResponse>(
    const std::string& socket_path, const CniRequest& req, CniDeadline deadline)>;

PluginOutput run_plugin(const CniEnv& env, std::string_view stdin_data, const AgentCall& call);

// `ambit-cni --help`.
std::string usage();

}  // namespace ambit::agent::cni
