// The typed walk over a parsed YAML object that every kind's parser uses (config/yaml_parser.cc,
// config/gateway_api_parser.cc): a Field is a node plus its path ("spec.rules[1].matches[0]"),
// and every accessor that meets a wrong type or value throws FieldError naming that path. The
// parser turns a FieldError into a per-object Rejection, so nothing here escapes
// config/. (yaml-cpp itself throws; the parser is not on a data path.)
//
//   Field spec(doc["spec"], "spec");
//   uint16_t port = spec["port"].port();                 // "spec.port: 70000 is out of range 1-65535"
//   spec["rules"].each([&](const Field& r) { ... });      // paths spec.rules[0], spec.rules[1], ...
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "istiod/model/objects.h"

namespace ambit::istiod::parse {

// Thrown for a field that fails validation; converted to a Rejection at the object boundary.
struct FieldError {
  std::string path;
  std::string msg;
};

// RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF.
bool valid_utf8(const std::string& s);

class Field {
 public:
  Field(const YAML::Node& n, std::string path) : n_(n), path_(std::move(path)) {}
  const YAML::Node& node() const { return n_; }
  const std::string& path() const { return path_; }
  bool present() const { return n_.IsDefined() && !n_.IsNull(); }

  Field operator[](const char* key) const;
  [[noreturn]] void fail(const std::string& msg) const { throw FieldError{path_, msg}; }

  // Refuses keys other than `known`. For policy and route objects a misspelt or unsupported field
  // would otherwise be dropped, and a dropped constraint makes the rule broader than written; so
  // the object is rejected, naming the field.
  void only(std::initializer_list<std::string_view> known) const;

  std::string str(const std::string& def = "") const;
  std::string required_str() const;
  bool boolean(bool def = false) const;
  int64_t integer(int64_t lo, int64_t hi) const;
  uint16_t port() const { return static_cast<uint16_t>(integer(1, 65535)); }
  bool is_int() const;
  size_t size() const { return present() && n_.IsSequence() ? n_.size() : 0; }
  void each(const std::function<void(const Field&)>& fn) const;
  std::vector<std::string> strings() const;
  Labels string_map() const;

 private:
  YAML::Node n_;
  std::string path_;
};

Labels labels_field(const Field& f);
LabelSelector label_selector(const Field& f);

}  // namespace ambit::istiod::parse
