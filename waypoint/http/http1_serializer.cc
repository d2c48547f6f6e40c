#include "waypoint/http/http1_serializer.h"

#include "common/base/strings.h"
#include "waypoint/http/http1_syntax.h"

namespace ambit::waypoint::http {

namespace {

absl::Status check_field(const HeaderField& f) {
  if (!syntax::is_token(f.name)) return absl::InvalidArgumentError(str_cat("invalid header name \"", printable(f.name), "\""));
  for (char c : f.value) {
    if (!syntax::is_field_value_char(c)) {
      return absl::InvalidArgumentError(str_cat("invalid character in the value of header \"", f.name, "\""));
    }
  }
  if (!f.value.empty() && (f.value.front() == ' ' || f.value.front() == '\t' || f.value.back() == ' ' || f.value.back() == '\t')) {
    return absl::InvalidArgumentError(str_cat("leading or trailing whitespace in the value of header \"", f.name, "\""));
  }
  return absl::OkStatus();
}

absl::Status append_fields(const HeaderMap& headers, std::string* out) {
  for (const HeaderField& f : headers) {
    // Framing and connection fields are the serializer's to write; one left in the model by a
    // filter would contradict the framing chosen here.
    if (f.name == "content-length" || f.name == "host" || is_hop_by_hop(f.name)) continue;
    if (absl::Status st = check_field(f); !st.ok()) return st;
    str_append(out, f.name, ": ", f.value, "\r\n");
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

absl::StatusOr<BodyInfo::Kind> serialize_request_head(const RequestHead& head, bool keep_alive, std::string* out) {
  if (head.method.empty() || !syntax::is_token(head.method)) return absl::InvalidArgumentError("invalid method");
  if (head.method == "CONNECT") return absl::InvalidArgumentError("CONNECT cannot be forwarded over HTTP/1.1");
  if (head.path.empty() || (head.path.front() != '/' && head.path != "*")) {
    return absl::InvalidArgumentError(str_cat("invalid request path \"", printable(head.path.substr(0, 64)), "\""));
  }
  for (char c : head.path) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '#') {
      return absl::InvalidArgumentError(str_cat("invalid character in request path \"", printable(head.path.substr(0, 64)), "\""));
    }
  }
  if (!head.authority.empty()) {
    if (auto why = syntax::authority_error(head.authority)) return absl::InvalidArgumentError(str_cat("invalid authority: ", *why));
  }
  str_append(out, head.method, " ", head.path, " HTTP/1.1\r\nhost: ", head.authority, "\r\n");
  if (absl::Status st = append_fields(head.headers, out); !st.ok()) return st;
  BodyInfo::Kind framing = head.body.kind;
  switch (framing) {
    case BodyInfo::Kind::kLength:
      str_append(out, "content-length: ", head.body.length, "\r\n");
      break;
    case BodyInfo::Kind::kChunked:
    case BodyInfo::Kind::kUntilClose:  // a request cannot be close-delimited
      out->append("transfer-encoding: chunked\r\n");
      framing = BodyInfo::Kind::kChunked;
      break;
    case BodyInfo::Kind::kNone:
      // RFC 9110 §8.6: a body-less POST/PUT should still say so, or some servers wait for one.
      if (head.method == "POST" || head.method == "PUT" || head.method == "PATCH") out->append("content-length: 0\r\n");
      break;
  }
  if (head.te_trailers) out->append(keep_alive ? "te: trailers\r\nconnection: te\r\n" : "te: trailers\r\nconnection: te, close\r\n");
  else if (!keep_alive) out->append("connection: close\r\n");
  out->append("\r\n");
  return framing;
}

absl::StatusOr<BodyInfo::Kind> serialize_response_head(const ResponseHead& head, Version client_version, bool keep_alive,
                                                       std::string* out) {
  if (head.status < 100 || head.status > 999) return absl::InvalidArgumentError(str_cat("invalid status ", head.status));
  if (head.status == 101) return absl::InvalidArgumentError("101 Switching Protocols is never forwarded");
  str_append(out, "HTTP/1.1 ", head.status, " ", reason_phrase(head.status), "\r\n");
  if (absl::Status st = append_fields(head.headers, out); !st.ok()) return st;
  BodyInfo::Kind framing = head.body.kind;
  const bool no_framing = head.status < 200 || head.status == 204;
  if (no_framing) {
    framing = BodyInfo::Kind::kNone;
  } else {
    switch (framing) {
      case BodyInfo::Kind::kLength:
        str_append(out, "content-length: ", head.body.length, "\r\n");
        break;
      case BodyInfo::Kind::kChunked:
      case BodyInfo::Kind::kUntilClose:
        if (client_version == Version::kHttp10 || framing == BodyInfo::Kind::kUntilClose) {
          // An HTTP/1.0 client knows no chunked coding: the body ends when we close.
          framing = BodyInfo::Kind::kUntilClose;
          keep_alive = false;
        } else {
          out->append("transfer-encoding: chunked\r\n");
        }
        break;
      case BodyInfo::Kind::kNone:
        if (head.status != 304) out->append("content-length: 0\r\n");
        break;
    }
  }
  if (head.status >= 200) {
    if (!keep_alive) out->append("connection: close\r\n");
    else if (client_version == Version::kHttp10) out->append("connection: keep-alive\r\n");
  }
  out->append("\r\n");
  return framing;
}

void append_chunk(std::string_view data, std::string* out) {
  if (data.empty()) return;
  static const char* kHex = "0123456789abcdef";
  char buf[17];
  size_t n = data.size();
  int i = 16;
  buf[i] = 0;
  do {
    buf[--i] = kHex[n & 15];
    n >>= 4;
  } while (n != 0);
  out->append(buf + i, static_cast<size_t>(16 - i));
  out->append("\r\n");
  out->append(data);
  out->append("\r\n");
}

absl::Status append_last_chunk(const HeaderMap& trailers, std::string* out) {
  out->append("0\r\n");
  for (const HeaderField& f : trailers) {
    if (absl::Status st = check_field(f); !st.ok()) return st;
    str_append(out, f.name, ": ", f.value, "\r\n");
  }
  out->append("\r\n");
  return absl::OkStatus();
}

std::string_view continue_response() { return "HTTP/1.1 100 Continue\r\n\r\n"; }

std::string simple_response(int status, std::string_view body, bool keep_alive, const HeaderMap& extra) {
  std::string out = str_cat("HTTP/1.1 ", status, " ", reason_phrase(status), "\r\n");
  for (const HeaderField& f : extra) {
    if (check_field(f).ok() && f.name != "content-length" && !is_hop_by_hop(f.name)) str_append(&out, f.name, ": ", f.value, "\r\n");
  }
  if (!body.empty()) out.append("content-type: text/plain\r\n");
  str_append(&out, "content-length: ", body.size(), "\r\n");
  if (!keep_alive) out.append("connection: close\r\n");
  out.append("\r\n");
  out.append(body);
  return out;
}

}  // namespace ambit::waypoint::http
