// Tests for waypoint/http/h2_client_codec (the upstream side), driven against the waypoint's own
// HTTP/2 server codec in-process: two nghttp2 sessions in opposite roles, our mapping on both.
#include <doctest/doctest.h>

#include "common/base/strings.h"
#include "test/waypoint/h2_test_peer.h"
#include "waypoint/http/h2_client_codec.h"

using namespace h2test;
using ambit::str_cat;

namespace {

struct UpHandler : H2ClientHandler {
  struct Resp {
    std::vector<int> informational;
    std::optional<ResponseHead> head;
    std::string body;
    HeaderMap trailers;
    bool ended = false;
    bool closed = false;
    uint32_t close_code = 0;
  };
  H2ClientCodec* codec = nullptr;
  bool auto_consume = true;
  std::map<int32_t, Resp> resps;
  void on_informational(int32_t id, const ResponseHead& h) override { resps[id].informational.push_back(h.status); }
  void on_response_head(int32_t id, ResponseHead h, bool) override { resps[id].head = std::move(h); }
  void on_response_body(int32_t id, std::string_view d) override {
    resps[id].body.append(d);
    if (auto_consume) codec->consume(id, d.size());
  }
  void on_response_trailers(int32_t id, HeaderMap t) override { resps[id].trailers = std::move(t); }
  void on_response_end(int32_t id) override { resps[id].ended = true; }
  void on_stream_close(int32_t id, uint32_t code) override {
    resps[id].closed = true;
    resps[id].close_code = code;
  }
};

struct Pair {
  explicit Pair(H2Settings client_settings = {}, H2Settings server_settings = {})
      : server_codec(std::move(server_settings), &server), client(std::move(client_settings), &up) {
    server.codec = &server_codec;
    up.codec = &client;
  }
  TestHandler server;
  H2ServerCodec server_codec;
  UpHandler up;
  H2ClientCodec client;

  void pump() {
    for (int i = 0; i < 1000; ++i) {
      std::string c2s, s2c;
      client.take_output(&c2s);
      if (!c2s.empty()) (void)server_codec.receive(c2s);
      server_codec.take_output(&s2c);
      if (!s2c.empty()) (void)client.receive(s2c);
      if (c2s.empty() && s2c.empty()) return;
    }
  }
};

RequestHead post(std::string path = "/pkg.Svc/Call") {
  RequestHead h;
  h.method = "POST";
  h.scheme = "http";
  h.authority = "backend.ns:50051";
  h.path = std::move(path);
  h.headers.add("content-type", "application/grpc");
  h.te_trailers = true;
  h.body = BodyInfo{BodyInfo::Kind::kChunked, 0};
  return h;
}

}  // namespace

TEST_CASE("h2 client: a gRPC-shaped exchange with the waypoint's own server codec, trailers both ways") {
  Pair p;
  p.server.echo = false;
  auto id = p.client.submit_request(post(), false);
  REQUIRE(id.ok());
  CHECK(p.client.send_body(*id, "request-bytes", false) == 13);
  HeaderMap t;
  t.add("x-req-trailer", "1");
  REQUIRE(p.client.send_trailers(*id, t).ok());
  p.pump();
  auto& req = p.server.reqs[*id];
  CHECK(req.head.method == "POST");
  CHECK(req.head.authority == "backend.ns:50051");
  CHECK(req.head.te_trailers);
  CHECK(req.head.headers.get("content-type") == "application/grpc");
  CHECK(req.body == "request-bytes");
  CHECK(req.trailers.get("x-req-trailer") == "1");
  CHECK(req.ended);

  ResponseHead cont;
  cont.status = 100;
  REQUIRE(p.server_codec.submit_response(*id, cont, false).ok());
  ResponseHead r;
  r.status = 200;
  r.headers.add("content-type", "application/grpc");
  REQUIRE(p.server_codec.submit_response(*id, r, false).ok());
  p.server_codec.send_body(*id, "response-bytes", false);
  HeaderMap rt;
  rt.add("grpc-status", "0");
  REQUIRE(p.server_codec.send_trailers(*id, rt).ok());
  p.pump();
  auto& resp = p.up.resps[*id];
  CHECK(resp.informational == std::vector<int>{100});
  REQUIRE(resp.head);
  CHECK(resp.head->status == 200);
  CHECK(resp.head->version == Version::kHttp2);
  CHECK(resp.head->body.kind == BodyInfo::Kind::kChunked);
  CHECK(resp.head->headers.get("content-type") == "application/grpc");
  CHECK(resp.body == "response-bytes");
  CHECK(resp.trailers.get("grpc-status") == "0");
  CHECK(resp.ended);
  CHECK(resp.closed);
  CHECK(resp.close_code == 0);
  CHECK(p.client.open_streams() == 0);
}

