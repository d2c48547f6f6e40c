#include "istiod/config/field.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "common/base/strings.h"
#include "istiod/config/yaml_parser.h"

namespace ambit::istiod::parse {

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 9;
    if (n == 9 || i + n >= s.size()) return false;  // bad lead byte, or truncated sequence
    uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1f) : n == 2 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

Field Field::operator[](const char* key) const {
  if (present() && !n_.IsMap()) fail("want an object");
  YAML::Node child = present() ? n_[key] : YAML::Node();
  return Field(child, path_.empty() ? key : path_ + "." + key);
}

void Field::only(std::initializer_list<std::string_view> known) const {
  if (!present() || !n_.IsMap()) return;
  for (auto it = n_.begin(); it != n_.end(); ++it) {
    std::string k = it->first.IsScalar() ? printable(it->first.Scalar()) : "<non-string key>";
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      throw FieldError{path_.empty() ? k : str_cat(path_, ".", k), "unknown field"};
    }
  }
}

std::string Field::str(const std::string& def) const {
  if (!present()) return def;
  if (!n_.IsScalar()) fail("want a string");
  // Strings end up in protobuf string fields, which must be UTF-8: a resource that ztunnel
  // cannot parse would be NACKed as a whole, so refuse it here, naming the field.
  if (!valid_utf8(n_.Scalar())) fail("not valid UTF-8");
  return n_.Scalar();
}

std::string Field::required_str() const {
  if (!present()) fail("required");
  std::string s = str();
  if (s.empty()) fail("must not be empty");
  return s;
}

bool Field::boolean(bool def) const {
  if (!present()) return def;
  if (!n_.IsScalar()) fail("want true or false");
  const std::string& s = n_.Scalar();
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  fail(str_cat("want true or false, got '", printable(s), "'"));
}

int64_t Field::integer(int64_t lo, int64_t hi) const {
  if (!n_.IsScalar()) fail("want an integer");
  const std::string& s = n_.Scalar();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0) fail(str_cat("want an integer, got '", printable(s), "'"));
  if (v < lo || v > hi) fail(str_cat(v, " is out of range ", lo, "-", hi));
  return v;
}

bool Field::is_int() const {
  if (!n_.IsScalar()) return false;
  const std::string& s = n_.Scalar();
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

void Field::each(const std::function<void(const Field&)>& fn) const {
  if (!present()) return;
  if (!n_.IsSequence()) fail("want a list");
  for (size_t i = 0; i < n_.size(); ++i) fn(Field(n_[i], str_cat(path_, "[", i, "]")));
}

std::vector<std::string> Field::strings() const {
  std::vector<std::string> out;
  each([&](const Field& f) { out.push_back(f.str()); });
  return out;
}

Labels Field::string_map() const {
  Labels out;
  if (!present()) return out;
  if (!n_.IsMap()) fail("want a map of strings");
  for (auto it = n_.begin(); it != n_.end(); ++it) {
    std::string k = it->first.Scalar();
    if (!it->second.IsScalar() && !it->second.IsNull()) {
      throw FieldError{str_cat(path_, ".", k), "want a string"};
    }
    out[k] = it->second.IsNull() ? "" : it->second.Scalar();
  }
  return out;
}

Labels labels_field(const Field& f) {
  Labels l = f.string_map();
  for (const auto& [k, v] : l) {
    if (auto s = validate_label_key(k); !s.ok()) throw FieldError{str_cat(f.path(), ".", k), std::string(s.message())};
    if (auto s = validate_label_value(v); !s.ok()) throw FieldError{str_cat(f.path(), ".", k), std::string(s.message())};
  }
  return l;
}

LabelSelector label_selector(const Field& f) {
  LabelSelector sel;
  sel.match_labels = labels_field(f["matchLabels"]);
  f["matchExpressions"].each([&](const Field& e) {
    LabelSelector::Requirement r;
    r.key = e["key"].required_str();
    if (auto s = validate_label_key(r.key); !s.ok()) e["key"].fail(std::string(s.message()));
    std::string op = e["operator"].required_str();
    r.values = e["values"].strings();
    using Op = LabelSelector::Requirement::Op;
    if (op == "In") r.op = Op::kIn;
    else if (op == "NotIn") r.op = Op::kNotIn;
    else if (op == "Exists") r.op = Op::kExists;
    else if (op == "DoesNotExist") r.op = Op::kDoesNotExist;
    else e["operator"].fail(str_cat("unknown operator '", printable(op), "' (want In, NotIn, Exists, DoesNotExist)"));
    bool needs_values = r.op == Op::kIn || r.op == Op::kNotIn;
    if (needs_values && r.values.empty()) e["values"].fail(str_cat("required for operator ", op));
    if (!needs_values && !r.values.empty()) e["values"].fail(str_cat("must be empty for operator ", op));
    sel.match_expressions.push_back(std::move(r));
  });
  return sel;
}

}  // namespace ambit::istiod::parse
