// Incremental parser for an HTTP/1.1 field section (the header lines of a head, or the trailer
// lines after the last chunk): complete CRLF-terminated lines are parsed and consumed one by
// one up to the empty line that ends the section, within the count and size limits.
#pragma once

#include <cstddef>
#include <string_view>

#include "waypoint/http/http_error.h"
#include "waypoint/http/limits.h"
#include "waypoint/http/message.h"

namespace ambit::waypoint::http {

class FieldSectionParser {
 public:
  enum class Result { kNeedMore, kDone, kError };

  // `what` names the section in errors ("header" or "trailer"); it must outlive the parser.
  FieldSectionParser(const Http1Limits& limits, std::string_view what) : limits_(limits), what_(what) {}

  void reset();
  // Parses the complete lines at the start of `in`; `*consumed` is how many bytes of `in` they
  // were (the caller drops them and passes the rest, plus new bytes, next time). kDone once the
  // empty line was consumed.
  Result parse(std::string_view in, size_t* consumed);

  HeaderMap& fields() { return fields_; }
  const HttpError& error() const { return error_; }

 private:
  Result fail(int status, std::string reason);

  const Http1Limits& limits_;
  std::string_view what_;
  HeaderMap fields_;
  size_t bytes_ = 0;   // of the lines consumed so far, CRLFs included
  size_t resume_ = 0;  // how much of the current partial line is already checked
  HttpError error_;
};

}  // namespace ambit::waypoint::http
