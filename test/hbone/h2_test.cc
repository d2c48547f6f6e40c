// In-process tests of common/hbone/h2/connection (the world they run in is h2_world.h): the
// data path, and the HTTP/2 abuse cases of issue 10 (rapid reset, CONTINUATION, SETTINGS and
// PING floods). The other HTTP/2 CVE regressions are in h2_cve_test.cc.
#include "test/hbone/h2_world.h"

using namespace h2test;

// ================================================================================================
// Data path

TEST_CASE("echo round trip over mTLS HTTP/2 CONNECT, both sides see the other's SPIFFE identity") {
  World w;
  ClientConn& cc = w.connect();
  REQUIRE(cc.verify->peer);
  CHECK(*cc.verify->peer == kServerId);

  ClientStream s = w.open(cc, w.echo_addr());
  CHECK(wait(s.status) == 200);
  REQUIRE(send_all(s.fd.get(), "hello through the tunnel"));
  CHECK(recv_n(s.fd.get(), 24) == "hello through the tunnel");
  REQUIRE(send_all(s.fd.get(), "second"));
  CHECK(recv_n(s.fd.get(), 6) == "second");
  ::shutdown(s.fd.get(), SHUT_WR);
  ReadResult r = recv_to_eof(s.fd.get());
  CHECK(r.eof);
  CHECK(r.data.empty());

  StreamStats st = wait(s.done);
  CHECK(st.reset_code == 0);
  CHECK(st.bytes_to_peer == 30);
  CHECK(st.bytes_to_app == 30);
  CHECK(w.on_io([&] { return w.server_peers_; }) ==
        std::vector<std::string>{kClientId.to_string()});
  CHECK(eventually([&] { return w.on_io([&] { return cc.conn->active_streams(); }) == 0; }));
  CHECK(w.on_io([&] { return cc.conn->usable(); }));
}

TEST_CASE("100 concurrent streams on one connection, each with its own bytes") {
  World w;
  ClientConn& cc = w.connect();
  constexpr int kStreams = 100;
  std::vector<ClientStream> streams;
  for (int i = 0; i < kStreams; ++i) streams.push_back(w.open(cc, w.echo_addr()));
  for (auto& s : streams) REQUIRE(wait(s.status) == 200);
  CHECK(w.on_io([&] { return cc.conn->active_streams(); }) == kStreams);
  // The client stops at the pool's per-connection cap (a pool opens a second connection then).
  CHECK_FALSE(w.on_io([&] { return cc.conn->usable(); }));
  auto extra = w.on_io([&] {
    return cc.conn->open_stream({{":method", "CONNECT"}, {":authority", "x:1"}}, nullptr);
  });
  CHECK(extra.status().code() == absl::StatusCode::kUnavailable);

  // Write everything first, then read: all streams are in flight at once.
  auto payload = [](int i) {
    std::string p;
    while (p.size() < 20000) p += str_cat("stream-", i, ";");
    return p;
  };
  for (int i = 0; i < kStreams; ++i) REQUIRE(send_all(streams[i].fd.get(), payload(i)));
  for (int i = 0; i < kStreams; ++i) {
    std::string want = payload(i);
    CHECK(recv_n(streams[i].fd.get(), want.size()) == want);
  }
  for (auto& s : streams) ::shutdown(s.fd.get(), SHUT_WR);
  for (auto& s : streams) {
    CHECK(recv_to_eof(s.fd.get()).eof);
    CHECK(wait(s.done).reset_code == 0);
  }
  CHECK(w.accepted == 1);
  CHECK(w.requests == kStreams);
  CHECK(eventually([&] { return w.server_streams_done == kStreams; }));
  CHECK(eventually([&] { return w.on_io([&] { return cc.conn->usable(); }); }));
}

