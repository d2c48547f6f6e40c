// waypoint_codec_server: a loopback echo server built only from the waypoint's sans-I/O HTTP
// codecs, for tests that need a real socket and an independent client (python-h2, curl). It is
// also the smallest example of driving the codecs from a socket: sniff the protocol, feed what
// is read, write what the codec produced — and take new output only once the previous output is
// written, so a client that does not read its ACKs fills nghttp2's bounded control queue (the
// flood limits then end the connection) instead of our memory.
//
// Prints "PORT <n>" on stdout, serves connections one at a time on 127.0.0.1, exits when stdin
// closes. Every request is answered 200 with its body echoed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>

#include "waypoint/http/h2_server_codec.h"
#include "waypoint/http/http1_request_parser.h"
#include "waypoint/http/http1_serializer.h"
#include "waypoint/http/sniff.h"

using namespace ambit::waypoint::http;

namespace {

constexpr int kIdleMs = 10000;

struct EchoH2 : H2ServerHandler {
  H2ServerCodec* codec = nullptr;
  std::map<int32_t, std::string> bodies;
  void on_request_head(int32_t id, RequestHead, bool) override { bodies[id]; }
  void on_request_body(int32_t id, std::string_view d) override {
    bodies[id].append(d);
    codec->consume(id, d.size());
  }
  void on_request_trailers(int32_t, HeaderMap) override {}
  void on_request_end(int32_t id) override {
    ResponseHead r;
    r.status = 200;
    r.body = BodyInfo{BodyInfo::Kind::kLength, bodies[id].size()};
    bool empty = bodies[id].empty();
    (void)codec->submit_response(id, r, empty);
    if (!empty) codec->send_body(id, bodies[id], true);
  }
  void on_stream_close(int32_t id, uint32_t) override { bodies.erase(id); }
};

bool write_some(int fd, std::string* pending) {
  while (!pending->empty()) {
    ssize_t n = ::send(fd, pending->data(), pending->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      pending->erase(0, static_cast<size_t>(n));
      continue;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return true;
}

void serve_h2(int fd, std::string first) {
  EchoH2 h;
  H2ServerCodec codec(H2Settings{}, &h);
  h.codec = &codec;
  bool ok = codec.receive(first).ok();
  std::string pending;
  char buf[16 * 1024];
  for (;;) {
    // Write until the socket would block or the codec has nothing more; new output is taken
    // only once the previous output is on its way.
    bool write_error = false;
    for (;;) {
      if (pending.empty()) codec.take_output(&pending);
      if (pending.empty()) break;
      if (!write_some(fd, &pending)) write_error = true;
      if (write_error || !pending.empty()) break;  // error, or the socket is full
    }
    if (write_error) break;
    if (codec.finished() && pending.empty()) break;
    pollfd p{fd, 0, 0};
    if (ok && codec.want_read()) p.events |= POLLIN;
    if (!pending.empty()) p.events |= POLLOUT;
    if (p.events == 0) break;
    if (::poll(&p, 1, kIdleMs) <= 0) break;
    if (p.revents & POLLIN) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      if (!codec.receive(std::string_view(buf, static_cast<size_t>(n))).ok()) ok = false;
    } else if (p.revents & (POLLERR | POLLHUP)) {
      break;
    }
  }
  const H2Stats& st = codec.stats();
  std::fprintf(stderr, "h2 connection done: streams=%llu goaway=%u reason=\"%s\" resets=%llu provoked=%llu\n",
               static_cast<unsigned long long>(st.streams_opened), st.goaway_error, st.goaway_reason.c_str(),
               static_cast<unsigned long long>(st.resets_received), static_cast<unsigned long long>(st.resets_provoked));
}

void serve_h1(int fd, std::string in) {
  Http1RequestParser p;
  std::string body;
  char buf[16 * 1024];
  for (;;) {
    auto s = p.next(in);
    std::string out;
    bool close_after = false;
    switch (s.event) {
      case Http1RequestParser::Event::kHead:
        body.clear();
        if (p.head().expect_continue) out = continue_response();
        break;
      case Http1RequestParser::Event::kBody:
        body.append(s.body);
        break;
      case Http1RequestParser::Event::kEnd:
        out = simple_response(200, body, p.keep_alive());
        close_after = !p.keep_alive();
        break;
      case Http1RequestParser::Event::kError:
        out = simple_response(p.error().status, p.error().reason + "\n", false);
        close_after = true;
        break;
      case Http1RequestParser::Event::kNeedMore:
        break;
    }
    in.erase(0, s.consumed);
    while (!out.empty()) {
      ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      out.erase(0, static_cast<size_t>(n));
    }
    if (close_after) return;
    if (s.event == Http1RequestParser::Event::kNeedMore) {
      pollfd pf{fd, POLLIN, 0};
      if (::poll(&pf, 1, kIdleMs) <= 0) return;
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
    }
  }
}

// Closing with unread client bytes in the receive buffer makes the kernel send RST, and the client
// loses what it had not read yet — the GOAWAY that says why. So: stop writing, read and drop
// what still comes for a moment, then close (the "lingering close" of HTTP servers).
void linger_close(int fd) {
  ::shutdown(fd, SHUT_WR);
  char buf[16 * 1024];
  for (int i = 0; i < 10000; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) break;
    if (::recv(fd, buf, sizeof(buf), 0) <= 0) break;
  }
  ::close(fd);
}

void serve(int fd) {
  int small = 16 * 1024;  // small send buffer: backpressure shows up early
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  std::string first;
  char buf[4096];
  for (;;) {
    Sniffed k = sniff_protocol(first);
    if (k == Sniffed::kHttp2) return serve_h2(fd, first);
    if (k == Sniffed::kHttp1) return serve_h1(fd, first);
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, kIdleMs) <= 0) return;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    first.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

int main() {
  int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (ls < 0 || ::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(ls, 16) != 0 ||
      ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::perror("waypoint_codec_server: listen on 127.0.0.1");
    return 1;
  }
  std::printf("PORT %d\n", ntohs(a.sin_port));
  std::fflush(stdout);
  for (;;) {
    pollfd p[2] = {{ls, POLLIN, 0}, {0, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) continue;
    if (p[1].revents) {
      char c;
      if (::read(0, &c, 1) <= 0) break;  // stdin closed: the test is over
    }
    if (p[0].revents & POLLIN) {
      int fd = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      serve(fd);
      linger_close(fd);
    }
  }
  ::close(ls);
  return 0;
}
