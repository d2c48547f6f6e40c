// Incremental, strict HTTP/1.1 request parser (server side of the waypoint), sans-I/O: the caller
// owns the bytes read from the socket and feeds the unconsumed ones; the parser says what it
// found and how many bytes that took.
//
//   Http1RequestParser p;
//   std::string buf;                              // bytes read, not yet consumed
//   for (;;) {
//     auto step = p.next(buf);
//     buf.erase(0, step.consumed);
//     switch (step.event) {
//       case Event::kNeedMore: read more into buf (or p.eof() on EOF); break;
//       case Event::kHead: route(p.head()); break;            // 100-continue: p.head().expect_continue
//       case Event::kBody: forward(step.body); break;         // a view into buf: use it before erase
//       case Event::kEnd: finish(p.trailers()); if (!p.keep_alive()) close; break;
//       case Event::kError: respond(p.error().status, p.error().reason); close; break;
//     }
//   }
// (erase after using step.body — the view points into buf.)
//
// Pipelined requests are parsed one after the other from the same buffer. Anything two HTTP/1
// implementations could frame differently is refused with 400 and a reason (request smuggling):
// Content-Length together with Transfer-Encoding, repeated or malformed Content-Length, a
// Transfer-Encoding other than exactly `chunked`, obs-fold, bare CR or LF, whitespace before a
// colon, control characters, bad chunk sizes. Also refused: CONNECT (405) and protocol upgrades
// other than h2c (501; h2c is ignored as RFC 9110 §7.8 allows), expectations other than
// 100-continue (417), HTTP versions other than 1.x (505), oversized heads (414, 431).
#pragma once

#include <string_view>

#include "waypoint/http/http1_body.h"
#include "waypoint/http/http1_fields.h"
#include "waypoint/http/http_error.h"
#include "waypoint/http/limits.h"
#include "waypoint/http/message.h"

namespace ambit::waypoint::http {

class Http1RequestParser {
 public:
  enum class Event { kNeedMore, kHead, kBody, kEnd, kError };
  struct Step {
    Event event = Event::kNeedMore;
    size_t consumed = 0;    // drop this many bytes from the front of the input
    std::string_view body;  // kBody: a view into the input
  };

  explicit Http1RequestParser(Http1Limits limits = {});
  Http1RequestParser(const Http1RequestParser&) = delete;
  Http1RequestParser& operator=(const Http1RequestParser&) = delete;

  Step next(std::string_view in);
  // The client closed its side: kNeedMore (cleanly between requests: nothing to do), or kError
  // for a request cut short.
  Step eof();

  // The current request's head, valid from kHead until the next request's kHead.
  const RequestHead& head() const { return head_; }
  RequestHead& head() { return head_; }
  // Chunked trailers of the current request, valid at kEnd.
  HeaderMap& trailers() { return body_.trailers(); }
  // From kHead on: whether the connection may carry another request after this one
  // (RFC 9112 §9.3: HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with `keep-alive`).
  bool keep_alive() const { return keep_alive_; }
  // Between messages (nothing of the next request received yet).
  bool idle() const { return state_ == State::kStartLine && !started_; }
  const HttpError& error() const { return error_; }

 private:
  enum class State { kStartLine, kHeaders, kBody, kClosed, kError };
  Step fail(int status, std::string reason);
  Step parse_start_line(std::string_view in);
  std::optional<HttpError> parse_request_line(std::string_view line);
  std::optional<HttpError> parse_target(std::string_view target);
  std::optional<HttpError> finish_head();

  Http1Limits limits_;
  State state_ = State::kStartLine;
  bool started_ = false;  // some byte of the current request has been consumed
  size_t empty_lines_ = 0;
  size_t resume_ = 0;
  bool absolute_form_ = false;
  FieldSectionParser fields_;
  BodyDecoder body_;
  RequestHead head_;
  bool keep_alive_ = true;
  HttpError error_;
};

}  // namespace ambit::waypoint::http
