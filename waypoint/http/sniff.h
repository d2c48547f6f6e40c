// Tells HTTP/2 with prior knowledge (h2c inside the HBONE tunnel) from HTTP/1 by the first bytes
// of a connection: an HTTP/2 client starts with the 24-byte preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
// (RFC 9113 §3.4), which no HTTP/1 request starts with.
#pragma once

#include <string_view>

namespace ambit::waypoint::http {

inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum class Sniffed { kNeedMore, kHttp1, kHttp2 };

// kNeedMore while `first_bytes` is a proper prefix of the preface (read more; at most 24 bytes
// decide). The bytes are not consumed: hand all of them to the chosen codec.
inline Sniffed sniff_protocol(std::string_view first_bytes) {
  size_t n = first_bytes.size() < kHttp2Preface.size() ? first_bytes.size() : kHttp2Preface.size();
  if (first_bytes.substr(0, n) != kHttp2Preface.substr(0, n)) return Sniffed::kHttp1;
  return n == kHttp2Preface.size() ? Sniffed::kHttp2 : Sniffed::kNeedMore;
}

}  // namespace ambit::waypoint::http
