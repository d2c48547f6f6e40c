// `ambitctl ztunnel-config SECTION [--node NODE]`: fetches a ztunnel's /config_dump and renders
// it with istioctl's columns (the views are cli/ztunnel_config.h).
#pragma once

#include <string>

#include "cli/options.h"

namespace ambit::cli {

int ztunnel_config(const CliOptions& o, const std::string& section, const std::string& node);

}  // namespace ambit::cli
