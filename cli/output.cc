#include "cli/output.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include <yaml-cpp/yaml.h>

namespace ambit::cli {

int fail(const absl::Status& s) {
  std::fprintf(stderr, "ambitctl: %s\n", std::string(s.message()).c_str());
  return 1;
}

std::string Table::render() const {
  std::vector<size_t> width;
  for (const auto& r : rows_) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows_) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 1, ' ');
    }
    out += line + "\n";
  }
  return out;
}

namespace {

// Whether a YAML reader takes `s`, written plain, as something other than a string: the YAML 1.2
// core schema's nulls, booleans and numbers, and YAML 1.1's y/n/yes/no/on/off, which Go's and
// Python's YAML libraries still read as booleans. Errs on the side of quoting.
bool reads_as_non_string(const std::string& s) {
  static const std::set<std::string> kWords = {
      "~",    "null", "Null", "NULL", "true",  "True",  "TRUE",  "false", "False", "FALSE", "y",     "Y",
      "yes",  "Yes",  "YES",  "n",    "N",     "no",    "No",    "NO",    "on",    "On",    "ON",    "off",
      "Off",  "OFF",  ".inf", ".Inf", ".INF",  "-.inf", "-.Inf", "-.INF", "+.inf", "+.Inf", "+.INF", ".nan",
      ".NaN", ".NAN"};
  if (s.empty() || kWords.count(s)) return true;
  if (s.find_first_not_of("0123456789.-+eE") == std::string::npos) return true;  // 1, -2.5, 1e3
  return s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o');           // 0x1f, 0o17
}

void emit(YAML::Emitter& e, const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object:
      e << YAML::BeginMap;
      for (auto it = j.begin(); it != j.end(); ++it) {
        e << YAML::Key << it.key() << YAML::Value;
        emit(e, it.value());
      }
      e << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      e << YAML::BeginSeq;
      for (const auto& v : j) emit(e, v);
      e << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string: {
      // Quote strings YAML would read back as another type ("true", "1", "", "null").
      const auto& s = j.get_ref<const std::string&>();
      if (!reads_as_non_string(s)) {
        e << s;
      } else {
        e << YAML::DoubleQuoted << s;
      }
      break;
    }
    case nlohmann::json::value_t::null:
      e << YAML::Null;
      break;
    default:
      e << j.dump();  // numbers and booleans: their JSON spelling is valid YAML
  }
}

}  // namespace

std::string to_yaml(const nlohmann::json& j) {
  YAML::Emitter e;
  emit(e, j);
  return std::string(e.c_str()) + "\n";
}

std::string render_structured(const nlohmann::json& j, const std::string& format) {
  if (format == "json") return j.dump(2) + "\n";
  if (format == "yaml") return to_yaml(j);
  return "";
}

}  // namespace ambit::cli
