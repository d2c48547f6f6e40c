#include "waypoint/http/http1_request_parser.h"

#include <vector>

#include "common/base/strings.h"
#include "waypoint/http/http1_syntax.h"

namespace ambit::waypoint::http {

namespace {

constexpr size_t kMaxMethod = 32;

bool is_method_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'; }

// "HTTP/x.y" → the version, or an error.
std::optional<HttpError> parse_version(std::string_view v, Version* out) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' ||
      v[7] > '9') {
    return HttpError(400, str_cat("malformed HTTP version \"", printable(v.substr(0, 16)), "\""));
  }
  if (v[5] != '1') return HttpError(505, str_cat("HTTP version ", v.substr(5), " is not supported (HTTP/1.0 and HTTP/1.1 are)"));
  *out = v[7] == '0' ? Version::kHttp10 : Version::kHttp11;  // 1.2+ is answered as 1.1 (RFC 9110 §6.2)
  return std::nullopt;
}

}  // namespace

Http1RequestParser::Http1RequestParser(Http1Limits limits)
    : limits_(limits), fields_(limits_, "header"), body_(limits_) {}

Http1RequestParser::Step Http1RequestParser::fail(int status, std::string reason) {
  state_ = State::kError;
  error_ = HttpError(status, std::move(reason));
  return Step{Event::kError, 0, {}};
}

Http1RequestParser::Step Http1RequestParser::next(std::string_view in) {
  size_t total = 0;
  for (;;) {
    std::string_view rest = in.substr(total);
    switch (state_) {
      case State::kError:
        return Step{Event::kError, total, {}};
      case State::kClosed:
        if (rest.empty()) return Step{Event::kNeedMore, total, {}};
        return fail(400, "bytes after a request that closes the connection");
      case State::kStartLine: {
        Step s = parse_start_line(rest);
        total += s.consumed;
        if (s.event == Event::kError) return Step{Event::kError, total, {}};
        if (state_ == State::kStartLine) return Step{Event::kNeedMore, total, {}};
        continue;  // on to the headers
      }
      case State::kHeaders: {
        size_t used = 0;
        auto r = fields_.parse(rest, &used);
        total += used;
        if (used > 0) started_ = true;
        if (r == FieldSectionParser::Result::kNeedMore) return Step{Event::kNeedMore, total, {}};
        if (r == FieldSectionParser::Result::kError) {
          state_ = State::kError;
          error_ = fields_.error();
          return Step{Event::kError, total, {}};
        }
        if (auto err = finish_head()) {
          state_ = State::kError;
          error_ = *err;
          return Step{Event::kError, total, {}};
        }
        body_.start(head_.body);
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
            started_ = false;
            state_ = keep_alive_ ? State::kStartLine : State::kClosed;
            return Step{Event::kEnd, total, {}};
          case BodyDecoder::Event::kError:
            state_ = State::kError;
            error_ = body_.error();
            return Step{Event::kError, total, {}};
          case BodyDecoder::Event::kNeedMore:
            if (s.consumed > 0 && total < in.size()) continue;  // framing consumed; more to look at
            return Step{Event::kNeedMore, total, {}};
        }
        break;
      }
    }
  }
}

Http1RequestParser::Step Http1RequestParser::eof() {
  switch (state_) {
    case State::kStartLine:
      if (!started_) return Step{Event::kNeedMore, 0, {}};
      return fail(400, "connection closed in the middle of the request line");
    case State::kHeaders:
      return fail(400, "connection closed in the middle of the request headers");
    case State::kBody: {
      BodyDecoder::Step s = body_.eof();
      if (s.event == BodyDecoder::Event::kEnd) {
        state_ = State::kClosed;
        return Step{Event::kEnd, 0, {}};
      }
      state_ = State::kError;
      error_ = body_.error();
      return Step{Event::kError, 0, {}};
    }
    case State::kClosed:
      return Step{Event::kNeedMore, 0, {}};
    case State::kError:
      return Step{Event::kError, 0, {}};
  }
  return Step{};
}

Http1RequestParser::Step Http1RequestParser::parse_start_line(std::string_view in) {
  size_t pos = 0;
  for (;;) {
    size_t eol = 0;
    size_t resume = pos + resume_;
    syntax::LimitedScan scan = syntax::scan_line_limited(in, pos, limits_.max_start_line + 2, &resume, &eol);
    if (scan == syntax::LimitedScan::kBareLf) return fail(400, "bare LF in the request line (lines end with CRLF)");
    if (scan == syntax::LimitedScan::kBareCr) return fail(400, "bare CR in the request line");
    if (scan == syntax::LimitedScan::kTooLong) {
      return fail(414, str_cat("request line longer than ", limits_.max_start_line, " bytes"));
    }
    if (scan == syntax::LimitedScan::kNeedMore) {
      resume_ = resume - pos;
      started_ = in.size() > pos;  // part of a line (maybe just the CR of an empty one)
      return Step{Event::kNeedMore, pos, {}};
    }
    resume_ = 0;
    std::string_view line = in.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) {
      started_ = false;
      // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line
      // (left over from a client's previous body); a stream of them is not a request.
      if (++empty_lines_ > limits_.max_leading_empty_lines) return fail(400, "too many empty lines before the request line");
      continue;
    }
    started_ = true;
    empty_lines_ = 0;
    if (auto err = parse_request_line(line)) {
      state_ = State::kError;
      error_ = *err;
      return Step{Event::kError, pos, {}};
    }
    state_ = State::kHeaders;
    return Step{Event::kNeedMore, pos, {}};
  }
}

