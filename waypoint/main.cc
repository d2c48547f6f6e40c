// waypoint: the shared L7 proxy (HBONE in, HTTP routing and policy, HBONE out).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/base/version.h"

int main(int argc, char** argv) {
  CLI::App app{"waypoint: Ambit's L7 proxy for a namespace or service", "waypoint"};
  std::string xds_address, name, ns;
  app.add_option("--xds-address", xds_address, "istiod xDS address (host:port)");
  app.add_option("--name", name, "Gateway name");
  app.add_option("-n,--namespace", ns, "Gateway namespace");
  app.set_version_flag("--version", ambit::kVersion);
  CLI11_PARSE(app, argc, argv);
  std::fprintf(stderr, "waypoint: the L7 proxy is not built yet\n");
  return 2;
}
