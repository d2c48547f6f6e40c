// HTTP/2 regression tests named after the CVEs of issue 10 that apply to the HBONE
// server (and client): the 2019 "HTTP/2 DoS" family (CVE-2019-9511 … 9518; 9512 and 9515 are in
// h2_test.cc) and early CONNECT data (CVE-2025-64763). Each attack either ends in a GOAWAY the
// attacker reads, or is shown to be bounded; and the server keeps serving others afterwards.
#include "test/hbone/h2_world.h"

using namespace h2test;

namespace {

// Per-stream memory the server may hold for data going to the peer: the send buffer plus one
// app read (h2/connection.cc kReadChunk), and the connection's framed output (kOutHigh plus the
// largest DATA frame it builds). The bounds below are sums of these, not measurements.
constexpr size_t kPerStreamHeld = Settings{}.send_buffer_limit + 64 * 1024;
constexpr size_t kFramedOut = 256 * 1024 + 128 * 1024 + 16 * 1024;

std::string settings_entry(uint16_t id, uint32_t value) {
  return std::string{static_cast<char>(id >> 8), static_cast<char>(id)} + u32(value);
}

std::string window_update(uint32_t stream, uint32_t increment) {
  return frame(kWindowUpdate, 0, stream, u32(increment));
}

// The largest amount any server connection holds for its peer right now.
size_t server_pending_to_peer(World& w) {
  return w.on_io([&] {
    size_t most = 0;
    for (auto& wc : w.server_conns_) {
      if (auto c = wc.lock()) most = std::max(most, c->pending_to_peer());
    }
    return most;
  });
}

// Sends a PING and reads until its ACK: every frame sent before it has been processed.
// Returns false if a GOAWAY or the end of the connection came first.
bool ping_roundtrip(RawClient& rc, std::vector<Frame>* seen = nullptr) {
  const std::string opaque = "barrier!";
  if (!rc.write(frame(kPing, 0, 0, opaque))) return false;
  for (int i = 0; i < 1'000'000; ++i) {
    auto f = rc.read_frame();
    if (!f || f->type == kGoaway) return false;
    if (f->type == kPing && (f->flags & kAck) && f->payload == opaque) return true;
    if (seen) seen->push_back(*f);
  }
  return false;
}

}  // namespace

// CVE-2019-9511 "Data Dribble": the peer grants one byte of window at a time on a stream whose
// backend has 16 MiB to send. The server must honour the tiny window (never more DATA than
// granted) and hold at most the stream's send buffer meanwhile, not the whole download.
TEST_CASE("CVE-2019-9511: data dribble, tiny windows, the server holds one stream's bounded buffer") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  REQUIRE(rc.write(frame(kSettings, 0, 0, settings_entry(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1))));
  REQUIRE(rc.write(frame(kHeaders, kEndHeaders, 1, connect_block(w.addr(w.blast_port())))));
  StatusDecoder dec;
  int status = 0;
  REQUIRE(read_response(rc, dec, 1, &status));
  REQUIRE(status == 200);

  size_t granted = 1;  // the initial stream window
  size_t received = 0;
  size_t most_held = 0;
  constexpr int kRounds = 200;
  for (int round = 0; round < kRounds; ++round) {
    // Ten one-byte grants per round, then read until they are used up.
    std::string grants;
    for (int i = 0; i < 10; ++i) grants += window_update(1, 1);
    REQUIRE(rc.write(grants));
    granted += 10;
    while (received < granted) {
      auto f = rc.read_frame();
      REQUIRE_MESSAGE(f, "connection ended after ", received, " bytes");
      REQUIRE(f->type != kGoaway);
      if (f->type == kData && f->stream == 1) received += f->payload.size();
    }
    REQUIRE_MESSAGE(received == granted, "the server sent ", received, " bytes for ", granted, " granted");
    most_held = std::max(most_held, server_pending_to_peer(w));
  }
  CHECK(most_held > 0);  // the backend's bytes did pile up at the server …
  CHECK_MESSAGE(most_held <= kPerStreamHeld + kFramedOut, "held ", most_held);  // … but bounded
  CHECK(w.protocol_errors == 0);
  check_server_healthy(w);
}

