// istiod: Ambit's control plane — config store, ambient index, delta xDS (WDS + Authorization)
// and the CA.
//
//   istiod --config-dir DIR --ca-dir DIR [--grpc-address 0.0.0.0:15012] ...
//   istiod node-token --ca-dir DIR --node NODE     # print a node's bootstrap credential
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <thread>

#include "common/base/log.h"
#include "common/base/version.h"
#include "istiod/server.h"

int main(int argc, char** argv) {
  CLI::App app{"istiod: Ambit control plane (delta xDS for WDS/Authorization, CA)", "istiod"};
  app.set_version_flag("--version", ambit::kVersion);
  ambit::istiod::IstiodOptions o;
  std::string log_level = "info";
  int debounce_quiet = 10, debounce_max = 100, config_debounce = 10;
  app.add_option("--config-dir", o.config_dir, "Directory of Kubernetes-shaped YAML to watch");
  app.add_option("--workloads-dir", o.workloads_dir,
                 "Where the waypoint deployment controller writes Deployments (local mode: the supervisor's "
                 "input); its ServiceAccounts and Services go to --config-dir. Unset: no waypoint deployments");
  app.add_option("--status-dir", o.status_dir, "Directory for object status (one YAML file per object); unset: none");
  app.add_option("--waypoint-xds-address", o.waypoint_xds_address, "xDS/CA address given to generated waypoint pods")
      ->capture_default_str();
  app.add_option("--waypoint-bypass-protection", o.waypoint_bypass_protection,
                 "Send istio_allow_waypoint_* ALLOW policies so that, once an ALLOW policy applies, traffic that "
                 "skips a waypoint is refused (Istio's PILOT_AUTO_ALLOW_WAYPOINT_POLICY; false turns it off)")
      ->capture_default_str();
  std::string path_normalization = "BASE";
  app.add_option("--path-normalization", path_normalization,
                 "meshConfig.pathNormalization for waypoints: BASE, NONE, MERGE_SLASHES or DECODE_AND_MERGE_SLASHES")
      ->capture_default_str();
  app.add_option("--ca-dir", o.ca_dir, "CA material (ca-cert.pem, ca-key.pem, node-token.key); created if empty");
  app.add_option("--trust-domain", o.trust_domain, "SPIFFE trust domain")->capture_default_str();
  app.add_option("--root-namespace", o.root_namespace, "Mesh root namespace")->capture_default_str();
  app.add_option("--grpc-address", o.grpc_address, "TLS address for xDS and the CA")->capture_default_str();
  app.add_option("--plaintext-address", o.plaintext_address,
                 "Plaintext xDS+CA address for debugging on this host (\"\" disables); must be loopback")
      ->capture_default_str();
  app.add_flag("--plaintext-allow-remote", o.plaintext_allow_remote,
               "Allow --plaintext-address to be a non-loopback address (non-loopback peers are still refused: "
               "no credential is accepted in clear from them)");
  app.add_flag("--plaintext-requires-auth", o.plaintext_requires_auth,
               "Refuse anonymous plaintext streams from loopback too (a node token is then required)");
  app.add_option("--xds-max-subscribed-names", o.xds_limits.max_subscribed_names,
                 "Explicit resource names one ADS stream may subscribe to (wildcard not counted)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--xds-max-resource-name-length", o.xds_limits.max_name_length,
                 "Longest resource name, version, node id or type URL an ADS request may carry, in bytes")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--xds-max-streams-per-client", o.xds_limits.max_streams_per_client,
                 "Concurrent ADS streams per client (authenticated identity, node and peer address)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--http-host", o.http_host, "Monitoring/debug HTTP host")->capture_default_str();
  app.add_option("--http-port", o.http_port, "Monitoring/debug HTTP port")->capture_default_str();
  app.add_option("--config-debounce-ms", config_debounce, "Coalesce file events for this long before reloading")
      ->capture_default_str();
  app.add_option("--debounce-quiet-ms", debounce_quiet, "Push after this long without changes")->capture_default_str();
  app.add_option("--debounce-max-ms", debounce_max, "Push at most this long after the first change")->capture_default_str();
  app.add_option("--log-level", log_level, "Log level, or scope:level,...")->capture_default_str();

  auto* tok = app.add_subcommand("node-token", "Print the bootstrap credential of a node (local mode)");
  tok->fallthrough();  // `istiod node-token --ca-dir D --node N`: --ca-dir belongs to the parent
  std::string node;
  tok->add_option("--node", node, "Node name")->required();
  CLI11_PARSE(app, argc, argv);

  if (auto s = ambit::log::init(log_level); !s.ok()) {
    std::fprintf(stderr, "istiod: --log-level: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (auto p = ambit::istiod::ambient::parse_path_normalization(path_normalization)) {
    o.path_normalization = *p;
  } else {
    std::fprintf(stderr, "istiod: --path-normalization: '%s' is not BASE, NONE, MERGE_SLASHES or DECODE_AND_MERGE_SLASHES\n",
                 path_normalization.c_str());
    return 2;
  }
  if (o.ca_dir.empty()) {
    std::fprintf(stderr, "istiod: --ca-dir is required\n");
    return 2;
  }
  if (*tok) {
    auto t = ambit::istiod::issue_node_token(o.ca_dir, node);
    if (!t.ok()) {
      std::fprintf(stderr, "istiod: %s\n", std::string(t.status().message()).c_str());
      return 1;
    }
    std::printf("%s\n", t->c_str());
    return 0;
  }
  if (o.config_dir.empty()) {
    std::fprintf(stderr, "istiod: --config-dir is required\n");
    return 2;
  }
  o.debounce_quiet = std::chrono::milliseconds(debounce_quiet);
  o.config_debounce = std::chrono::milliseconds(config_debounce);
  o.debounce_max = std::chrono::milliseconds(debounce_max);

  // Signals are handled by one thread with sigwait, so no handler runs inside gRPC or asio code.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto server = ambit::istiod::Istiod::start(o);
  if (!server.ok()) {
    std::fprintf(stderr, "istiod: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::thread([&] {
    int sig = 0;
    sigwait(&set, &sig);
    (*server)->shutdown();
  }).detach();
  (*server)->wait();
  return 0;
}
