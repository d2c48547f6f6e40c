// Request-path normalization before routing and authorization, with Istio's modes
// (meshConfig.pathNormalization; istio.io/latest/docs/reference/config/security/normalization):
//
//   NONE                      the path is used as received (up to '?' or '#').
//   BASE (default)            RFC 3986 §6.2.2: percent-encoded unreserved characters decoded
//                             ("%61" → "a"), other escapes upper-cased ("%2f" → "%2F"),
//                             '\' → '/', then dot segments removed (§5.2.4).
//   MERGE_SLASHES             BASE, then runs of '/' merged ("//admin" → "/admin").
//   DECODE_AND_MERGE_SLASHES  "%2F"/"%5C" (any case) decoded to '/' first, then MERGE_SLASHES.
//
// In every mode the query and fragment are cut off before matching (CVE-2020-8595: "/admin?x"
// and "/admin#x" must match rules for "/admin"; CVE-2021-39156), the fragment is dropped for
// good, and the query is kept for forwarding. The normalized path is both what routes and
// policies match and what is forwarded upstream, so the backend never sees a path the policy
// did not.
//
//   AMBIT_ASSIGN_OR_RETURN(NormalizedPath p, normalize_path(req.path, PathNormalization::kBase));
//   match(p.path);  upstream(p.forward());   // on error: answer 400 with the message
//
// Refused (400), in every mode: a target not starting with '/', control bytes, space, DEL and
// non-ASCII bytes (a codec should already refuse them). In the normalizing modes also: an
// invalid escape ("%", "%4", "%zz") and "%00" (an encoded NUL).
//
// Invariants (fuzzed): normalizing the forwarded form again gives the same result; the path
// starts with '/', has no "." or ".." segment unless NONE, and no "//" under the MERGE modes.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ambit::waypoint::l7 {

enum class PathNormalization { kNone, kBase, kMergeSlashes, kDecodeAndMergeSlashes };

const char* to_string(PathNormalization mode);

struct NormalizedPath {
  std::string path;        // what routes and policies match: no query, no fragment
  std::string query;       // after '?', without it; the fragment removed
  bool has_query = false;  // "?" present (even with an empty query)

  // What is sent upstream as :path.
  std::string forward() const { return has_query ? path + "?" + query : path; }
};

absl::StatusOr<NormalizedPath> normalize_path(std::string_view target, PathNormalization mode);

// RFC 3986 §5.2.4 on an absolute path ("/a/b/../c" → "/a/c"); exposed for tests.
std::string remove_dot_segments(std::string_view path);

}  // namespace ambit::waypoint::l7