// CVE-2019-9513 "Resource Loop": PRIORITY frames that keep reshuffling the dependency tree over
// thousands of idle streams. nghttp2 keeps a bounded number of idle streams in its tree (at most
// max(16, max_concurrent_streams)), so this costs a bounded amount of memory; the test shows the
// server processes all of it, keeps the open stream working on the same connection, and serves
// others.
TEST_CASE("CVE-2019-9513: priority churn over idle streams is bounded, the open stream keeps working") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  REQUIRE(rc.write(frame(kHeaders, kEndHeaders, 1, connect_block(w.echo_addr()))));
  StatusDecoder dec;
  int status = 0;
  REQUIRE(read_response(rc, dec, 1, &status));
  REQUIRE(status == 200);

  std::string burst;
  constexpr uint32_t kFrames = 30000, kIdle = 5000;
  for (uint32_t i = 0; i < kFrames; ++i) {
    uint32_t sid = 3 + 2 * (i % kIdle);
    uint32_t dep = 3 + 2 * ((i * 7919) % kIdle);
    if (dep == sid) dep = 1;
    uint32_t exclusive = (i % 3 == 0) ? 0x80000000u : 0;
    burst += frame(kPriority, 0, sid, u32(dep | exclusive) + std::string(1, static_cast<char>(i)));
  }
  rc.flood(burst);
  REQUIRE_MESSAGE(ping_roundtrip(rc), "the server did not get through the PRIORITY frames");
  // The tunnel on stream 1 still carries data both ways.
  REQUIRE(rc.write(frame(kData, 0, 1, "still here")));
  std::string echoed;
  while (echoed.size() < 10) {
    auto f = rc.read_frame();
    REQUIRE(f);
    REQUIRE(f->type != kGoaway);
    if (f->type == kData && f->stream == 1) echoed += f->payload;
  }
  CHECK(echoed == "still here");
  CHECK(w.protocol_errors == 0);
  check_server_healthy(w);
}

// CVE-2019-9514 "Reset Flood": many streams each with an invalid request, so the server owes an
// RST_STREAM per stream, and the attacker never reads them. Queued while the server is held, the
// resets pile up in nghttp2's outbound queue, whose cap (max_outbound_ack, which counts
// RST_STREAM as well as SETTINGS/PING ACKs) ends the connection before it grows further; the
// provoked-reset limit (MadeYouReset) is the backstop for a peer that does read them.
TEST_CASE("CVE-2019-9514: reset flood, invalid requests the attacker never reads end in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  // A connection-specific header is forbidden in HTTP/2 (RFC 9113 8.2.2): a stream error.
  std::string block = connect_block(w.echo_addr()) + hpack_literal("connection", "close");
  std::string burst;
  for (uint32_t i = 0; i < 5000; ++i) burst += frame(kHeaders, kEndHeaders, 1 + 2 * i, block);
  flood_while_blocked(w, rc, burst);
  auto g = rc.read_until_goaway();
  REQUIRE_MESSAGE(g, "no GOAWAY before the connection ended");
  CHECK(goaway_error(*g) == NGHTTP2_PROTOCOL_ERROR);
  CHECK(rc.seen(kRstStream) <= 1000);  // the queue was cut at its cap, not drained in full
  CHECK(w.requests == 0);               // no invalid request became one
  CHECK(w.protocol_errors == 1);
  check_server_healthy(w);
}

