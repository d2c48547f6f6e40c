// ambit-agent: the node agent — eBPF capture, enrollment, ZDS server, CNI endpoint.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/base/version.h"

int main(int argc, char** argv) {
  CLI::App app{"ambit-agent: loads and pins Ambit's eBPF capture, enrolls pods, serves ZDS",
               "ambit-agent"};
  std::string node_name, bpf_root = "/sys/fs/bpf/ambit", zds_socket = "/var/run/ztunnel/ztunnel.sock";
  app.add_option("--node-name", node_name, "This node's name");
  app.add_option("--bpf-root", bpf_root, "bpffs directory for pins (per node: <root>/<node>)");
  app.add_option("--zds-socket", zds_socket, "ZDS unix socket ztunnel connects to");
  app.set_version_flag("--version", ambit::kVersion);
  CLI11_PARSE(app, argc, argv);
  std::fprintf(stderr, "ambit-agent: not built yet (see issue 5)\n");
  return 2;
}
