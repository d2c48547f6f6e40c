// What the echo server answers: a description of the request as the application saw it — the
// protocol, every header and the peer address of its socket — so a demo or a test can tell what
// the mesh delivered (did HBONE keep the client's address? did a waypoint add headers?).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ambit::echo {

struct Request {
  std::string protocol;  // "HTTP/1.1" or "HTTP/2"
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;  // in arrival order
  std::string peer;   // address:port of the socket's peer
  std::string local;  // address:port the connection arrived on
  size_t body_bytes = 0;
};

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::chrono::milliseconds delay{0};  // wait this long before answering
};

// `/healthz` -> "ok"; `/status/<code>` answers with that code; `/delay/<ms>` waits (at most
// 10 s). JSON if the path starts with /json or the client accepts application/json.
Response answer(const Request& req, std::string_view server_name);

// The traffic log's line for an answered request.
std::string log_line(const Request& req, const Response& res);

// "10.0.0.1:80" or "[fd00::1]:80". IPv4-mapped IPv6 addresses are shown as IPv4.
std::string format_endpoint(const boost::asio::ip::tcp::endpoint& ep);

}  // namespace ambit::echo
