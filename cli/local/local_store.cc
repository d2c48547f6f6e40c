#include "cli/local/local_store.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/local/node_http.h"
#include "common/base/files.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"

namespace ambit::cli {

namespace {

Manifest key_of(std::string_view kind, std::string_view ns, std::string_view name) {
  Manifest m;
  m.kind = std::string(kind);
  m.ns = std::string(ns);
  m.name = std::string(name);
  return m;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string LocalObjectStore::path_of(const Manifest& m) const {
  return (m.workload() ? plan_.workloads_dir() : plan_.config_dir()) + "/" + m.file_name();
}

absl::StatusOr<Manifest> LocalObjectStore::read_one(const std::string& path, const Manifest& key) const {
  AMBIT_ASSIGN_OR_RETURN(std::string text, crypto::read_file(path));
  AMBIT_ASSIGN_OR_RETURN(auto ms, parse_manifests(text, path, key.ns.empty() ? "default" : key.ns));
  if (ms.size() != 1 || ms[0].kind != key.kind) {
    return absl::DataLossError(str_cat(path, " does not hold exactly one ", key.kind));
  }
  Manifest m = std::move(ms[0]);
  merge_status(m);
  return m;
}

void LocalObjectStore::merge_status(Manifest& m) const {
  auto text = crypto::read_file(plan_.status_dir() + "/" + m.file_name());
  if (!text.ok()) return;  // nothing reported (yet)
  try {
    YAML::Node doc = YAML::Load(*text);
    if (doc && doc["status"]) m.node["status"] = doc["status"];
  } catch (const YAML::Exception&) {
    // A status file being replaced is renamed into place, so a parse error means a foreign file;
    // the object is still returned, without status.
  }
}

absl::StatusOr<std::optional<Manifest>> LocalObjectStore::get(std::string_view kind, std::string_view ns,
                                                              std::string_view name) {
  Manifest key = key_of(kind, ns, name);
  std::string path = path_of(key);
  if (::access(path.c_str(), F_OK) != 0) return std::optional<Manifest>();
  AMBIT_ASSIGN_OR_RETURN(Manifest m, read_one(path, key));
  return std::optional<Manifest>(std::move(m));
}

absl::StatusOr<std::vector<Manifest>> LocalObjectStore::list(std::string_view kind, std::string_view ns) {
  Manifest probe = key_of(kind, ns, "x");
  std::string dir = probe.workload() ? plan_.workloads_dir() : plan_.config_dir();
  std::string prefix = lower(std::string(kind)) + "-";
  if (!ns.empty() && probe.namespaced()) prefix += std::string(ns) + ".";
  std::vector<Manifest> out;
  for (const auto& f : list_dir(dir, ".yaml")) {
    if (f.rfind(prefix, 0) != 0) continue;
    auto text = crypto::read_file(dir + "/" + f);
    if (!text.ok()) continue;  // deleted between listing and reading
    AMBIT_ASSIGN_OR_RETURN(auto ms, parse_manifests(*text, dir + "/" + f, "default"));
    for (auto& m : ms) {
      if (m.kind != kind || (!ns.empty() && m.namespaced() && m.ns != ns)) continue;
      merge_status(m);
      out.push_back(std::move(m));
    }
  }
  std::sort(out.begin(), out.end(), [](const Manifest& a, const Manifest& b) {
    return std::tie(a.ns, a.name) < std::tie(b.ns, b.name);
  });
  return out;
}

absl::StatusOr<std::vector<ObjectStore::Applied>> LocalObjectStore::apply(std::vector<Manifest> objects) {
  // VIPs already handed out, so a new Service never takes one (and a re-applied one keeps its own).
  std::set<std::string> used;
  std::map<std::string, std::string> existing_vip;
  for (const auto& f : list_dir(plan_.config_dir(), ".yaml")) {
    if (f.rfind("service-", 0) != 0) continue;
    auto text = crypto::read_file(plan_.config_dir() + "/" + f);
    auto ms = text.ok() ? parse_manifests(*text, f, "default") : absl::StatusOr<std::vector<Manifest>>(text.status());
    if (!ms.ok()) continue;
    for (auto& m : *ms) {
      std::string ip = m.node["spec"] && m.node["spec"]["clusterIP"] ? m.node["spec"]["clusterIP"].as<std::string>() : "";
      if (!ip.empty()) {
        used.insert(ip);
        existing_vip[m.ns + "/" + m.name] = ip;
      }
    }
  }
  struct Written {
    Applied result;
    std::string file, path;
    std::optional<std::string> previous;  // nullopt: the object is new
  };
  std::vector<Written> written;
  for (auto& m : objects) {
    // Status is reported by istiod, never applied.
    m.node.remove("status");
    if (m.kind == "Service") {
      auto it = existing_vip.find(m.ns + "/" + m.name);
      if (it != existing_vip.end() && !(m.node["spec"]["clusterIP"])) m.node["spec"]["clusterIP"] = it->second;
      AMBIT_RETURN_IF_ERROR(assign_cluster_ip(m, used));
    }
    Written w{{str_cat(lower(m.kind), "/", m.name), "", ""}, m.file_name(), path_of(m), std::nullopt};
    std::string text = m.yaml();
    auto old = crypto::read_file(w.path);
    if (old.ok()) w.previous = *old;
    w.result.verb = !old.ok() ? "created" : *old == text ? "unchanged" : "configured";
    if (w.result.verb != "unchanged") AMBIT_RETURN_IF_ERROR(crypto::write_file_atomic(w.path, text));
    written.push_back(std::move(w));
  }
  // istiod validates what it reads. What it rejects is taken back — the previous version (or
  // nothing) stays in force, as with a rejected `kubectl apply` — and reported.
  bool any_written = std::any_of(written.begin(), written.end(), [](const Written& w) { return w.result.verb != "unchanged"; });
  if (any_written) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto r = http_get_in_netns(plan_.node_netns(1), 15014, "/debug/config_rejections");
    auto rej = r.ok() && r->status == 200 ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json::array();
    for (const auto& x : rej.is_array() ? rej : nlohmann::json::array()) {
      std::string src = x.value("source", "");
      for (auto& w : written) {
        if (w.result.verb == "unchanged" || w.result.verb == "rejected" || src.find(w.file) == std::string::npos) continue;
        if (w.previous) {
          (void)crypto::write_file_atomic(w.path, *w.previous);
        } else {
          ::unlink(w.path.c_str());
        }
        w.result.verb = "rejected";
        w.result.error = str_cat(x.value("kind", ""), " ", x.value("namespace", ""), "/", x.value("name", ""), ": ",
                                 x.value("reason", ""));
        w.result.kept_previous = w.previous.has_value();
      }
    }
  }
  std::vector<Applied> out;
  for (auto& w : written) out.push_back(std::move(w.result));
  return out;
}

absl::StatusOr<bool> LocalObjectStore::remove(std::string_view kind, std::string_view ns, std::string_view name) {
  Manifest key = key_of(kind, ns, name);
  if (::unlink(path_of(key).c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  return absl::InternalError(str_cat("cannot delete ", path_of(key), ": ", std::strerror(errno)));
}

absl::StatusOr<std::unique_ptr<ObjectStore>> open_local_store(const std::string& dir) {
  AMBIT_ASSIGN_OR_RETURN(MeshPlan plan, MeshPlan::load(dir));
  return std::unique_ptr<ObjectStore>(std::make_unique<LocalObjectStore>(std::move(plan)));
}

}  // namespace ambit::cli
