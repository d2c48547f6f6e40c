// Tests for waypoint/http/http1_response_parser and http1_serializer: response framing rules
// (HEAD, 1xx, 204, 304, until-close), refusal of ambiguous upstream responses (502), and the
// serializers' output and their refusal of fields that would split a message.
#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "test/waypoint/http1_driver.h"
#include "waypoint/http/http1_serializer.h"
#include "waypoint/http/sniff.h"

using namespace http1test;

namespace {
constexpr size_t kPieces[] = {0, 1, 5};
}

TEST_CASE("HTTP/1 responses: bodies by status and request method, pipelined on one connection") {
  for (size_t piece : kPieces) {
    CAPTURE(piece);
    SUBCASE("HEAD, 204 and 304 have no body whatever their framing headers say") {
      Parsed r = parse_responses(
          "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"           // HEAD: no body follows
          "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"   // 204: none
          "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"  // 304: none
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
          {"HEAD", "GET", "GET", "GET"}, piece);
      REQUIRE_FALSE(r.error);
      REQUIRE(r.responses.size() == 4);
      CHECK(r.bodies == std::vector<std::string>{"", "", "", "hi"});
      // HEAD and 304 keep the declared length for forwarding; 204 declares nothing.
      CHECK(r.responses[0].body == BodyInfo{BodyInfo::Kind::kLength, 5});
      CHECK(r.responses[1].body.kind == BodyInfo::Kind::kNone);
      CHECK(r.responses[2].body == BodyInfo{BodyInfo::Kind::kLength, 7});
      CHECK(r.keep_alive == std::vector<bool>{true, true, true, true});
      CHECK(r.leftover.empty());
    }
    SUBCASE("100 Continue and 103 Early Hints come before the final response") {
      Parsed r = parse_responses("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
                                 {"POST"}, piece);
      REQUIRE_FALSE(r.error);
      CHECK(r.informational == std::vector<int>{100, 103});
      REQUIRE(r.responses.size() == 1);
      CHECK(r.responses[0].status == 201);
    }
    SUBCASE("chunked with trailers (gRPC over HTTP/1 style)") {
      Parsed r = parse_responses("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: 0\r\n\r\n", {"POST"}, piece);
      REQUIRE_FALSE(r.error);
      CHECK(r.bodies[0] == "abc");
      CHECK(r.trailers[0].get("grpc-status") == "0");
      CHECK(r.responses[0].body.kind == BodyInfo::Kind::kChunked);
    }
    SUBCASE("no framing: the body runs until the upstream closes, and the connection is not reused") {
      Parsed r = parse_responses("HTTP/1.1 200 OK\r\n\r\nall of it", {"GET"}, piece, true);
      REQUIRE_FALSE(r.error);
      CHECK(r.bodies[0] == "all of it");
      CHECK(r.responses[0].body.kind == BodyInfo::Kind::kUntilClose);
      CHECK(r.keep_alive == std::vector<bool>{false});
    }
    SUBCASE("HTTP/1.0 responses close unless keep-alive; reason phrase may be empty or missing") {
      Parsed r = parse_responses("HTTP/1.0 200 \r\nContent-Length: 1\r\n\r\nx", {"GET"}, piece);
      REQUIRE_FALSE(r.error);
      CHECK(r.keep_alive == std::vector<bool>{false});
      Parsed r2 = parse_responses("HTTP/1.0 200\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", {"GET"}, piece);
      REQUIRE_FALSE(r2.error);
      CHECK(r2.keep_alive == std::vector<bool>{true});
      Parsed r3 = parse_responses("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", {"GET"}, piece);
      CHECK(r3.keep_alive == std::vector<bool>{false});
    }
  }
}

