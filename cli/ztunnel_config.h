// `ambitctl ztunnel-config`: views of a ztunnel's /config_dump, with istioctl's columns
// (istioctl ztunnel-config workload|service|policy|certificate). Pure: JSON in, text out.
//
//   auto dump = nlohmann::json::parse(body);
//   std::cout << ztunnel_config_table(dump, "workload", {});
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace ambit::cli {

struct ZtunnelConfigFilter {
  std::string ns;  // only this namespace ("" = all)
};

// section: workload | service | policy | certificate | connections | all
absl::StatusOr<std::string> ztunnel_config_table(const nlohmann::json& dump, const std::string& section,
                                                 const ZtunnelConfigFilter& filter);
// The section's part of the dump (for -o json|yaml); "all" is the whole dump.
absl::StatusOr<nlohmann::json> ztunnel_config_json(const nlohmann::json& dump, const std::string& section,
                                                   const ZtunnelConfigFilter& filter);

}  // namespace ambit::cli
