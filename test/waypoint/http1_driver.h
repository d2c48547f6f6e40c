// Test driver for the HTTP/1.1 parsers: feeds a wire image in pieces of a given size (0: all at
// once) and records every event, so each table case runs whole and byte by byte and must give
// the same result both ways.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "waypoint/http/http1_request_parser.h"
#include "waypoint/http/http1_response_parser.h"

namespace http1test {

using namespace ambit::waypoint::http;

struct Parsed {
  std::vector<RequestHead> heads;
  std::vector<ResponseHead> responses;
  std::vector<int> informational;
  std::vector<std::string> bodies;      // one per message
  std::vector<HeaderMap> trailers;      // one per message
  std::vector<bool> keep_alive;         // one per message
  bool error = false;
  HttpError err;
  std::string leftover;                 // bytes not consumed at the end
};

inline void feed(std::string& buf, std::string_view wire, size_t* fed, size_t piece) {
  size_t n = piece == 0 ? wire.size() - *fed : std::min(piece, wire.size() - *fed);
  buf.append(wire.substr(*fed, n));
  *fed += n;
}

inline Parsed parse_requests(std::string_view wire, size_t piece, bool eof = false, Http1Limits limits = {}) {
  Http1RequestParser p(limits);
  Parsed r;
  std::string buf;
  size_t fed = 0;
  feed(buf, wire, &fed, piece);
  for (int guard = 0; guard < 1'000'000; ++guard) {
    auto s = p.next(buf);
    switch (s.event) {
      case Http1RequestParser::Event::kHead:
        r.heads.push_back(p.head());
        r.bodies.emplace_back();
        break;
      case Http1RequestParser::Event::kBody:
        r.bodies.back().append(s.body);
        break;
      case Http1RequestParser::Event::kEnd:
        r.trailers.push_back(p.trailers());
        r.keep_alive.push_back(p.keep_alive());
        break;
      case Http1RequestParser::Event::kError:
        r.error = true;
        r.err = p.error();
        return r;
      case Http1RequestParser::Event::kNeedMore:
        break;
    }
    buf.erase(0, s.consumed);
    if (s.event == Http1RequestParser::Event::kNeedMore) {
      if (fed < wire.size()) {
        feed(buf, wire, &fed, piece);
        continue;
      }
      if (eof) {
        auto e = p.eof();
        if (e.event == Http1RequestParser::Event::kError) {
          r.error = true;
          r.err = p.error();
        } else if (e.event == Http1RequestParser::Event::kEnd) {
          r.trailers.push_back(p.trailers());
          r.keep_alive.push_back(p.keep_alive());
        }
      }
      break;
    }
  }
  r.leftover = buf;
  return r;
}

// `methods`: the request method of each response in turn.
inline Parsed parse_responses(std::string_view wire, std::vector<std::string> methods, size_t piece, bool eof = false) {
  Http1ResponseParser p;
  Parsed r;
  std::string buf;
  size_t fed = 0;
  size_t next_method = 0;
  bool in_response = false;
  feed(buf, wire, &fed, piece);
  for (int guard = 0; guard < 1'000'000; ++guard) {
    if (!in_response && next_method < methods.size() && !buf.empty()) {
      p.start_response(methods[next_method++]);
      in_response = true;
    }
    auto s = p.next(buf);
    switch (s.event) {
      case Http1ResponseParser::Event::kInformational:
        r.informational.push_back(p.head().status);
        break;
      case Http1ResponseParser::Event::kHead:
        r.responses.push_back(p.head());
        r.bodies.emplace_back();
        break;
      case Http1ResponseParser::Event::kBody:
        r.bodies.back().append(s.body);
        break;
      case Http1ResponseParser::Event::kEnd:
        r.trailers.push_back(p.trailers());
        r.keep_alive.push_back(p.keep_alive());
        in_response = false;
        break;
      case Http1ResponseParser::Event::kError:
        r.error = true;
        r.err = p.error();
        return r;
      case Http1ResponseParser::Event::kNeedMore:
        break;
    }
    buf.erase(0, s.consumed);
    if (s.event == Http1ResponseParser::Event::kNeedMore) {
      if (fed < wire.size()) {
        feed(buf, wire, &fed, piece);
        continue;
      }
      if (eof) {
        auto e = p.eof();
        if (e.event == Http1ResponseParser::Event::kError) {
          r.error = true;
          r.err = p.error();
        } else if (e.event == Http1ResponseParser::Event::kEnd) {
          r.trailers.push_back(p.trailers());
          r.keep_alive.push_back(p.keep_alive());
        }
      }
      break;
    }
  }
  r.leftover = buf;
  return r;
}

}  // namespace http1test
