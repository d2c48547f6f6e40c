// Compiled forms of the waypoint's StringMatch (api/ambit/waypoint/v1/authorization.proto):
// Istio's value syntax ("*", "x*", "*x", exact, and for paths the {*}/{**} templates) after
// istiod compiled it, checked once at config time and matched many times per request.
//
//   AMBIT_ASSIGN_OR_RETURN(StringMatcher m, StringMatcher::compile(proto, kPaths, "paths[0]"));
//   m.matches("/admin");
//
// Path templates follow Istio's rules (AuthorizationPolicy Operation.paths): an operator is a
// whole segment, `{*}` matches exactly one non-empty segment, `{**}` matches any remainder
// (zero or more characters, '/' included) and must be the last operator; '*', '{' and '}'
// may not appear outside an operator. They are compiled to RE2 (linear time).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ambit/waypoint/v1/authorization.pb.h"

namespace re2 {
class RE2;
}

namespace ambit::waypoint::l7 {

// How a field compares values. Hosts fold case and accept "host:port" for "host".
enum class MatchField { kPlain, kPath, kHost, kHeader };

class StringMatcher {
 public:
  enum class Kind { kExact, kPrefix, kSuffix, kPresence, kTemplate };

  // `where` names the field in errors ("rules[0].to[1].paths[2]"). Templates are accepted only
  // for kPath; an empty exact/prefix/suffix is refused (istiod never produces one).
  static absl::StatusOr<StringMatcher> compile(const ::ambit::waypoint::v1::StringMatch& m,
                                               MatchField field, std::string_view where);
  static absl::StatusOr<StringMatcher> make_template(std::string_view tmpl);

  // Presence: for kHeader any value, even empty (the header is present); otherwise non-empty.
  bool matches(std::string_view value) const;
  Kind kind() const { return kind_; }
  const std::string& value() const { return value_; }

 private:
  bool matches_one(std::string_view value) const;
  Kind kind_ = Kind::kExact;
  MatchField field_ = MatchField::kPlain;
  std::string value_;  // lower case for hosts
  std::shared_ptr<const re2::RE2> re_;
};

}  // namespace ambit::waypoint::l7
