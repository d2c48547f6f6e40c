#include "waypoint/http/http1_response_parser.h"

#include <vector>

#include "common/base/strings.h"
#include "waypoint/http/http1_syntax.h"

namespace ambit::waypoint::http {

Http1ResponseParser::Http1ResponseParser(Http1Limits limits)
    : limits_(limits), fields_(limits_, "header"), body_(limits_) {}

void Http1ResponseParser::start_response(std::string_view request_method) {
  method_ = std::string(request_method);
  state_ = State::kStatusLine;
  resume_ = 0;
}

Http1ResponseParser::Step Http1ResponseParser::fail(std::string reason) {
  state_ = State::kError;
  error_ = HttpError(502, std::move(reason));
  return Step{Event::kError, 0, {}};
}

Http1ResponseParser::Step Http1ResponseParser::next(std::string_view in) {
  size_t total = 0;
  for (;;) {
    std::string_view rest = in.substr(total);
    switch (state_) {
      case State::kError:
        return Step{Event::kError, total, {}};
      case State::kIdle:
      case State::kDone:
        if (rest.empty()) return Step{Event::kNeedMore, total, {}};
        // Bytes nobody asked for: the upstream is out of step with us (or smuggling a second
        // response into the pool).
        return fail("upstream sent bytes that answer no request");
      case State::kStatusLine: {
        size_t eol = 0;
        size_t resume = resume_;
        syntax::LimitedScan scan = syntax::scan_line_limited(rest, 0, limits_.max_start_line + 2, &resume, &eol);
        if (scan == syntax::LimitedScan::kBareLf) return fail("bare LF in the upstream status line");
        if (scan == syntax::LimitedScan::kBareCr) return fail("bare CR in the upstream status line");
        if (scan == syntax::LimitedScan::kTooLong) return fail("upstream status line too long");
        if (scan == syntax::LimitedScan::kNeedMore) {
          resume_ = resume;
          return Step{Event::kNeedMore, total, {}};
        }
        resume_ = 0;
        if (auto err = parse_status_line(rest.substr(0, eol))) return fail(err->reason);
        total += eol + 2;
        state_ = State::kHeaders;
        continue;
      }
      case State::kHeaders: {
        size_t used = 0;
        auto r = fields_.parse(rest, &used);
        total += used;
        if (r == FieldSectionParser::Result::kNeedMore) return Step{Event::kNeedMore, total, {}};
        if (r == FieldSectionParser::Result::kError) {
          fail(str_cat("upstream response: ", fields_.error().reason));
          return Step{Event::kError, total, {}};
        }
        if (auto err = finish_head()) {
          fail(err->reason);
          return Step{Event::kError, total, {}};
        }
        if (head_.status < 200) {
          state_ = State::kStatusLine;  // the final response follows
          return Step{Event::kInformational, total, {}};
        }
        BodyInfo decode = has_body_ ? head_.body : BodyInfo{};
        body_.start(decode);
        state_ = State::kBody;
        return Step{Event::kHead, total, {}};
      }
      case State::kBody: {
        BodyDecoder::Step s = body_.next(rest);
        total += s.consumed;
        switch (s.event) {
          case BodyDecoder::Event::kData:
            return Step{Event::kBody, total, s.data};
          case BodyDecoder::Event::kEnd:
            state_ = State::kDone;
            return Step{Event::kEnd, total, {}};
          case BodyDecoder::Event::kError:
            fail(str_cat("upstream response body: ", body_.error().reason));
            return Step{Event::kError, total, {}};
          case BodyDecoder::Event::kNeedMore:
            if (s.consumed > 0 && total < in.size()) continue;
            return Step{Event::kNeedMore, total, {}};
        }
        break;
      }
    }
  }
}

Http1ResponseParser::Step Http1ResponseParser::eof() {
  switch (state_) {
    case State::kIdle:
    case State::kDone:
      return Step{Event::kNeedMore, 0, {}};
    case State::kBody: {
      BodyDecoder::Step s = body_.eof();
      if (s.event == BodyDecoder::Event::kEnd) {
        state_ = State::kDone;
        keep_alive_ = false;
        return Step{Event::kEnd, 0, {}};
      }
      return fail("upstream closed the connection in the middle of the response body");
    }
    case State::kError:
      return Step{Event::kError, 0, {}};
    default:
      return fail("upstream closed the connection before a complete response head");
  }
}

std::optional<HttpError> Http1ResponseParser::parse_status_line(std::string_view line) {
  head_ = ResponseHead();
  fields_.reset();
  // status-line = HTTP-version SP 3DIGIT SP [reason-phrase] (RFC 9112 §4); a missing final SP
  // is tolerated (common, and unambiguous).
  auto bad = [&] { return HttpError(502, str_cat("malformed upstream status line \"", printable(line.substr(0, 64)), "\"")); };
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[6] != '.' || line[8] != ' ') return bad();
  if (line[5] != '1' || line[7] < '0' || line[7] > '9') return bad();
  head_.version = line[7] == '0' ? Version::kHttp10 : Version::kHttp11;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return bad();
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100) return bad();
  if (line.size() > 12) {
    if (line[12] != ' ') return bad();
    std::string_view reason = line.substr(13);
    for (char c : reason) {
      if (!syntax::is_field_value_char(c)) return bad();
    }
    head_.reason = std::string(reason);
  }
  head_.status = status;
  if (status == 101) return HttpError(502, "upstream answered 101 Switching Protocols, but the waypoint never asks to upgrade");
  return std::nullopt;
}