TEST_CASE("64 MiB each way arrives byte-exact through flow control with a slow reader") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.echo_addr());
  REQUIRE(wait(s.status) == 200);
  constexpr uint64_t kTotal = 64ull << 20;

  std::atomic<bool> write_ok{true};
  std::thread writer([&] {
    std::string chunk(256 * 1024, '\0');
    for (uint64_t off = 0; off < kTotal; off += chunk.size()) {
      for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = pattern(off + i);
      if (!send_all(s.fd.get(), chunk)) {
        write_ok = false;
        return;
      }
    }
    ::shutdown(s.fd.get(), SHUT_WR);
  });

  uint64_t got = 0;
  uint64_t mismatches = 0;
  uint64_t first_bad = 0;
  std::vector<char> buf(256 * 1024);
  bool eof = false;
  int err = 0;
  while (true) {
    // Slow for the first 12 MiB (more than a stream window and the socket buffers), fast after.
    bool slow = got < (12ull << 20);
    size_t want = slow ? 16 * 1024 : buf.size();
    ssize_t n = ::recv(s.fd.get(), buf.data(), want, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      eof = true;
      break;
    }
    if (n < 0) {
      err = errno;
      break;
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != pattern(got + i)) {
        if (mismatches++ == 0) first_bad = got + i;
      }
    }
    got += static_cast<uint64_t>(n);
    if (slow) std::this_thread::sleep_for(1ms);
  }
  writer.join();
  CHECK(write_ok);
  CHECK(err == 0);
  CHECK(eof);
  CHECK(got == kTotal);
  CHECK_MESSAGE(mismatches == 0, "first mismatch at byte ", first_bad);
  StreamStats st = wait(s.done);
  CHECK(st.reset_code == 0);
  CHECK(st.bytes_to_peer == kTotal);
  CHECK(st.bytes_to_app == kTotal);
}

TEST_CASE("half-close: client FIN reaches the backend, and the backend's reply still arrives") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.addr(w.count_port()));
  REQUIRE(wait(s.status) == 200);
  REQUIRE(send_all(s.fd.get(), std::string(1000, 'x')));
  ::shutdown(s.fd.get(), SHUT_WR);
  // The backend answers only after it saw EOF.
  ReadResult r = recv_to_eof(s.fd.get());
  CHECK(r.data == "count=1000");
  CHECK(r.eof);
  CHECK(r.err == 0);
  CHECK(wait(s.done).reset_code == 0);
}

TEST_CASE("half-close: backend FIN reaches the client, and the client can still send") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.addr(w.greet_port()));
  REQUIRE(wait(s.status) == 200);
  ReadResult r = recv_to_eof(s.fd.get());
  CHECK(r.data == "hello\n");
  CHECK(r.eof);
  REQUIRE(send_all(s.fd.get(), "sent after the peer's FIN"));
  ::shutdown(s.fd.get(), SHUT_WR);
  auto got = w.greet_received.pop();
  REQUIRE(got);
  CHECK(*got == "sent after the peer's FIN");
  CHECK(wait(s.done).reset_code == 0);
}

TEST_CASE("RST_STREAM from the server resets the client's app socket (ECONNRESET)") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.addr(w.hold_port()));
  REQUIRE(wait(s.status) == 200);
  REQUIRE(send_all(s.fd.get(), "some bytes"));
  std::string hold = w.addr(w.hold_port());
  w.on_io([&] {
    for (auto& ss : w.server_streams_) {
      if (ss.authority == hold) {
        if (auto c = ss.conn.lock()) c->reset(ss.id, NGHTTP2_CANCEL);
      }
    }
  });
  ReadResult r = recv_to_eof(s.fd.get());
  CHECK(r.err == ECONNRESET);
  CHECK_FALSE(r.eof);
  StreamStats st = wait(s.done);
  CHECK(st.reset_code == NGHTTP2_CANCEL);
  // The server reset its own backend connection too.
  auto ended = w.hold_ended.pop();
  REQUIRE(ended);
  CHECK(*ended == asio::error::connection_reset);
  // The connection itself survives a stream reset.
  CHECK(w.on_io([&] { return cc.conn->usable(); }));
  ClientStream again = w.open(cc, w.echo_addr());
  CHECK(wait(again.status) == 200);
}

TEST_CASE("a client app reset resets the stream and the backend connection") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.addr(w.hold_port()));
  REQUIRE(wait(s.status) == 200);
  REQUIRE(send_all(s.fd.get(), "some bytes"));
  linger lg{1, 0};
  setsockopt(s.fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  s.fd.reset();  // RST
  StreamStats st = wait(s.done);
  CHECK(st.reset_code == NGHTTP2_CANCEL);
  auto ended = w.hold_ended.pop();
  REQUIRE(ended);
  CHECK(*ended == asio::error::connection_reset);
}