std::optional<HttpError> Http1RequestParser::parse_request_line(std::string_view line) {
  head_ = RequestHead();
  fields_.reset();
  keep_alive_ = true;
  absolute_form_ = false;
  // request-line = method SP request-target SP HTTP-version, single spaces (RFC 9112 §3).
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return HttpError(400, str_cat("malformed request line \"", printable(line.substr(0, 64)), "\" (want METHOD SP target SP HTTP/1.1)"));
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || method.size() > kMaxMethod) return HttpError(400, "invalid method (empty or too long)");
  for (char c : method) {
    if (c >= 'a' && c <= 'z') {
      // Methods are case-sensitive: `get` is not GET, and a policy on GET must not be evaded by
      // a backend that folds case. Refuse rather than guess.
      return HttpError(400, str_cat("method \"", printable(method), "\" must be upper case"));
    }
    if (!is_method_char(c)) return HttpError(400, str_cat("invalid method \"", printable(method), "\""));
  }
  if (method == "CONNECT") return HttpError(405, "CONNECT is not supported by the waypoint");
  head_.method = std::string(method);
  if (auto err = parse_version(version, &head_.version)) return err;
  if (target.empty()) return HttpError(400, "empty request target");
  return parse_target(target);
}

std::optional<HttpError> Http1RequestParser::parse_target(std::string_view target) {
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return HttpError(400, str_cat("invalid character in the request target \"", printable(target.substr(0, 64)), "\""));
    }
    if (c == '#') return HttpError(400, "fragment (#) in the request target");
  }
  head_.scheme = "http";
  if (target.front() == '/') {
    head_.path = std::string(target);
    return std::nullopt;
  }
  if (target == "*") {
    if (head_.method != "OPTIONS") return HttpError(400, "asterisk-form target (*) is only allowed with OPTIONS");
    head_.path = "*";
    return std::nullopt;
  }
  // absolute-form (RFC 9112 §3.2.2): scheme://authority[path][?query]; its authority replaces
  // Host. Only http and https: anything else is not for an HTTP proxy.
  std::string_view rest;
  std::string lower = ascii_lower(target.substr(0, std::min<size_t>(target.size(), 8)));
  if (lower.rfind("http://", 0) == 0) {
    head_.scheme = "http";
    rest = target.substr(7);
  } else if (lower.rfind("https://", 0) == 0) {
    head_.scheme = "https";
    rest = target.substr(8);
  } else {
    return HttpError(400, str_cat("invalid request target \"", printable(target.substr(0, 64)),
                                  "\" (want /path, an absolute http(s) URI, or * for OPTIONS)"));
  }
  size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  if (auto why = syntax::authority_error(authority)) return HttpError(400, str_cat("invalid authority in the request target: ", *why));
  head_.authority = ascii_lower(authority);
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (path.empty()) {
    head_.path = "/";
  } else if (path.front() == '?') {
    head_.path = str_cat("/", path);
  } else {
    head_.path = std::string(path);
  }
  absolute_form_ = true;
  return std::nullopt;
}

