// Tests for waypoint/http/h2_server_codec, driven in-process: a real nghttp2 client for the
// request/response mapping and flow control, raw frames for what a well-behaved client never
// sends. Every abuse case must end in a GOAWAY with the expected code, a reason, a finished()
// codec, and bounded state (open streams, buffered bytes).
#include <doctest/doctest.h>

#include "common/base/strings.h"
#include "test/waypoint/h2_test_peer.h"

using namespace h2test;
using ambit::str_cat;

namespace {

struct Server {
  explicit Server(H2Settings s = {}) : codec(std::move(s), &handler) { handler.codec = &codec; }
  TestHandler handler;
  H2ServerCodec codec;

  // Feeds raw client bytes; returns the frames the server wrote in answer.
  std::vector<Frame> feed(std::string_view bytes) {
    (void)codec.receive(bytes);
    return drain();
  }
  std::vector<Frame> drain() {
    std::string out;
    for (int i = 0; i < 10000; ++i) {
      size_t before = out.size();
      codec.take_output(&out);
      if (out.size() == before) break;
    }
    return frames_of(out);
  }
};

std::optional<Frame> find_goaway(const std::vector<Frame>& fs) {
  for (const auto& f : fs) {
    if (f.type == kGoaway) return f;
  }
  return std::nullopt;
}

void expect_goaway(Server& s, const std::vector<Frame>& out, uint32_t code, const char* reason) {
  auto g = find_goaway(out);
  REQUIRE_MESSAGE(g, "no GOAWAY");
  CHECK(goaway_code(*g) == code);
  CHECK(s.codec.stats().goaway_sent);
  CHECK(s.codec.stats().goaway_error == code);
  CHECK_MESSAGE(s.codec.stats().goaway_reason.find(reason) != std::string::npos, s.codec.stats().goaway_reason);
  CHECK(s.codec.finished());
}

}  // namespace

TEST_CASE("h2 server: GET and POST map to the same request model as HTTP/1, and responses come back") {
  Server s;
  H2Client c;
  auto get_id = c.request({{":method", "GET"}, {":scheme", "http"}, {":path", "/a?b=c"}, {":authority", "Reviews.NS:9080"},
                           {"x-role", "user"}, {"cookie", "a=1"}, {"x-role", "admin"}, {"cookie", "b=2"}, {"te", "trailers"}});
  auto post_id = c.request({{":method", "POST"}, {":scheme", "https"}, {":path", "/upload"}, {":authority", "svc:80"},
                            {"content-length", "11"}},
                           "hello world");
  pump(c, s.codec);
  REQUIRE(s.handler.reqs.count(get_id));
  const RequestHead& g = s.handler.reqs[get_id].head;
  CHECK(g.method == "GET");
  CHECK(g.scheme == "http");
  CHECK(g.authority == "reviews.ns:9080");
  CHECK(g.path == "/a?b=c");
  CHECK(g.version == Version::kHttp2);
  CHECK(g.body.kind == BodyInfo::Kind::kNone);
  CHECK(g.te_trailers);
  CHECK(g.headers.get_all("x-role") == std::vector<std::string_view>{"user", "admin"});
  CHECK(g.headers.get("cookie") == "a=1; b=2");  // crumbs joined (RFC 9113 §8.2.3)
  CHECK_FALSE(g.headers.contains("te"));
  const auto& p = s.handler.reqs[post_id];
  CHECK(p.head.body == BodyInfo{BodyInfo::Kind::kLength, 11});
  CHECK(p.body == "hello world");
  CHECK(p.ended);
  // Responses (the handler echoes).
  REQUIRE(c.resps[get_id].done);
  CHECK(c.resps[get_id].status == 200);
  CHECK(c.resps[post_id].body == "hello world");
  CHECK(c.resps[post_id].close_code == 0);
  CHECK(s.handler.reqs[post_id].closed);
  CHECK(s.handler.reqs[post_id].close_code == 0);
  CHECK(s.codec.open_streams() == 0);
}