// Hardening finding 3: bytes held for a stream that is then reset used to be dropped without
// returning their share of the connection window. With a 1 MiB connection window and 256 KiB
// streams, eight aborted downloads would leave none, and the next stream would get its 200 and
// then no data, forever.
TEST_CASE("aborted downloads return their buffered bytes' window: the pooled connection keeps flowing") {
  World w;
  Settings small;
  small.stream_window = 256 * 1024;
  small.connection_window = 1024 * 1024;
  ClientConn& cc = w.connect(small);
  constexpr int kAborted = 8;
  for (int i = 0; i < kAborted; ++i) {
    ClientStream s = w.open_small_buffers(cc, w.addr(w.blast_port()));
    REQUIRE(wait(s.status) == 200);
    // The test end reads nothing: the download piles up in the client Connection.
    bool piled = eventually([&] { return w.on_io([&] { return cc.conn->pending_to_app(); }) >= 128 * 1024; });
    REQUIRE_MESSAGE(piled, "download ", i, " never filled the client's buffer");
    linger lg{1, 0};
    setsockopt(s.fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    s.fd.reset();  // the client app goes: RST
    StreamStats st = wait(s.done);
    CHECK(st.reset_code == NGHTTP2_CANCEL);
    CHECK(w.on_io([&] { return cc.conn->pending_to_app(); }) == 0);
  }
  // A new stream on the same connection: 2 MiB through the echo backend and back.
  ClientStream s = w.open(cc, w.echo_addr());
  REQUIRE(wait(s.status) == 200);
  constexpr size_t kBytes = 2u << 20;
  std::thread writer([&] {
    std::string chunk(64 * 1024, 'e');
    for (size_t off = 0; off < kBytes; off += chunk.size()) send_all(s.fd.get(), chunk);
    ::shutdown(s.fd.get(), SHUT_WR);
  });
  ReadResult r = recv_to_eof(s.fd.get(), kBytes);
  writer.join();
  CHECK_MESSAGE(r.data.size() == kBytes, "got ", r.data.size(), " bytes, errno ", r.err);
  CHECK(r.eof);
}

// Hardening finding 6: each stream read up to its own limit (256 KiB plus a 64 KiB read) from its
// app whatever the peer's windows said, so a connection whose peer stopped reading held 100 times
// that. Now the connection's streams share one budget.
TEST_CASE("apps writing into a connection whose peer stopped reading: the connection buffers at most its budget") {
  World w;
  Settings settings;
  settings.connection_send_buffer_limit = 512 * 1024;
  ClientConn& cc = w.connect(settings);
  constexpr int kStreams = 8;
  std::vector<ClientStream> streams;
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(w.open(cc, w.addr(w.deaf_port())));
    REQUIRE(wait(streams.back().status) == 200);
  }
  // Write from every app until none can write any more (the tunnel and the sockets are full),
  // sampling what the client Connection buffers all along.
  std::string chunk(64 * 1024, 'd');
  size_t most = 0, sent = 0;
  auto last_progress = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - last_progress < 1s && sent < (256u << 20)) {
    for (auto& s : streams) {
      ssize_t n = ::send(s.fd.get(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        last_progress = std::chrono::steady_clock::now();
      }
    }
    most = std::max(most, w.on_io([&] { return cc.conn->pending_to_peer(); }));
    std::this_thread::sleep_for(2ms);
  }
  INFO("sent ", sent, " bytes; the connection held at most ", most);
  CHECK(most >= settings.connection_send_buffer_limit / 2);  // the budget was really under pressure
  CHECK(most <= settings.connection_send_buffer_limit + 64 * 1024);  // one read past it, no more
}

