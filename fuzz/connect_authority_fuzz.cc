// libFuzzer target: the HBONE CONNECT :authority parser and the traceparent parser
// (common/hbone/headers.h), both fed straight from the network. Invariants on every input:
//  - every rejection says why;
//  - an accepted authority is within bounds, formats back to an authority that re-parses to the
//    same value, and a hostname destination is a non-empty substring of the input;
//  - an accepted traceparent formats back to the first 55 characters of the input.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/hbone/headers.h"

namespace {

void check_authority(std::string_view in) {
  using ambit::hbone::HboneAddress;
  auto a = ambit::hbone::parse_connect_authority(in);
  if (!a.ok()) {
    if (a.status().message().empty()) std::abort();
    return;
  }
  if (in.size() > HboneAddress::kMaxAuthorityLength || a->port == 0) std::abort();
  if (a->is_hostname() == a->hostname.empty()) std::abort();  // exactly one form
  if (a->is_hostname() && in.find(a->hostname) != 0) std::abort();
  std::string out = a->to_string();
  auto again = ambit::hbone::parse_connect_authority(out);
  if (!again.ok() || !(*again == *a) || again->to_string() != out) std::abort();
}

void check_traceparent(std::string_view in) {
  auto t = ambit::hbone::parse_traceparent(in);
  if (!t.ok()) {
    if (t.status().message().empty()) std::abort();
    return;
  }
  if (t->to_string() != in.substr(0, 55)) std::abort();
  if (t->parent_id == 0 || t->version == 0xff) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check_authority(in);
  check_traceparent(in);
  return 0;
}
