#include "waypoint/config_dump.h"

#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "common/base/version.h"
#include "common/crypto/certificate.h"

namespace ambit::waypoint {

using nlohmann::json;

namespace {

json proto_json(const google::protobuf::Message& m) {
  std::string s;
  google::protobuf::util::JsonPrintOptions o;
  (void)google::protobuf::util::MessageToJsonString(m, &s, o);
  return json::parse(s, nullptr, false);
}

json certificate_json(const identity::RotatingCertificate* cert) {
  if (!cert) return {{"state", "Initializing"}};
  json j = {{"identity", cert->identity().to_string()}, {"state", cert->state()}};
  if (auto c = cert->get()) {
    json chain = json::array();
    for (const auto& x : c->creds.chain) {
      chain.push_back({{"serialNumber", x.serial_hex()},
                       {"validFrom", crypto::format_time(x.not_before())},
                       {"expirationTime", crypto::format_time(x.not_after())}});
    }
    j["certChain"] = chain;
  }
  return j;
}

json l7_json(const L7ConfigStore& l7) {
  auto snap = l7.current();
  json listeners = json::array();
  for (const auto& [authority, l] : snap->listeners) {
    listeners.push_back({{"authority", authority},
                         {"service", l->service.to_string()},
                         {"port", l->port},
                         {"protocol", ::ambit::waypoint::v1::Listener::Protocol_Name(l->protocol)}});
  }
  json errors = json::array();
  for (const auto& e : snap->errors) errors.push_back(e);
  json resources = json::object();
  for (const auto& [name, r] : l7.resources()) resources[name] = proto_json(r);
  return {{"snapshotVersion", snap->version},
          {"pathNormalization", l7::to_string(snap->normalization)},
          {"listeners", listeners},
          {"errors", errors},
          {"resources", resources}};
}

json wds_json(const wds::State& wds) {
  json services = json::array();
  for (const auto& s : wds.services()) {
    json vips = json::array();
    for (const auto& ip : s->vips) vips.push_back(ip.to_string());
    json ports = json::object();
    for (const auto& p : s->proto.ports()) ports[std::to_string(p.service_port())] = p.target_port();
    json eps = json::array();
    for (const auto& ep : wds.endpoints(s->key)) {
      json ips = json::array();
      for (const auto& ip : ep->ips) ips.push_back(ip.to_string());
      eps.push_back({{"uid", ep->uid()},
                     {"name", ep->name()},
                     {"addresses", ips},
                     {"status", ep->healthy() ? "Healthy" : "Unhealthy"},
                     {"identity", ep->identity.to_string()}});
    }
    services.push_back({{"key", s->key}, {"vips", vips}, {"ports", ports}, {"endpoints", eps}});
  }
  return {{"workloads", wds.workloads().size()}, {"services", services}};
}

}  // namespace

std::string config_dump_json(const DumpInputs& in) {
  const Config& c = *in.config;
  json out;
  out["version"] = {{"version", kVersion}, {"buildProfile", kBuildType}};
  out["waypoint"] = {{"gateway", c.ns + "/" + c.name},
                     {"identity", in.identity},
                     {"trustDomain", c.trust_domain},
                     {"hbonePort", in.hbone_port},
                     {"workers", c.workers},
                     {"readiness", in.readiness}};
  out["xds"] = {{"address", c.xds_address}, {"connected", in.xds_connected}, {"synced", in.xds_synced}};
  out["certificate"] = certificate_json(in.cert);
  out["l7"] = l7_json(*in.l7);
  out["wds"] = wds_json(*in.wds);
  return out.dump(2);
}

}  // namespace ambit::waypoint