std::optional<HttpError> Http1ResponseParser::finish_head() {
  HeaderMap& raw = fields_.fields();
  const bool http10 = head_.version == Version::kHttp10;
  std::vector<std::string> connection_names;
  bool conn_close = false, conn_keep_alive = false;
  for (std::string_view v : raw.get_all("connection")) {
    std::optional<HttpError> err;
    syntax::for_each_list_element(v, [&](std::string_view tok) {
      if (tok.empty()) return;
      if (!syntax::is_token(tok)) {
        err = HttpError(502, "invalid token in the upstream's Connection header");
        return;
      }
      std::string t = ascii_lower(tok);
      if (t == "close") conn_close = true;
      if (t == "keep-alive") conn_keep_alive = true;
      connection_names.push_back(std::move(t));
    });
    if (err) return err;
  }
  keep_alive_ = http10 ? (conn_keep_alive && !conn_close) : !conn_close;

  std::vector<std::string_view> lengths = raw.get_all("content-length");
  std::vector<std::string_view> codings_raw = raw.get_all("transfer-encoding");
  has_body_ = response_has_body(method_, head_.status);
  const bool no_framing = head_.status < 200 || head_.status == 204;
  if (no_framing) {
    head_.body = BodyInfo{};
  } else if (!codings_raw.empty()) {
    if (!lengths.empty()) return HttpError(502, "upstream response has both Content-Length and Transfer-Encoding");
    std::vector<std::string_view> codings;
    for (std::string_view v : codings_raw) syntax::for_each_list_element(v, [&](std::string_view c) { codings.push_back(c); });
    if (codings.size() != 1 || !iequals(codings[0], "chunked")) {
      return HttpError(502, "upstream response Transfer-Encoding is not exactly chunked");
    }
    head_.body = BodyInfo{BodyInfo::Kind::kChunked, 0};
  } else if (!lengths.empty()) {
    if (lengths.size() > 1) return HttpError(502, "upstream response has more than one Content-Length");
    auto n = syntax::parse_content_length(lengths[0]);
    if (!n) return HttpError(502, "upstream response has an invalid Content-Length");
    head_.body = BodyInfo{BodyInfo::Kind::kLength, *n};
  } else if (has_body_) {
    head_.body = BodyInfo{BodyInfo::Kind::kUntilClose, 0};
    keep_alive_ = false;
  } else {
    head_.body = BodyInfo{};
  }

  for (const HeaderField& f : raw) {
    if (f.name == "content-length" || is_hop_by_hop(f.name)) continue;
    bool named = false;
    for (const auto& n : connection_names) named = named || n == f.name;
    if (named) continue;
    head_.headers.add(f.name, f.value);
  }
  return std::nullopt;
}

}  // namespace ambit::waypoint::http
