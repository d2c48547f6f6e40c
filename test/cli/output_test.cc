// Pure tests for ambitctl's output shapes (cli/output.h): aligned tables and JSON rendered as YAML.
#include <doctest/doctest.h>

#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "cli/output.h"

using namespace ambit::cli;
using nlohmann::json;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// How a strict YAML reader types a plain (unquoted) scalar: the YAML 1.2 core schema, plus the
// YAML 1.1 booleans that Go's and Python's YAML libraries still apply.
json resolve_plain(const std::string& s) {
  static const std::regex kNull("~|null|Null|NULL|");
  static const std::regex kTrue("true|True|TRUE|y|Y|yes|Yes|YES|on|On|ON");
  static const std::regex kFalse("false|False|FALSE|n|N|no|No|NO|off|Off|OFF");
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kOtherInt("0o[0-7]+|0x[0-9a-fA-F]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  static const std::regex kSpecialFloat("[-+]?\\.(inf|Inf|INF)|\\.nan|\\.NaN|\\.NAN");
  if (std::regex_match(s, kNull)) return nullptr;
  if (std::regex_match(s, kTrue)) return true;
  if (std::regex_match(s, kFalse)) return false;
  if (std::regex_match(s, kInt)) return std::stoll(s);
  if (std::regex_match(s, kOtherInt)) return json{{"<non-string int>", s}};
  if (std::regex_match(s, kFloat)) return std::stod(s);
  if (std::regex_match(s, kSpecialFloat)) return json{{"<non-string float>", s}};
  return s;
}

// YAML back to JSON, typing plain scalars as a strict reader would and quoted ones as strings.
json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar:
      return n.Tag() == "!" ? json(n.Scalar()) : resolve_plain(n.Scalar());
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& e : n) out.push_back(to_json(e));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : n) out[kv.first.Scalar()] = to_json(kv.second);
      return out;
    }
    default:
      FAIL("undefined YAML node");
      return nullptr;
  }
}

json round_trip(const json& j) {
  const std::string text = to_yaml(j);
  YAML::Node n;
  REQUIRE_NOTHROW(n = YAML::Load(text));
  return to_json(n);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Table

TEST_CASE("Table: every column starts at the same offset in each line") {
  Table t({"NAMESPACE", "POD NAME", "ADDRESS", "NODE"});
  t.add({"demo", "web-0", "10.244.1.5", "node1"});
  t.add({"a-much-longer-namespace", "x", "10.244.2.100,fd00::1234", "n"});
  t.add({"", "empty-first-cell", "", "node-with-a-long-name"});
  t.add({"ns", "p", "1.2.3.4", ""});
  CHECK(t.size() == 4);
  const std::string text = t.render();
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  auto lines = lines_of(text);
  REQUIRE(lines.size() == 5);

  const std::vector<std::vector<std::string>> cells = {{"NAMESPACE", "POD NAME", "ADDRESS", "NODE"},
                                                       {"demo", "web-0", "10.244.1.5", "node1"},
                                                       {"a-much-longer-namespace", "x", "10.244.2.100,fd00::1234", "n"},
                                                       {"", "empty-first-cell", "", "node-with-a-long-name"},
                                                       {"ns", "p", "1.2.3.4", ""}};
  // Column c starts after the widest cell of every column before it plus one space.
  std::vector<size_t> offset = {0};
  for (size_t c = 0; c + 1 < cells[0].size(); ++c) {
    size_t width = 0;
    for (const auto& row : cells) width = std::max(width, row[c].size());
    offset.push_back(offset.back() + width + 1);
  }
  CHECK(offset == std::vector<size_t>{0, 24, 41, 65});
  for (size_t l = 0; l < lines.size(); ++l) {
    CAPTURE(lines[l]);
    for (size_t c = 0; c < cells[l].size(); ++c) {
      CAPTURE(c);
      if (cells[l][c].empty()) continue;
      REQUIRE(lines[l].size() >= offset[c] + cells[l][c].size());
      CHECK(lines[l].substr(offset[c], cells[l][c].size()) == cells[l][c]);
      if (c > 0) CHECK(lines[l][offset[c] - 1] == ' ');  // at least one space of separation
      // Padding, not text, between this cell and the next column.
      if (c + 1 < cells[l].size()) {
        const std::string gap = lines[l].substr(offset[c] + cells[l][c].size(), offset[c + 1] - offset[c] - cells[l][c].size());
        CHECK(gap.find_first_not_of(' ') == std::string::npos);
      }
    }
  }
}

TEST_CASE("Table: widths follow the widest cell, header included") {
  struct Case {
    std::string name;
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"header only", {"A", "BB"}, {}, "A BB\n"},
      {"header wider than cells", {"NAME", "X"}, {{"a", "b"}}, "NAME X\na    b\n"},
      {"cell wider than header", {"A", "B"}, {{"long", "x"}, {"s", "y"}}, "A    B\nlong x\ns    y\n"},
      {"single column", {"ONLY"}, {{"a"}, {"bbbbbb"}}, "ONLY\na\nbbbbbb\n"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    Table t(c.header);
    for (const auto& r : c.rows) t.add(r);
    CHECK(t.size() == c.rows.size());
    CHECK(t.render() == c.want);
  }
}

// ---------------------------------------------------------------------------------------------
// to_yaml / render_structured

TEST_CASE("to_yaml: nested objects and arrays survive a round trip through a YAML reader") {
  const json j = json::parse(R"({
    "workloads": [
      {"name": "web-0", "namespace": "demo", "workloadIps": ["10.244.1.5", "fd00::5"], "protocol": "HBONE",
       "waypoint": {"destination": "demo/waypoint.demo.svc.cluster.local", "hboneMtlsPort": 15008},
       "healthy": true, "canary": false, "weight": 0.25, "retries": -3, "nothing": null,
       "empty": {}, "none": []}
    ],
    "services": {"demo/web": {"ports": {"80": 8080}, "vips": ["/10.96.0.10"], "nested": [[1, 2], [], [{"a": [true]}]]}},
    "config": {"nodeName": "node1", "workerThreads": 2, "identity": "spiffe://cluster.local/ns/demo/sa/web",
               "message": "a: b # not a comment", "multi": "line one\nline two", "dash": "- x", "star": "*alias",
               "brace": "{x}", "quote": "it's \"quoted\""}
  })");
  CHECK(round_trip(j) == j);
}

