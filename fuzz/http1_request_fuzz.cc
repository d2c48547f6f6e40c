// libFuzzer target: the waypoint's HTTP/1.1 request parser (waypoint/http/http1_request_parser),
// fed straight from clients. Invariants on every input:
//  - feeding it whole or in two pieces (split where the first byte says) gives the same events,
//    heads, bodies and error: the parser's state machine does not depend on read boundaries;
//  - every refusal has a reason and one of the statuses the parser documents;
//  - every accepted head serializes (serialize_request_head), and the serialized head parses
//    back to the same method, path, authority and headers (what the waypoint forwards is what
//    it routed on).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "waypoint/http/http1_request_parser.h"
#include "waypoint/http/http1_serializer.h"

using namespace ambit::waypoint::http;

namespace {

struct Result {
  std::vector<RequestHead> heads;
  std::string bodies;
  std::vector<HeaderMap> trailers;
  bool error = false;
  int status = 0;
  std::string reason;
};

Result run(std::string_view in, size_t split, Http1Limits limits) {
  Http1RequestParser p(limits);
  Result r;
  std::string buf(in.substr(0, split));
  bool fed_rest = split >= in.size();
  for (int guard = 0; guard < 100000; ++guard) {
    auto s = p.next(buf);
    if (s.consumed > buf.size()) std::abort();
    switch (s.event) {
      case Http1RequestParser::Event::kHead:
        r.heads.push_back(p.head());
        break;
      case Http1RequestParser::Event::kBody:
        if (s.body.empty() || s.body.data() < buf.data() || s.body.data() + s.body.size() > buf.data() + buf.size()) std::abort();
        r.bodies.append(s.body);  // message boundaries count ('|' at kEnd), piece boundaries do not
        break;
      case Http1RequestParser::Event::kEnd:
        r.trailers.push_back(p.trailers());
        r.bodies.push_back('|');
        break;
      case Http1RequestParser::Event::kError:
        r.error = true;
        r.status = p.error().status;
        r.reason = p.error().reason;
        return r;
      case Http1RequestParser::Event::kNeedMore:
        break;
    }
    buf.erase(0, s.consumed);
    if (s.event == Http1RequestParser::Event::kNeedMore) {
      if (!fed_rest) {
        buf.append(in.substr(split));
        fed_rest = true;
        continue;
      }
      auto e = p.eof();
      if (e.event == Http1RequestParser::Event::kError) {
        r.error = true;
        r.status = p.error().status;
        r.reason = p.error().reason;
      } else if (e.event == Http1RequestParser::Event::kEnd) {
        r.bodies.push_back('|');
      }
      return r;
    }
  }
  return r;
}

bool same_head(const RequestHead& a, const RequestHead& b) {
  return a.method == b.method && a.path == b.path && a.authority == b.authority && a.scheme == b.scheme &&
         a.version == b.version && a.headers == b.headers && a.body == b.body && a.expect_continue == b.expect_continue &&
         a.te_trailers == b.te_trailers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Http1Limits limits;
  limits.max_header_count = 20;  // small limits so the fuzzer reaches them
  limits.max_header_bytes = 2048;
  limits.max_start_line = 1024;
  limits.max_chunk_extension_bytes = 64;
  limits.max_chunk_line = 128;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t split = in.empty() ? 0 : data[0] % (in.size() + 1);
  Result whole = run(in, in.size(), limits);
  Result pieces = run(in, split, limits);
  if (whole.error != pieces.error || whole.status != pieces.status || whole.reason != pieces.reason) std::abort();
  if (whole.bodies != pieces.bodies || whole.heads.size() != pieces.heads.size()) std::abort();
  for (size_t i = 0; i < whole.heads.size(); ++i) {
    if (!same_head(whole.heads[i], pieces.heads[i])) std::abort();
  }
  if (whole.error) {
    if (whole.reason.empty()) std::abort();
    switch (whole.status) {
      case 400: case 405: case 414: case 417: case 431: case 501: case 505:
        break;
      default:
        std::abort();
    }
  }
  for (const RequestHead& h : whole.heads) {
    if (h.authority.empty() || h.path == "*") continue;
    std::string out;
    auto framing = serialize_request_head(h, true, &out);
    if (!framing.ok()) std::abort();  // everything the parser accepts can be forwarded
    Http1RequestParser again;
    auto s = again.next(out);
    if (s.event != Http1RequestParser::Event::kHead || s.consumed != out.size()) std::abort();
    const RequestHead& g = again.head();
    if (g.method != h.method || g.path != h.path || g.authority != h.authority || g.headers != h.headers) std::abort();
  }
  return 0;
}
