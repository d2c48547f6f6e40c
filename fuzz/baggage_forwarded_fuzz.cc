// libFuzzer target: the `baggage` and `forwarded` header parsers of HBONE CONNECT
// (common/hbone/headers.h). The input is split on '\n' into repeated header values.
// Invariants on every input:
//  - every rejection says why;
//  - a parsed Baggage holds only printable ASCII, names a workload kind exactly when it has a
//    workload name, and survives build -> parse unchanged (when the built header fits the limit);
//  - a parsed forwarded host is non-empty, printable, and survives build_forwarded -> parse.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/strings.h"
#include "common/hbone/headers.h"

namespace {

bool printable_ascii(const std::string& s, bool allow_tab) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x7f || (u < 0x20 && !(allow_tab && c == '\t'))) return false;
  }
  return true;
}

void check_baggage(std::string_view in) {
  using ambit::hbone::Baggage;
  auto b = ambit::hbone::parse_baggage(ambit::split(in, '\n'));
  if (!b.ok()) {
    if (b.status().message().empty()) std::abort();
    return;
  }
  for (const std::string* f : {&b->cluster_id, &b->ns, &b->workload_name, &b->workload_type,
                               &b->service_name, &b->revision, &b->region, &b->zone}) {
    if (!printable_ascii(*f, false)) std::abort();
  }
  if (b->workload_name.empty() != b->workload_type.empty()) std::abort();
  std::string built = ambit::hbone::build_baggage(*b);
  if (built.size() > Baggage::kMaxLength) return;
  auto again = ambit::hbone::parse_baggage(built);
  if (!again.ok() || !(*again == *b)) std::abort();
}

void check_forwarded(std::string_view in) {
  auto h = ambit::hbone::parse_forwarded_host(in);
  if (!h.ok()) {
    if (h.status().message().empty()) std::abort();
    return;
  }
  if (!h->has_value()) return;
  const std::string& host = **h;
  if (host.empty() || !printable_ascii(host, true)) std::abort();
  ambit::net::SocketAddr src;
  src.port = 1;
  std::string built = ambit::hbone::build_forwarded(src, host);
  if (built.size() > ambit::hbone::kMaxForwardedLength) return;  // escaping grew it
  auto again = ambit::hbone::parse_forwarded_host(built);
  if (!again.ok() || !again->has_value() || **again != host) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check_baggage(in);
  check_forwarded(in);
  return 0;
}
