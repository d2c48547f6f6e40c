// Tests for waypoint/http/http1_request_parser: every request-smuggling vector of issue 11 and
// the hardening reference is refused with its status and a reason naming the fault, and the
// valid corner cases (pipelining, chunked with trailers, keep-alive rules, absolute-form,
// 100-continue) parse to the protocol-independent model. Every case runs with the input whole
// and byte by byte.
#include <doctest/doctest.h>

#include <string>

#include "test/waypoint/http1_driver.h"

using namespace http1test;

namespace {

constexpr size_t kPieces[] = {0, 1, 7};

struct Bad {
  const char* name;
  std::string wire;
  int status;
  const char* reason;  // substring of the error's reason
};

}  // namespace

TEST_CASE("HTTP/1 request smuggling vectors and malformed requests are refused with a status and a reason") {
  const std::string h = "GET / HTTP/1.1\r\nHost: a\r\n";
  const std::string p = "POST / HTTP/1.1\r\nHost: a\r\n";
  const Bad cases[] = {
      // body framing (CL.TE / TE.CL / TE.TE desync)
      {"CL and TE together", p + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "both Content-Length and Transfer-Encoding"},
      {"TE and CL together", p + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, "both Content-Length and Transfer-Encoding"},
      {"duplicate identical CL", p + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, "more than one Content-Length"},
      {"differing CL", p + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, "more than one Content-Length"},
      {"CL list", p + "Content-Length: 5, 5\r\n\r\nhello", 400, "invalid Content-Length"},
      {"CL sign", p + "Content-Length: +5\r\n\r\nhello", 400, "invalid Content-Length"},
      {"CL negative", p + "Content-Length: -1\r\n\r\n", 400, "invalid Content-Length"},
      {"CL hex", p + "Content-Length: 0x5\r\n\r\nhello", 400, "invalid Content-Length"},
      {"CL inner space", p + "Content-Length: 1 0\r\n\r\n", 400, "invalid Content-Length"},
      {"CL overflow", p + "Content-Length: 99999999999999999999\r\n\r\n", 400, "invalid Content-Length"},
      {"CL empty", p + "Content-Length:\r\n\r\n", 400, "invalid Content-Length"},
      {"TE not chunked", p + "Transfer-Encoding: gzip\r\n\r\n", 400, "must end with chunked"},
      {"TE chunked not last", p + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400, "must end with chunked"},
      {"TE chunked twice", p + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, "must end with chunked"},
      {"TE chunked twice, two lines", p + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "must end with chunked"},
      {"TE other coding first", p + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, "transfer coding \"gzip\" is not supported"},
      {"TE identity", p + "Transfer-Encoding: identity\r\n\r\n", 400, "must end with chunked"},
      {"TE with parameter", p + "Transfer-Encoding: chunked;q=1\r\n\r\n", 400, "must end with chunked"},
      {"TE empty element", p + "Transfer-Encoding: ,chunked\r\n\r\n", 400, "empty element in Transfer-Encoding"},
      {"TE xchunked", p + "Transfer-Encoding: xchunked\r\n\r\n", 400, "must end with chunked"},
      {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request"},
      {"TE with vertical tab", p + "Transfer-Encoding:\x0b" "chunked\r\n\r\n", 400, "invalid character 0x0b"},
      // line structure
      {"obs-fold", h + "X-A: 1\r\n folded\r\n\r\n", 400, "obsolete line folding"},
      {"obs-fold with tab", h + "X-A: 1\r\n\tfolded\r\n\r\n", 400, "obsolete line folding"},
      {"obs-fold of TE", p + "Transfer-Encoding:\r\n chunked\r\n\r\n", 400, "obsolete line folding"},
      {"bare LF in headers", "GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF in the request line"},
      {"bare LF after a header", h + "X-A: 1\n\r\n", 400, "bare LF in a header line"},
      {"bare LF end of head", h + "\n", 400, "bare LF"},
      {"bare CR in a header", h + "X-A: 1\rX-B: 2\r\n\r\n", 400, "bare CR in a header line"},
      {"bare CR in request line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare CR in the request line"},
      {"space before colon", h + "Content-Length : 5\r\n\r\nhello", 400, "whitespace between header name \"Content-Length\" and the colon"},
      {"tab before colon", h + "Transfer-Encoding\t: chunked\r\n\r\n", 400, "whitespace between header name"},
      {"no colon", h + "X-A 1\r\n\r\n", 400, "without a colon"},
      {"empty name", h + ": x\r\n\r\n", 400, "empty header name"},
      {"NUL in value", h + std::string("X-A: a\0b\r\n\r\n", 12), 400, "invalid character 0x00 in the value of header \"X-A\""},
      {"CTL in value", h + "X-A: a\x01" "b\r\n\r\n", 400, "invalid character 0x01"},
      {"DEL in value", h + "X-A: a\x7f" "b\r\n\r\n", 400, "invalid character 0x7f"},
      {"NUL in name", h + std::string("X\0A: b\r\n\r\n", 10), 400, "invalid character 0x00 in header name"},
      {"non-token name", h + "X(A): b\r\n\r\n", 400, "invalid character 0x28 in header name"},
      {"non-ascii name", h + "X\xc3\xa9: b\r\n\r\n", 400, "invalid character 0xc3 in header name"},
      // request line
      {"lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "must be upper case"},
      {"mixed-case method", "Get / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "must be upper case"},
      {"method with slash", "GE/T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid method"},
      {"method too long", std::string(40, 'G') + " / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid method"},
      {"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed request line"},
      {"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed request line"},
      {"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "malformed request line"},
      {"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed request line"},
      {"no version", "GET /\r\nHost: a\r\n\r\n", 400, "malformed request line"},
      {"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, "malformed HTTP version"},
      {"version junk", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400, "malformed HTTP version"},
      {"HTTP/2.0 in a request line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP version 2.0 is not supported"},
      {"HTTP/0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, "not supported"},
      {"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405, "CONNECT is not supported"},
      {"fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "fragment"},
      {"NUL in target", std::string("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", 30), 400, "invalid character in the request target"},
      {"non-ascii target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid character in the request target"},
      {"authority-form target", "GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target"},
      {"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target"},
      {"asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "only allowed with OPTIONS"},
      {"ftp absolute-form", "GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target"},
      {"absolute-form with userinfo", "GET http://u@a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "userinfo"},
      {"absolute-form with empty host", "GET http:///b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "empty host"},
      // Host
      {"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, "missing Host header"},
      {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host"},
      {"two Hosts in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host"},
      {"empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, "empty Host"},
      {"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "userinfo"},
      {"Host with bad port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400, "invalid character 0x78 in port"},
      {"Host with big port", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400, "port out of range"},
      {"Host with empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400, "empty port"},
      {"Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid character 0x2f in host"},
      {"Host unterminated v6", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "unterminated IPv6"},
      // upgrade, expect
      {"websocket upgrade", h + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 501, "upgrade to \"websocket\" is not supported"},
      {"unknown expectation", p + "Expect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417, "unsupported expectation"},
      {"invalid Connection token", h + "Connection: a b\r\n\r\n", 400, "in the Connection header"},
      // chunked bodies
      {"chunk size not hex", p + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "invalid chunk size"},
      {"chunk size empty", p + "Transfer-Encoding: chunked\r\n\r\n\r\n", 400, "invalid chunk size"},
      {"chunk size 0x prefix", p + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400, "after the chunk size"},
      {"chunk size negative", p + "Transfer-Encoding: chunked\r\n\r\n-5\r\n", 400, "invalid chunk size"},
      {"chunk size overflow", p + "Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n", 400, "more than 16 hex digits"},
      {"chunk size 2^64-1", p + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", 400, "chunk size too large"},
      {"chunk size with space", p + "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400, "after the chunk size"},
      {"chunk size leading space", p + "Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", 400, "invalid chunk size"},
      {"chunk size bare LF", p + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400, "bare LF in a chunk-size line"},
      {"chunk data too long", p + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400, "chunk data not followed by CRLF"},
      {"chunk data bare LF end", p + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400, "chunk data not followed by CRLF"},
      {"chunk ext with space", p + "Transfer-Encoding: chunked\r\n\r\n5 ;a=b\r\nhello\r\n0\r\n\r\n", 400, "after the chunk size"},
      {"chunk ext empty name", p + "Transfer-Encoding: chunked\r\n\r\n5;=b\r\nhello\r\n0\r\n\r\n", 400, "empty chunk extension name"},
      {"chunk ext unterminated quote", p + "Transfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n", 400, "unterminated quoted"},
      {"chunk ext bare LF inside", p + "Transfer-Encoding: chunked\r\n\r\n5;a=b\nc\r\nhello\r\n0\r\n\r\n", 400, "bare LF in a chunk-size line"},
      {"chunk ext NUL", p + "Transfer-Encoding: chunked\r\n\r\n" + std::string("5;a=\"\0\"\r\nhello\r\n0\r\n\r\n", 21), 400, "invalid character 0x00 in a chunk extension"},
      {"trailer obs-fold", p + "Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n  2\r\n\r\n", 400, "obsolete line folding (a trailer line"},
      {"trailer Content-Length", p + "Transfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n", 400, "trailer field \"content-length\" is not allowed"},
      {"trailer Transfer-Encoding", p + "Transfer-Encoding: chunked\r\n\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "trailer field \"transfer-encoding\""},
      {"trailer Host", p + "Transfer-Encoding: chunked\r\n\r\n0\r\nHost: evil\r\n\r\n", 400, "trailer field \"host\""},
      {"empty lines flood", std::string(40, '\r').replace(0, 40, "") + std::string("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n") + h + "\r\n", 400, "too many empty lines"},
      {"a pipelined request after Connection: close", h + "Connection: close\r\n\r\n" + h + "\r\n", 400, "bytes after a request that closes the connection"},
  };
  for (const Bad& c : cases) {
    for (size_t piece : kPieces) {
      CAPTURE(c.name);
      CAPTURE(piece);
      Parsed r = parse_requests(c.wire, piece);
      REQUIRE_MESSAGE(r.error, c.name, ": accepted");
      CHECK(r.err.status == c.status);
      CHECK_MESSAGE(r.err.reason.find(c.reason) != std::string::npos, c.name, ": reason was \"", r.err.reason, "\"");
    }
  }
}

TEST_CASE("HTTP/1 limits: request line 414, header count and bytes 431, chunk extensions 400, all configurable") {
  Http1Limits lim;
  lim.max_start_line = 64;
  lim.max_header_bytes = 256;
  lim.max_header_count = 5;
  lim.max_chunk_extension_bytes = 16;
  lim.max_chunk_line = 32;
  struct Case {
    const char* name;
    std::string wire;
    int status;
    const char* reason;
  } cases[] = {
      {"long request line", "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, "request line longer than 64"},
      {"long partial request line", "GET /" + std::string(100, 'a'), 414, "request line longer than 64"},
      {"too many headers", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n", 431, "more than 5 header fields"},
      {"headers too large", "GET / HTTP/1.1\r\nHost: a\r\nA: " + std::string(300, 'x') + "\r\n\r\n", 431, "headers larger than 256"},
      {"endless header line", "GET / HTTP/1.1\r\nHost: a\r\nA: " + std::string(300, 'x'), 431, "headers larger than 256"},
      {"too many trailers", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\n\r\n", 431, "more than 5 trailer fields"},
      {"extension bytes over many chunks",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;aaaaaa\r\nx\r\n1;bbbbbb\r\nx\r\n1;cccccc\r\nx\r\n0\r\n\r\n", 400,
       "chunk extensions larger than 16 bytes"},
      {"endless chunk line", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(64, 'a'), 400,
       "chunk-size line longer than 32"},
  };
  for (const Case& c : cases) {
    for (size_t piece : kPieces) {
      CAPTURE(c.name);
      CAPTURE(piece);
      Parsed r = parse_requests(c.wire, piece, false, lim);
      REQUIRE_MESSAGE(r.error, c.name, ": accepted");
      CHECK(r.err.status == c.status);
      CHECK_MESSAGE(r.err.reason.find(c.reason) != std::string::npos, c.name, ": reason was \"", r.err.reason, "\"");
    }
  }
  // Exactly at the limits passes.
  Parsed ok = parse_requests("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n", 1, false, lim);
  CHECK_FALSE(ok.error);
  CHECK(ok.heads.size() == 1);
}

TEST_CASE("HTTP/1 valid requests map to the protocol-independent model") {
  for (size_t piece : kPieces) {
    CAPTURE(piece);
    SUBCASE("origin-form GET: method, path, authority lower-cased, headers in order with repeats") {
      Parsed r = parse_requests("GET /a/b?c=d HTTP/1.1\r\nHost: Reviews.Default:9080\r\nX-Role: user\r\nAccept: */*\r\nX-Role: admin\r\n\r\n", piece);
      REQUIRE_FALSE(r.error);
      REQUIRE(r.heads.size() == 1);
      const RequestHead& h = r.heads[0];
      CHECK(h.method == "GET");
      CHECK(h.scheme == "http");
      CHECK(h.authority == "reviews.default:9080");
      CHECK(h.path == "/a/b?c=d");
      CHECK(h.version == Version::kHttp11);
      CHECK(h.body.kind == BodyInfo::Kind::kNone);
      REQUIRE(h.headers.size() == 3);
      CHECK(h.headers[0] == HeaderField{"x-role", "user"});
      CHECK(h.headers[1] == HeaderField{"accept", "*/*"});
      CHECK(h.headers[2] == HeaderField{"x-role", "admin"});
      CHECK(h.headers.get_all("x-role") == std::vector<std::string_view>{"user", "admin"});
      CHECK_FALSE(h.headers.contains("host"));
      CHECK(r.keep_alive == std::vector<bool>{true});
    }
    SUBCASE("values are trimmed of optional whitespace, inner whitespace kept, obs-text allowed") {
      Parsed r = parse_requests("GET / HTTP/1.1\r\nHost: a\r\nX-A: \t a  b \t\r\nX-B:\r\nX-C: caf\xc3\xa9\r\n\r\n", piece);
      REQUIRE_FALSE(r.error);
      CHECK(r.heads[0].headers.get("x-a") == "a  b");
      CHECK(r.heads[0].headers.get("x-b") == "");
      CHECK(r.heads[0].headers.get("x-c") == "caf\xc3\xa9");
    }
    SUBCASE("Content-Length body, including an explicit zero") {
      Parsed r = parse_requests("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello worldPUT /v HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", piece);
      REQUIRE_FALSE(r.error);
      REQUIRE(r.heads.size() == 2);
      CHECK(r.heads[0].body == BodyInfo{BodyInfo::Kind::kLength, 11});
      CHECK(r.bodies[0] == "hello world");
      CHECK(r.heads[1].body == BodyInfo{BodyInfo::Kind::kLength, 0});
      CHECK(r.bodies[1].empty());
      CHECK_FALSE(r.heads[0].headers.contains("content-length"));
    }
    SUBCASE("chunked with extensions and trailers; case-insensitive chunked") {
      Parsed r = parse_requests(
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nTE: trailers\r\n\r\n"
          "5;name=value\r\nhello\r\n6;q=\"a \\\"b\\\"\"\r\n world\r\nA\r\n0123456789\r\n0\r\ngrpc-status: 0\r\nX-Sum: abc\r\n\r\n",
          piece);
      REQUIRE_FALSE(r.error);
      REQUIRE(r.heads.size() == 1);
      CHECK(r.heads[0].body.kind == BodyInfo::Kind::kChunked);
      CHECK(r.heads[0].te_trailers);
      CHECK_FALSE(r.heads[0].headers.contains("transfer-encoding"));
      CHECK_FALSE(r.heads[0].headers.contains("te"));
      CHECK(r.bodies[0] == "hello world0123456789");
      REQUIRE(r.trailers.size() == 1);
      CHECK(r.trailers[0].get("grpc-status") == "0");
      CHECK(r.trailers[0].get("x-sum") == "abc");
    }
    SUBCASE("Transfer-Encoding split over two lines ends in chunked exactly once") {
      Parsed r = parse_requests("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", piece);
      // An empty element: refused (no guessing what an empty coding means).
      CHECK(r.error);
    }
    SUBCASE("pipelining: three requests in one buffer, each parsed in turn") {
      Parsed r = parse_requests(
          "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a\r\n\r\n", piece);
      REQUIRE_FALSE(r.error);
      REQUIRE(r.heads.size() == 3);
      CHECK(r.heads[0].path == "/1");
      CHECK(r.heads[1].path == "/2");
      CHECK(r.bodies[1] == "abc");
      CHECK(r.heads[2].path == "/3");
      CHECK(r.leftover.empty());
    }
    SUBCASE("a CRLF left over before the next request is tolerated (RFC 9112 §2.2)") {
      Parsed r = parse_requests("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", piece);
      REQUIRE_FALSE(r.error);
      CHECK(r.heads.size() == 2);
    }
    SUBCASE("absolute-form: the target's authority replaces Host") {
      Parsed r = parse_requests("GET HTTPS://Svc.NS:8443?x=1 HTTP/1.1\r\nHost: other\r\n\r\n", piece);
      REQUIRE_FALSE(r.error);
      CHECK(r.heads[0].scheme == "https");
      CHECK(r.heads[0].authority == "svc.ns:8443");
      CHECK(r.heads[0].path == "/?x=1");
      Parsed r2 = parse_requests("GET http://[::1]:80/p/q HTTP/1.1\r\n\r\n", piece);
      REQUIRE_FALSE(r2.error);
      CHECK(r2.heads[0].authority == "[::1]:80");
      CHECK(r2.heads[0].path == "/p/q");
    }
    SUBCASE("OPTIONS *") {
      Parsed r = parse_requests("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", piece);
      REQUIRE_FALSE(r.error);
      CHECK(r.heads[0].path == "*");
    }
    SUBCASE("Expect: 100-continue is surfaced and not forwarded; HTTP/1.0 ignores Expect") {
      Parsed r = parse_requests("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok", piece);
      REQUIRE_FALSE(r.error);
      CHECK(r.heads[0].expect_continue);
      CHECK_FALSE(r.heads[0].headers.contains("expect"));
      Parsed r10 = parse_requests("PUT / HTTP/1.0\r\nExpect: whatever\r\nContent-Length: 2\r\n\r\nok", piece);
      REQUIRE_FALSE(r10.error);
      CHECK_FALSE(r10.heads[0].expect_continue);
    }
    SUBCASE("hop-by-hop fields and the ones Connection names are dropped; h2c upgrade is ignored") {
      Parsed r = parse_requests(
          "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop, Upgrade, HTTP2-Settings\r\nKeep-Alive: 5\r\nX-Hop: 1\r\n"
          "Proxy-Connection: x\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nX-Keep: 2\r\n\r\n",
          piece);
      REQUIRE_FALSE(r.error);
      REQUIRE(r.heads[0].headers.size() == 1);
      CHECK(r.heads[0].headers[0] == HeaderField{"x-keep", "2"});
    }
    SUBCASE("Upgrade without Connection: upgrade means nothing, and is dropped") {
      Parsed r = parse_requests("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", piece);
      REQUIRE_FALSE(r.error);
      CHECK(r.heads[0].headers.empty());
    }
  }
}

TEST_CASE("HTTP/1 keep-alive rules: 1.1 persists unless close, 1.0 only with keep-alive") {
  struct Case {
    const char* wire;
    bool keep_alive;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: x, close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n", false},
      {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", true},  // a later 1.x minor is treated as 1.1
  };
  for (const Case& c : cases) {
    CAPTURE(c.wire);
    Parsed r = parse_requests(c.wire, 0);
    REQUIRE_FALSE(r.error);
    REQUIRE(r.keep_alive.size() == 1);
    CHECK(r.keep_alive[0] == c.keep_alive);
  }
  // HTTP/1.0 without Host is allowed (authority empty); the proxy routes by the tunnel target.
  Parsed r = parse_requests("GET / HTTP/1.0\r\n\r\n", 0);
  REQUIRE(r.heads.size() == 1);
  CHECK(r.heads[0].authority.empty());
  CHECK(r.heads[0].version == Version::kHttp10);
}

TEST_CASE("HTTP/1 request parser: end of input in the middle of a request is an error, between requests is not") {
  CHECK_FALSE(parse_requests("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, true).error);
  CHECK_FALSE(parse_requests("", 0, true).error);
  struct Case {
    const char* wire;
    const char* reason;
  } cases[] = {
      {"GET / HT", "middle of the request line"},
      {"GET / HTTP/1.1\r\nHost: a\r\n", "middle of the request headers"},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", "middle of the body"},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "middle of the body"},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", "middle of the body"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.wire);
    Parsed r = parse_requests(c.wire, 0, true);
    REQUIRE(r.error);
    CHECK(r.err.status == 400);
    CHECK(r.err.reason.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("HTTP/1 request parser streams the body: a large body is handed out in pieces, never buffered") {
  Http1RequestParser p;
  std::string head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n";
  auto s = p.next(head);
  REQUIRE(s.event == Http1RequestParser::Event::kHead);
  CHECK(s.consumed == head.size());
  std::string piece(64 * 1024, 'x');
  size_t got = 0;
  while (got < 10000000) {
    std::string_view in(piece.data(), std::min(piece.size(), size_t{10000000} - got));
    auto b = p.next(in);
    REQUIRE(b.event == Http1RequestParser::Event::kBody);
    CHECK(b.body.data() == in.data());  // a view into the caller's buffer: no copy
    got += b.consumed;
  }
  CHECK(p.next("").event == Http1RequestParser::Event::kEnd);
}

TEST_CASE("HTTP/1 request parser: one byte at a time costs linear work on a long header line") {
  // 60 KiB header fed byte by byte: with rescanning from the line start this would be ~1.8e9
  // byte visits; the parser remembers how far it checked.
  std::string wire = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(60 * 1024 - 64, 'v') + "\r\n\r\n";
  auto start = std::chrono::steady_clock::now();
  Parsed r = parse_requests(wire, 1);
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.error);
  CHECK(r.heads.size() == 1);
  CHECK(took < std::chrono::seconds(5));
}
