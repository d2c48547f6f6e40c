#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <thread>

#include "common/base/strings.h"
#include "common/admin/admin_server.h"
#include "common/base/log.h"
#include "common/metrics/registry.h"

using namespace ambit;

namespace {

// A raw HTTP/1.1 exchange over a real socket, so the server is tested as curl would use it.
std::string http(uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)!::write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

std::string get(uint16_t port, const std::string& path, const std::string& method = "GET") {
  return http(port, method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
}

struct Server {
  boost::asio::io_context io;
  metrics::Registry reg;
  admin::AdminServer admin{io};
  bool ready = false;
  int quits = 0;
  std::thread t;

  Server() {
    reg.counter("test_requests_total", "requests").with({}).inc(4);
    admin.add_metrics(&reg);
    admin.add_readiness([this]() -> absl::Status {
      return ready ? absl::OkStatus() : absl::UnavailableError("waiting for xDS");
    });
    admin.add_config_dump([] { return std::string(R"({"workloads":[]})"); });
    admin.add_logging();
    admin.add_quit([this] { ++quits; });
    REQUIRE(admin.listen("127.0.0.1", 0).ok());
    t = std::thread([this] { io.run(); });
  }
  ~Server() {
    boost::asio::post(io, [this] { admin.stop(); });
    io.stop();
    t.join();
  }
};

}  // namespace

TEST_CASE("admin server serves metrics, readiness, config_dump, logging and quit over HTTP/1.1") {
  Server s;
  uint16_t port = s.admin.port();
  REQUIRE(port != 0);

  std::string m = get(port, "/metrics");
  CHECK(m.find("HTTP/1.1 200 OK") == 0);
  CHECK(m.find("text/plain; version=0.0.4") != std::string::npos);
  CHECK(m.find("test_requests_total 4") != std::string::npos);
  CHECK(get(port, "/stats/prometheus").find("test_requests_total 4") != std::string::npos);

  std::string nr = get(port, "/healthz/ready");
  CHECK(nr.find("HTTP/1.1 503") == 0);
  CHECK(nr.find("not ready: waiting for xDS") != std::string::npos);
  s.ready = true;
  std::string r = get(port, "/healthz/ready");
  CHECK(r.find("HTTP/1.1 200") == 0);
  CHECK(r.find("\r\n\r\nready\n") != std::string::npos);
  CHECK(get(port, "/healthz/ready", "POST").find("HTTP/1.1 405") == 0);

  CHECK(get(port, "/config_dump").find(R"({"workloads":[]})") != std::string::npos);

  log::scope("admin-test-scope");
  std::string l = get(port, "/logging?level=admin-test-scope:debug", "POST");
  CHECK(l.find("HTTP/1.1 200") == 0);
  CHECK(l.find("admin-test-scope: debug") != std::string::npos);
  std::string bad = get(port, "/logging?level=admin-test-scope:shouting", "POST");
  CHECK(bad.find("HTTP/1.1 400") == 0);
  CHECK(bad.find("shouting") != std::string::npos);
  CHECK(get(port, "/logging?reset", "POST").find("admin-test-scope: info") != std::string::npos);

  CHECK(get(port, "/quitquitquit").find("HTTP/1.1 405") == 0);
  CHECK(s.quits == 0);
  CHECK(get(port, "/quitquitquit", "POST").find("HTTP/1.1 200") == 0);
  CHECK(s.quits == 1);

  std::string nf = get(port, "/nope");
  CHECK(nf.find("HTTP/1.1 404") == 0);
  CHECK(nf.find("/metrics") != std::string::npos);
}

TEST_CASE("admin server keeps a connection alive across requests and rejects oversized headers") {
  Server s;
  std::string two = http(s.admin.port(),
                         "GET /config_dump HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(two.find("workloads") != std::string::npos);
  CHECK(two.find("test_requests_total") != std::string::npos);

  std::string huge = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  CHECK(http(s.admin.port(), huge).find("HTTP/1.1 413") == 0);
}

TEST_CASE("query strings are decoded") {
  auto q = admin::AdminServer::parse_query("level=xds%3Adebug&reset&a=b+c");
  CHECK(q.at("level") == "xds:debug");
  CHECK(q.count("reset") == 1);
  CHECK(q.at("a") == "b c");
}
