// Writes HTTP/1.1 messages from the protocol-independent model: request heads for upstreams,
// response heads for clients, chunked body framing, and the waypoint's own short responses.
// The model may have passed through filters (header modifiers, rewrites) since it was parsed,
// so every name and value is checked again here: nothing with CR, LF or NUL reaches the wire
// (response splitting), and a refused field is an error, not a silently dropped header.
//
//   std::string out;
//   AMBIT_ASSIGN_OR_RETURN(BodyInfo::Kind framing, serialize_request_head(head, true, &out));
//   ... then body bytes: append_chunk(data, &out) when framing is kChunked, raw bytes otherwise.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "waypoint/http/message.h"

namespace ambit::waypoint::http {

// Appends "METHOD path HTTP/1.1", host (from `authority`), the headers, `te: trailers` when
// asked, and the framing from `head.body`: Content-Length for kLength, chunked for kChunked,
// nothing for kNone. Returns the framing the body must be written with.
absl::StatusOr<BodyInfo::Kind> serialize_request_head(const RequestHead& head, bool keep_alive, std::string* out);

// Appends "HTTP/1.1 status reason" and the headers for a client speaking `client_version`.
// Framing: Content-Length for kLength; chunked for kChunked (HTTP/1.1 clients) or close-delimited
// (HTTP/1.0); `content-length: 0` when a body-capable status has none; nothing for 1xx/204.
// Writes `connection: close` when !keep_alive or the body is close-delimited. Returns the
// framing of the body that follows (kUntilClose: close the connection after it).
absl::StatusOr<BodyInfo::Kind> serialize_response_head(const ResponseHead& head, Version client_version, bool keep_alive,
                                                       std::string* out);

// One chunk (nothing for empty data: an empty chunk would end the body).
void append_chunk(std::string_view data, std::string* out);
// The last chunk and the trailer section.
absl::Status append_last_chunk(const HeaderMap& trailers, std::string* out);

// "HTTP/1.1 100 Continue", for a client that sent Expect: 100-continue.
std::string_view continue_response();
// A complete short response from the waypoint itself (errors, 403 RBAC, redirects), text/plain,
// `connection: close` unless keep_alive.
std::string simple_response(int status, std::string_view body, bool keep_alive, const HeaderMap& extra = {});

std::string_view reason_phrase(int status);

}  // namespace ambit::waypoint::http
