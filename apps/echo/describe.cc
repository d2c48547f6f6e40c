#include "apps/echo/describe.h"

#include <strings.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/base/strings.h"

namespace ambit::echo {
namespace {

constexpr std::chrono::milliseconds kMaxDelay{10000};

// The number right after `prefix` (ending the path or followed by '/' or '?').
std::optional<long> path_number(std::string_view path, std::string_view prefix) {
  if (!starts_with(path, prefix)) return std::nullopt;
  std::string_view rest = path.substr(prefix.size());
  long v = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
  if (ec != std::errc() || end == rest.data()) return std::nullopt;
  if (end != rest.data() + rest.size() && *end != '/' && *end != '?') return std::nullopt;
  return v;
}

bool wants_json(const Request& req) {
  if (starts_with(req.path, "/json")) return true;
  return std::any_of(req.headers.begin(), req.headers.end(), [](const auto& h) {
    return strcasecmp(h.first.c_str(), "accept") == 0 &&
           h.second.find("application/json") != std::string::npos;
  });
}

}  // namespace

Response answer(const Request& req, std::string_view server_name) {
  Response r;
  r.content_type = "text/plain";
  if (req.path == "/healthz") {
    r.body = "ok\n";
    return r;
  }
  if (auto code = path_number(req.path, "/status/")) {
    // 1xx are not final answers; anything outside 200..599 is the client's mistake.
    r.status = *code >= 200 && *code <= 599 ? static_cast<int>(*code) : 400;
  }
  if (auto ms = path_number(req.path, "/delay/")) {
    r.delay = std::clamp(std::chrono::milliseconds(*ms), std::chrono::milliseconds(0), kMaxDelay);
  }
  if (r.status == 204 || r.status == 304) return r;  // these must not carry a body
  if (wants_json(req)) {
    // An object reads best (`jq .headers.host`); a repeated header's values are joined as
    // HTTP allows.
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [k, v] : req.headers) {
      headers[k] = headers.contains(k) ? str_cat(headers[k].get<std::string>(), ", ", v) : v;
    }
    nlohmann::json j = {{"server", server_name},   {"protocol", req.protocol},
                        {"method", req.method},    {"path", req.path},
                        {"peer", req.peer},        {"local", req.local},
                        {"body_bytes", req.body_bytes}, {"headers", headers}};
    r.content_type = "application/json";
    r.body = j.dump(2) + "\n";
    return r;
  }
  r.body = str_cat("server: ", server_name, "\nprotocol: ", req.protocol, "\nmethod: ", req.method,
                   "\npath: ", req.path, "\npeer: ", req.peer, "\nlocal: ", req.local,
                   "\nbody_bytes: ", req.body_bytes, "\nheaders:\n");
  for (const auto& [k, v] : req.headers) str_append(&r.body, "  ", k, ": ", v, "\n");
  return r;
}

std::string log_line(const Request& req, const Response& res) {
  return str_cat(req.protocol, " ", req.peer, " -> ", req.local, " \"", req.method, " ", req.path,
                 "\" ", res.status, " request_body=", req.body_bytes, " response_body=", res.body.size());
}

std::string format_endpoint(const boost::asio::ip::tcp::endpoint& ep) {
  namespace ip = boost::asio::ip;
  ip::address a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = ip::make_address_v4(ip::v4_mapped, a.to_v6());
  if (a.is_v6()) return str_cat("[", a.to_string(), "]:", ep.port());
  return str_cat(a.to_string(), ":", ep.port());
}

}  // namespace ambit::echo