// CVE-2019-9516 "0-Length Headers Leak": header blocks full of empty names and values (each an
// HPACK literal with incremental indexing). They must not become a request nor accumulate: the
// stream is refused, nothing reaches on_request, and the connection keeps working.
TEST_CASE("CVE-2019-9516: zero-length header names are refused per stream, nothing accumulates") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string empties;
  for (int i = 0; i < 1000; ++i) empties += std::string{0x40, 0x00, 0x00};  // "" : "" indexed
  constexpr uint32_t kStreams = 100;
  std::string burst;
  for (uint32_t i = 0; i < kStreams; ++i) {
    burst += frame(kHeaders, kEndHeaders, 1 + 2 * i, connect_block(w.echo_addr()) + empties);
  }
  // Then a valid request. Its 200 goes out only after the server has dialled the backend, so
  // whatever the server answered the empty-header streams is on the wire before it. (A PING is
  // no barrier here: nghttp2 sends PING ACKs ahead of queued RST_STREAMs.)
  const uint32_t barrier = 1 + 2 * kStreams;
  burst += frame(kHeaders, kEndHeaders, barrier, connect_block(w.echo_addr()));
  rc.flood(burst);
  StatusDecoder dec;
  size_t resets = 0;
  for (;;) {
    auto f = rc.read_frame();
    REQUIRE_MESSAGE(f, "the connection did not survive per-stream errors");
    REQUIRE(f->type != kGoaway);
    if (f->type == kRstStream && f->stream < barrier) ++resets;
    if (f->type == kHeaders) {
      int status = dec.status(*f);
      REQUIRE_MESSAGE(f->stream == barrier, "a response (", status, ") to a request of empty header names");
      CHECK(status == 200);
      break;
    }
  }
  CHECK(resets == kStreams);
  CHECK(w.requests == 1);  // the barrier only
  CHECK(w.on_io([&] { return w.server_conns_.at(0).lock()->active_streams(); }) == 1);  // the barrier only
  CHECK(w.protocol_errors == 0);
  check_server_healthy(w);
}

// CVE-2019-9517 "Internal Data Buffering": the peer opens huge windows for downloads and then
// stops reading the TCP connection. The server must stop reading the backends once its bounded
// buffers are full, not buffer the downloads (4 × 16 MiB here) in memory.
TEST_CASE("CVE-2019-9517: a peer that opens its windows and stops reading makes the server hold a bounded amount") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  REQUIRE(rc.write(frame(kSettings, 0, 0, settings_entry(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0x7fffffff))));
  REQUIRE(rc.write(window_update(0, 0x7fffffff - 65535)));
  constexpr uint32_t kStreams = 4;
  for (uint32_t i = 0; i < kStreams; ++i) {
    REQUIRE(rc.write(frame(kHeaders, kEndHeaders, 1 + 2 * i, connect_block(w.addr(w.blast_port())))));
  }
  // Read nothing. Sample what the server holds while the backends push as hard as they can; the
  // loop is bounded in iterations and each sample must respect the bound.
  size_t most = 0;
  for (int i = 0; i < 300; ++i) {
    most = std::max(most, server_pending_to_peer(w));
    std::this_thread::sleep_for(10ms);
  }
  CHECK(most > 0);
  CHECK_MESSAGE(most <= kStreams * kPerStreamHeld + kFramedOut, "held ", most);
  check_server_healthy(w);
}

// CVE-2019-9518 "Empty Frames Flood": endless DATA frames with no payload and no END_STREAM on an
// open stream. They carry nothing and cost a parse each; past a small run the server ends the
// connection (as Envoy's max_consecutive_inbound_frames_with_empty_payload does).
TEST_CASE("CVE-2019-9518: a flood of empty DATA frames ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  REQUIRE(rc.write(frame(kHeaders, kEndHeaders, 1, connect_block(w.echo_addr()))));
  StatusDecoder dec;
  int status = 0;
  REQUIRE(read_response(rc, dec, 1, &status));
  REQUIRE(status == 200);
  std::string burst;
  for (int i = 0; i < 100000; ++i) burst += frame(kData, 0, 1);
  rc.flood(burst);
  expect_goaway_and_count(w, rc, NGHTTP2_ENHANCE_YOUR_CALM);
}

// A few empty DATA frames are legitimate (some stacks flush with them): no GOAWAY for those.
TEST_CASE("CVE-2019-9518: a handful of empty DATA frames between real data is fine") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  REQUIRE(rc.write(frame(kHeaders, kEndHeaders, 1, connect_block(w.echo_addr()))));
  StatusDecoder dec;
  int status = 0;
  REQUIRE(read_response(rc, dec, 1, &status));
  REQUIRE(status == 200);
  std::string burst;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 5; ++i) burst += frame(kData, 0, 1);
    burst += frame(kData, 0, 1, "x");
  }
  REQUIRE(rc.write(burst));
  std::string echoed;
  while (echoed.size() < 50) {
    auto f = rc.read_frame();
    REQUIRE(f);
    REQUIRE(f->type != kGoaway);
    if (f->type == kData && f->stream == 1) echoed += f->payload;
  }
  CHECK(echoed == std::string(50, 'x'));
  CHECK(w.protocol_errors == 0);
}

