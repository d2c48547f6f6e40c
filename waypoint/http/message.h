// The waypoint's protocol-independent HTTP message model: what the HTTP/1.1 parsers and the
// HTTP/2 codec produce and what routing, policy and the serializers consume. A request is a head
// (method, scheme, authority, path, end-to-end headers) followed by a body that arrives as a
// stream of chunks and optional trailers; the codecs deliver those as events, never as one
// buffered body.
//
//   RequestHead h;                       // from Http1RequestParser::head() or H2ServerCodec
//   if (h.method == "GET" && h.path == "/healthz") ...
//   for (const HeaderField& f : h.headers) ...        // order and repeats as received
//   std::vector<std::string_view> roles = h.headers.get_all("x-role");
//
// Invariants the codecs guarantee for every head they hand out:
//  - header names are lower case and valid tokens; values hold no NUL, CR or LF;
//  - `authority` is the request's Host (HTTP/1.1 Host or absolute-form target, HTTP/2
//    :authority), lower-cased; `host` itself is not in `headers`;
//  - hop-by-hop fields (Connection and the fields it names, Keep-Alive, Proxy-Connection, TE,
//    Transfer-Encoding, Upgrade, HTTP2-Settings) and Content-Length are not in `headers`: the
//    body's framing is `body`, the rest belongs to one connection and is never forwarded
//    (RFC 9110 §7.6.1). `te_trailers` keeps the one TE value that matters end to end (gRPC).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ambit::waypoint::http {

enum class Version { kHttp10, kHttp11, kHttp2 };
std::string_view version_name(Version v);  // "HTTP/1.0", "HTTP/1.1", "HTTP/2"

struct HeaderField {
  std::string name;  // lower case
  std::string value;
  bool operator==(const HeaderField&) const = default;
};

// An ordered multimap of header fields: insertion order and repeats are kept, because policy
// must see every value of a repeated field (a DENY on `x-role: admin` must not be evaded by
// sending `x-role: user` first) and forwarding must not reorder them.
class HeaderMap {
 public:
  using const_iterator = std::vector<HeaderField>::const_iterator;

  HeaderMap() = default;
  HeaderMap(std::initializer_list<std::pair<std::string_view, std::string_view>> init) {
    for (const auto& [n, v] : init) add(n, v);
  }

  // `name` is lower-cased on the way in.
  void add(std::string_view name, std::string_view value);
  // Removes every field called `name`, then adds one.
  void set(std::string_view name, std::string_view value);
  // Removes every field called `name`; returns how many.
  size_t remove(std::string_view name);
  // The first value of `name`, if any. `name` must be lower case.
  std::optional<std::string_view> get(std::string_view name) const;
  std::vector<std::string_view> get_all(std::string_view name) const;
  size_t count(std::string_view name) const;
  bool contains(std::string_view name) const { return get(name).has_value(); }

  size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  // Sum of name and value lengths: what the size limits count.
  size_t bytes() const;
  const_iterator begin() const { return fields_.begin(); }
  const_iterator end() const { return fields_.end(); }
  const HeaderField& operator[](size_t i) const { return fields_[i]; }
  void clear() { fields_.clear(); }
  bool operator==(const HeaderMap&) const = default;

 private:
  std::vector<HeaderField> fields_;
};

// How the body is delimited on the wire it came from. The next hop chooses its own framing from
// this: a known length is forwarded as Content-Length, an unknown one as chunked (HTTP/1.1) or
// DATA frames (HTTP/2).
struct BodyInfo {
  enum class Kind {
    kNone,     // no body at all (no Content-Length/Transfer-Encoding, or HEAD/204/304 responses)
    kLength,   // exactly `length` bytes (Content-Length; may be 0)
    kChunked,  // unknown length: HTTP/1.1 chunked, or HTTP/2 DATA without content-length
    kUntilClose,  // response only: delimited by the upstream closing the connection
  };
  Kind kind = Kind::kNone;
  uint64_t length = 0;  // kLength only
  bool operator==(const BodyInfo&) const = default;
};

struct RequestHead {
  std::string method;     // case-sensitive token, e.g. "GET"
  std::string scheme;     // "http" or "https" (HTTP/1 origin-form: "http")
  std::string authority;  // host[:port], lower case; may be empty for an HTTP/1.0 request
  std::string path;       // origin-form path and query ("/a/b?c"), or "*" (OPTIONS)
  Version version = Version::kHttp11;
  HeaderMap headers;
  BodyInfo body;
  bool expect_continue = false;  // `Expect: 100-continue` (HTTP/1.1 only)
  bool te_trailers = false;      // `TE: trailers` was sent (gRPC needs it end to end)
};

struct ResponseHead {
  int status = 0;
  std::string reason;  // HTTP/1 reason phrase as received (informational only)
  Version version = Version::kHttp11;
  HeaderMap headers;
  BodyInfo body;
};

// Fields that describe one connection, never forwarded (RFC 9110 §7.6.1), in lower case.
bool is_hop_by_hop(std::string_view lower_name);

// Whether a response to `method` with `status` can carry a body (RFC 9110 §6.4.1): never for
// HEAD, 1xx, 204 or 304.
bool response_has_body(std::string_view method, int status);

// ASCII lower-casing, the only case folding HTTP field names and hosts need.
std::string ascii_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

}  // namespace ambit::waypoint::http
