// ambit-echo end to end on 127.0.0.1: the real binary as a child process, driven by curl (a
// second HTTP/1.1 and HTTP/2 implementation), by raw sockets and by its own client.
//
// Waits are bounded by deadlines; no timing threshold is asserted.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/base/strings.h"
#include "common/base/unique_fd.h"
#include "common/sim/command.h"
#include "common/sim/process.h"

namespace {

using namespace std::chrono_literals;
using ambit::str_cat;

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A port the kernel just handed out and nobody listens on now.
uint16_t free_port() {
  ambit::UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = loopback(0);
  REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  REQUIRE(::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
  return ntohs(a.sin_port);
}

ambit::UniqueFd connect_to(uint16_t port) {
  ambit::UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = loopback(port);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return ambit::UniqueFd();
  return s;
}

ambit::sim::CommandResult run(const std::vector<std::string>& argv) {
  auto r = ambit::sim::run_raw(argv, 60s);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}

// `ambit-echo serve` on two fresh ports, ready when both accept connections.
struct EchoServer {
  EchoServer() {
    log_path = str_cat("/tmp/ambit-echo-test-", ::getpid(), "-", http_port, ".log");
    ::unlink(log_path.c_str());
    ambit::sim::SpawnOptions o;
    o.argv = {AMBIT_ECHO_BIN, "serve", "--http-port", std::to_string(http_port), "--tcp-port",
              std::to_string(tcp_port), "--name", "echo-test"};
    o.log_path = log_path;
    auto p = ambit::sim::Process::spawn(o);
    REQUIRE_MESSAGE(p.ok(), p.status().ToString());
    proc = std::move(*p);
    auto deadline = std::chrono::steady_clock::now() + 60s;  // an ASan build starts slowly on a busy box
    while (!(connect_to(http_port) && connect_to(tcp_port))) {
      REQUIRE_MESSAGE(proc.running(), "ambit-echo exited: ", proc.log());
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "ambit-echo not listening: ", proc.log());
      std::this_thread::sleep_for(20ms);
    }
  }
  ~EchoServer() {
    proc.kill();
    ::unlink(log_path.c_str());
  }
  std::string url(std::string_view path) const { return str_cat("http://127.0.0.1:", http_port, path); }

  uint16_t http_port = free_port();
  uint16_t tcp_port = free_port();
  std::string log_path;
  ambit::sim::Process proc;
};

// The body and, after the last newline, what curl's --write-out printed.
std::pair<std::string, std::string> curl(const std::vector<std::string>& args, std::string_view write_out) {
  std::vector<std::string> argv = {"curl", "-s", "--max-time", "30", "-w", str_cat("\n", write_out)};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv);
  REQUIRE_MESSAGE(r.exit_code == 0, "curl failed: ", r.err);
  size_t nl = r.out.rfind('\n');
  return {r.out.substr(0, nl), r.out.substr(nl + 1)};
}

}  // namespace

TEST_CASE("HTTP/1.1 answer describes method, path, headers and the peer address") {
  EchoServer srv;
  auto [body, meta] = curl({"-H", "X-Ambit-Test: hello-42", srv.url("/some/path?q=1")}, "%{http_code} %{local_port}");
  auto parts = ambit::split(meta, ' ');
  REQUIRE(parts.size() == 2);
  CHECK(parts[0] == "200");
  INFO(body);
  CHECK(body.find("server: echo-test\n") != std::string::npos);
  CHECK(body.find("protocol: HTTP/1.1\n") != std::string::npos);
  CHECK(body.find("method: GET\n") != std::string::npos);
  CHECK(body.find("path: /some/path?q=1\n") != std::string::npos);
  CHECK(body.find("X-Ambit-Test: hello-42\n") != std::string::npos);
  // The peer is curl's own socket, seen from the server side.
  CHECK(body.find(str_cat("peer: 127.0.0.1:", parts[1], "\n")) != std::string::npos);
  CHECK(body.find(str_cat("local: 127.0.0.1:", srv.http_port, "\n")) != std::string::npos);
}

TEST_CASE("HTTP/1.1 chunked POST body is counted and JSON is served on request") {
  EchoServer srv;
  std::string data(5000, 'x');
  auto [body, code] = curl({"-H", "Transfer-Encoding: chunked", "-H", "Accept: application/json", "--data-binary",
                            data, srv.url("/upload")},
                           "%{http_code}");
  CHECK(code == "200");
  auto j = nlohmann::json::parse(body);
  CHECK(j["method"] == "POST");
  CHECK(j["body_bytes"] == 5000);
  CHECK(j["protocol"] == "HTTP/1.1");
  CHECK(j["headers"]["Transfer-Encoding"] == "chunked");
}

