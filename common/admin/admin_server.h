// A small HTTP/1.1 server for every component's admin, metrics and readiness ports.
// It runs on the component's control-thread io_context; handlers are plain functions of a parsed
// request, so they can be tested without sockets.
//
//   AdminServer admin(io);
//   admin.add_metrics(&registry);                       // /metrics, /stats/prometheus
//   admin.add_readiness([&] { return ready(); });       // /healthz/ready
//   admin.add_config_dump([&] { return dump_json(); }); // /config_dump
//   admin.add_logging();                                // /logging
//   admin.add_quit([&] { drain.start(); });             // POST /quitquitquit
//   AMBIT_RETURN_IF_ERROR(admin.listen("127.0.0.1", 15000));
//
// Limits: 8 KiB of headers, 1 MiB of body, 10 s per request; anything larger or slower is
// answered 4xx and closed.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ambit::metrics {
class Registry;
}

namespace ambit::admin {

struct Request {
  std::string method;
  std::string path;                          // without the query
  std::map<std::string, std::string> query;  // decoded
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using Handler = std::function<Response(const Request&)>;

namespace detail {
struct AdminState;
}

class AdminServer {
 public:
  explicit AdminServer(boost::asio::io_context& io);
  ~AdminServer();

  // Exact-path handler; replaces any earlier one for the path.
  void handle(const std::string& path, Handler h);

  void add_metrics(const metrics::Registry* registry);
  // 200 "ready\n" when ready() is true, else 503 with the reason; 405 for non-GET (as ztunnel).
  void add_readiness(std::function<absl::Status()> ready);
  void add_config_dump(std::function<std::string()> dump_json, const std::string& path = "/config_dump");
  void add_logging();
  void add_quit(std::function<void()> quit);

  // Binds and starts accepting. Port 0 picks a free port (see port()).
  absl::Status listen(const std::string& host, uint16_t port);
  uint16_t port() const { return port_; }
  // Stops accepting and closes open connections.
  void stop();

  // Dispatches without a socket (tests, and the server itself).
  Response dispatch(const Request& req) const;
  // Parses "a=b&c=%20d" into a map.
  static std::map<std::string, std::string> parse_query(std::string_view q);

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<detail::AdminState> state_;
  uint16_t port_ = 0;
};

}  // namespace ambit::admin
