// Flags every ambitctl command shares.
#pragma once

#include <string>

namespace ambit::cli {

struct CliOptions {
  std::string dir;     // local mesh state directory (--dir)
  std::string ns;      // -n; empty when not given
  std::string output;  // -o table|json|yaml
};

}  // namespace ambit::cli
