// ambitctl: the istioctl-shaped command line.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/base/version.h"

int main(int argc, char** argv) {
  CLI::App app{"ambitctl: manage an Ambit mesh (istioctl-shaped)", "ambitctl"};
  app.require_subcommand(1);
  auto* version = app.add_subcommand("version", "Print the version");
  version->callback([] { std::printf("ambitctl version %s\n", ambit::kVersion); });
  CLI11_PARSE(app, argc, argv);
  return 0;
}