TEST_CASE("h2 client: content-length in, content-length out, and a head-only response") {
  Pair p;
  RequestHead h = post("/len");
  h.body = BodyInfo{BodyInfo::Kind::kLength, 5};
  auto id = p.client.submit_request(h, false);
  REQUIRE(id.ok());
  p.client.send_body(*id, "12345", true);
  p.pump();  // the server handler echoes with content-length
  CHECK(p.server.reqs[*id].head.body == BodyInfo{BodyInfo::Kind::kLength, 5});
  auto& resp = p.up.resps[*id];
  REQUIRE(resp.head);
  CHECK(resp.head->body == BodyInfo{BodyInfo::Kind::kLength, 5});
  CHECK(resp.body == "12345");
  RequestHead g = post("/empty");
  g.method = "GET";
  g.body = {};
  auto gid = p.client.submit_request(g, true);
  REQUIRE(gid.ok());
  p.pump();
  REQUIRE(p.up.resps[*gid].head);
  CHECK(p.up.resps[*gid].head->headers.get("x-path") == "/empty");
  CHECK(p.up.resps[*gid].ended);
}

TEST_CASE("h2 client: requests that cannot be valid HTTP/2 are refused before the wire") {
  struct Case {
    const char* name;
    std::function<void(RequestHead&)> mutate;
    const char* reason;
  } cases[] = {
      {"CONNECT", [](RequestHead& h) { h.method = "CONNECT"; }, "CONNECT"},
      {"no authority", [](RequestHead& h) { h.authority.clear(); }, "missing authority"},
      {"bad authority", [](RequestHead& h) { h.authority = "a b"; }, "invalid authority"},
      {"relative path", [](RequestHead& h) { h.path = "x"; }, "invalid path"},
      {"CRLF in a value", [](RequestHead& h) { h.headers.add("x-a", "1\r\nx-b: 2"); }, "invalid character in the value"},
      {"upper-case name", [](RequestHead& h) { h.headers.add("X-A", "1"); }, ""},  // HeaderMap lower-cases: accepted
  };
  for (const auto& k : cases) {
    CAPTURE(std::string(k.name));
    Pair p;
    RequestHead h = post();
    k.mutate(h);
    auto id = p.client.submit_request(h, true);
    if (std::string(k.reason).empty()) {
      CHECK(id.ok());
      continue;
    }
    REQUIRE_FALSE(id.ok());
    CHECK_MESSAGE(std::string(id.status().message()).find(k.reason) != std::string::npos, id.status().message());
  }
}

TEST_CASE("h2 client: the upstream's GOAWAY and stream limit stop new requests") {
  H2Settings server_settings;
  server_settings.max_concurrent_streams = 3;
  Pair p({}, server_settings);
  p.server.echo = false;
  p.pump();  // SETTINGS exchanged
  for (int i = 0; i < 3; ++i) REQUIRE(p.client.submit_request(post(), false).ok());
  CHECK_FALSE(p.client.can_open_stream());
  auto refused = p.client.submit_request(post(), false);
  CHECK(absl::IsUnavailable(refused.status()));
  p.server_codec.drain();
  p.pump();
  CHECK(p.client.stats().goaway_received);
  CHECK(p.client.stats().goaway_received_error == NGHTTP2_NO_ERROR);
  CHECK_FALSE(p.client.can_open_stream());
}

TEST_CASE("h2 client: response headers over the limits reset the stream (the proxy answers 502)") {
  H2Settings client_settings;
  client_settings.max_header_count = 10;
  Pair p(client_settings);
  p.server.echo = false;
  auto id = p.client.submit_request(post(), true);
  REQUIRE(id.ok());
  p.pump();
  ResponseHead r;
  r.status = 200;
  for (int i = 0; i < 20; ++i) r.headers.add(str_cat("x-h", i), "v");
  REQUIRE(p.server_codec.submit_response(*id, r, true).ok());
  p.pump();
  auto& resp = p.up.resps[*id];
  CHECK_FALSE(resp.head);
  CHECK(resp.closed);
  CHECK(resp.close_code != 0);
  CHECK(p.client.stats().streams_reset_by_us == 1);
}

TEST_CASE("h2 client: response bodies wait for consume() (a slow client slows the upstream)") {
  Pair p;
  p.up.auto_consume = false;
  p.server.echo = false;
  auto id = p.client.submit_request(post(), true);
  REQUIRE(id.ok());
  p.pump();
  ResponseHead r;
  r.status = 200;
  REQUIRE(p.server_codec.submit_response(*id, r, false).ok());
  std::string big(48 * 1024, 'd');
  size_t sent = 0;
  for (int round = 0; round < 10; ++round) {
    sent += p.server_codec.send_body(*id, big, false);
    p.pump();
  }
  CHECK(p.up.resps[*id].body.size() == H2Settings{}.stream_window);  // the window, no more
  p.client.consume(*id, p.up.resps[*id].body.size());
  p.pump();
  CHECK(p.up.resps[*id].body.size() > H2Settings{}.stream_window);
}
