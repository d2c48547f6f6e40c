#include "waypoint/l7/http_message.h"

#include <algorithm>

#include "common/base/strings.h"

namespace ambit::waypoint::l7 {
namespace {

char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// RFC 9110 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower_ascii(c);
  return out;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
  }
  return true;
}

HeaderMap::HeaderMap(std::initializer_list<std::pair<std::string_view, std::string_view>> init) {
  for (const auto& [n, v] : init) add(n, v);
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  entries_.push_back(Header{to_lower(name), std::string(value)});
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  remove(name);
  add(name, value);
}

void HeaderMap::remove(std::string_view name) {
  std::erase_if(entries_, [&](const Header& h) { return equals_ignore_case(h.name, name); });
}

std::vector<std::string_view> HeaderMap::get_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const Header& h : entries_) {
    if (equals_ignore_case(h.name, name)) out.emplace_back(h.value);
  }
  return out;
}

std::optional<std::string_view> HeaderMap::get(std::string_view name) const {
  for (const Header& h : entries_) {
    if (equals_ignore_case(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

bool HeaderMap::has(std::string_view name) const { return get(name).has_value(); }

std::string host_without_port(std::string_view authority) {
  std::string_view host = authority;
  if (host.starts_with('[')) {
    size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  return to_lower(host);
}

std::optional<uint16_t> authority_port(std::string_view authority) {
  size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  if (size_t close = authority.rfind(']'); close != std::string_view::npos && close > colon) {
    return std::nullopt;
  }
  std::string_view digits = authority.substr(colon + 1);
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  uint32_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

absl::Status validate_method(std::string_view method) {
  if (method.empty()) return absl::InvalidArgumentError("method: empty");
  for (char c : method) {
    if (!is_tchar(c)) {
      return absl::InvalidArgumentError(
          str_cat("method \"", printable(method), "\": not an RFC 9110 token"));
    }
    if (c >= 'a' && c <= 'z') {
      return absl::InvalidArgumentError(
          str_cat("method \"", printable(method), "\": lower case (methods are case-sensitive)"));
    }
  }
  return absl::OkStatus();
}

absl::Status validate_header(std::string_view name, std::string_view value) {
  if (name.empty()) return absl::InvalidArgumentError("header: empty name");
  for (char c : name) {
    if (!is_tchar(c)) {
      return absl::InvalidArgumentError(
          str_cat("header \"", printable(name), "\": name is not an RFC 9110 token"));
    }
  }
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\0' || c == '\r' || c == '\n') {
      return absl::InvalidArgumentError(str_cat("header \"", name, "\": value has ",
                                                c == '\0' ? "NUL" : (c == '\r' ? "CR" : "LF"),
                                                " at offset ", i));
    }
  }
  return absl::OkStatus();
}

}  // namespace ambit::waypoint::l7
