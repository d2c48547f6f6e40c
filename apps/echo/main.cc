// ambit-echo: the mesh's sample application. The server answers every HTTP request with what it
// saw (protocol, headers, peer address), and echoes raw TCP; the client drives load and reports
// failures, so demos and end-to-end tests can show what the mesh did to the traffic.
//
//   ambit-echo serve [--http-port 8080] [--tcp-port 9000] [--name NAME]
//   ambit-echo client http://host:port/path [--count N] [--concurrency C] [--timeout-ms T]
//                     [--http2] [--new-connection] [--show-body]
//   ambit-echo client host:port --tcp [--size BYTES] [--count N] ...
#include <pthread.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdlib>

#include "apps/echo/client.h"
#include "apps/echo/http_server.h"
#include "apps/echo/listener.h"
#include "apps/echo/tcp_echo.h"
#include "common/base/log.h"
#include "common/base/version.h"

namespace {

std::string default_name() {
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') return pod;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return host;
}

int serve(uint16_t http_port, uint16_t tcp_port, const std::string& name) {
  namespace echo = ambit::echo;
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&io](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    echo::traffic_log().info("signal {}: exiting", sig);
    io.stop();
  });
  if (http_port != 0) {
    if (auto s = echo::start_http_server(io, http_port, name); !s.ok()) {
      echo::traffic_log().error("{}", s.message());
      return 1;
    }
  }
  if (tcp_port != 0) {
    if (auto s = echo::start_tcp_echo(io, tcp_port); !s.ok()) {
      echo::traffic_log().error("{}", s.message());
      return 1;
    }
  }
  echo::traffic_log().info("ambit-echo {} serving as {}: http port {}, tcp echo port {}", ambit::kVersion, name,
                           http_port, tcp_port);
  io.run();
  // Kubernetes (and test harnesses) may signal again while we exit; once the signal_set is gone
  // the default action would kill us, so the exit status would no longer say "clean".
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  pthread_sigmask(SIG_BLOCK, &block, nullptr);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ambit-echo: the mesh's sample application (HTTP/1.1 + h2c + TCP echo server, load client)",
               "ambit-echo"};
  app.set_version_flag("--version", ambit::kVersion);
  app.require_subcommand(1);

  auto* serve_cmd = app.add_subcommand("serve", "Answer HTTP with what the server saw; echo TCP");
  uint16_t http_port = 8080, tcp_port = 9000;
  std::string name = default_name();
  serve_cmd->add_option("--http-port", http_port, "HTTP/1.1 + h2c port (0 disables)")->capture_default_str();
  serve_cmd->add_option("--tcp-port", tcp_port, "TCP echo port (0 disables)")->capture_default_str();
  serve_cmd->add_option("--name", name, "Server name in answers (default: $POD_NAME, else the hostname)");

  auto* client_cmd = app.add_subcommand("client", "Send requests; print failures and a summary");
  ambit::echo::ClientOptions co;
  client_cmd->add_option("target", co.target, "http://host:port/path, or host:port with --tcp")->required();
  client_cmd->add_option("--count", co.count, "Requests to make")->capture_default_str()->check(CLI::NonNegativeNumber);
  client_cmd->add_option("--concurrency", co.concurrency, "Requests in flight")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  client_cmd->add_option("--timeout-ms", co.timeout_ms, "Bound on each request, connect included")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  client_cmd->add_flag("--tcp", co.tcp, "TCP echo: send --size bytes per connection, verify the echo");
  client_cmd->add_option("--size", co.size, "TCP payload bytes")->capture_default_str();
  client_cmd->add_flag("--http2", co.http2, "HTTP/2 over cleartext (prior knowledge)");
  client_cmd->add_flag("--new-connection", co.new_connection, "A fresh connection per HTTP request");
  client_cmd->add_flag("--show-body", co.show_body, "Print the first response body");
  CLI11_PARSE(app, argc, argv);

  // A peer that resets mid-write must cost an error code, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  if (*client_cmd) return ambit::echo::run_client(co);
  return serve(http_port, tcp_port, name);
}
