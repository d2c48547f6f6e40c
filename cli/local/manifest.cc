#include "cli/local/manifest.h"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "common/base/status.h"
#include "common/base/strings.h"

namespace ambit::cli {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Scalar or empty; never throws on maps/sequences.
std::string scalar(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : std::string(); }

std::map<std::string, std::string> string_map(const YAML::Node& n) {
  std::map<std::string, std::string> out;
  if (!n || !n.IsMap()) return out;
  for (const auto& kv : n) out[kv.first.Scalar()] = scalar(kv.second);
  return out;
}

// RFC 1123 as Kubernetes applies it: labels of [a-z0-9-] that start and end alphanumeric; a name
// (subdomain) is such labels joined by dots, at most 253 characters; a namespace is one label of at
// most 63.
bool dns1123_labels(const std::string& s, bool allow_dots, size_t max_size) {
  if (s.empty() || s.size() > max_size) return false;
  size_t start = 0;
  while (true) {
    size_t end = allow_dots ? s.find('.', start) : std::string::npos;
    if (end == std::string::npos) end = s.size();
    if (end == start || s[start] == '-' || s[end - 1] == '-') return false;
    for (size_t i = start; i < end; ++i) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    if (end == s.size()) return true;
    start = end + 1;
  }
}

absl::Status add_document(const YAML::Node& doc, const std::string& where, const std::string& default_ns,
                          std::vector<Manifest>* out) {
  if (!doc || doc.IsNull()) return absl::OkStatus();
  if (!doc.IsMap()) return absl::InvalidArgumentError(str_cat(where, ": not a mapping"));
  std::string kind = scalar(doc["kind"]);
  if (kind.empty()) return absl::InvalidArgumentError(str_cat(where, ": missing kind"));
  if (kind == "List") {
    const YAML::Node& items = doc["items"];
    if (!items || !items.IsSequence()) return absl::InvalidArgumentError(str_cat(where, ": List without items"));
    for (size_t i = 0; i < items.size(); ++i) {
      AMBIT_RETURN_IF_ERROR(add_document(items[i], str_cat(where, " items[", i, "]"), default_ns, out));
    }
    return absl::OkStatus();
  }
  Manifest m;
  m.kind = kind;
  m.api_version = scalar(doc["apiVersion"]);
  m.node = YAML::Clone(doc);
  m.source = where;
  if (m.api_version.empty()) return absl::InvalidArgumentError(str_cat(where, ": ", kind, " missing apiVersion"));
  YAML::Node meta = m.node["metadata"];
  if (!meta || !meta.IsMap()) return absl::InvalidArgumentError(str_cat(where, ": ", kind, " missing metadata"));
  m.name = scalar(meta["name"]);
  if (m.name.empty()) return absl::InvalidArgumentError(str_cat(where, ": ", kind, " missing metadata.name"));
  // Names and namespaces end up in file, namespace and cgroup names: DNS-1123 only.
  if (!dns1123_labels(m.name, true, 253)) {
    return absl::InvalidArgumentError(str_cat(where, ": ", kind, " name \"", m.name, "\" is not a DNS-1123 name"));
  }
  if (m.namespaced()) {
    m.ns = scalar(meta["namespace"]);
    if (m.ns.empty()) {
      m.ns = default_ns;
      meta["namespace"] = default_ns;
    }
    if (!dns1123_labels(m.ns, false, 63)) {
      return absl::InvalidArgumentError(
          str_cat(where, ": ", kind, " ", m.name, " namespace \"", m.ns, "\" is not a DNS-1123 label"));
    }
  }
  if (m.kind == "Deployment" && m.api_version != "apps/v1") {
    return absl::InvalidArgumentError(str_cat(where, ": Deployment apiVersion must be apps/v1, not ", m.api_version));
  }
  out->push_back(std::move(m));
  return absl::OkStatus();
}

}  // namespace

std::string Manifest::file_name() const {
  return namespaced() ? str_cat(lower(kind), "-", ns, ".", name, ".yaml") : str_cat(lower(kind), "-", name, ".yaml");
}

std::string Manifest::yaml() const {
  YAML::Emitter e;
  e << node;
  return std::string(e.c_str()) + "\n";
}

absl::StatusOr<std::vector<Manifest>> parse_manifests(const std::string& text, const std::string& source,
                                                      const std::string& default_ns) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(str_cat(source, ": YAML error at line ", e.mark.line + 1, ", column ",
                                              e.mark.column + 1, ": ", e.msg));
  }
  std::vector<Manifest> out;
  for (size_t i = 0; i < docs.size(); ++i) {
    AMBIT_RETURN_IF_ERROR(add_document(docs[i], str_cat(source, " (document ", i + 1, ")"), default_ns, &out));
  }
  return out;
}