// CVE-2025-64763: the client sends DATA right behind its CONNECT, before any 2xx; the upstream
// then refuses the tunnel. Those bytes must reach no backend — neither the refused one nor the
// next stream's — and must not desync the connection: their flow-control window comes back (here
// 20 MiB of early data over refused streams, more than the 16 MiB connection window), and a later
// tunnel on the same connection carries exactly its own bytes.
TEST_CASE("CVE-2025-64763: early CONNECT data on a refused tunnel is dropped, and the connection stays in step") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  StatusDecoder dec;
  uint16_t closed_port;
  {
    auto [a, b] = tcp_pair();
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    ::getsockname(b.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    closed_port = ntohs(addr.sin_port);
  }
  const std::string early_chunk(16 * 1024, 'E');
  uint32_t sid = 1;
  constexpr int kRefused = 20;
  for (int i = 0; i < kRefused; ++i, sid += 2) {
    // Alternate the two refusals: policy (401, at once) and an upstream that is not there (503).
    std::string target = (i % 2 == 0) ? kDenied : w.addr(closed_port);
    std::string burst = frame(kHeaders, kEndHeaders, sid, connect_block(target));
    for (int k = 0; k < 64; ++k) burst += frame(kData, 0, sid, early_chunk);  // 1 MiB
    REQUIRE(rc.write(burst));
    int status = 0;
    auto resp = read_response(rc, dec, sid, &status);
    REQUIRE_MESSAGE(resp, "connection ended on refused stream ", i);
    CHECK(status == (i % 2 == 0 ? 401 : 503));
    CHECK((resp->flags & kEndStream));  // a refusal ends the stream: no tunnel
  }
  // A real tunnel on the same connection: the count backend reports what it received.
  REQUIRE(rc.write(frame(kHeaders, kEndHeaders, sid, connect_block(w.addr(w.count_port())))));
  int status = 0;
  REQUIRE(read_response(rc, dec, sid, &status));
  REQUIRE(status == 200);
  REQUIRE(rc.write(frame(kData, kEndStream, sid, "mine")));
  std::string reply;
  bool ended = false;
  while (!ended) {
    auto f = rc.read_frame();
    REQUIRE_MESSAGE(f, "connection ended before the count reply; got '", reply, "'");
    REQUIRE(f->type != kGoaway);
    if (f->type == kData && f->stream == sid) {
      reply += f->payload;
      ended = f->flags & kEndStream;
    }
    if (f->type == kRstStream && f->stream == sid) FAIL("the tunnel was reset");
  }
  CHECK(reply == "count=4");
  CHECK(w.protocol_errors == 0);
  CHECK(w.on_io([&] {
    size_t n = 0;
    for (auto& wc : w.server_conns_) {
      if (auto c = wc.lock()) n += c->pending_to_app();
    }
    return n;
  }) == 0);
}

// The client side of the same: ztunnel's outbound Connection does not read the app before the
// 2xx, so what the app wrote early is never sent when the tunnel is refused.
TEST_CASE("CVE-2025-64763: an app's early bytes are not sent when the upstream refuses the tunnel") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, kDenied);
  REQUIRE(send_all(s.fd.get(), "early bytes"));
  CHECK(wait(s.status) == 401);
  StreamStats st = wait(s.done);
  CHECK(st.bytes_to_peer == 0);
  ClientStream ok = w.open(cc, w.addr(w.count_port()));
  REQUIRE(wait(ok.status) == 200);
  REQUIRE(send_all(ok.fd.get(), "mine"));
  ::shutdown(ok.fd.get(), SHUT_WR);
  ReadResult r = recv_to_eof(ok.fd.get());
  CHECK(r.data == "count=4");
}