TEST_CASE("h2 server: request trailers in, response trailers out (gRPC)") {
  Server s;
  s.handler.echo = false;
  H2Client c;
  auto id = c.request({{":method", "POST"}, {":scheme", "http"}, {":path", "/pkg.Svc/Method"}, {":authority", "svc:50051"},
                       {"content-type", "application/grpc"}, {"te", "trailers"}},
                      std::string("\0\0\0\0\3abc", 8), {{"x-client-trailer", "1"}});
  pump(c, s.codec);
  auto& r = s.handler.reqs[id];
  CHECK(r.ended);
  CHECK(r.body.size() == 8);
  CHECK(r.trailers.get("x-client-trailer") == "1");
  CHECK(r.head.body.kind == BodyInfo::Kind::kChunked);  // no content-length: unknown length
  ResponseHead head;
  head.status = 200;
  head.headers.add("content-type", "application/grpc");
  REQUIRE(s.codec.submit_response(id, head, false).ok());
  CHECK(s.codec.send_body(id, std::string("\0\0\0\0\2ok", 7), false) == 7);
  HeaderMap t;
  t.add("grpc-status", "0");
  t.add("grpc-message", "fine");
  REQUIRE(s.codec.send_trailers(id, t).ok());
  pump(c, s.codec);
  auto& resp = c.resps[id];
  REQUIRE(resp.done);
  CHECK(resp.body.size() == 7);
  CHECK(resp.trailers == std::vector<std::pair<std::string, std::string>>{{"grpc-status", "0"}, {"grpc-message", "fine"}});
}

TEST_CASE("h2 server: requests the codec refuses itself get a status and a reason, never reach the handler") {
  struct Case {
    const char* name;
    std::vector<std::pair<std::string, std::string>> headers;
    int status;
    const char* reason;
  } cases[] = {
      {"authority and host differ", {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}, {"host", "b"}}, 400, ":authority and host differ"},
      {"lower-case method", {{":method", "get"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}}, 400, "must be upper case"},
      {"bad scheme", {{":method", "GET"}, {":scheme", "ftp"}, {":path", "/"}, {":authority", "a"}}, 400, "unsupported :scheme"},
      {"authority with userinfo", {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "u@a"}}, 400, "userinfo"},
      {"fragment", {{":method", "GET"}, {":scheme", "http"}, {":path", "/a#b"}, {":authority", "a"}}, 400, "fragment"},
      {"CONNECT", {{":method", "CONNECT"}, {":authority", "a:443"}}, 405, "CONNECT is not supported"},
  };
  for (const auto& k : cases) {
    CAPTURE(std::string(k.name));
    Server s;
    H2Client c;
    auto id = c.request(k.headers);
    pump(c, s.codec);
    CHECK(s.handler.reqs.empty());
    CHECK(c.resps[id].status == k.status);
    CHECK_MESSAGE(c.resps[id].body.find(k.reason) != std::string::npos, c.resps[id].body);
    CHECK(s.codec.stats().requests_refused == 1);
  }
}

TEST_CASE("h2 server: requests nghttp2 itself finds malformed are reset (PROTOCOL_ERROR) and never reach the handler") {
  struct Case {
    const char* name;
    std::vector<std::pair<std::string, std::string>> headers;
  } cases[] = {
      {"relative path", {{":method", "GET"}, {":scheme", "http"}, {":path", "a"}, {":authority", "a"}}},
      {"asterisk with GET", {{":method", "GET"}, {":scheme", "http"}, {":path", "*"}, {":authority", "a"}}},
      {"missing :path", {{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}}},
      {"connection header", {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}, {"connection", "close"}}},
      {"transfer-encoding", {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}, {"transfer-encoding", "chunked"}}},
      {"te other than trailers", {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}, {"te", "gzip"}}},
      {"NUL in a value", {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}, {"x-a", std::string("a\0b", 3)}}},
      {"LF in a value", {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}, {"x-a", "a\nb"}}},
      {"leading space in a value", {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}, {"x-a", " a"}}},
  };
  for (const auto& k : cases) {
    CAPTURE(std::string(k.name));
    Server s;
    H2Client c;
    auto id = c.request(k.headers);
    pump(c, s.codec);
    CHECK(s.handler.reqs.empty());
    CHECK(c.resps[id].status == 0);
    CHECK(c.resps[id].close_code == NGHTTP2_PROTOCOL_ERROR);
    CHECK(s.codec.stats().resets_provoked == 1);  // counted toward MadeYouReset
  }
}

TEST_CASE("h2 server: an upper-case header name (raw HPACK) is a stream error") {
  Server s;
  auto out = s.feed(client_start() + frame(kHeaders, kEndHeaders | kEndStream, 1, request_block() + hpack_literal("X-A", "1")));
  CHECK(s.handler.reqs.empty());
  bool rst = false;
  for (const auto& f : out) rst = rst || (f.type == kRstStream && f.stream == 1 && f.payload == u32(NGHTTP2_PROTOCOL_ERROR));
  CHECK(rst);
}

