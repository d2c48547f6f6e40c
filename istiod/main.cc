// istiod: Ambit's control plane — config store, ambient index, delta xDS (WDS + Authorization)
// and the CA. Filled in by the istiod issue; the flags are its contract.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/base/version.h"

int main(int argc, char** argv) {
  CLI::App app{"istiod: Ambit control plane (delta xDS for WDS/Authorization, CA)", "istiod"};
  std::string config_dir, ca_dir, trust_domain = "cluster.local";
  uint16_t grpc_port = 15012, plaintext_port = 15010, monitoring_port = 15014;
  app.add_option("--config-dir", config_dir, "Directory of Kubernetes-shaped YAML to watch")->required();
  app.add_option("--ca-dir", ca_dir, "CA material (ca-cert.pem, ca-key.pem); created if empty");
  app.add_option("--trust-domain", trust_domain, "SPIFFE trust domain");
  app.add_option("--grpc-port", grpc_port, "TLS port for xDS and the CA");
  app.add_option("--plaintext-port", plaintext_port, "Plaintext xDS port for local debugging");
  app.add_option("--monitoring-port", monitoring_port, "HTTP port for /metrics and /debug");
  app.set_version_flag("--version", ambit::kVersion);
  CLI11_PARSE(app, argc, argv);
  std::fprintf(stderr, "istiod: the control plane is not built yet (see issue 3)\n");
  return 2;
}
