#include "ztunnel/admin/config_dump.h"

#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "common/base/version.h"
#include "common/crypto/certificate.h"
#include "common/net/ip_addr.h"

namespace ambit::ztunnel {

using nlohmann::json;

namespace {

json proto_json(const google::protobuf::Message& m) {
  std::string s;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = false;
  (void)google::protobuf::util::MessageToJsonString(m, &s, o);
  return json::parse(s, nullptr, false);
}

std::string gateway_string(const istio::workload::GatewayAddress& ga) {
  if (ga.has_hostname()) return ga.hostname().namespace_() + "/" + ga.hostname().hostname();
  if (ga.has_address()) {
    auto ip = net::IpAddr::from_bytes(ga.address().address());
    return ip ? ip->to_string() : "";
  }
  return "";
}

}  // namespace

std::string config_dump_json(const Config& cfg, const wds::State& state, const SecretManager* certs,
                             const ConnectionTracker* tracker, const std::vector<PodStateDump>& pods) {
  json out;
  out["version"] = {{"version", kVersion}, {"gitRevision", "ambit"}, {"buildProfile", kBuildType}};
  out["config"] = {{"nodeName", cfg.node_name},         {"clusterId", cfg.cluster_id},
                   {"trustDomain", cfg.trust_domain},   {"xdsAddress", cfg.xds_address},
                   {"caAddress", cfg.ca_address},       {"workerThreads", cfg.worker_threads},
                   {"zdsSocket", cfg.zds_socket},       {"network", cfg.network}};
  json workloads = json::array();
  for (const auto& w : state.workloads()) {
    json j;
    j["uid"] = w->uid();
    j["name"] = w->name();
    j["namespace"] = w->ns();
    json ips = json::array();
    for (const auto& ip : w->ips) ips.push_back(ip.to_string());
    j["workloadIps"] = ips;
    j["protocol"] = w->hbone() ? "HBONE" : "TCP";
    j["serviceAccount"] = w->proto.service_account().empty() ? "default" : w->proto.service_account();
    j["workloadName"] = w->proto.workload_name();
    j["workloadType"] = istio::workload::WorkloadType_Name(w->proto.workload_type());
    j["canonicalName"] = w->proto.canonical_name();
    j["canonicalRevision"] = w->proto.canonical_revision();
    j["clusterId"] = w->proto.cluster_id();
    j["trustDomain"] = w->identity.trust_domain();
    j["node"] = w->proto.node();
    j["status"] = w->healthy() ? "Healthy" : "Unhealthy";
    j["identity"] = w->identity.to_string();
    if (w->proto.has_waypoint()) j["waypoint"] = {{"destination", gateway_string(w->proto.waypoint())},
                                                  {"hboneMtlsPort", w->proto.waypoint().hbone_mtls_port()}};
    json services = json::object();
    for (const auto& [k, pl] : w->proto.services()) {
      json ports = json::object();
      for (const auto& p : pl.ports()) ports[std::to_string(p.service_port())] = p.target_port();
      services[k] = ports;
    }
    j["services"] = services;
    json pols = json::array();
    for (const auto& p : w->proto.authorization_policies()) pols.push_back(p);
    j["authorizationPolicies"] = pols;
    workloads.push_back(j);
  }
  out["workloads"] = workloads;

  json services = json::array();
  for (const auto& s : state.services()) {
    json j;
    j["name"] = s->proto.name();
    j["namespace"] = s->proto.namespace_();
    j["hostname"] = s->proto.hostname();
    json vips = json::array();
    for (const auto& ip : s->vips) vips.push_back(state.network() + "/" + ip.to_string());
    j["vips"] = vips;
    json ports = json::object();
    for (const auto& p : s->proto.ports()) ports[std::to_string(p.service_port())] = p.target_port();
    j["ports"] = ports;
    json eps = json::object();
    for (const auto& ep : state.endpoints(s->key)) {
      eps[ep->uid()] = {{"workloadUid", ep->uid()}, {"status", ep->healthy() ? "Healthy" : "Unhealthy"}};
    }
    j["endpoints"] = eps;
    if (s->proto.has_waypoint()) j["waypoint"] = {{"destination", gateway_string(s->proto.waypoint())},
                                                  {"hboneMtlsPort", s->proto.waypoint().hbone_mtls_port()}};
    services.push_back(j);
  }
  out["services"] = services;

  json policies = json::array();
  for (const auto& p : state.policies()) {
    json j = proto_json(p->proto);
    j["name"] = p->proto.name();
    j["namespace"] = p->proto.namespace_();
    j["scope"] = istio::security::Scope_Name(p->proto.scope());
    j["action"] = istio::security::Action_Name(p->proto.action());
    policies.push_back(j);
  }
  out["policies"] = policies;

  json cert_list = json::array();
  if (certs) {
    for (const auto& c : certs->dump()) {
      json chain = json::array();
      for (size_t i = 0; i < c.chain_pem.size(); ++i) {
        json e = {{"pem", c.chain_pem[i]}};
        if (i == 0) {
          e["serialNumber"] = c.serial;
          e["validFrom"] = c.valid_from;
          e["expirationTime"] = c.expiration;
        } else if (auto ca = crypto::Certificate::from_pem(c.chain_pem[i]); ca.ok()) {
          // The rest of the chain (up to the root) with its own serial and validity, as
          // istioctl's certificate view shows them.
          e["serialNumber"] = ca->serial_hex();
          e["validFrom"] = crypto::format_time(ca->not_before());
          e["expirationTime"] = crypto::format_time(ca->not_after());
        }
        chain.push_back(e);
      }
      json roots = json::array();
      for (const auto& r : certs->roots().roots()) roots.push_back({{"pem", r.to_pem()}});
      cert_list.push_back({{"identity", c.identity}, {"state", c.state}, {"certChain", chain}, {"rootCerts", roots}});
    }
  }
  out["certificates"] = cert_list;

  json ws = json::object();
  for (const auto& p : pods) {
    ws[p.uid] = {{"state", p.state},
                 {"info", {{"name", p.name}, {"namespace", p.ns}, {"serviceAccount", p.service_account}}}};
  }
  out["workloadState"] = ws;

  json conns = json::array();
  if (tracker) {
    for (const auto& c : tracker->list()) {
      conns.push_back({{"podUid", c.pod_uid}, {"direction", c.direction}, {"local", c.local}, {"remote", c.remote},
                       {"target", c.target}, {"protocol", c.protocol}});
    }
  }
  out["connections"] = conns;
  return out.dump(2);
}

}  // namespace ambit::ztunnel
