#include "cli/ztunnel_config.h"

#include "cli/output.h"
#include "common/base/strings.h"

namespace ambit::cli {

namespace {

using nlohmann::json;

std::string s(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

bool keep(const json& j, const ZtunnelConfigFilter& f) { return f.ns.empty() || s(j, "namespace") == f.ns; }

std::string waypoint(const json& j) {
  auto it = j.find("waypoint");
  return it == j.end() || !it->is_object() ? "None" : s(*it, "destination");
}

std::string workloads(const json& dump, const ZtunnelConfigFilter& f) {
  Table t({"NAMESPACE", "POD NAME", "ADDRESS", "NODE", "WAYPOINT", "PROTOCOL"});
  for (const auto& w : dump.value("workloads", json::array())) {
    if (!keep(w, f)) continue;
    std::string addr;
    for (const auto& ip : w.value("workloadIps", json::array())) addr += (addr.empty() ? "" : ",") + ip.get<std::string>();
    t.add({s(w, "namespace"), s(w, "name"), addr, s(w, "node"), waypoint(w), s(w, "protocol")});
  }
  return t.render();
}

std::string services(const json& dump, const ZtunnelConfigFilter& f) {
  Table t({"NAMESPACE", "SERVICE NAME", "SERVICE VIP", "WAYPOINT", "ENDPOINTS"});
  for (const auto& sv : dump.value("services", json::array())) {
    if (!keep(sv, f)) continue;
    std::string vips;
    for (const auto& v : sv.value("vips", json::array())) {
      std::string vip = v.get<std::string>();  // "network/ip": istioctl shows the IP
      vips += (vips.empty() ? "" : ",") + vip.substr(vip.find('/') + 1);
    }
    int healthy = 0, total = 0;
    const json eps = sv.value("endpoints", json::object());  // items() must not outlive it
    for (const auto& [uid, ep] : eps.items()) {
      total++;
      healthy += s(ep, "status") == "Healthy";
    }
    t.add({s(sv, "namespace"), s(sv, "name"), vips, waypoint(sv), str_cat(healthy, "/", total)});
  }
  return t.render();
}

std::string policies(const json& dump, const ZtunnelConfigFilter& f) {
  Table t({"NAMESPACE", "POLICY NAME", "ACTION", "SCOPE"});
  for (const auto& p : dump.value("policies", json::array())) {
    if (!keep(p, f)) continue;
    t.add({s(p, "namespace"), s(p, "name"), s(p, "action"), s(p, "scope")});
  }
  return t.render();
}

std::string certificates(const json& dump) {
  Table t({"CERTIFICATE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"});
  for (const auto& c : dump.value("certificates", json::array())) {
    const json chain = c.value("certChain", json::array());
    std::string state = s(c, "state");
    for (size_t i = 0; i < chain.size(); ++i) {
      const json& e = chain[i];
      // The chain ends with the root (istiod's CA API puts it last).
      const char* type = i == 0 ? "Leaf" : i + 1 == chain.size() ? "Root" : "Intermediate";
      t.add({s(c, "identity"), type, state, state == "Available" ? "true" : "false", s(e, "serialNumber"),
             s(e, "expirationTime"), s(e, "validFrom")});
    }
    if (chain.empty()) t.add({s(c, "identity"), "Leaf", state, "false", "", "", ""});
  }
  return t.render();
}

std::string connections(const json& dump, const ZtunnelConfigFilter& f) {
  // Pod uids resolve to names through workloadState (the in-pod pods this ztunnel serves).
  const json ws = dump.value("workloadState", json::object());
  Table t({"POD", "DIRECTION", "LOCAL", "REMOTE", "TARGET", "PROTOCOL"});
  for (const auto& c : dump.value("connections", json::array())) {
    std::string uid = s(c, "podUid"), pod = uid;
    if (auto it = ws.find(uid); it != ws.end()) {
      json info = it->value("info", json::object());
      if (!f.ns.empty() && s(info, "namespace") != f.ns) continue;
      pod = str_cat(s(info, "namespace"), "/", s(info, "name"));
    }
    t.add({pod, s(c, "direction"), s(c, "local"), s(c, "remote"), s(c, "target"), s(c, "protocol")});
  }
  return t.render();
}

}  // namespace

absl::StatusOr<std::string> ztunnel_config_table(const json& dump, const std::string& section,
                                                 const ZtunnelConfigFilter& f) {
  if (section == "workload" || section == "workloads") return workloads(dump, f);
  if (section == "service" || section == "services") return services(dump, f);
  if (section == "policy" || section == "policies") return policies(dump, f);
  if (section == "certificate" || section == "certificates") return certificates(dump);
  if (section == "connections") return connections(dump, f);
  if (section == "all") {
    return str_cat("WORKLOADS\n", workloads(dump, f), "\nSERVICES\n", services(dump, f), "\nPOLICIES\n",
                   policies(dump, f), "\nCERTIFICATES\n", certificates(dump), "\nCONNECTIONS\n", connections(dump, f));
  }
  return absl::InvalidArgumentError(
      str_cat("unknown section \"", section, "\": use workload, service, policy, certificate, connections or all"));
}

absl::StatusOr<json> ztunnel_config_json(const json& dump, const std::string& section, const ZtunnelConfigFilter& f) {
  auto filtered = [&](const char* key) {
    json out = json::array();
    for (const auto& e : dump.value(key, json::array())) {
      if (keep(e, f)) out.push_back(e);
    }
    return out;
  };
  if (section == "workload" || section == "workloads") return filtered("workloads");
  if (section == "service" || section == "services") return filtered("services");
  if (section == "policy" || section == "policies") return filtered("policies");
  if (section == "certificate" || section == "certificates") return dump.value("certificates", json::array());
  if (section == "connections") return dump.value("connections", json::array());
  if (section == "all") return dump;
  return absl::InvalidArgumentError(
      str_cat("unknown section \"", section, "\": use workload, service, policy, certificate, connections or all"));
}

}  // namespace ambit::cli
