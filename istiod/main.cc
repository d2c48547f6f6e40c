// istiod: Ambit's control plane — config store, ambient index, delta xDS (WDS + Authorization)
// and the CA. (Wiring lands with the xDS server.)
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/base/version.h"

int main(int argc, char** argv) {
  CLI::App app{"istiod: Ambit control plane (delta xDS for WDS/Authorization, CA)", "istiod"};
  std::string config_dir;
  app.add_option("--config-dir", config_dir, "Directory of Kubernetes-shaped YAML to watch")->required();
  app.set_version_flag("--version", ambit::kVersion);
  CLI11_PARSE(app, argc, argv);
  std::fprintf(stderr, "istiod: the control plane is not built yet\n");
  return 2;
}
