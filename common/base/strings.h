// String helpers that accept std::string_view. Debian's Abseil is built with its own
// absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW=0), so absl::StrCat/StrSplit do not take
// std::string_view; Ambit code uses these instead.
//
//   std::string m = str_cat("pod ", ns, "/", name, " has ", n, " ports");
//   for (std::string_view part : split("a,b,,c", ',')) ...      // {"a","b","","c"}
//   std::string s = join(parts, ", ");
#pragma once

#include <charconv>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/strings/string_view.h"

namespace ambit {

namespace strings_internal {
inline void append(std::string* out, std::string_view s) { out->append(s.data(), s.size()); }
inline void append(std::string* out, absl::string_view s) { out->append(s.data(), s.size()); }
inline void append(std::string* out, const std::string& s) { out->append(s); }
inline void append(std::string* out, const char* s) { out->append(s); }
inline void append(std::string* out, char c) { out->push_back(c); }
inline void append(std::string* out, bool b) { out->append(b ? "true" : "false"); }
template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, char> && !std::is_same_v<T, bool>)
void append(std::string* out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}
void append(std::string* out, double v);
template <typename E>
  requires std::is_enum_v<E>
void append(std::string* out, E v) {
  append(out, static_cast<std::underlying_type_t<E>>(v));
}
}  // namespace strings_internal

template <typename... Args>
std::string str_cat(const Args&... args) {
  std::string out;
  (strings_internal::append(&out, args), ...);
  return out;
}

template <typename... Args>
void str_append(std::string* out, const Args&... args) {
  (strings_internal::append(out, args), ...);
}

// Splits on every `sep`, keeping empty pieces. Pieces view into `s`.
std::vector<std::string_view> split(std::string_view s, char sep);
// Splits and drops empty pieces.
std::vector<std::string_view> split_nonempty(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string_view trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
// "\x00"-style escape of non-printable bytes, for error messages quoting untrusted input.
std::string printable(std::string_view s);
// Lower-case hex of bytes.
std::string hex(std::string_view bytes);

// Conversions across the two string_view types.
inline absl::string_view to_absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view to_std(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace ambit
