#include "waypoint/http/http1_body.h"

#include <algorithm>

#include "common/base/strings.h"
#include "waypoint/http/http1_syntax.h"

namespace ambit::waypoint::http {

namespace {

// Fields a trailer section must not carry (RFC 9110 §6.5.1): they frame, route or authorize the
// message and are only ever read from the head; a peer that sends them late hopes someone merges
// them in.
bool forbidden_in_trailers(std::string_view n) {
  return is_hop_by_hop(n) || n == "content-length" || n == "host" || n == "authorization" || n == "expect" ||
         n == "trailer" || n == "content-type" || n == "content-encoding" || n == "cookie" || n == "set-cookie";
}

}  // namespace

void BodyDecoder::start(const BodyInfo& info) {
  remaining_ = 0;
  ext_bytes_ = 0;
  resume_ = 0;
  trailer_parser_.reset();
  error_ = HttpError();
  switch (info.kind) {
    case BodyInfo::Kind::kNone:
      state_ = State::kDone;
      break;
    case BodyInfo::Kind::kLength:
      remaining_ = info.length;
      state_ = remaining_ == 0 ? State::kDone : State::kFixed;
      break;
    case BodyInfo::Kind::kChunked:
      state_ = State::kChunkLine;
      break;
    case BodyInfo::Kind::kUntilClose:
      state_ = State::kUntilClose;
      break;
  }
}

BodyDecoder::Step BodyDecoder::fail(int status, std::string reason) {
  state_ = State::kError;
  error_ = HttpError(status, std::move(reason));
  return Step{Event::kError, 0, {}};
}

BodyDecoder::Step BodyDecoder::next(std::string_view in) {
  switch (state_) {
    case State::kDone:
      return Step{Event::kEnd, 0, {}};
    case State::kError:
      return Step{Event::kError, 0, {}};
    case State::kFixed: {
      if (in.empty()) return Step{};
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::kDone;
      return Step{Event::kData, n, in.substr(0, n)};
    }
    case State::kUntilClose:
      if (in.empty()) return Step{};
      return Step{Event::kData, in.size(), in};
    case State::kChunkData: {
      if (in.empty()) return Step{};
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::kChunkDataEnd;
      return Step{Event::kData, n, in.substr(0, n)};
    }
    case State::kChunkDataEnd: {
      if (in.size() < 2) {
        if (!in.empty() && in[0] != '\r') return fail(400, "chunk data not followed by CRLF");
        return Step{};
      }
      if (in[0] != '\r' || in[1] != '\n') return fail(400, "chunk data not followed by CRLF");
      state_ = State::kChunkLine;
      return Step{Event::kNeedMore, 2, {}};  // progress; the caller calls again
    }
    case State::kChunkLine: {
      size_t eol = 0;
      syntax::LimitedScan scan = syntax::scan_line_limited(in, 0, limits_.max_chunk_line + 2, &resume_, &eol);
      if (scan == syntax::LimitedScan::kBareLf) return fail(400, "bare LF in a chunk-size line");
      if (scan == syntax::LimitedScan::kBareCr) return fail(400, "bare CR in a chunk-size line");
      if (scan == syntax::LimitedScan::kTooLong) {
        return fail(400, str_cat("chunk-size line longer than ", limits_.max_chunk_line, " bytes"));
      }
      if (scan == syntax::LimitedScan::kNeedMore) return Step{};
      resume_ = 0;
      uint64_t size = 0;
      size_t ext = 0;
      if (auto err = syntax::parse_chunk_line(in.substr(0, eol), &size, &ext)) {
        state_ = State::kError;
        error_ = *err;
        return Step{Event::kError, 0, {}};
      }
      ext_bytes_ += ext;
      if (ext_bytes_ > limits_.max_chunk_extension_bytes) {
        return fail(400, str_cat("chunk extensions larger than ", limits_.max_chunk_extension_bytes, " bytes in one message"));
      }
      if (size == 0) {
        state_ = State::kTrailers;
      } else {
        remaining_ = size;
        state_ = State::kChunkData;
      }
      return Step{Event::kNeedMore, eol + 2, {}};
    }
    case State::kTrailers: {
      size_t used = 0;
      auto r = trailer_parser_.parse(in, &used);
      if (r == FieldSectionParser::Result::kError) {
        state_ = State::kError;
        error_ = trailer_parser_.error();
        return Step{Event::kError, 0, {}};
      }
      if (r == FieldSectionParser::Result::kNeedMore) return Step{Event::kNeedMore, used, {}};
      for (const auto& f : trailer_parser_.fields()) {
        if (forbidden_in_trailers(f.name)) return fail(400, str_cat("trailer field \"", f.name, "\" is not allowed"));
      }
      state_ = State::kDone;
      return Step{Event::kEnd, used, {}};
    }
  }
  return Step{};
}

BodyDecoder::Step BodyDecoder::eof() {
  if (state_ == State::kUntilClose || state_ == State::kDone) {
    state_ = State::kDone;
    return Step{Event::kEnd, 0, {}};
  }
  if (state_ == State::kError) return Step{Event::kError, 0, {}};
  return fail(400, "connection closed in the middle of the body");
}

}  // namespace ambit::waypoint::http
