// Pieces both HTTP/2 codecs (server and client) share: building nghttp2 name/value pairs from
// the model, and checking outgoing fields the model may have picked up from filters.
#pragma once

#include <nghttp2/nghttp2.h>

#include <string_view>

#include "absl/status/status.h"
#include "common/base/strings.h"
#include "waypoint/http/http1_syntax.h"
#include "waypoint/http/message.h"

namespace ambit::waypoint::http::h2 {

// Views, not temporaries: nghttp2 copies the pairs inside the submit call.
inline nghttp2_nv nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

inline std::string_view sv(const uint8_t* p, size_t n) { return std::string_view(reinterpret_cast<const char*>(p), n); }

// Fields an HTTP/2 message must not carry (RFC 9113 §8.2.2) or that the codec writes itself.
inline bool skip_on_output(std::string_view name) {
  return is_hop_by_hop(name) || name == "content-length" || name == "host" || (!name.empty() && name.front() == ':');
}

inline absl::Status check_output_field(const HeaderField& f) {
  if (!syntax::is_token(f.name)) return absl::InvalidArgumentError(str_cat("invalid header name \"", printable(f.name), "\""));
  for (char c : f.name) {
    if (c >= 'A' && c <= 'Z') return absl::InvalidArgumentError(str_cat("upper-case header name \"", f.name, "\" in HTTP/2"));
  }
  for (char c : f.value) {
    if (!syntax::is_field_value_char(c)) {
      return absl::InvalidArgumentError(str_cat("invalid character in the value of header \"", f.name, "\""));
    }
  }
  return absl::OkStatus();
}

}  // namespace ambit::waypoint::http::h2
