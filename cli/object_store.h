// Where ambitctl reads and writes mesh objects. Commands that manage objects (`dataplane`,
// `waypoint`) talk to this interface only, so the Kubernetes mode swaps the store (an API client)
// and keeps the commands. The local mesh's store is cli/local/local_store.h.
//
// Objects are Kubernetes-shaped manifests; `get` and `list` return them with `status` filled in
// from whoever reports it (istiod's status writer in the local mesh, the API server's status
// subresource in Kubernetes).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/local/manifest.h"

namespace ambit::cli {

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  struct Applied {
    std::string what;   // "gateway/waypoint"
    std::string verb;   // created | configured | unchanged | rejected
    std::string error;  // why istiod rejected it (verb == "rejected")
    bool kept_previous = false;  // rejected: an earlier version stays in force (else nothing does)
  };

  // NotFound is not an error: nullopt.
  virtual absl::StatusOr<std::optional<Manifest>> get(std::string_view kind, std::string_view ns,
                                                      std::string_view name) = 0;
  // Every object of `kind` in `ns` ("" = all namespaces), sorted by namespace then name.
  virtual absl::StatusOr<std::vector<Manifest>> list(std::string_view kind, std::string_view ns) = 0;
  // Creates or replaces each object. What the control plane rejects is rolled back (the previous
  // version, or nothing, stays in force) and reported in the result, not as an error; an error
  // means nothing could be written.
  virtual absl::StatusOr<std::vector<Applied>> apply(std::vector<Manifest> objects) = 0;
  // Whether the object existed.
  virtual absl::StatusOr<bool> remove(std::string_view kind, std::string_view ns, std::string_view name) = 0;
};

}  // namespace ambit::cli