TEST_CASE("h2 server: a content-length that the DATA contradicts resets the stream") {
  Server s;
  s.handler.echo = false;
  s.feed(client_start() + frame(kHeaders, kEndHeaders, 1, request_block("POST") + hpack_literal("content-length", "3")));
  REQUIRE(s.handler.reqs.count(1));
  auto out = s.feed(frame(kData, kEndStream, 1, "toolong"));
  CHECK(s.handler.reqs[1].closed);
  CHECK(s.handler.reqs[1].close_code == NGHTTP2_PROTOCOL_ERROR);
  CHECK(s.handler.reqs[1].body.empty());
}

TEST_CASE("h2 server: header list over the limits is answered 431") {
  H2Settings st;
  st.max_header_count = 10;
  st.max_header_list = 4096;
  for (int variant = 0; variant < 2; ++variant) {
    CAPTURE(variant);
    Server s(st);
    H2Client c;
    auto h = get("/");
    if (variant == 0) {
      for (int i = 0; i < 20; ++i) h.emplace_back(str_cat("x-h", i), "v");
    } else {
      h.emplace_back("x-big", std::string(5000, 'a'));
    }
    auto id = c.request(h);
    pump(c, s.codec);
    CHECK(s.handler.reqs.empty());
    CHECK(c.resps[id].status == 431);
    CHECK(c.resps[id].body.find(variant == 0 ? "more than 10 header fields" : "larger than 4096 bytes") != std::string::npos);
  }
}

TEST_CASE("h2 server: request body flow control waits for consume(), and abandoned streams return their window") {
  H2Settings st;  // 64 KiB stream window, 1 MiB connection window
  Server s(st);
  s.handler.auto_consume = false;
  s.handler.echo = false;
  H2Client c;
  std::string big(200 * 1024, 'b');
  auto id = c.request({{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}}, big);
  pump(c, s.codec);
  // The client may send one stream window and no more until the proxy consumed.
  CHECK(s.handler.reqs[id].body.size() == st.stream_window);
  s.codec.consume(id, s.handler.reqs[id].body.size());
  pump(c, s.codec);
  CHECK(s.handler.reqs[id].body.size() == 2 * st.stream_window);
  s.handler.auto_consume = true;
  s.codec.consume(id, s.handler.reqs[id].body.size());
  pump(c, s.codec);
  CHECK(s.handler.reqs[id].body == big);
  CHECK(s.handler.reqs[id].ended);

  // 20 uploads of one full stream window each, never consumed, then cancelled by the client:
  // 1.25 MiB > the connection window. Were their bytes not returned at close, the next upload
  // would starve.
  s.handler.auto_consume = false;
  for (int i = 0; i < 20; ++i) {
    auto up = c.request({{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}}, std::string(st.stream_window, 'u'),
                        {}, true);
    c.hold(up, true);
    pump(c, s.codec);
    CHECK(s.handler.reqs[up].body.size() == st.stream_window);
    c.reset(up);
    pump(c, s.codec);
    CHECK(s.handler.reqs[up].closed);
    CHECK(s.handler.reqs[up].close_code == NGHTTP2_CANCEL);
  }
  auto last = c.request({{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}}, std::string(1000, 'z'));
  pump(c, s.codec);
  CHECK(s.handler.reqs[last].body.size() == 1000);
  CHECK_FALSE(s.codec.stats().goaway_sent);
}

TEST_CASE("h2 server: response bytes are bounded per stream, on_response_writable when the client reads again") {
  H2Settings st;
  st.max_response_buffer = 32 * 1024;
  Server s(st);
  s.handler.echo = false;
  // A raw client that grants no stream window (SETTINGS_INITIAL_WINDOW_SIZE 0).
  std::string start = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" +
                      frame(kSettings, 0, 0, std::string("\x00\x04", 2) + u32(0));
  s.feed(start + frame(kHeaders, kEndHeaders | kEndStream, 1, request_block()));
  REQUIRE(s.handler.reqs[1].ended);
  ResponseHead h;
  h.status = 200;
  REQUIRE(s.codec.submit_response(1, h, false).ok());
  std::string chunk(100 * 1024, 'r');
  size_t took = s.codec.send_body(1, chunk, false);
  CHECK(took == st.max_response_buffer);
  CHECK(s.codec.send_body(1, chunk, false) == 0);
  s.drain();
  CHECK(s.codec.buffered_response_bytes() == st.max_response_buffer);  // nothing can leave
  CHECK(s.handler.writable.empty());
  // The client opens the window: data leaves, room comes back, the handler is told.
  auto out = s.feed(frame(kWindowUpdate, 0, 1, u32(64 * 1024)));
  size_t data = 0;
  for (const auto& f : out) {
    if (f.type == kData) data += f.payload.size();
  }
  CHECK(data == st.max_response_buffer);
  CHECK(s.handler.writable == std::vector<int32_t>{1});
  CHECK(s.codec.buffered_response_bytes() == 0);
}

