#include "istiod/gateway/status.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>

#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "istiod/ambient/workload_builder.h"
#include "istiod/config/source.h"

namespace ambit::istiod::gateway {
namespace {

using ambient::Binding;
using ambient::WaypointFacts;

StatusDoc gateway_status(const ConfigObject& gw, const WaypointFacts& f, const ambient::MeshConfig& mesh) {
  StatusDoc d{"gateway.networking.k8s.io/v1", "Gateway", gw.meta.ns, gw.meta.name, {}, {}};
  const Gateway& g = gw.as<Gateway>();
  Condition accepted{"Accepted", true, "Accepted", "Deployed waypoint", gw.meta.generation, ""};
  if (!ambient::waypoint_listener(g)) {
    accepted.status = false;
    accepted.reason = "Invalid";
    accepted.message = str_cat("a waypoint needs a listener with port ", ambient::kHboneMtlsPort,
                               " and protocol HBONE (istioctl names it mesh)");
  }
  d.conditions.push_back(accepted);
  Condition programmed{"Programmed", false, "", "", gw.meta.generation, ""};
  std::string why;
  if (!accepted.status) {
    programmed.reason = "Invalid";
    programmed.message = "the Gateway is not accepted";
  } else if (!f.has_address) {
    programmed.reason = "AddressNotAssigned";
    programmed.message = str_cat("waiting for Service ", gw.meta.ns, "/", gw.meta.name);
  } else if (f.ready_pods < 1) {
    programmed.reason = "Pending";
    programmed.message = str_cat("no pod of Deployment ", gw.meta.ns, "/", gw.meta.name, " is ready");
  } else {
    programmed.status = true;
    programmed.reason = "Programmed";
    programmed.message = str_cat(f.ready_pods, " ready pod(s)");
  }
  d.conditions.push_back(programmed);
  if (!g.status_addresses.empty()) {
    d.addresses = g.status_addresses;
  } else if (f.has_address) {
    d.addresses.push_back({"Hostname", ambient::service_hostname(gw.meta.ns, gw.meta.name, mesh)});
  }
  return d;
}

StatusDoc binding_status(const ObjectKey& key, const ConfigObject* obj, const Binding& b) {
  StatusDoc d{"v1", kind_name(key.kind), key.ns, key.name, {}, {}};
  d.conditions.push_back(
      Condition{kWaypointBoundCondition, b.bound(), b.reason, b.message, obj ? obj->meta.generation : 0, ""});
  return d;
}

void emit_doc(YAML::Emitter& e, const StatusDoc& d) {
  e << YAML::BeginMap;
  e << YAML::Key << "apiVersion" << YAML::Value << d.api_version << YAML::Key << "kind" << YAML::Value << d.kind;
  e << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap << YAML::Key << "name" << YAML::Value << d.name;
  if (!d.ns.empty()) e << YAML::Key << "namespace" << YAML::Value << d.ns;
  e << YAML::EndMap;
  e << YAML::Key << "status" << YAML::Value << YAML::BeginMap;
  if (!d.addresses.empty()) {
    e << YAML::Key << "addresses" << YAML::Value << YAML::BeginSeq;
    for (const auto& a : d.addresses) {
      e << YAML::BeginMap << YAML::Key << "type" << YAML::Value << a.type << YAML::Key << "value" << YAML::Value
        << a.value << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  e << YAML::Key << "conditions" << YAML::Value << YAML::BeginSeq;
  for (const auto& c : d.conditions) {
    e << YAML::BeginMap;
    e << YAML::Key << "type" << YAML::Value << c.type;
    e << YAML::Key << "status" << YAML::Value << YAML::DoubleQuoted << (c.status ? "True" : "False");
    e << YAML::Key << "reason" << YAML::Value << c.reason;
    e << YAML::Key << "message" << YAML::Value << c.message;
    e << YAML::Key << "observedGeneration" << YAML::Value << c.observed_generation;
    e << YAML::Key << "lastTransitionTime" << YAML::Value << YAML::DoubleQuoted << c.last_transition_time;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap << YAML::EndMap;
}

}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string StatusDoc::file_name() const { return GeneratedObject{api_version, kind, ns, name, ""}.file_name(); }

std::string StatusDoc::yaml() const {
  YAML::Emitter e;
  emit_doc(e, *this);
  return std::string(e.c_str()) + "\n";
}

std::vector<StatusDoc> compute_status(const ambient::AmbientIndex& index) {
  std::vector<StatusDoc> out;
  for (const auto& gw : index.objects(Kind::kGateway)) {
    if (gw->as<Gateway>().gateway_class != ambient::kWaypointGatewayClass) continue;  // not our class
    out.push_back(gateway_status(*gw, index.waypoint_facts(gw->meta.ns, gw->meta.name), index.mesh()));
  }
  for (const auto& [key, b] : index.waypoint_bindings()) {
    if (!b.report) continue;
    out.push_back(binding_status(key, index.object(key.kind, key.ns, key.name), b));
  }
  return out;
}

absl::Status DirectoryStatusStore::load() {
  ::mkdir(dir_.c_str(), 0755);
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return absl::InternalError(str_cat("opendir ", dir_, ": ", std::strerror(errno)));
  std::vector<std::string> files;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n[0] != '.' && n.compare(n.size() - 5, 5, ".yaml") == 0) files.push_back(n);
  }
  ::closedir(d);
  for (const auto& f : files) {
    auto text = crypto::read_file(dir_ + "/" + f);
    if (!text.ok()) continue;
    StatusDoc doc;
    try {
      YAML::Node n = YAML::Load(*text);
      doc.api_version = n["apiVersion"].as<std::string>("");
      doc.kind = n["kind"].as<std::string>("");
      doc.name = n["metadata"]["name"].as<std::string>("");
      doc.ns = n["metadata"]["namespace"].as<std::string>("");
      for (const auto& c : n["status"]["conditions"]) {
        doc.conditions.push_back(Condition{c["type"].as<std::string>(""), c["status"].as<std::string>("") == "True",
                                           c["reason"].as<std::string>(""), c["message"].as<std::string>(""),
                                           c["observedGeneration"].as<int64_t>(0),
                                           c["lastTransitionTime"].as<std::string>("")});
      }
    } catch (const YAML::Exception&) {
      // Unreadable: treated as absent, rewritten or removed by the first sync.
    }
    docs_[f] = std::move(doc);
  }
  return absl::OkStatus();
}

absl::Status DirectoryStatusStore::sync(const std::vector<StatusDoc>& docs, std::chrono::system_clock::time_point now) {
  if (!loaded_) {
    if (auto s = load(); !s.ok()) return s;
    loaded_ = true;
  }
  absl::Status first;
  std::set<std::string> keep;
  std::string ts = rfc3339(now);
  for (StatusDoc d : docs) {
    std::string f = d.file_name();
    keep.insert(f);
    auto prev = docs_.find(f);
    for (auto& c : d.conditions) {
      c.last_transition_time = ts;
      if (prev == docs_.end()) continue;
      for (const auto& pc : prev->second.conditions) {
        if (pc.type == c.type && pc.status == c.status && !pc.last_transition_time.empty()) {
          c.last_transition_time = pc.last_transition_time;
        }
      }
    }
    if (prev != docs_.end() && prev->second.yaml() == d.yaml()) continue;
    absl::Status s = crypto::write_file_atomic(str_cat(dir_, "/", f), d.yaml());
    if (!s.ok()) {
      if (first.ok()) first = s;
      continue;
    }
    docs_[f] = std::move(d);
  }
  for (auto it = docs_.begin(); it != docs_.end();) {
    if (keep.count(it->first)) {
      ++it;
      continue;
    }
    std::string p = str_cat(dir_, "/", it->first);
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
      if (first.ok()) first = absl::InternalError(str_cat("unlink ", p, ": ", std::strerror(errno)));
      ++it;
      continue;
    }
    it = docs_.erase(it);
  }
  return first;
}

}  // namespace ambit::istiod::gateway