TEST_CASE("a non-200 answer reaches on_response with its status, and the connection stays usable") {
  World w;
  ClientConn& cc = w.connect();
  // A port nothing listens on.
  uint16_t closed_port;
  {
    auto [a, b] = tcp_pair();
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    ::getsockname(b.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    closed_port = ntohs(addr.sin_port);
  }
  struct Case {
    const char* name;
    Headers req;
    int status;
  };
  const Case cases[] = {
      {"denied by policy", {{":method", "CONNECT"}, {":authority", kDenied}}, 401},
      {"unparsable authority", {{":method", "CONNECT"}, {":authority", "not-an-address"}}, 400},
      {"not CONNECT",
       {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {":authority", "a:1"}},
       400},
      {"upstream refused", {{":method", "CONNECT"}, {":authority", w.addr(closed_port)}}, 503},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    ClientStream s = w.open_raw(cc, c.req);
    CHECK(wait(s.status) == c.status);
    StreamStats st = wait(s.done);
    CHECK(st.bytes_to_peer == 0);
    // No tunnel: the app side is closed.
    ReadResult r = recv_to_eof(s.fd.get());
    CHECK(r.data.empty());
  }
  CHECK(eventually([&] { return w.on_io([&] { return cc.conn->active_streams(); }) == 0; }));
  CHECK(w.on_io([&] { return cc.conn->usable(); }));
  ClientStream ok = w.open(cc, w.echo_addr());
  CHECK(wait(ok.status) == 200);
}

TEST_CASE("drain: GOAWAY stops new streams while an open stream finishes, then both sides close") {
  World w;
  ClientConn& cc = w.connect();
  ClientStream s = w.open(cc, w.echo_addr());
  REQUIRE(wait(s.status) == 200);
  REQUIRE(send_all(s.fd.get(), "before"));
  REQUIRE(recv_n(s.fd.get(), 6) == "before");

  w.on_io([&] {
    for (auto& wc : w.server_conns_) {
      if (auto c = wc.lock()) c->drain();
    }
  });
  // The client learns of the GOAWAY: no new streams on this connection.
  CHECK(eventually([&] { return !w.on_io([&] { return cc.conn->usable(); }); }));
  auto refused = w.on_io([&] {
    return cc.conn->open_stream({{":method", "CONNECT"}, {":authority", "x:1"}}, nullptr);
  });
  CHECK(refused.status().code() == absl::StatusCode::kUnavailable);
  CHECK_FALSE(w.on_io([&] { return cc.conn->closed(); }));

  // The open stream still works both ways.
  REQUIRE(send_all(s.fd.get(), "during drain"));
  CHECK(recv_n(s.fd.get(), 12) == "during drain");
  ::shutdown(s.fd.get(), SHUT_WR);
  CHECK(recv_to_eof(s.fd.get()).eof);
  CHECK(wait(s.done).reset_code == 0);

  // Then the connection goes away on both sides.
  absl::Status why = wait(cc.closed);
  CHECK_MESSAGE(why.ok(), why.ToString());
  CHECK(eventually([&] { return w.server_closed == 1; }));
}

TEST_CASE("keepalive: a peer that stops answering PINGs is dropped after ping_timeout") {
  World w;
  Settings s;
  s.ping_interval = 1s;
  s.ping_timeout = 1s;
  ClientConn& cc = w.connect(s, w.mute_port());
  absl::Status why = wait(cc.closed);
  CHECK(why.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(w.on_io([&] { return cc.conn->closed(); }));
}

// ================================================================================================
// HTTP/2 abuse against the server (issue 10). Each ends in a GOAWAY the attacker reads,
// the server counts it, and the server keeps serving others.


TEST_CASE("abuse: rapid reset (CVE-2023-44487) ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string block = connect_block(w.echo_addr());
  std::string burst;
  constexpr uint32_t kPairs = 5000;
  for (uint32_t i = 0; i < kPairs; ++i) {
    uint32_t sid = 1 + 2 * i;
    burst += frame(kHeaders, kEndHeaders, sid, block);
    burst += frame(kRstStream, 0, sid, u32(NGHTTP2_CANCEL));
  }
  rc.flood(burst);
  expect_goaway_and_count(w, rc, NGHTTP2_INTERNAL_ERROR /* nghttp2's rapid-reset limiter */);
}

// MadeYouReset: instead of resetting streams itself (which the rapid-reset limiter counts), the
// peer commits a stream error — here a connection-specific header, forbidden in HTTP/2 (RFC 9113
// 8.2.2), on each new stream — so that the server sends the RST_STREAM. The slots free up just the
// same; the server counts these resets too. (A zero WINDOW_UPDATE, the other classic trigger, is a
// connection error in this nghttp2.)
TEST_CASE("abuse: MadeYouReset (CVE-2025-8671), resets the peer provokes, ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string block = connect_block(w.echo_addr()) + hpack_literal("connection", "close");
  // In rounds of 50 streams, each round once the server has reset the previous one: the peer
  // never holds more streams open than allowed, it only has the server free them for it.
  constexpr uint32_t kRound = 50, kRounds = 60;
  uint32_t next = 1;
  std::optional<Frame> goaway;
  for (uint32_t r = 0; r < kRounds && !goaway; ++r) {
    std::string burst;
    for (uint32_t i = 0; i < kRound; ++i, next += 2) burst += frame(kHeaders, kEndHeaders, next, block);
    REQUIRE(rc.write(burst));
    for (uint32_t resets = 0; resets < kRound && !goaway;) {
      auto f = rc.read_frame();
      REQUIRE_MESSAGE(f, "connection ended in round ", r);
      if (f->type == kRstStream) ++resets;
      if (f->type == kGoaway) goaway = f;
    }
  }
  REQUIRE_MESSAGE(goaway, "3000 provoked resets and no GOAWAY");
  CHECK(goaway_error(*goaway) == NGHTTP2_ENHANCE_YOUR_CALM);
  CHECK(w.protocol_errors == 1);
  check_server_healthy(w);
}

// CVE-2024-27316 (httpd), CVE-2024-27919 and CVE-2024-30255 (Envoy): a header block that never
// ends, CONTINUATION after CONTINUATION, to make the server keep decoding (CPU) and keep what it
// decoded (memory). nghttp2 caps the frames of one block (max_continuations).
TEST_CASE("abuse: CONTINUATION flood (CVE-2024-27316, CVE-2024-27919, CVE-2024-30255) ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string burst = frame(kHeaders, 0, 1, connect_block(w.echo_addr()));
  for (int i = 0; i < 10000; ++i)
    burst += frame(kContinuation, 0, 1, hpack_literal(str_cat("x-pad-", i), "v"));
  rc.flood(burst);
  expect_goaway_and_count(w, rc, NGHTTP2_PROTOCOL_ERROR);
}

// CVE-2024-27919's other half: within the CONTINUATION cap, a block whose decoded headers exceed
// the advertised header-list limit. The stream is refused before it becomes a request; what was
// decoded is not kept; the connection goes on.
TEST_CASE("abuse: CONTINUATION block past the header-list limit (CVE-2024-27919, CVE-2024-30255) is refused per stream") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  const std::string big(30 * 1024, 'v');
  REQUIRE(rc.write(frame(kHeaders, 0, 1, connect_block(w.echo_addr()))));
  for (int i = 0; i < 4; ++i) {
    uint8_t flags = i == 3 ? kEndHeaders : 0;
    REQUIRE(rc.write(frame(kContinuation, flags, 1, hpack_literal(str_cat("x-big-", i), big))));
  }
  // A valid request behind it: its 200 follows a backend dial, so the server's answer to stream
  // 1 is on the wire first (a PING ACK would not do: nghttp2 sends those ahead of RST_STREAM).
  REQUIRE(rc.write(frame(kHeaders, kEndHeaders, 3, connect_block(w.echo_addr()))));
  StatusDecoder dec;
  bool reset = false;
  for (;;) {
    auto f = rc.read_frame();
    REQUIRE_MESSAGE(f, "connection ended");
    REQUIRE(f->type != kGoaway);
    if (f->type == kRstStream && f->stream == 1) reset = true;
    if (f->type == kHeaders) {
      int status = dec.status(*f);
      REQUIRE_MESSAGE(f->stream == 3, "a response (", status, ") to an over-limit header block");
      CHECK(status == 200);
      break;
    }
  }
  CHECK(reset);
  CHECK(w.requests == 1);  // the valid one only
  check_server_healthy(w);
}

TEST_CASE("abuse: SETTINGS flood (CVE-2019-9515) without reading the ACKs ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string burst;
  for (int i = 0; i < 2000; ++i) burst += frame(kSettings, 0, 0);
  // Queue the whole flood before the server reads any of it, so its ACK queue is what overflows.
  flood_while_blocked(w, rc, burst);
  expect_goaway_and_count(w, rc, NGHTTP2_PROTOCOL_ERROR);
}

TEST_CASE("abuse: a SETTINGS frame with too many entries ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string entries;
  for (int i = 0; i < 40; ++i)
    entries += std::string{0, 0x3} + u32(100 + i);  // MAX_CONCURRENT_STREAMS
  REQUIRE(rc.write(frame(kSettings, 0, 0, entries)));
  expect_goaway_and_count(w, rc, NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_CASE("abuse: PING flood (CVE-2019-9512) without reading the ACKs ends in GOAWAY") {
  World w;
  RawClient rc(w.hbone_port(), w.client_ctx());
  rc.start();
  std::string burst;
  for (int i = 0; i < 2000; ++i) burst += frame(kPing, 0, 0, std::string(8, static_cast<char>(i)));
  flood_while_blocked(w, rc, burst);
  expect_goaway_and_count(w, rc, NGHTTP2_PROTOCOL_ERROR);
}

TEST_CASE("peers that reset the TCP connection mid-stream cost only their connection") {
  World w;
  constexpr int kPeers = 20;
  for (int i = 0; i < kPeers; ++i) {
    RawClient rc(w.hbone_port(), w.client_ctx());
    rc.start();
    // A stream the server is dialling a backend for, then an abortive close (RST).
    REQUIRE(rc.write(frame(kHeaders, kEndHeaders, 1, connect_block(w.echo_addr()))));
    linger lg{1, 0};
    setsockopt(rc.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  CHECK(eventually([&] { return w.server_closed == kPeers; }));
  CHECK(w.protocol_errors == 0);
  check_server_healthy(w);
}
