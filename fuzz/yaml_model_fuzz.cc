// libFuzzer target: istiod's YAML config parser on arbitrary text, then the ambient index over
// whatever it accepted. Invariants on every input:
//  - parse_yaml never throws or crashes: a syntax error is an INVALID_ARGUMENT naming the
//    source; otherwise each document is an object, a rejection with a reason, or a notice;
//  - every accepted object has a name, a source inside "fuzz.yaml" and a fingerprint;
//  - the accepted objects can be indexed (resync), and every resource the index lists is
//    findable by its name.
#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/status/status.h"
#include "istiod/ambient/index.h"
#include "istiod/ambient/resource.h"
#include "istiod/config/yaml_parser.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The index serializes what it builds, and protobuf logs every invalid-UTF-8 string it meets.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = ambit::istiod::parse_yaml(text, "fuzz.yaml");
  if (!r.ok()) {
    require(r.status().code() == absl::StatusCode::kInvalidArgument);
    require(r.status().message().find("fuzz.yaml") != std::string_view::npos);
    return 0;
  }
  for (const auto& rej : r->rejections) {
    require(!rej.reason.empty());
    require(rej.source.rfind("fuzz.yaml#", 0) == 0);
    require(!rej.to_string().empty());
  }
  for (const auto& obj : r->objects) {
    require(obj != nullptr);
    require(!obj->meta.name.empty());
    require(obj->source.rfind("fuzz.yaml#", 0) == 0);
    require(!obj->fingerprint.empty());
  }
  ambit::istiod::ambient::AmbientIndex index{ambit::istiod::ambient::MeshConfig{}};
  ambit::istiod::ambient::Changes changes = index.resync(r->objects);
  for (const auto& name : changes.addresses) {
    (void)index.find(ambit::istiod::ambient::kAddressType, name);
  }
  for (const auto& name : changes.authorizations) {
    (void)index.find(ambit::istiod::ambient::kAuthorizationType, name);
  }
  for (const char* type : {ambit::istiod::ambient::kAddressType, ambit::istiod::ambient::kAuthorizationType}) {
    for (const auto& res : index.all(type)) {
      require(res != nullptr && !res->name.empty() && res->type_url == type);
      require(index.find(type, res->name) != nullptr);
    }
  }
  return 0;
}