TEST_CASE("h2 server: an early response (403 before the body ended) resets the request half with NO_ERROR, not counted as abuse") {
  Server s;
  s.handler.echo = false;
  s.feed(client_start() + frame(kHeaders, kEndHeaders, 1, request_block("POST")));
  ResponseHead h;
  h.status = 403;
  REQUIRE(s.codec.submit_response(1, h, true).ok());
  auto out = s.drain();
  bool rst = false;
  for (const auto& f : out) {
    if (f.type == kRstStream && f.stream == 1) rst = u32(NGHTTP2_NO_ERROR) == f.payload;
  }
  CHECK(rst);
  CHECK(s.codec.stats().resets_provoked == 0);
  CHECK(s.handler.reqs[1].closed);
}

TEST_CASE("h2 server: more than max_concurrent_streams open streams are refused, state stays bounded") {
  Server s;
  std::string burst = client_start();
  for (uint32_t i = 0; i < 150; ++i) burst += frame(kHeaders, kEndHeaders, 1 + 2 * i, request_block("POST"));
  s.handler.echo = false;
  auto out = s.feed(burst);
  size_t refused = 0;
  for (const auto& f : out) {
    if (f.type == kRstStream && f.payload == u32(NGHTTP2_REFUSED_STREAM)) ++refused;
  }
  CHECK(s.codec.open_streams() <= 100);
  CHECK(refused == 50);
  CHECK_FALSE(find_goaway(out));
}

// ---- abuse: each ends in GOAWAY --------------------------------------------------------------

TEST_CASE("abuse: rapid reset (CVE-2023-44487) ends in GOAWAY ENHANCE_YOUR_CALM") {
  Server s;
  std::string burst = client_start();
  for (uint32_t i = 0; i < 1000; ++i) {
    burst += frame(kHeaders, kEndHeaders, 1 + 2 * i, request_block());
    burst += frame(kRstStream, 0, 1 + 2 * i, u32(NGHTTP2_CANCEL));
  }
  (void)s.codec.receive(burst);
  auto out = s.drain();
  expect_goaway(s, out, NGHTTP2_ENHANCE_YOUR_CALM, "rapid reset");
  CHECK(s.codec.stats().resets_received <= 210);  // the burst, and what was already in the read
  CHECK(s.codec.open_streams() == 0);
}

TEST_CASE("abuse: resets within the rate are fine, the bucket refills with time") {
  H2Settings st;
  auto now = std::chrono::steady_clock::now();
  st.now = [&now] { return now; };
  Server s(st);
  s.feed(client_start());
  uint32_t sid = 1;
  for (int second = 0; second < 10; ++second) {
    std::string burst;
    for (int i = 0; i < 90; ++i, sid += 2) {  // 90/s < 100/s
      burst += frame(kHeaders, kEndHeaders, sid, request_block());
      burst += frame(kRstStream, 0, sid, u32(NGHTTP2_CANCEL));
    }
    auto out = s.feed(burst);
    REQUIRE_FALSE(find_goaway(out));
    now += std::chrono::seconds(1);
  }
  CHECK(s.codec.stats().resets_received == 900);
}

TEST_CASE("abuse: MadeYouReset (CVE-2025-8671), stream errors that make the server reset, ends in GOAWAY") {
  Server s;
  s.feed(client_start());
  // A connection-specific header is a stream error (RFC 9113 §8.2.2): nghttp2 resets the stream.
  std::string block = request_block() + hpack_literal("connection", "close");
  std::optional<Frame> g;
  uint32_t sid = 1;
  for (int round = 0; round < 20 && !g; ++round) {
    std::string burst;
    for (int i = 0; i < 50; ++i, sid += 2) burst += frame(kHeaders, kEndHeaders, sid, block);
    g = find_goaway(s.feed(burst));
  }
  REQUIRE(g);
  CHECK(goaway_code(*g) == NGHTTP2_ENHANCE_YOUR_CALM);
  CHECK(s.codec.stats().goaway_reason.find("MadeYouReset") != std::string::npos);
  CHECK(s.codec.stats().resets_provoked > 200);
  CHECK(s.handler.reqs.empty());
}

