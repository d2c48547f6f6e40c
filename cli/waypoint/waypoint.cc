#include "cli/waypoint/waypoint.h"

#include <algorithm>
#include <initializer_list>

#include "cli/output.h"
#include "common/base/strings.h"

namespace ambit::cli::waypoint {

namespace {

// RFC 1123 label, as Kubernetes requires of namespace names (and as the generated Deployment
// and Service names derived from the Gateway's name must be).
bool dns1123_label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return s.front() != '-' && s.back() != '-';
}

// node[k1][k2]... without yaml-cpp's throw on a missing intermediate map. `reset`, not `=`:
// assigning to a YAML::Node that refers to a document rewrites the document.
YAML::Node path(const YAML::Node& n, std::initializer_list<const char*> keys) {
  YAML::Node cur;
  cur.reset(n);
  for (const char* k : keys) {
    if (!cur || !cur.IsMap() || !cur[k]) return YAML::Node(YAML::NodeType::Undefined);
    cur.reset(cur[k]);
  }
  return cur;
}

std::vector<Manifest> waypoints_of(const std::vector<Manifest>& gateways) {
  std::vector<Manifest> out;
  for (const auto& g : gateways) {
    if (is_waypoint(g)) out.push_back(g);
  }
  std::sort(out.begin(), out.end(), [](const Manifest& a, const Manifest& b) {
    return std::tie(a.ns, a.name) < std::tie(b.ns, b.name);
  });
  return out;
}

}  // namespace

absl::StatusOr<Manifest> make_gateway(const Spec& spec) {
  std::string name = spec.name.empty() ? "waypoint" : spec.name;
  if (name == "none") return absl::InvalidArgumentError("invalid name provided for waypoint, 'none' is a reserved value");
  if (!dns1123_label(name)) {
    return absl::InvalidArgumentError(
        str_cat("invalid waypoint name \"", name, "\": lowercase letters, digits and '-', at most 63 characters"));
  }
  if (!dns1123_label(spec.ns)) return absl::InvalidArgumentError(str_cat("invalid namespace \"", spec.ns, "\""));
  static const std::vector<std::string> kTraffic = {"all", "none", "service", "workload"};
  if (!spec.traffic_for.empty() &&
      std::find(kTraffic.begin(), kTraffic.end(), spec.traffic_for) == kTraffic.end()) {
    return absl::InvalidArgumentError(
        str_cat("invalid traffic type: ", spec.traffic_for, ". Valid options are: [all none service workload]"));
  }
  Manifest m;
  m.api_version = "gateway.networking.k8s.io/v1";
  m.kind = "Gateway";
  m.ns = spec.ns;
  m.name = name;
  m.source = "ambitctl waypoint";
  YAML::Node n;
  n["apiVersion"] = m.api_version;
  n["kind"] = m.kind;
  n["metadata"]["name"] = name;
  n["metadata"]["namespace"] = spec.ns;
  if (!spec.traffic_for.empty()) n["metadata"]["labels"][kWaypointForLabel] = spec.traffic_for;
  if (!spec.revision.empty()) n["metadata"]["labels"][kRevisionLabel] = spec.revision;
  n["spec"]["gatewayClassName"] = kGatewayClass;
  YAML::Node listener;
  listener["name"] = "mesh";
  listener["port"] = 15008;
  listener["protocol"] = "HBONE";
  n["spec"]["listeners"].push_back(listener);
  m.node = n;
  return m;
}

std::string label(const Manifest& m, const std::string& key) {
  YAML::Node labels = path(m.node, {"metadata", "labels"});
  if (!labels || !labels.IsMap() || !labels[key] || !labels[key].IsScalar()) return "";
  return labels[key].as<std::string>();
}

bool is_waypoint(const Manifest& gateway) {
  YAML::Node cls = path(gateway.node, {"spec", "gatewayClassName"});
  return gateway.kind == "Gateway" && cls && cls.IsScalar() && cls.as<std::string>() == kGatewayClass;
}

std::optional<Condition> condition(const Manifest& object, const std::string& type) {
  YAML::Node conds = path(object.node, {"status", "conditions"});
  if (!conds || !conds.IsSequence()) return std::nullopt;
  for (const auto& c : conds) {
    if (!c.IsMap() || !c["type"] || c["type"].as<std::string>() != type) continue;
    auto field = [&](const char* k) { return c[k] && c[k].IsScalar() ? c[k].as<std::string>() : std::string(); };
    return Condition{type, field("status"), field("reason"), field("message")};
  }
  return std::nullopt;
}

bool programmed(const Manifest& gateway) {
  auto c = condition(gateway, "Programmed");
  return c && c->status == "True";
}

std::string traffic_type(const Manifest& gateway, const std::vector<Manifest>& gateway_classes) {
  if (std::string v = label(gateway, kWaypointForLabel); !v.empty()) return v;
  YAML::Node cls = path(gateway.node, {"spec", "gatewayClassName"});
  for (const auto& c : gateway_classes) {
    if (cls && cls.IsScalar() && c.name == cls.as<std::string>()) {
      if (std::string v = label(c, kWaypointForLabel); !v.empty()) return v;
    }
  }
  return "service";
}

std::string list_table(const std::vector<Manifest>& gateways, const std::vector<Manifest>& gateway_classes,
                       bool all_namespaces) {
  auto wps = waypoints_of(gateways);
  if (wps.empty()) return "No waypoints found.\n";
  std::vector<std::string> header = {"NAME", "REVISION", "TRAFFIC TYPE", "PROGRAMMED"};
  if (all_namespaces) header.insert(header.begin(), "NAMESPACE");
  Table t(header);
  for (const auto& g : wps) {
    std::string rev = label(g, kRevisionLabel);
    auto c = condition(g, "Programmed");
    std::vector<std::string> row = {g.name, rev.empty() ? "default" : rev, traffic_type(g, gateway_classes),
                                    c ? c->status : "False"};
    if (all_namespaces) row.insert(row.begin(), g.ns);
    t.add(row);
  }
  return t.render();
}

std::string status_table(const std::vector<Manifest>& gateways, bool namespace_column) {
  auto wps = waypoints_of(gateways);
  if (wps.empty()) return "No waypoints found.\n";
  std::vector<std::string> header = {"NAME", "STATUS", "TYPE", "REASON", "MESSAGE"};
  if (namespace_column) header.insert(header.begin(), "NAMESPACE");
  Table t(header);
  for (const auto& g : wps) {
    std::optional<Condition> c = condition(g, "Programmed");
    if (!c) {
      YAML::Node conds = path(g.node, {"status", "conditions"});
      if (conds && conds.IsSequence() && conds.size() > 0 && conds[conds.size() - 1]["type"]) {
        c = condition(g, conds[conds.size() - 1]["type"].as<std::string>());
      }
    }
    if (!c) c = Condition{"Programmed", "Unknown", "Pending", "istiod has not reported a status yet"};
    std::vector<std::string> row = {g.name, c->status, c->type, c->reason, c->message};
    if (namespace_column) row.insert(row.begin(), g.ns);
    t.add(row);
  }
  return t.render();
}

}  // namespace ambit::cli::waypoint
