// RFC 9112 / RFC 9110 lexical rules for the HTTP/1.1 codec, as pure functions. Strict on purpose:
// everything two HTTP/1 implementations may read differently (the root of request smuggling) is
// refused here rather than interpreted — bare CR or LF line ends, obs-fold, whitespace before the
// colon, control characters, signs or spaces in Content-Length, over-long chunk sizes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "waypoint/http/http_error.h"

namespace ambit::waypoint::http::syntax {

bool is_tchar(char c);
bool is_token(std::string_view s);
// VCHAR, obs-text, SP or HTAB: what a field value (after trimming) may hold.
bool is_field_value_char(char c);

// Finds the end of the CRLF-terminated line that starts at `start` in `in`.
//  kFound: the line is in[start, *eol) and its CRLF follows.
//  kNeedMore: no line end yet; `*resume` remembers how far the line is already checked, so a
//    client that sends one byte at a time costs linear work, not quadratic. Pass the same
//    `resume` back (with the same `start`) once more bytes arrived.
//  kBareLf / kBareCr: a LF without its CR, or a CR not followed by LF.
enum class LineScan { kFound, kNeedMore, kBareLf, kBareCr };
LineScan scan_line(std::string_view in, size_t start, size_t* resume, size_t* eol);

// scan_line within a length limit: the line and its CRLF must fit in `limit` bytes from
// `start`. kTooLong once `limit` bytes are there without a line end. Deciding on the first
// `limit` bytes only — never on what follows — keeps the result independent of how the input
// was split into reads.
enum class LimitedScan { kFound, kNeedMore, kBareLf, kBareCr, kTooLong };
LimitedScan scan_line_limited(std::string_view in, size_t start, size_t limit, size_t* resume, size_t* eol);

// One field line ("name: value", without its CRLF). On success, `name` is the name as sent and
// `value` the value without leading/trailing whitespace. `what` is "header" or "trailer".
std::optional<HttpError> parse_field_line(std::string_view line, std::string_view what,
                                          std::string_view* name, std::string_view* value);

// Content-Length: 1*DIGIT and nothing else (no sign, no spaces, no list), at most 18 digits so
// that it never overflows.
std::optional<uint64_t> parse_content_length(std::string_view v);

// host[:port] as in Host or an absolute-form target (RFC 9110 §7.2, RFC 3986 §3.2.2): a
// reg-name, IPv4 or [IPv6] host, optional port 0-65535 with at least one digit, no userinfo.
// Returns the reason it is invalid, or nullopt.
std::optional<std::string> authority_error(std::string_view authority);

// A chunk-size line without its CRLF: 1*HEXDIG (at most 16 digits, and at most 2^62) then
// chunk extensions `;name` or `;name=token|quoted-string` (no whitespace). `ext_bytes` is the
// extensions' length.
std::optional<HttpError> parse_chunk_line(std::string_view line, uint64_t* size, size_t* ext_bytes);

// Calls fn(token) for each element of a comma-separated list with optional whitespace;
// empty elements are passed too (as ""), so callers can refuse them.
template <typename Fn>
void for_each_list_element(std::string_view v, Fn&& fn) {
  size_t i = 0;
  for (;;) {
    size_t comma = v.find(',', i);
    std::string_view el = v.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i);
    while (!el.empty() && (el.front() == ' ' || el.front() == '\t')) el.remove_prefix(1);
    while (!el.empty() && (el.back() == ' ' || el.back() == '\t')) el.remove_suffix(1);
    fn(el);
    if (comma == std::string_view::npos) break;
    i = comma + 1;
  }
}

}  // namespace ambit::waypoint::http::syntax
