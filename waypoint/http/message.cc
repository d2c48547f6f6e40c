#include "waypoint/http/message.h"

#include <algorithm>

namespace ambit::waypoint::http {

std::string_view version_name(Version v) {
  switch (v) {
    case Version::kHttp10:
      return "HTTP/1.0";
    case Version::kHttp11:
      return "HTTP/1.1";
    case Version::kHttp2:
      return "HTTP/2";
  }
  return "HTTP/?";
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  fields_.push_back(HeaderField{ascii_lower(name), std::string(value)});
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  remove(ascii_lower(name));
  add(name, value);
}

size_t HeaderMap::remove(std::string_view name) {
  std::string lower = ascii_lower(name);
  auto it = std::remove_if(fields_.begin(), fields_.end(), [&](const HeaderField& f) { return f.name == lower; });
  size_t n = static_cast<size_t>(fields_.end() - it);
  fields_.erase(it, fields_.end());
  return n;
}

std::optional<std::string_view> HeaderMap::get(std::string_view name) const {
  for (const auto& f : fields_) {
    if (f.name == name) return std::string_view(f.value);
  }
  return std::nullopt;
}

std::vector<std::string_view> HeaderMap::get_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& f : fields_) {
    if (f.name == name) out.emplace_back(f.value);
  }
  return out;
}

size_t HeaderMap::count(std::string_view name) const {
  return static_cast<size_t>(std::count_if(fields_.begin(), fields_.end(), [&](const HeaderField& f) { return f.name == name; }));
}

size_t HeaderMap::bytes() const {
  size_t n = 0;
  for (const auto& f : fields_) n += f.name.size() + f.value.size();
  return n;
}

bool is_hop_by_hop(std::string_view n) {
  return n == "connection" || n == "keep-alive" || n == "proxy-connection" || n == "te" ||
         n == "transfer-encoding" || n == "upgrade" || n == "http2-settings";
}

bool response_has_body(std::string_view method, int status) {
  if (method == "HEAD") return false;
  if (status >= 100 && status < 200) return false;
  return status != 204 && status != 304;
}

}  // namespace ambit::waypoint::http
