// Output shapes shared by ambitctl commands: aligned tables (like istioctl's tabwriter output)
// and JSON rendered as JSON or YAML for `-o json|yaml`.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace ambit::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  size_t size() const { return rows_.size() - 1; }
  std::string render() const;  // columns separated by at least one space, left-aligned

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Prints "ambitctl: <message>" to stderr; returns the exit code 1.
int fail(const absl::Status& s);

std::string to_yaml(const nlohmann::json& j);
// "json" or "yaml" rendering of `j`; "table" returns "" (the caller prints its table).
std::string render_structured(const nlohmann::json& j, const std::string& format);

}  // namespace ambit::cli
