// libFuzzer target: the strict SPIFFE ID parser. Invariants checked on every input:
// a parsed ID formats back to exactly the input, and re-parses to the same value.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/identity/spiffe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto id = ambit::SpiffeId::parse(in);
  if (!id.ok()) {
    if (id.status().message().empty()) std::abort();  // every rejection must say why
    return 0;
  }
  if (id->to_string() != in) std::abort();
  auto again = ambit::SpiffeId::parse(id->to_string());
  if (!again.ok() || !(*again == *id)) std::abort();
  return 0;
}
