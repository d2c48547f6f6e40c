#include "waypoint/http/http1_syntax.h"

#include "common/base/strings.h"

namespace ambit::waypoint::http {

absl::Status HttpError::to_status() const {
  return absl::InvalidArgumentError(str_cat("HTTP ", status, ": ", reason));
}

namespace syntax {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}
bool is_unreserved(char c) { return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~'; }
bool is_sub_delim(char c) {
  switch (c) {
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+': case ',': case ';': case '=':
      return true;
    default:
      return false;
  }
}

std::string byte_name(char c) {
  static const char* kHex = "0123456789abcdef";
  auto u = static_cast<unsigned char>(c);
  return std::string("0x") + kHex[u >> 4] + kHex[u & 15];
}

}  // namespace

bool is_tchar(char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool is_field_value_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

LineScan scan_line(std::string_view in, size_t start, size_t* resume, size_t* eol) {
  size_t i = *resume > start ? *resume : start;
  for (; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\n') return LineScan::kBareLf;
    if (c == '\r') {
      if (i + 1 >= in.size()) {
        *resume = i;  // the CR's partner has not arrived yet: look at it again
        return LineScan::kNeedMore;
      }
      if (in[i + 1] != '\n') return LineScan::kBareCr;
      *eol = i;
      return LineScan::kFound;
    }
  }
  *resume = i;
  return LineScan::kNeedMore;
}

LimitedScan scan_line_limited(std::string_view in, size_t start, size_t limit, size_t* resume, size_t* eol) {
  size_t end = limit > in.size() - start ? in.size() : start + limit;
  switch (scan_line(in.substr(0, end), start, resume, eol)) {
    case LineScan::kFound:
      return LimitedScan::kFound;
    case LineScan::kBareLf:
      return LimitedScan::kBareLf;
    case LineScan::kBareCr:
      return LimitedScan::kBareCr;
    case LineScan::kNeedMore:
      return end - start >= limit ? LimitedScan::kTooLong : LimitedScan::kNeedMore;
  }
  return LimitedScan::kNeedMore;
}

std::optional<HttpError> parse_field_line(std::string_view line, std::string_view what, std::string_view* name,
                                          std::string_view* value) {
  if (line.front() == ' ' || line.front() == '\t') {
    return HttpError(400, str_cat("obsolete line folding (a ", what, " line starting with whitespace) is not allowed"));
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return HttpError(400, str_cat(what, " line without a colon: \"", printable(line.substr(0, 64)), "\""));
  }
  std::string_view n = line.substr(0, colon);
  if (n.empty()) return HttpError(400, str_cat("empty ", what, " name"));
  if (n.back() == ' ' || n.back() == '\t') {
    // RFC 9112 §5.1: a server MUST reject it; a proxy that trims it while the next hop does not
    // (or the reverse) disagrees about which header this is.
    return HttpError(400, str_cat("whitespace between ", what, " name \"", printable(trim(n)), "\" and the colon"));
  }
  for (char c : n) {
    if (!is_tchar(c)) {
      return HttpError(400, str_cat("invalid character ", byte_name(c), " in ", what, " name \"", printable(n.substr(0, 64)), "\""));
    }
  }
  std::string_view v = line.substr(colon + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  for (char c : v) {
    if (!is_field_value_char(c)) {
      return HttpError(400, str_cat("invalid character ", byte_name(c), " in the value of ", what, " \"", n, "\""));
    }
  }
  *name = n;
  *value = v;
  return std::nullopt;
}

std::optional<uint64_t> parse_content_length(std::string_view v) {
  if (v.empty() || v.size() > 18) return std::nullopt;
  uint64_t n = 0;
  for (char c : v) {
    if (!is_digit(c)) return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

std::optional<std::string> authority_error(std::string_view a) {
  if (a.empty()) return "empty host";
  std::string_view host = a;
  std::string_view port;
  bool has_port = false;
  if (a.front() == '[') {
    size_t close = a.find(']');
    if (close == std::string_view::npos) return "unterminated IPv6 literal";
    host = a.substr(1, close - 1);
    if (host.empty()) return "empty IPv6 literal";
    for (char c : host) {
      if (!is_hex(c) && c != ':' && c != '.') return str_cat("invalid character ", byte_name(c), " in an IPv6 literal");
    }
    std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "junk after an IPv6 literal";
      has_port = true;
      port = rest.substr(1);
    }
  } else {
    size_t colon = a.rfind(':');
    if (colon != std::string_view::npos) {
      host = a.substr(0, colon);
      port = a.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return "empty host";
    for (size_t i = 0; i < host.size(); ++i) {
      char c = host[i];
      if (c == '@') return "userinfo is not allowed in the authority";
      if (c == '%') {
        if (i + 2 >= host.size() || !is_hex(host[i + 1]) || !is_hex(host[i + 2])) return "invalid percent-encoding in host";
        i += 2;
        continue;
      }
      if (!is_unreserved(c) && !is_sub_delim(c)) return str_cat("invalid character ", byte_name(c), " in host");
    }
  }
  if (has_port) {
    if (port.empty()) return "empty port";
    if (port.size() > 5) return "port out of range";
    uint32_t p = 0;
    for (char c : port) {
      if (!is_digit(c)) return str_cat("invalid character ", byte_name(c), " in port");
      p = p * 10 + static_cast<uint32_t>(c - '0');
    }
    if (p > 65535) return "port out of range";
  }
  return std::nullopt;
}

std::optional<HttpError> parse_chunk_line(std::string_view line, uint64_t* size, size_t* ext_bytes) {
  size_t i = 0;
  uint64_t n = 0;
  while (i < line.size() && is_hex(line[i])) {
    if (i >= 16) return HttpError(400, "chunk size has more than 16 hex digits");
    n = (n << 4) | static_cast<uint64_t>(hex_value(line[i]));
    ++i;
  }
  if (i == 0) return HttpError(400, str_cat("invalid chunk size \"", printable(line.substr(0, 32)), "\""));
  // 2^62: far beyond any real body, and it keeps every sum with it below 2^63.
  if (n > (uint64_t{1} << 62)) return HttpError(400, "chunk size too large");
  std::string_view ext = line.substr(i);
  *ext_bytes = ext.size();
  // chunk-ext = *( ";" token [ "=" ( token / quoted-string ) ] ), without whitespace.
  size_t j = 0;
  while (j < ext.size()) {
    if (ext[j] != ';') {
      return HttpError(400, str_cat("invalid character ", byte_name(ext[j]), " after the chunk size"));
    }
    ++j;
    size_t name_start = j;
    while (j < ext.size() && is_tchar(ext[j])) ++j;
    if (j == name_start) return HttpError(400, "empty chunk extension name");
    if (j < ext.size() && ext[j] == '=') {
      ++j;
      if (j < ext.size() && ext[j] == '"') {
        ++j;
        bool closed = false;
        while (j < ext.size()) {
          char c = ext[j];
          if (c == '"') {
            closed = true;
            ++j;
            break;
          }
          if (c == '\\') {
            if (j + 1 >= ext.size() || !is_field_value_char(ext[j + 1])) return HttpError(400, "invalid quoted-pair in a chunk extension");
            j += 2;
            continue;
          }
          if (!is_field_value_char(c)) return HttpError(400, str_cat("invalid character ", byte_name(c), " in a chunk extension"));
          ++j;
        }
        if (!closed) return HttpError(400, "unterminated quoted chunk extension value");
      } else {
        size_t v_start = j;
        while (j < ext.size() && is_tchar(ext[j])) ++j;
        if (j == v_start) return HttpError(400, "empty chunk extension value");
      }
    }
  }
  *size = n;
  return std::nullopt;
}

}  // namespace syntax
}  // namespace ambit::waypoint::http