absl::Status assign_cluster_ip(Manifest& svc, std::set<std::string>& used) {
  YAML::Node spec = svc.node["spec"];
  if (!spec || !spec.IsMap()) return absl::InvalidArgumentError(str_cat(svc.source, ": Service ", svc.name, " missing spec"));
  std::string ip = scalar(spec["clusterIP"]);
  if (!ip.empty()) {
    used.insert(ip);
    return absl::OkStatus();
  }
  for (int n = 10; n < 256 * 256 - 1; ++n) {
    std::string cand = str_cat("10.96.", n / 256, ".", n % 256);
    if (n % 256 == 0 || n % 256 == 255 || used.count(cand)) continue;
    used.insert(cand);
    spec["clusterIP"] = cand;
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError("no free service VIP in 10.96.0.0/16");
}

std::string PodTemplate::spec_hash() const {
  std::string s = str_cat(node_name, "|", service_account, "|", restart_policy, "|");
  if (readiness_http) str_append(&s, "probe:", readiness_http->first, ":", readiness_http->second, "|");
  for (const auto& c : containers) {
    str_append(&s, c.name, "{", join(c.command, "\x1f"), "}");
    for (const auto& [k, v] : c.env) str_append(&s, k, "=", v, ";");
  }
  return std::to_string(std::hash<std::string>{}(s));
}

namespace {

absl::StatusOr<PodTemplate> pod_from_spec(const YAML::Node& meta, const YAML::Node& spec, const std::string& ns,
                                          const std::string& name, const std::string& where) {
  PodTemplate p;
  p.ns = ns;
  p.name = name;
  if (meta && meta.IsMap()) {  // a Deployment's template may have none
    p.labels = string_map(meta["labels"]);
    p.annotations = string_map(meta["annotations"]);
  }
  if (!spec || !spec.IsMap()) return absl::InvalidArgumentError(str_cat(where, ": pod ", name, " missing spec"));
  p.node_name = scalar(spec["nodeName"]);
  if (auto sa = scalar(spec["serviceAccountName"]); !sa.empty()) p.service_account = sa;
  if (auto rp = scalar(spec["restartPolicy"]); !rp.empty()) {
    if (rp != "Always" && rp != "OnFailure" && rp != "Never") {
      return absl::InvalidArgumentError(str_cat(where, ": pod ", name, " restartPolicy \"", rp, "\" is not Always, OnFailure or Never"));
    }
    p.restart_policy = rp;
  }
  const YAML::Node& cs = spec["containers"];
  if (!cs || !cs.IsSequence() || cs.size() == 0) {
    return absl::InvalidArgumentError(str_cat(where, ": pod ", name, " needs spec.containers"));
  }
  for (size_t i = 0; i < cs.size(); ++i) {
    Container c;
    std::string at = str_cat(where, ": pod ", name, " containers[", i, "]");
    if (!cs[i].IsMap()) return absl::InvalidArgumentError(str_cat(at, " must be a mapping"));
    c.name = scalar(cs[i]["name"]);
    if (c.name.empty()) return absl::InvalidArgumentError(str_cat(at, " missing name"));
    for (const char* key : {"command", "args"}) {
      const YAML::Node& list = cs[i][key];
      if (!list) continue;
      if (!list.IsSequence()) return absl::InvalidArgumentError(str_cat(at, ".", key, " must be a list of strings"));
      for (const auto& a : list) c.command.push_back(scalar(a));
    }
    if (c.command.empty()) {
      return absl::InvalidArgumentError(str_cat(at, " needs command (local mode runs processes, not images)"));
    }
    if (const YAML::Node& probe = cs[i]["readinessProbe"]; probe && probe.IsMap() && !p.readiness_http) {
      const YAML::Node& get = probe["httpGet"];
      if (get && get.IsMap()) {
        int port = 0;
        try {
          port = get["port"].as<int>();
        } catch (const YAML::Exception&) {
        }
        if (port < 1 || port > 65535) {
          return absl::InvalidArgumentError(str_cat(at, ".readinessProbe.httpGet.port must be a port number"));
        }
        std::string path = scalar(get["path"]);
        p.readiness_http = std::make_pair(path.empty() ? std::string("/") : path, port);
      }
    }
    if (const YAML::Node& env = cs[i]["env"]; env && env.IsSequence()) {
      for (const auto& e : env) {
        if (!e.IsMap()) return absl::InvalidArgumentError(str_cat(at, ".env entries must be {name, value} mappings"));
        c.env[scalar(e["name"])] = scalar(e["value"]);
      }
    }
    p.containers.push_back(std::move(c));
  }
  return p;
}

}  // namespace

absl::StatusOr<std::vector<PodTemplate>> expand_workload(const Manifest& m) {
  std::vector<PodTemplate> out;
  if (m.kind == "Pod") {
    AMBIT_ASSIGN_OR_RETURN(auto p, pod_from_spec(m.node["metadata"], m.node["spec"], m.ns, m.name, m.source));
    out.push_back(std::move(p));
    return out;
  }
  if (m.kind != "Deployment") return absl::InvalidArgumentError(str_cat(m.source, ": ", m.kind, " is not a workload"));
  const YAML::Node& spec = m.node["spec"];
  if (!spec || !spec.IsMap()) return absl::InvalidArgumentError(str_cat(m.source, ": Deployment ", m.name, " missing spec.template"));
  int replicas = 1;
  if (spec["replicas"]) {
    try {
      replicas = spec["replicas"].as<int>();
    } catch (const YAML::Exception&) {
      return absl::InvalidArgumentError(str_cat(m.source, ": Deployment ", m.name, " spec.replicas is not an integer"));
    }
  }
  if (replicas < 0 || replicas > 50) {
    return absl::InvalidArgumentError(str_cat(m.source, ": Deployment ", m.name, " replicas must be 0..50"));
  }
  const YAML::Node& tmpl = spec["template"];
  if (!tmpl || !tmpl.IsMap()) return absl::InvalidArgumentError(str_cat(m.source, ": Deployment ", m.name, " missing spec.template"));
  for (int i = 0; i < replicas; ++i) {
    AMBIT_ASSIGN_OR_RETURN(auto p, pod_from_spec(tmpl["metadata"], tmpl["spec"], m.ns, str_cat(m.name, "-", i), m.source));
    p.owner = "Deployment/" + m.name;
    // Kubernetes' pod-template-hash: 10 characters from [bcdfghjklmnpqrstvwxz2456789].
    static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    uint64_t h = std::hash<std::string>{}(p.spec_hash() + m.name);
    for (int c = 0; c < 10; ++c, h /= 27) p.template_hash.push_back(kAlphabet[h % 27]);
    p.replica_set = str_cat(m.name, "-", p.template_hash);
    p.labels["pod-template-hash"] = p.template_hash;
    out.push_back(std::move(p));
  }
  return out;
}

std::string realized_pod_yaml(const PodTemplate& pod, const std::string& node, const std::string& ip,
                              const std::string& uid, bool ready) {
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << "apiVersion" << YAML::Value << "v1" << YAML::Key << "kind" << YAML::Value << "Pod";
  e << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << pod.name << YAML::Key << "namespace" << YAML::Value << pod.ns;
  e << YAML::Key << "uid" << YAML::Value << uid;
  if (!pod.replica_set.empty()) {
    e << YAML::Key << "ownerReferences" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    e << YAML::Key << "apiVersion" << YAML::Value << "apps/v1" << YAML::Key << "kind" << YAML::Value << "ReplicaSet";
    e << YAML::Key << "name" << YAML::Value << pod.replica_set << YAML::Key << "controller" << YAML::Value << true;
    e << YAML::EndMap << YAML::EndSeq;
  }
  e << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
  for (const auto& [k, v] : pod.labels) e << YAML::Key << k << YAML::Value << v;
  e << YAML::EndMap;
  if (!pod.annotations.empty()) {
    e << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : pod.annotations) e << YAML::Key << k << YAML::Value << v;
    e << YAML::EndMap;
  }
  e << YAML::EndMap;
  e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "nodeName" << YAML::Value << node << YAML::Key << "serviceAccountName" << YAML::Value
    << pod.service_account;
  e << YAML::Key << "containers" << YAML::Value << YAML::BeginSeq;
  for (const auto& c : pod.containers) e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << c.name << YAML::EndMap;
  e << YAML::EndSeq << YAML::EndMap;
  e << YAML::Key << "status" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "phase" << YAML::Value << "Running" << YAML::Key << "podIP" << YAML::Value << ip;
  e << YAML::Key << "conditions" << YAML::Value << YAML::BeginSeq << YAML::BeginMap << YAML::Key << "type"
    << YAML::Value << "Ready" << YAML::Key << "status" << YAML::Value << YAML::DoubleQuoted << (ready ? "True" : "False")
    << YAML::EndMap
    << YAML::EndSeq;
  e << YAML::EndMap << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

bool set_label(Manifest& m, const std::string& key, const std::string& value) {
  YAML::Node meta = m.kind == "Deployment" ? m.node["spec"]["template"]["metadata"] : m.node["metadata"];
  YAML::Node labels = meta["labels"];
  std::string current = labels && labels.IsMap() && labels[key] ? scalar(labels[key]) : "";
  bool present = labels && labels.IsMap() && labels[key];
  if (value.empty()) {
    if (!present) return false;
    labels.remove(key);
    return true;
  }
  if (present && current == value) return false;
  meta["labels"][key] = value;
  return true;
}

}  // namespace ambit::cli