TEST_CASE("h2c with prior knowledge and via Upgrade both answer over HTTP/2") {
  EchoServer srv;
  for (std::string flag : {"--http2-prior-knowledge", "--http2"}) {
    CAPTURE(flag);
    auto [body, meta] = curl({flag, "-H", "X-Ambit-Test: h2", srv.url("/over/h2")}, "%{http_code} %{http_version}");
    INFO(body);
    CHECK(meta == "200 2");
    CHECK(body.find("protocol: HTTP/2\n") != std::string::npos);
    CHECK(body.find("path: /over/h2\n") != std::string::npos);
    // HTTP/2 lower-cases header names; the upgraded request's come from its HTTP/1.1 head.
    std::string lower = body;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    CHECK(lower.find("x-ambit-test: h2\n") != std::string::npos);
  }
}

TEST_CASE("special paths: status codes, healthz") {
  EchoServer srv;
  CHECK(curl({srv.url("/status/503")}, "%{http_code}").second == "503");
  CHECK(curl({"--http2-prior-knowledge", srv.url("/status/418")}, "%{http_code}").second == "418");
  auto [body, code] = curl({srv.url("/healthz")}, "%{http_code}");
  CHECK(code == "200");
  CHECK(body == "ok\n");
}

TEST_CASE("TCP echo returns a 1 MiB payload byte for byte, then closes") {
  EchoServer srv;
  std::string payload(1 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
  ambit::UniqueFd s = connect_to(srv.tcp_port);
  REQUIRE(s);
  // Written from a second thread: the echo comes back while we are still sending.
  std::thread writer([&] {
    size_t off = 0;
    while (off < payload.size()) {
      ssize_t n = ::send(s.get(), payload.data() + off, payload.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::shutdown(s.get(), SHUT_WR);
  });
  std::string got;
  char buf[65536];
  for (ssize_t n; (n = ::recv(s.get(), buf, sizeof(buf), 0)) > 0;) got.append(buf, static_cast<size_t>(n));
  writer.join();
  CHECK(got.size() == payload.size());
  CHECK(got == payload);
}

TEST_CASE("ambit-echo client succeeds against the server over HTTP/1.1, h2c and TCP") {
  EchoServer srv;
  std::vector<std::vector<std::string>> modes = {
      {srv.url("/load")},
      {srv.url("/load"), "--http2"},
      {srv.url("/load"), "--new-connection"},
      {str_cat("127.0.0.1:", srv.tcp_port), "--tcp", "--size", "100000"},
  };
  for (auto& args : modes) {
    std::vector<std::string> argv = {AMBIT_ECHO_BIN, "client", "--count", "20", "--concurrency", "4",
                                     "--timeout-ms", "30000"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    INFO(ambit::sim::shell_quote(argv), "\n", r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("summary: requests=20 ok=20 failed=0 ") != std::string::npos);
  }
  auto shown = run({AMBIT_ECHO_BIN, "client", srv.url("/shown"), "--show-body", "--timeout-ms", "30000"});
  CHECK(shown.out.find("path: /shown\n") != std::string::npos);
  // Every request left one line in the server's log (its stdout).
  CHECK(srv.proc.log().find("\"GET /shown\" 200") != std::string::npos);
}

TEST_CASE("ambit-echo client reports failures and exits nonzero") {
  EchoServer srv;
  uint16_t closed = free_port();
  for (std::vector<std::string> args : {std::vector<std::string>{str_cat("http://127.0.0.1:", closed, "/")},
                                        {str_cat("127.0.0.1:", closed), "--tcp"}}) {
    std::vector<std::string> argv = {AMBIT_ECHO_BIN, "client", "--count", "3"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    INFO(r.out, r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("connection refused") != std::string::npos);
    CHECK(r.out.find("summary: requests=3 ok=0 failed=3 ") != std::string::npos);
  }
  auto r = run({AMBIT_ECHO_BIN, "client", "--count", "2", "--http2", srv.url("/status/503")});
  INFO(r.out, r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("HTTP 503") != std::string::npos);
  CHECK(r.out.find("summary: requests=2 ok=0 failed=2 ") != std::string::npos);
}

TEST_CASE("SIGTERM stops the server cleanly") {
  EchoServer srv;
  CHECK(curl({srv.url("/before-term")}, "%{http_code}").second == "200");
  CHECK(srv.proc.stop(30s) == 0);
  CHECK(srv.proc.log().find("signal 15: exiting") != std::string::npos);
}
