// ztunnel: the HBONE mTLS node proxy. Filled in by the ztunnel issue; the flags are its contract.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/base/version.h"

int main(int argc, char** argv) {
  CLI::App app{"ztunnel: Ambit's per-node HBONE mTLS proxy", "ztunnel"};
  std::string xds_address, ca_address, zds_socket = "/var/run/ztunnel/ztunnel.sock", node_name;
  app.add_option("--xds-address", xds_address, "istiod xDS address (host:port)");
  app.add_option("--ca-address", ca_address, "istiod CA address (host:port)");
  app.add_option("--zds-socket", zds_socket, "Node agent ZDS unix socket");
  app.add_option("--node-name", node_name, "This node's name (matches Workload.node)");
  app.set_version_flag("--version", ambit::kVersion);
  CLI11_PARSE(app, argc, argv);
  std::fprintf(stderr, "ztunnel: the proxy is not built yet (see issue 4)\n");
  return 2;
}
