#include "waypoint/l7/string_match.h"

#include <re2/re2.h>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "waypoint/l7/http_message.h"

namespace ambit::waypoint::l7 {

namespace pb = ::ambit::waypoint::v1;

absl::StatusOr<StringMatcher> StringMatcher::make_template(std::string_view tmpl) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        str_cat("path template \"", printable(tmpl), "\": ", why));
  };
  if (!tmpl.starts_with('/')) return bad("must start with '/'");
  std::string re;
  bool seen_double = false;
  bool any_operator = false;
  std::vector<std::string_view> segs = split(tmpl.substr(1), '/');
  for (size_t i = 0; i < segs.size(); ++i) {
    std::string_view s = segs[i];
    re += "/";
    if (s == "{*}" || s == "{**}") {
      if (seen_double) return bad("{**} must be the last operator");
      any_operator = true;
      if (s == "{**}") {
        seen_double = true;
        re += ".*";
      } else {
        re += "[^/]+";
      }
      continue;
    }
    if (s.find_first_of("*{}") != std::string_view::npos) {
      return bad(str_cat("segment \"", printable(s),
                         "\": '*', '{' and '}' are allowed only as a whole {*} or {**} segment"));
    }
    re += RE2::QuoteMeta(re2::StringPiece(s.data(), s.size()));
  }
  if (!any_operator) return bad("has no {*} or {**} operator");
  RE2::Options opts;
  opts.set_log_errors(false);
  auto compiled = std::make_shared<const RE2>(re, opts);
  if (!compiled->ok()) return bad(compiled->error());
  StringMatcher m;
  m.kind_ = Kind::kTemplate;
  m.field_ = MatchField::kPath;
  m.value_ = std::string(tmpl);
  m.re_ = std::move(compiled);
  return m;
}

absl::StatusOr<StringMatcher> StringMatcher::compile(const pb::StringMatch& m, MatchField field,
                                                     std::string_view where) {
  StringMatcher out;
  out.field_ = field;
  auto need_value = [&](const std::string& v, Kind k) -> absl::Status {
    if (v.empty()) return absl::InvalidArgumentError(str_cat(where, ": empty value"));
    out.kind_ = k;
    out.value_ = field == MatchField::kHost ? to_lower(v) : v;
    return absl::OkStatus();
  };
  absl::Status st;
  switch (m.kind_case()) {
    case pb::StringMatch::kExact:
      st = need_value(m.exact(), Kind::kExact);
      break;
    case pb::StringMatch::kPrefix:
      st = need_value(m.prefix(), Kind::kPrefix);
      break;
    case pb::StringMatch::kSuffix:
      st = need_value(m.suffix(), Kind::kSuffix);
      break;
    case pb::StringMatch::kPresence:
      out.kind_ = Kind::kPresence;
      break;
    case pb::StringMatch::kPathTemplate: {
      if (field != MatchField::kPath) {
        return absl::InvalidArgumentError(str_cat(where, ": a path template outside paths"));
      }
      auto t = make_template(m.path_template());
      if (!t.ok()) return absl::InvalidArgumentError(str_cat(where, ": ", t.status().message()));
      return t;
    }
    case pb::StringMatch::KIND_NOT_SET:
      return absl::InvalidArgumentError(str_cat(where, ": no match kind set"));
  }
  if (!st.ok()) return st;
  return out;
}

bool StringMatcher::matches_one(std::string_view v) const {
  switch (kind_) {
    case Kind::kExact:
      return v == value_;
    case Kind::kPrefix:
      return v.starts_with(value_);
    case Kind::kSuffix:
      return v.ends_with(value_);
    case Kind::kPresence:
      return field_ == MatchField::kHeader || !v.empty();
    case Kind::kTemplate:
      return RE2::FullMatch(re2::StringPiece(v.data(), v.size()), *re_);
  }
  return false;
}

bool StringMatcher::matches(std::string_view value) const {
  if (field_ != MatchField::kHost) return matches_one(value);
  // Hosts: case-insensitive (CVE-2021-39155), and "host:port" also tried as "host", so
  // `hosts: [foo.com]` covers "Foo.com:8080" (ports are a separate key).
  std::string full = to_lower(value);
  if (matches_one(full)) return true;
  std::string bare = host_without_port(value);
  return bare != full && matches_one(bare);
}

}  // namespace ambit::waypoint::l7
