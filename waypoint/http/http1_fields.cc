#include "waypoint/http/http1_fields.h"

#include "common/base/strings.h"
#include "waypoint/http/http1_syntax.h"

namespace ambit::waypoint::http {

void FieldSectionParser::reset() {
  fields_.clear();
  bytes_ = 0;
  resume_ = 0;
  error_ = HttpError();
}

FieldSectionParser::Result FieldSectionParser::fail(int status, std::string reason) {
  error_ = HttpError(status, std::move(reason));
  return Result::kError;
}

FieldSectionParser::Result FieldSectionParser::parse(std::string_view in, size_t* consumed) {
  size_t pos = 0;
  *consumed = 0;
  for (;;) {
    size_t eol = 0;
    size_t resume = pos + resume_;
    // The section's CRLFs count, the final empty line's too: a line must fit in what is left.
    size_t allowance = limits_.max_header_bytes > bytes_ ? limits_.max_header_bytes - bytes_ : 0;
    syntax::LimitedScan scan = syntax::scan_line_limited(in, pos, allowance, &resume, &eol);
    if (scan == syntax::LimitedScan::kBareLf) return fail(400, str_cat("bare LF in a ", what_, " line (lines end with CRLF)"));
    if (scan == syntax::LimitedScan::kBareCr) return fail(400, str_cat("bare CR in a ", what_, " line"));
    if (scan == syntax::LimitedScan::kTooLong) {
      // Refused as soon as the limit is reached, not when the line ends: a slow client cannot
      // make us buffer more than the limit.
      return fail(431, str_cat(what_, "s larger than ", limits_.max_header_bytes, " bytes"));
    }
    if (scan == syntax::LimitedScan::kNeedMore) {
      resume_ = resume - pos;
      *consumed = pos;
      return Result::kNeedMore;
    }
    resume_ = 0;
    std::string_view line = in.substr(pos, eol - pos);
    bytes_ += line.size() + 2;
    pos = eol + 2;
    *consumed = pos;
    if (line.empty()) return Result::kDone;
    if (fields_.size() >= limits_.max_header_count) {
      return fail(431, str_cat("more than ", limits_.max_header_count, " ", what_, " fields"));
    }
    std::string_view name, value;
    if (auto err = syntax::parse_field_line(line, what_, &name, &value)) {
      error_ = *err;
      return Result::kError;
    }
    fields_.add(name, value);
  }
}

}  // namespace ambit::waypoint::http
