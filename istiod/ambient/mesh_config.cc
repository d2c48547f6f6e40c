#include "istiod/ambient/mesh_config.h"

namespace ambit::istiod::ambient {

std::optional<PathNormalization> parse_path_normalization(std::string_view s) {
  // Istio's ProxyConfig enum also has DEFAULT, which means BASE.
  if (s == "BASE" || s == "DEFAULT") return PathNormalization::kBase;
  if (s == "NONE") return PathNormalization::kNone;
  if (s == "MERGE_SLASHES") return PathNormalization::kMergeSlashes;
  if (s == "DECODE_AND_MERGE_SLASHES") return PathNormalization::kDecodeAndMergeSlashes;
  return std::nullopt;
}

const char* path_normalization_name(PathNormalization p) {
  switch (p) {
    case PathNormalization::kBase: return "BASE";
    case PathNormalization::kNone: return "NONE";
    case PathNormalization::kMergeSlashes: return "MERGE_SLASHES";
    case PathNormalization::kDecodeAndMergeSlashes: return "DECODE_AND_MERGE_SLASHES";
  }
  return "BASE";
}

}  // namespace ambit::istiod::ambient
