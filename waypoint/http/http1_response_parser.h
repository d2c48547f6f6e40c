// Incremental, strict HTTP/1.1 response parser (the waypoint's client side, reading an upstream
// over a pooled keep-alive connection), sans-I/O like Http1RequestParser. Strict for the same
// reason: a response framed two ways desyncs the pooled connection, and the next client gets
// someone else's response. Every error is reported with status 502 (the proxy answers the
// client with it and drops the upstream connection).
//
//   Http1ResponseParser p;
//   p.start_response("HEAD");            // before each response: HEAD responses have no body
//   step = p.next(buf); ...              // kInformational (100/103: head(), then the final one),
//                                        // kHead, kBody..., kEnd; p.eof() when the upstream closes
//
// Body rules (RFC 9112 §6.3): none for HEAD, 1xx, 204, 304; chunked when Transfer-Encoding ends
// in exactly one chunked; else Content-Length; else until the connection closes (and then the
// connection is not reused). 101 is refused: the waypoint never asks for an upgrade.
#pragma once

#include <string>
#include <string_view>

#include "waypoint/http/http1_body.h"
#include "waypoint/http/http1_fields.h"
#include "waypoint/http/http_error.h"
#include "waypoint/http/limits.h"
#include "waypoint/http/message.h"

namespace ambit::waypoint::http {

class Http1ResponseParser {
 public:
  enum class Event { kNeedMore, kInformational, kHead, kBody, kEnd, kError };
  struct Step {
    Event event = Event::kNeedMore;
    size_t consumed = 0;
    std::string_view body;  // kBody: a view into the input
  };

  explicit Http1ResponseParser(Http1Limits limits = {});
  Http1ResponseParser(const Http1ResponseParser&) = delete;
  Http1ResponseParser& operator=(const Http1ResponseParser&) = delete;

  // The method of the request this response answers (HEAD responses carry no body).
  void start_response(std::string_view request_method);
  Step next(std::string_view in);
  Step eof();

  // The head of the response (or of the informational response at kInformational). For HEAD
  // and 304 responses `body` is the framing the upstream declared (Content-Length is forwarded
  // as is), but no body bytes follow; has_body() says whether they do.
  const ResponseHead& head() const { return head_; }
  ResponseHead& head() { return head_; }
  bool has_body() const { return has_body_; }
  HeaderMap& trailers() { return body_.trailers(); }
  // From kHead on: whether the upstream connection can carry another request afterwards.
  bool keep_alive() const { return keep_alive_; }
  const HttpError& error() const { return error_; }

 private:
  enum class State { kIdle, kStatusLine, kHeaders, kBody, kDone, kError };
  Step fail(std::string reason);
  std::optional<HttpError> parse_status_line(std::string_view line);
  std::optional<HttpError> finish_head();

  Http1Limits limits_;
  State state_ = State::kIdle;
  std::string method_;
  size_t resume_ = 0;
  FieldSectionParser fields_;
  BodyDecoder body_;
  ResponseHead head_;
  bool has_body_ = false;
  bool keep_alive_ = true;
  HttpError error_;
};

}  // namespace ambit::waypoint::http