TEST_CASE("HTTP/1 responses that could desync a pooled upstream connection are refused with 502") {
  struct Case {
    const char* name;
    std::string wire;
    const char* reason;
    bool eof = false;
  } cases[] = {
      {"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "both Content-Length and Transfer-Encoding"},
      {"two CLs", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "more than one Content-Length"},
      {"bad CL", "HTTP/1.1 200 OK\r\nContent-Length: 3a\r\n\r\nabc", "invalid Content-Length"},
      {"TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "not exactly chunked"},
      {"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "never asks to upgrade"},
      {"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", "bare LF"},
      {"obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n", "obsolete line folding"},
      {"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", "whitespace between header name"},
      {"status two digits", "HTTP/1.1 20 OK\r\n\r\n", "malformed upstream status line"},
      {"status letters", "HTTP/1.1 2xx OK\r\n\r\n", "malformed upstream status line"},
      {"HTTP/2 status line", "HTTP/2.0 200 OK\r\n\r\n", "malformed upstream status line"},
      {"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", "malformed upstream status line"},
      {"extra response", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", "answer no request"},
      {"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "in the middle of the response body", true},
      {"no head", "HTTP/1.1 200 OK\r\nContent-Le", "before a complete response head", true},
  };
  for (const auto& c : cases) {
    for (size_t piece : kPieces) {
      CAPTURE(c.name);
      CAPTURE(piece);
      Parsed r = parse_responses(c.wire, {"GET"}, piece, c.eof);
      REQUIRE_MESSAGE(r.error, c.name, ": accepted");
      CHECK(r.err.status == 502);
      CHECK_MESSAGE(r.err.reason.find(c.reason) != std::string::npos, c.name, ": reason was \"", r.err.reason, "\"");
    }
  }
}

TEST_CASE("HTTP/1 serializer: request heads frame the body from the model and round-trip through the parser") {
  RequestHead h;
  h.method = "POST";
  h.authority = "reviews.default:9080";
  h.path = "/api?x=1";
  h.headers.add("x-role", "user");
  h.headers.add("x-role", "admin");
  h.headers.add("connection", "x-hop");  // filters must not inject hop-by-hop fields: dropped
  h.body = BodyInfo{BodyInfo::Kind::kChunked, 0};
  h.te_trailers = true;
  std::string out;
  auto framing = serialize_request_head(h, true, &out);
  REQUIRE(framing.ok());
  CHECK(*framing == BodyInfo::Kind::kChunked);
  CHECK(out ==
        "POST /api?x=1 HTTP/1.1\r\nhost: reviews.default:9080\r\nx-role: user\r\nx-role: admin\r\n"
        "transfer-encoding: chunked\r\nte: trailers\r\nconnection: te\r\n\r\n");
  append_chunk("hello", &out);
  append_chunk("", &out);  // nothing: an empty chunk would end the body
  HeaderMap trailers;
  trailers.add("x-checksum", "42");
  REQUIRE(append_last_chunk(trailers, &out).ok());
  Parsed r = parse_requests(out, 1);
  REQUIRE_FALSE(r.error);
  REQUIRE(r.heads.size() == 1);
  HeaderMap want;
  want.add("x-role", "user");
  want.add("x-role", "admin");
  CHECK(r.heads[0].headers == want);
  CHECK(r.bodies[0] == "hello");
  CHECK(r.trailers[0].get("x-checksum") == "42");
  CHECK(r.heads[0].te_trailers);

  RequestHead g;
  g.method = "GET";
  g.authority = "a";
  g.path = "/";
  std::string out2;
  REQUIRE(serialize_request_head(g, false, &out2).ok());
  CHECK(out2 == "GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n");
}

TEST_CASE("HTTP/1 serializer refuses what would split a message (CR, LF, NUL, bad names, bad paths)") {
  auto base = [] {
    RequestHead h;
    h.method = "GET";
    h.authority = "a";
    h.path = "/";
    return h;
  };
  struct Case {
    const char* name;
    std::function<void(RequestHead&)> mutate;
    const char* reason;
  } cases[] = {
      {"CRLF in a value", [](RequestHead& h) { h.headers.add("x-a", "1\r\nx-injected: 2"); }, "invalid character in the value of header \"x-a\""},
      {"LF in a value", [](RequestHead& h) { h.headers.add("x-a", "1\nb"); }, "invalid character"},
      {"NUL in a value", [](RequestHead& h) { h.headers.add("x-a", std::string("a\0b", 3)); }, "invalid character"},
      {"space in a name", [](RequestHead& h) { h.headers.add("x a", "1"); }, "invalid header name"},
      {"colon in a name", [](RequestHead& h) { h.headers.add("x:a", "1"); }, "invalid header name"},
      {"empty name", [](RequestHead& h) { h.headers.add("", "1"); }, "invalid header name"},
      {"leading space in a value", [](RequestHead& h) { h.headers.add("x-a", " 1"); }, "leading or trailing whitespace"},
      {"space in the path", [](RequestHead& h) { h.path = "/a b"; }, "invalid character in request path"},
      {"CRLF in the path", [](RequestHead& h) { h.path = "/a\r\nx"; }, "invalid character in request path"},
      {"relative path", [](RequestHead& h) { h.path = "a"; }, "invalid request path"},
      {"bad method", [](RequestHead& h) { h.method = "GE T"; }, "invalid method"},
      {"CONNECT", [](RequestHead& h) { h.method = "CONNECT"; }, "CONNECT cannot be forwarded"},
      {"CRLF in the authority", [](RequestHead& h) { h.authority = "a\r\nx: y"; }, "invalid authority"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    RequestHead h = base();
    c.mutate(h);
    std::string out;
    auto r = serialize_request_head(h, true, &out);
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(std::string(r.status().message()).find(c.reason) != std::string::npos, r.status().message());
  }
  ResponseHead resp;
  resp.status = 200;
  resp.headers.add("set-cookie", "a=b\r\nlocation: evil");
  std::string out;
  CHECK_FALSE(serialize_response_head(resp, Version::kHttp11, true, &out).ok());
  HeaderMap bad_trailer;
  bad_trailer.add("x", "\n");
  CHECK_FALSE(append_last_chunk(bad_trailer, &out).ok());
}

TEST_CASE("HTTP/1 serializer: response framing per status and client version") {
  struct Case {
    const char* name;
    int status;
    BodyInfo body;
    Version client;
    bool keep_alive;
    const char* want;
    BodyInfo::Kind framing;
  } cases[] = {
      {"length", 200, {BodyInfo::Kind::kLength, 5}, Version::kHttp11, true, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", BodyInfo::Kind::kLength},
      {"chunked", 200, {BodyInfo::Kind::kChunked, 0}, Version::kHttp11, true, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", BodyInfo::Kind::kChunked},
      {"chunked to HTTP/1.0 becomes close-delimited", 200, {BodyInfo::Kind::kChunked, 0}, Version::kHttp10, true,
       "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n", BodyInfo::Kind::kUntilClose},
      {"keep-alive to HTTP/1.0 says so", 200, {BodyInfo::Kind::kLength, 0}, Version::kHttp10, true,
       "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n", BodyInfo::Kind::kLength},
      {"no body on a 200 is content-length 0", 200, {}, Version::kHttp11, true, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", BodyInfo::Kind::kNone},
      {"204 has no framing", 204, {BodyInfo::Kind::kLength, 3}, Version::kHttp11, true, "HTTP/1.1 204 No Content\r\n\r\n", BodyInfo::Kind::kNone},
      {"304 keeps a declared length", 304, {BodyInfo::Kind::kLength, 3}, Version::kHttp11, true, "HTTP/1.1 304 Not Modified\r\ncontent-length: 3\r\n\r\n", BodyInfo::Kind::kLength},
      {"100 continue", 100, {}, Version::kHttp11, true, "HTTP/1.1 100 Continue\r\n\r\n", BodyInfo::Kind::kNone},
      {"until close", 200, {BodyInfo::Kind::kUntilClose, 0}, Version::kHttp11, true, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n", BodyInfo::Kind::kUntilClose},
      {"close", 503, {BodyInfo::Kind::kLength, 0}, Version::kHttp11, false, "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", BodyInfo::Kind::kLength},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    ResponseHead h;
    h.status = c.status;
    h.body = c.body;
    std::string out;
    auto r = serialize_response_head(h, c.client, c.keep_alive, &out);
    REQUIRE(r.ok());
    CHECK(out == c.want);
    CHECK(*r == c.framing);
  }
  CHECK(continue_response() == "HTTP/1.1 100 Continue\r\n\r\n");
  CHECK(simple_response(403, "RBAC: access denied", false) ==
        "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 19\r\nconnection: close\r\n\r\nRBAC: access denied");
}

TEST_CASE("protocol sniffing: the HTTP/2 preface against HTTP/1 requests") {
  struct Case {
    std::string in;
    Sniffed want;
  } cases[] = {
      {"", Sniffed::kNeedMore},
      {"P", Sniffed::kNeedMore},
      {"PRI * HTTP/2.0\r\n", Sniffed::kNeedMore},
      {std::string(kHttp2Preface), Sniffed::kHttp2},
      {std::string(kHttp2Preface) + "\x00\x00\x00\x04", Sniffed::kHttp2},
      {"POST / HTTP/1.1\r\n", Sniffed::kHttp1},
      {"PRI / HTTP/1.1\r\n", Sniffed::kHttp1},
      {"PRI * HTTP/2.0\r\n\r\nXX", Sniffed::kHttp1},
      {"GET", Sniffed::kHttp1},
      {"\x16\x03\x01", Sniffed::kHttp1},  // TLS: the HTTP/1 parser refuses it with 400
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    CHECK(sniff_protocol(c.in) == c.want);
  }
}
