// The local mesh's object store: one YAML file per object in the state directory, as
// docs/local-mesh.md describes — config/ (istiod's watched directory), workloads/ (Pods and
// Deployments, the supervisor's input) and status/ (what istiod reports back: one file per object,
// same name as the object's file, holding `status`).
#pragma once

#include <memory>

#include "cli/local/plan.h"
#include "cli/object_store.h"

namespace ambit::cli {

class LocalObjectStore : public ObjectStore {
 public:
  explicit LocalObjectStore(MeshPlan plan) : plan_(std::move(plan)) {}

  absl::StatusOr<std::optional<Manifest>> get(std::string_view kind, std::string_view ns,
                                              std::string_view name) override;
  absl::StatusOr<std::vector<Manifest>> list(std::string_view kind, std::string_view ns) override;
  // Services without spec.clusterIP get a free VIP (a re-applied Service keeps its own); istiod's
  // rejections (GET /debug/config_rejections on its debug port) are rolled back.
  absl::StatusOr<std::vector<Applied>> apply(std::vector<Manifest> objects) override;
  absl::StatusOr<bool> remove(std::string_view kind, std::string_view ns, std::string_view name) override;

  // Where an object's file lives.
  std::string path_of(const Manifest& m) const;

 private:
  absl::StatusOr<Manifest> read_one(const std::string& path, const Manifest& key) const;
  void merge_status(Manifest& m) const;
  MeshPlan plan_;
};

// The store of the local mesh whose state directory is `dir` (NotFound if it was never up).
absl::StatusOr<std::unique_ptr<ObjectStore>> open_local_store(const std::string& dir);

}  // namespace ambit::cli
