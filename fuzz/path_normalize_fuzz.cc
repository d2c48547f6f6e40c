// libFuzzer target: request-path normalization (waypoint/l7/path_normalize.h), fed straight from
// :path. Invariants, in every mode, on every input:
//  - a rejection says why;
//  - an accepted path starts with '/', has no '?', '#' or byte outside 0x21..0x7e, and
//    normalizing its forwarded form again gives the same forwarded form (twice == once);
//  - outside NONE: no "." or ".." segment, no '\', no "%00";
//  - under MERGE_SLASHES and DECODE_AND_MERGE_SLASHES: no "//";
//  - under DECODE_AND_MERGE_SLASHES: no escaped slash or backslash left ("%2F", "%5C").
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "waypoint/l7/path_normalize.h"

namespace {

using ambit::waypoint::l7::normalize_path;
using ambit::waypoint::l7::PathNormalization;

bool has_dot_segment(std::string_view p) {
  size_t start = 0;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    std::string_view seg = p.substr(start, slash == std::string_view::npos ? std::string_view::npos
                                                                         : slash - start);
    if (seg == "." || seg == "..") return true;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return false;
}

bool contains_ci(std::string_view s, std::string_view needle) {
  for (size_t i = 0; i + needle.size() <= s.size(); ++i) {
    bool eq = true;
    for (size_t j = 0; j < needle.size() && eq; ++j) {
      char a = s[i + j], b = needle[j];
      if (a >= 'a' && a <= 'z') a = static_cast<char>(a - 'a' + 'A');
      eq = a == b;
    }
    if (eq) return true;
  }
  return false;
}

void check(std::string_view in, PathNormalization mode) {
  auto r = normalize_path(in, mode);
  if (!r.ok()) {
    if (r.status().message().empty()) std::abort();
    return;
  }
  const std::string& p = r->path;
  if (p.empty() || p[0] != '/') std::abort();
  for (char c : p) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '?' || c == '#') std::abort();
  }
  auto again = normalize_path(r->forward(), mode);
  if (!again.ok() || again->forward() != r->forward() || again->path != p) std::abort();
  if (mode == PathNormalization::kNone) return;
  if (has_dot_segment(p) || p.find('\\') != std::string::npos || p.find("%00") != std::string::npos) {
    std::abort();
  }
  if (mode != PathNormalization::kBase && p.find("//") != std::string::npos) std::abort();
  if (mode == PathNormalization::kDecodeAndMergeSlashes &&
      (contains_ci(p, "%2F") || contains_ci(p, "%5C"))) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (PathNormalization m : {PathNormalization::kNone, PathNormalization::kBase,
                              PathNormalization::kMergeSlashes,
                              PathNormalization::kDecodeAndMergeSlashes}) {
    check(in, m);
  }
  return 0;
}
