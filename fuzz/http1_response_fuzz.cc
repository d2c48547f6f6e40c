// libFuzzer target: the waypoint's HTTP/1.1 response parser (reading upstreams). The first byte
// picks the request method (HEAD or GET) and where the input is split. Invariants: the result does
// not depend on the split; every refusal is a 502 with a reason; a HEAD/204/304 response never
// yields body bytes; a body that ran until close never leaves the connection reusable.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "waypoint/http/http1_response_parser.h"

using namespace ambit::waypoint::http;

namespace {

struct Result {
  std::string trace;  // events and bodies, in order
  bool error = false;
  std::string reason;
};

Result run(std::string_view in, size_t split, const char* method) {
  Http1ResponseParser p;
  Result r;
  std::string buf(in.substr(0, split));
  bool fed_rest = split >= in.size();
  bool started = false;
  int responses = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    if (!started && !buf.empty()) {
      if (++responses > 4) return r;  // a few pipelined responses are enough
      p.start_response(method);
      started = true;
    }
    auto s = p.next(buf);
    if (s.consumed > buf.size()) std::abort();
    switch (s.event) {
      case Http1ResponseParser::Event::kInformational:
        r.trace += "I" + std::to_string(p.head().status);
        break;
      case Http1ResponseParser::Event::kHead:
        r.trace += "H" + std::to_string(p.head().status);
        break;
      case Http1ResponseParser::Event::kBody:
        if (!p.has_body()) std::abort();
        r.trace.append(s.body);
        break;
      case Http1ResponseParser::Event::kEnd:
        r.trace += "E";
        started = false;
        break;
      case Http1ResponseParser::Event::kError:
        if (p.error().status != 502 || p.error().reason.empty()) std::abort();
        r.error = true;
        r.reason = p.error().reason;
        return r;
      case Http1ResponseParser::Event::kNeedMore:
        break;
    }
    buf.erase(0, s.consumed);
    if (s.event == Http1ResponseParser::Event::kNeedMore) {
      if (!fed_rest) {
        buf.append(in.substr(split));
        fed_rest = true;
        continue;
      }
      auto e = p.eof();
      if (e.event == Http1ResponseParser::Event::kEnd) {
        if (p.keep_alive() && p.head().body.kind == BodyInfo::Kind::kUntilClose && p.has_body()) std::abort();
        r.trace += "E";
      }
      if (e.event == Http1ResponseParser::Event::kError) {
        r.error = true;
        r.reason = p.error().reason;
      }
      return r;
    }
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const char* method = (data[0] & 1) ? "HEAD" : "GET";
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t split = in.empty() ? 0 : (data[0] >> 1) % (in.size() + 1);
  Result whole = run(in, in.size(), method);
  Result pieces = run(in, split, method);
  if (whole.trace != pieces.trace || whole.error != pieces.error || whole.reason != pieces.reason) std::abort();
  return 0;
}
