#include "istiod/config/directory_writer.h"

#include <dirent.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>

#include "common/base/strings.h"
#include "common/crypto/certificate.h"

namespace ambit::istiod {

std::string GeneratedObject::file_name() const {
  std::string k;
  for (char c : kind) k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return ns.empty() ? str_cat(k, "-", name, ".yaml") : str_cat(k, "-", ns, ".", name, ".yaml");
}

std::string DirectoryWriter::path(const std::string& kind, const std::string& file_name) const {
  bool workload = kind == "Deployment" || kind == "Pod";
  return str_cat(workload ? workloads_dir_ : config_dir_, "/", file_name);
}

absl::Status DirectoryWriter::apply(const GeneratedObject& obj) {
  std::string p = path(obj.kind, obj.file_name());
  auto cur = crypto::read_file(p);
  if (cur.ok() && *cur == obj.yaml) return absl::OkStatus();  // unchanged: no rewrite, no event
  return crypto::write_file_atomic(p, obj.yaml);
}

absl::Status DirectoryWriter::remove(const GeneratedKey& key) {
  GeneratedObject o{"", key.kind, key.ns, key.name, ""};
  std::string p = path(key.kind, o.file_name());
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(str_cat("unlink ", p, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GeneratedKey>> DirectoryWriter::list_labeled(const std::string& key,
                                                                         const std::string& value) {
  std::vector<GeneratedKey> out;
  for (const std::string& dir : {config_dir_, workloads_dir_}) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
      if (errno == ENOENT) continue;
      return absl::InternalError(str_cat("opendir ", dir, ": ", std::strerror(errno)));
    }
    std::vector<std::string> files;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n[0] != '.' && n.compare(n.size() - 5, 5, ".yaml") == 0) files.push_back(n);
    }
    ::closedir(d);
    for (const auto& f : files) {
      auto text = crypto::read_file(dir + "/" + f);
      if (!text.ok()) continue;
      try {
        for (const YAML::Node& doc : YAML::LoadAll(*text)) {
          if (!doc.IsMap() || !doc["metadata"].IsMap()) continue;
          YAML::Node md = doc["metadata"];
          YAML::Node labels = md["labels"];
          if (!labels.IsMap() || !labels[key] || !labels[key].IsScalar() || labels[key].Scalar() != value) continue;
          auto scalar = [](const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : std::string(); };
          out.push_back({scalar(doc["kind"]), scalar(md["namespace"]), scalar(md["name"])});
        }
      } catch (const YAML::Exception&) {
        // Not ours to judge: the directory source reports syntax errors.
      }
    }
  }
  return out;
}

}  // namespace ambit::istiod
