// Local mode's ConfigWriter: generated objects become files, one object per file, named as
// `ambitctl local apply` names them (GeneratedObject::file_name). Deployments and Pods go to the
// supervisor's input directory (`<state>/workloads/`, which it polls and realizes as pods);
// everything else to istiod's watched config directory, where the directory source reads it back
// like any applied object. Files are written atomically (temporary file + rename, which the
// directory source sees as IN_MOVED_TO) and only when their content changes.
#pragma once

#include <string>

#include "istiod/config/source.h"

namespace ambit::istiod {

class DirectoryWriter final : public ConfigWriter {
 public:
  DirectoryWriter(std::string config_dir, std::string workloads_dir)
      : config_dir_(std::move(config_dir)), workloads_dir_(std::move(workloads_dir)) {}
  std::string name() const override { return "directories " + config_dir_ + ", " + workloads_dir_; }
  absl::Status apply(const GeneratedObject& obj) override;
  absl::Status remove(const GeneratedKey& key) override;
  absl::StatusOr<std::vector<GeneratedKey>> list_labeled(const std::string& key, const std::string& value) override;

  // The file an object of `kind` is stored in.
  std::string path(const std::string& kind, const std::string& file_name) const;

 private:
  std::string config_dir_, workloads_dir_;
};

}  // namespace ambit::istiod
