// The HTTP request and response as the waypoint's pure L7 logic sees them: what the codecs
// (HTTP/1.1, HTTP/2) hand over after parsing, and what routing, filters and authorization read
// and rewrite. No I/O here.
//
//   Request req{.method = "GET", .authority = "reviews:9080", .path = "/a/../b?x=1"};
//   req.headers.add("X-Role", "user");          // names are stored lower case
//   for (std::string_view v : req.headers.get_all("x-role")) ...  // each value on its own
//
// Header values are kept one per field line: a repeated header is several entries, never one
// comma-joined string, so matchers can look at each value (CVE-2026-26308, CVE-2020-25017).
// The codec must reject what validate_* refuses (400) before anything here sees the request.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace ambit::waypoint::l7 {

struct Header {
  std::string name;  // lower case
  std::string value;
};

// An ordered multimap of headers with case-insensitive names (stored lower case).
class HeaderMap {
 public:
  HeaderMap() = default;
  HeaderMap(std::initializer_list<std::pair<std::string_view, std::string_view>> init);

  // Appends one value (a new field line).
  void add(std::string_view name, std::string_view value);
  // Replaces every value of `name` with one value.
  void set(std::string_view name, std::string_view value);
  // Removes every value of `name`.
  void remove(std::string_view name);
  // Every value of `name`, in order.
  std::vector<std::string_view> get_all(std::string_view name) const;
  // The first value, if any.
  std::optional<std::string_view> get(std::string_view name) const;
  bool has(std::string_view name) const;

  const std::vector<Header>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool operator==(const HeaderMap&) const = default;

 private:
  std::vector<Header> entries_;
};

struct Request {
  std::string method;           // ":method", upper case (validate_method)
  std::string scheme = "http";  // ":scheme"; inside HBONE the waypoint speaks plaintext HTTP
  std::string authority;        // ":authority" or Host
  std::string path;             // ":path" (origin-form, with query); normalized before use
  HeaderMap headers;            // regular headers only, no pseudo-headers
};

struct Response {
  uint16_t status = 200;
  HeaderMap headers;
};

std::string to_lower(std::string_view s);
bool equals_ignore_case(std::string_view a, std::string_view b);

// The host part of an authority, lower case, without ":port" ("[::1]:80" → "[::1]").
std::string host_without_port(std::string_view authority);
// The port of an authority, if it has a valid one.
std::optional<uint16_t> authority_port(std::string_view authority);

// A request method must be an RFC 9110 token in upper case. Lower-case methods are refused
// rather than matched: "get" over HTTP/2 bypassed `methods: [GET]` DENY rules
// (GHSA-w44g-8m76-8gc5), and Istio answers them with 400.
absl::Status validate_method(std::string_view method);
// A header name must be a non-empty token; a value must not contain NUL, CR or LF
// (CVE-2019-9900: a NUL let a value match a rule on its prefix). Errors name the header.
absl::Status validate_header(std::string_view name, std::string_view value);

}  // namespace ambit::waypoint::l7