std::optional<HttpError> Http1RequestParser::finish_head() {
  HeaderMap& raw = fields_.fields();
  const bool http10 = head_.version == Version::kHttp10;

  // Host (RFC 9112 §3.2): exactly one in HTTP/1.1; an absolute-form target's authority wins.
  std::vector<std::string_view> hosts = raw.get_all("host");
  if (hosts.size() > 1) return HttpError(400, "more than one Host header");
  if (hosts.empty() && !http10 && !absolute_form_) return HttpError(400, "missing Host header (required in HTTP/1.1)");
  if (!hosts.empty()) {
    if (hosts[0].empty()) {
      if (!absolute_form_) return HttpError(400, "empty Host header");
    } else if (auto why = syntax::authority_error(hosts[0])) {
      return HttpError(400, str_cat("invalid Host header: ", *why));
    }
    if (!absolute_form_) head_.authority = ascii_lower(hosts[0]);
  }

  // Connection (RFC 9112 §9.6): close / keep-alive, and the names of other hop-by-hop fields.
  std::vector<std::string> connection_names;
  bool conn_close = false, conn_keep_alive = false, conn_upgrade = false;
  for (std::string_view v : raw.get_all("connection")) {
    std::optional<HttpError> err;
    syntax::for_each_list_element(v, [&](std::string_view tok) {
      if (tok.empty()) return;
      if (!syntax::is_token(tok)) {
        err = HttpError(400, str_cat("invalid token \"", printable(tok), "\" in the Connection header"));
        return;
      }
      std::string t = ascii_lower(tok);
      if (t == "close") conn_close = true;
      else if (t == "keep-alive") conn_keep_alive = true;
      else if (t == "upgrade") conn_upgrade = true;
      connection_names.push_back(std::move(t));
    });
    if (err) return err;
  }
  keep_alive_ = http10 ? (conn_keep_alive && !conn_close) : !conn_close;

  // Upgrade (RFC 9110 §7.8): h2c is ignored (the client goes on in HTTP/1.1); anything else —
  // WebSocket above all — is refused rather than half-supported: a proxy that forwards the
  // Upgrade and then trusts a backend's 200 as a tunnel desyncs (Envoy CVE-2024-23326).
  if (conn_upgrade) {
    for (std::string_view v : raw.get_all("upgrade")) {
      std::optional<HttpError> err;
      syntax::for_each_list_element(v, [&](std::string_view tok) {
        if (!err && !tok.empty() && !iequals(tok, "h2c")) {
          err = HttpError(501, str_cat("protocol upgrade to \"", printable(tok.substr(0, 32)), "\" is not supported by the waypoint"));
        }
      });
      if (err) return err;
    }
  }

  // Body framing (RFC 9112 §6): the core of request smuggling, so only one reading is accepted.
  std::vector<std::string_view> lengths = raw.get_all("content-length");
  std::vector<std::string_view> codings_raw = raw.get_all("transfer-encoding");
  if (!codings_raw.empty()) {
    if (!lengths.empty()) {
      return HttpError(400, "both Content-Length and Transfer-Encoding (ambiguous body length)");
    }
    if (http10) return HttpError(400, "Transfer-Encoding in an HTTP/1.0 request");
    std::vector<std::string_view> codings;
    for (std::string_view v : codings_raw) syntax::for_each_list_element(v, [&](std::string_view c) { codings.push_back(c); });
    size_t chunked = 0;
    for (std::string_view c : codings) {
      if (c.empty()) return HttpError(400, "empty element in Transfer-Encoding");
      if (iequals(c, "chunked")) ++chunked;
    }
    if (codings.size() != 1 || chunked != 1) {
      // RFC 9112 §6.3: chunked not last (or twice) leaves the length undecidable → 400. With
      // chunked last, another coding first is merely unimplemented → 501.
      if (chunked != 1 || !iequals(codings.back(), "chunked")) {
        return HttpError(400, "Transfer-Encoding must end with chunked, exactly once");
      }
      for (std::string_view c : codings) {
        if (!iequals(c, "chunked")) {
          return HttpError(501, str_cat("transfer coding \"", printable(c.substr(0, 32)), "\" is not supported (only chunked)"));
        }
      }
    }
    head_.body = BodyInfo{BodyInfo::Kind::kChunked, 0};
  } else if (!lengths.empty()) {
    if (lengths.size() > 1) return HttpError(400, "more than one Content-Length header");
    auto n = syntax::parse_content_length(lengths[0]);
    if (!n) return HttpError(400, str_cat("invalid Content-Length \"", printable(lengths[0].substr(0, 32)), "\""));
    head_.body = BodyInfo{BodyInfo::Kind::kLength, *n};
  } else {
    head_.body = BodyInfo{BodyInfo::Kind::kNone, 0};  // a request without framing has no body
  }

  // Expect (RFC 9110 §10.1.1): only 100-continue exists; HTTP/1.0 clients' is ignored.
  if (!http10) {
    for (std::string_view v : raw.get_all("expect")) {
      if (!iequals(v, "100-continue")) return HttpError(417, str_cat("unsupported expectation \"", printable(v.substr(0, 32)), "\""));
      head_.expect_continue = true;
    }
  }
  for (std::string_view v : raw.get_all("te")) {
    syntax::for_each_list_element(v, [&](std::string_view tok) {
      if (iequals(tok, "trailers")) head_.te_trailers = true;
    });
  }

  // What is left is end to end.
  for (const HeaderField& f : raw) {
    if (f.name == "host" || f.name == "content-length" || f.name == "expect" || is_hop_by_hop(f.name)) continue;
    bool named = false;
    for (const auto& n : connection_names) named = named || n == f.name;
    if (named) continue;
    head_.headers.add(f.name, f.value);
  }
  return std::nullopt;
}

}  // namespace ambit::waypoint::http
