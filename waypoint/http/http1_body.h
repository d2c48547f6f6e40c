// Decodes an HTTP/1.1 message body as it arrives, for both parsers: Content-Length, chunked
// (RFC 9112 §7.1, with trailers) or — responses only — until the connection closes. Data is
// handed out as views into the caller's input: nothing is buffered here, so a body of any size
// costs no memory in the codec.
#pragma once

#include <cstdint>
#include <string_view>

#include "waypoint/http/http1_fields.h"
#include "waypoint/http/http_error.h"
#include "waypoint/http/limits.h"
#include "waypoint/http/message.h"

namespace ambit::waypoint::http {

class BodyDecoder {
 public:
  enum class Event { kNeedMore, kData, kEnd, kError };
  struct Step {
    Event event = Event::kNeedMore;
    size_t consumed = 0;    // bytes of the input used by this step
    std::string_view data;  // kData: body bytes (a view into the input)
  };

  explicit BodyDecoder(const Http1Limits& limits) : limits_(limits), trailer_parser_(limits, "trailer") {}

  void start(const BodyInfo& info);
  // One step over `in` (the unconsumed input). kEnd consumes the body's last bytes; what follows
  // in `in` belongs to the next message.
  Step next(std::string_view in);
  // The connection ended: kEnd for an until-close body, kError for any other unfinished body.
  Step eof();

  bool finished() const { return state_ == State::kDone; }
  // Chunked trailers, once finished (empty if none were sent).
  HeaderMap& trailers() { return trailer_parser_.fields(); }
  const HttpError& error() const { return error_; }

 private:
  enum class State { kFixed, kChunkLine, kChunkData, kChunkDataEnd, kTrailers, kUntilClose, kDone, kError };
  Step fail(int status, std::string reason);

  const Http1Limits& limits_;
  State state_ = State::kDone;
  uint64_t remaining_ = 0;
  size_t ext_bytes_ = 0;  // chunk extensions seen in this message
  size_t resume_ = 0;     // chunk-size line scan position
  FieldSectionParser trailer_parser_;
  HttpError error_;
};

}  // namespace ambit::waypoint::http
