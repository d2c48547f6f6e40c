// Kubernetes-shaped YAML → typed ConfigObjects, with validation. Each object is accepted or
// rejected on its own, with the reason and the field path ("spec.ports[1].port: ..."), so one bad
// object never takes its neighbours down. A YAML syntax error is different: the whole text is
// refused (the caller keeps the last good version of that file), because a broken document
// boundary could silently drop or merge objects.
//
//   AMBIT_ASSIGN_OR_RETURN(ParseResult r, parse_yaml(text, "config/app.yaml"));
//   for (auto& obj : r.objects) store(obj);
//   for (auto& rej : r.rejections) log(rej.to_string());
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "istiod/model/objects.h"

namespace ambit::istiod {

struct Rejection {
  std::string source;  // file (and document index)
  std::string kind;    // as written, may be empty
  std::string ns;
  std::string name;
  std::string reason;
  std::string to_string() const;
};

struct ParseResult {
  std::vector<ObjectPtr> objects;
  std::vector<Rejection> rejections;
  std::vector<std::string> notices;  // e.g. unknown kinds, ignored
};

// `source` names the file for messages and ConfigObject::source ("<source>#<doc>").
absl::StatusOr<ParseResult> parse_yaml(std::string_view text, std::string_view source);

// Validation helpers shared with other sources (the Kubernetes watcher).
bool valid_dns1123_label(std::string_view s);      // namespaces, service names
bool valid_dns1123_subdomain(std::string_view s);  // most object names
absl::Status validate_label_key(std::string_view k);
absl::Status validate_label_value(std::string_view v);
// "10.0.0.0/8", "10.1.2.3" (a single address is a /32 or /128).
absl::Status validate_cidr(std::string_view s);
bool valid_ip(std::string_view s);

}  // namespace ambit::istiod