TEST_CASE("abuse: CONTINUATION flood (CVE-2024-27316) ends in GOAWAY") {
  Server s;
  std::string burst = client_start() + frame(kHeaders, 0, 1, request_block());
  for (int i = 0; i < 100; ++i) burst += frame(kContinuation, 0, 1, hpack_literal(str_cat("x-pad-", i), "v"));
  CHECK_FALSE(s.codec.receive(burst).ok());
  expect_goaway(s, s.drain(), NGHTTP2_ENHANCE_YOUR_CALM, "CONTINUATION flood");
  CHECK(s.handler.reqs.empty());
}

TEST_CASE("abuse: PING and SETTINGS floods (CVE-2019-9512, -9515) without reading the ACKs end in GOAWAY") {
  for (uint8_t type : {kPing, kSettings}) {
    CAPTURE(int(type));
    Server s;
    std::string burst = client_start();
    for (int i = 0; i < 5000; ++i) burst += type == kPing ? frame(kPing, 0, 0, "12345678") : frame(kSettings, 0, 0, "");
    // One receive, no take_output in between: the ACK queue is what overflows.
    CHECK_FALSE(s.codec.receive(burst).ok());
    auto out = s.drain();
    expect_goaway(s, out, NGHTTP2_ENHANCE_YOUR_CALM, "control frame flood");
    size_t acks = 0;
    for (const auto& f : out) acks += (f.type == type && (f.flags & kAck)) ? 1 : 0;
    CHECK(acks <= 1001);  // bounded by max_outbound_control, not by the flood
  }
}

TEST_CASE("abuse: empty DATA, PRIORITY and WINDOW_UPDATE floods (CVE-2019-9518, -9513, -9516) end in GOAWAY") {
  struct Case {
    const char* name;
    std::function<std::string(int)> frame_n;
    const char* reason;
  } cases[] = {
      {"empty DATA", [](int) { return frame(kData, 0, 1, ""); }, "empty DATA flood"},
      {"PRIORITY", [](int i) { return frame(kPriority, 0, 3 + 2 * static_cast<uint32_t>(i % 1000), u32(1) + "\x10"); }, "PRIORITY flood"},
      {"WINDOW_UPDATE", [](int) { return frame(kWindowUpdate, 0, 0, u32(1)); }, "WINDOW_UPDATE flood"},
  };
  for (const auto& k : cases) {
    CAPTURE(std::string(k.name));
    Server s;
    s.handler.echo = false;
    std::string burst = client_start() + frame(kHeaders, kEndHeaders, 1, request_block("POST"));
    for (int i = 0; i < 1000; ++i) burst += k.frame_n(i);
    (void)s.codec.receive(burst);
    expect_goaway(s, s.drain(), NGHTTP2_ENHANCE_YOUR_CALM, k.reason);
  }
}

TEST_CASE("h2 server: a bad preface or garbage ends in GOAWAY PROTOCOL_ERROR") {
  Server s;
  CHECK_FALSE(s.codec.receive("GET / HTTP/1.1\r\nHost: a\r\n\r\n").ok());
  expect_goaway(s, s.drain(), NGHTTP2_PROTOCOL_ERROR, "preface");
}

TEST_CASE("h2 server: drain() sends GOAWAY NO_ERROR, open streams finish, then finished()") {
  Server s;
  s.handler.echo = false;
  s.feed(client_start() + frame(kHeaders, kEndHeaders | kEndStream, 1, request_block()));
  s.codec.drain();
  auto out = s.drain();
  auto g = find_goaway(out);
  REQUIRE(g);
  CHECK(goaway_code(*g) == NGHTTP2_NO_ERROR);
  CHECK_FALSE(s.codec.finished());  // stream 1 still open
  ResponseHead h;
  h.status = 204;
  REQUIRE(s.codec.submit_response(1, h, true).ok());
  s.drain();
  CHECK(s.codec.finished());
}

TEST_CASE("abuse: PING flood read in small pieces while the output is not taken still ends in GOAWAY") {
  Server s;
  std::string burst = client_start();
  for (int i = 0; i < 5000; ++i) burst += frame(kPing, 0, 0, "12345678");
  bool failed = false;
  for (size_t off = 0; off < burst.size() && !failed; off += 16 * 1024) {
    failed = !s.codec.receive(std::string_view(burst).substr(off, 16 * 1024)).ok();
  }
  CHECK(failed);
  expect_goaway(s, s.drain(), NGHTTP2_ENHANCE_YOUR_CALM, "control frame flood");
}
