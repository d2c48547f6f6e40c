#include "istiod/ambient/resource.h"

#include <cstdio>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace ambit::istiod::ambient {

std::string deterministic_bytes(const google::protobuf::Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&cos);
  }
  return out;
}

ResourcePtr make_resource(std::string name, std::string type_url, const google::protobuf::Message& m,
                          std::vector<std::string> aliases) {
  auto r = std::make_shared<Resource>();
  r->name = std::move(name);
  r->type_url = std::move(type_url);
  r->bytes = deterministic_bytes(m);
  r->aliases = std::move(aliases);
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : r->bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  r->version = buf;
  return r;
}

}  // namespace ambit::istiod::ambient