TEST_CASE("to_yaml: top-level scalars and empty containers round trip") {
  for (const json& j : {json(42), json(-1.5), json(true), json(false), json(nullptr), json("web"), json::array(),
                        json::object(), json::array({json::object(), json::array()})}) {
    CAPTURE(j.dump());
    CHECK(round_trip(j) == j);
  }
}

TEST_CASE("to_yaml: strings that look like other types are quoted and stay strings") {
  const std::vector<std::string> tricky = {
      // Booleans, numbers and nulls as YAML 1.2 reads them...
      "true", "false", "True", "FALSE", "123", "0", "-1", "+1", "007", "1.5", "-0.5", ".5", "1e3", "6.02E23", "",
      "null", "Null", "NULL", "~", "0x1f", "0o17", ".inf", "-.Inf", ".nan",
      // ...and the YAML 1.1 booleans that Go's and Python's readers still apply.
      "yes", "No", "ON", "off", "y", "N"};
  for (const auto& s : tricky) {
    CAPTURE(s);
    const json j = {{"value", s}, {"list", {s}}};
    const std::string text = to_yaml(j);
    CAPTURE(text);
    YAML::Node n = YAML::Load(text);
    REQUIRE(n["value"].IsScalar());
    CHECK(n["value"].Scalar() == s);
    CHECK(n["value"].Tag() == "!");  // quoted
    CHECK(n["list"][0].Tag() == "!");
    CHECK(to_json(n) == j);
  }
}

TEST_CASE("to_yaml: numbers and booleans are not quoted") {
  const json j = {{"int", 123}, {"neg", -7}, {"float", 1.5}, {"yes", true}, {"no", false}, {"nil", nullptr}};
  YAML::Node n = YAML::Load(to_yaml(j));
  CHECK(n["int"].Tag() != "!");
  CHECK(n["int"].as<int>() == 123);
  CHECK(n["neg"].as<int>() == -7);
  CHECK(n["float"].as<double>() == 1.5);
  CHECK(n["yes"].as<bool>() == true);
  CHECK(n["no"].as<bool>() == false);
  CHECK(n["nil"].IsNull());
  CHECK(to_json(n) == j);
}

TEST_CASE("to_yaml: ordinary strings are written plain") {
  CHECK(to_yaml("hello") == "hello\n");
  CHECK(to_yaml(json{{"protocol", "HBONE"}}) == "protocol: HBONE\n");
}

TEST_CASE("render_structured: json, yaml, and nothing for table") {
  const json j = {{"name", "web"}, {"ports", {80, 443}}, {"ready", "true"}};
  const std::string as_json = render_structured(j, "json");
  REQUIRE(!as_json.empty());
  CHECK(as_json.back() == '\n');
  CHECK(json::parse(as_json) == j);
  CHECK(render_structured(j, "yaml") == to_yaml(j));
  CHECK(to_json(YAML::Load(render_structured(j, "yaml"))) == j);
  CHECK(render_structured(j, "table") == "");
}
