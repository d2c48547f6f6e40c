#include "waypoint/l7/path_normalize.h"

#include <vector>

#include "common/base/strings.h"

namespace ambit::waypoint::l7 {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 §2.3.
bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

std::string byte_error(std::string_view what, unsigned char c, size_t at) {
  static const char kHex[] = "0123456789abcdef";
  return str_cat("path: ", what, " byte 0x", kHex[c >> 4], kHex[c & 15], " at offset ", at);
}

// Percent-decoding pass of the normalizing modes (see the header).
absl::StatusOr<std::string> decode(std::string_view p, bool decode_slashes) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\') {
      out.push_back('/');
      continue;
    }
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    int hi = i + 1 < p.size() ? hex_value(p[i + 1]) : -1;
    int lo = i + 2 < p.size() ? hex_value(p[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          str_cat("path: invalid percent-encoding at offset ", i, " (\"",
                  printable(p.substr(i, 3)), "\")"));
    }
    auto v = static_cast<unsigned char>(hi * 16 + lo);
    if (v == 0) {
      return absl::InvalidArgumentError(str_cat("path: encoded NUL (%00) at offset ", i));
    }
    if (is_unreserved(v)) {
      out.push_back(static_cast<char>(v));
    } else if (decode_slashes && (v == '/' || v == '\\')) {
      out.push_back('/');
    } else {
      out.push_back('%');
      out.push_back(kHex[v >> 4]);
      out.push_back(kHex[v & 15]);
    }
    i += 2;
  }
  return out;
}

std::string merge_slashes(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  for (char c : p) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  return out;
}

}  // namespace

const char* to_string(PathNormalization mode) {
  switch (mode) {
    case PathNormalization::kNone:
      return "NONE";
    case PathNormalization::kBase:
      return "BASE";
    case PathNormalization::kMergeSlashes:
      return "MERGE_SLASHES";
    case PathNormalization::kDecodeAndMergeSlashes:
      return "DECODE_AND_MERGE_SLASHES";
  }
  return "?";
}

std::string remove_dot_segments(std::string_view path) {
  // Segment stack form of §5.2.4 for a path starting with '/': "." drops itself, ".." drops
  // the previous segment (an empty one too, as the RFC's buffer algorithm does); either one as
  // the last segment leaves a trailing '/'.
  std::vector<std::string_view> out;
  std::string_view rest = path.substr(1);
  std::vector<std::string_view> segs = split(rest, '/');
  for (size_t i = 0; i < segs.size(); ++i) {
    bool last = i + 1 == segs.size();
    std::string_view s = segs[i];
    if (s == "." || s == "..") {
      if (s == ".." && !out.empty()) out.pop_back();
      if (last) out.emplace_back();
      continue;
    }
    out.push_back(s);
  }
  std::string result = "/";
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0) result.push_back('/');
    result.append(out[i]);
  }
  return result;
}

absl::StatusOr<NormalizedPath> normalize_path(std::string_view target, PathNormalization mode) {
  for (size_t i = 0; i < target.size(); ++i) {
    auto c = static_cast<unsigned char>(target[i]);
    if (c <= 0x20 || c == 0x7f) return absl::InvalidArgumentError(byte_error("control", c, i));
    if (c >= 0x80) return absl::InvalidArgumentError(byte_error("non-ASCII", c, i));
  }
  if (!target.starts_with('/')) {
    return absl::InvalidArgumentError(
        str_cat("path: \"", printable(target.substr(0, 64)), "\" does not start with '/'"));
  }
  NormalizedPath out;
  size_t end = target.find_first_of("?#");
  std::string_view raw = target.substr(0, end);
  if (end != std::string_view::npos && target[end] == '?') {
    std::string_view q = target.substr(end + 1);
    out.query = std::string(q.substr(0, q.find('#')));
    out.has_query = true;
  }
  if (mode == PathNormalization::kNone) {
    out.path = std::string(raw);
    return out;
  }
  auto decoded = decode(raw, mode == PathNormalization::kDecodeAndMergeSlashes);
  if (!decoded.ok()) return decoded.status();
  out.path = remove_dot_segments(*decoded);
  if (mode != PathNormalization::kBase) out.path = merge_slashes(out.path);
  return out;
}

}  // namespace ambit::waypoint::l7
