#include "istiod/gateway/deployment_controller.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "common/base/log.h"
#include "common/base/strings.h"
#include "istiod/ambient/waypoints.h"

namespace ambit::istiod::gateway {
namespace {

spdlog::logger& lg() { return log::scope("gateway"); }

void labels(YAML::Emitter& e, const Labels& l) {
  e << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
  for (const auto& [k, v] : l) e << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
  e << YAML::EndMap;
}

// metadata with labels and the owner reference to the Gateway.
void metadata(YAML::Emitter& e, const ConfigObject& gw, const Labels& l) {
  e << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << gw.meta.name << YAML::Key << "namespace" << YAML::Value << gw.meta.ns;
  labels(e, l);
  e << YAML::Key << "ownerReferences" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "apiVersion" << YAML::Value << "gateway.networking.k8s.io/v1";
  e << YAML::Key << "kind" << YAML::Value << "Gateway";
  e << YAML::Key << "name" << YAML::Value << gw.meta.name;
  if (!gw.meta.uid.empty()) e << YAML::Key << "uid" << YAML::Value << gw.meta.uid;
  e << YAML::EndMap << YAML::EndSeq;
  e << YAML::EndMap;
}

GeneratedObject finish(YAML::Emitter& e, const char* api, const char* kind, const ConfigObject& gw) {
  return GeneratedObject{api, kind, gw.meta.ns, gw.meta.name, std::string(e.c_str()) + "\n"};
}

}  // namespace

std::vector<GeneratedObject> waypoint_objects(const ConfigObject& gw, const WaypointTemplateOptions& opts) {
  const std::string& name = gw.meta.name;
  const std::string& ns = gw.meta.ns;
  Labels common = {{ambient::kGatewayNameLabel, name}, {kManagedLabel, kManagedValue}};
  std::vector<GeneratedObject> out;

  {
    YAML::Emitter e;
    e << YAML::BeginMap << YAML::Key << "apiVersion" << YAML::Value << "v1" << YAML::Key << "kind" << YAML::Value
      << "ServiceAccount";
    metadata(e, gw, common);
    e << YAML::EndMap;
    out.push_back(finish(e, "v1", "ServiceAccount", gw));
  }
  {
    Labels pod = common;
    pod[ambient::kDataplaneModeLabel] = ambient::kDataplaneModeNone;
    pod["istio.io/gateway-name"] = name;
    pod[ambient::kCanonicalNameLabel] = name;
    pod[ambient::kCanonicalRevisionLabel] = "latest";
    YAML::Emitter e;
    e << YAML::BeginMap << YAML::Key << "apiVersion" << YAML::Value << "apps/v1" << YAML::Key << "kind" << YAML::Value
      << "Deployment";
    metadata(e, gw, common);
    e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "replicas" << YAML::Value << 1;
    e << YAML::Key << "selector" << YAML::Value << YAML::BeginMap << YAML::Key << "matchLabels" << YAML::Value
      << YAML::BeginMap << YAML::Key << ambient::kGatewayNameLabel << YAML::Value << name << YAML::EndMap << YAML::EndMap;
    e << YAML::Key << "template" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
    labels(e, pod);
    e << YAML::EndMap;
    e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "serviceAccountName" << YAML::Value << name;
    e << YAML::Key << "containers" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    e << YAML::Key << "name" << YAML::Value << "istio-proxy";
    e << YAML::Key << "command" << YAML::Value << YAML::Flow << YAML::BeginSeq << opts.binary << "--name" << name
      << "-n" << ns << "--xds-address" << opts.xds_address << YAML::EndSeq;
    e << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq;
    for (auto [pname, port] : {std::pair{"hbone", 15008}, std::pair{"metrics", 15020}, std::pair{"status-port", 15021}}) {
      e << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << pname << YAML::Key << "containerPort"
        << YAML::Value << port << YAML::Key << "protocol" << YAML::Value << "TCP" << YAML::EndMap;
    }
    e << YAML::EndSeq;
    e << YAML::Key << "readinessProbe" << YAML::Value << YAML::BeginMap << YAML::Key << "httpGet" << YAML::Value
      << YAML::BeginMap << YAML::Key << "path" << YAML::Value << "/healthz/ready" << YAML::Key << "port" << YAML::Value
      << 15021 << YAML::EndMap << YAML::Key << "periodSeconds" << YAML::Value << 1 << YAML::EndMap;
    e << YAML::EndMap << YAML::EndSeq;  // containers
    e << YAML::EndMap << YAML::EndMap << YAML::EndMap << YAML::EndMap;  // pod spec, template, spec, doc
    out.push_back(finish(e, "apps/v1", "Deployment", gw));
  }
  {
    YAML::Emitter e;
    e << YAML::BeginMap << YAML::Key << "apiVersion" << YAML::Value << "v1" << YAML::Key << "kind" << YAML::Value
      << "Service";
    metadata(e, gw, common);
    e << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "type" << YAML::Value << "ClusterIP";
    e << YAML::Key << "selector" << YAML::Value << YAML::BeginMap << YAML::Key << ambient::kGatewayNameLabel
      << YAML::Value << name << YAML::EndMap;
    e << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq;
    for (auto [pname, port, app] : {std::tuple{"status-port", 15021, "tcp"}, std::tuple{"mesh", 15008, "all"}}) {
      e << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << pname << YAML::Key << "port"
        << YAML::Value << port << YAML::Key << "protocol" << YAML::Value << "TCP" << YAML::Key << "appProtocol"
        << YAML::Value << app << YAML::EndMap;
    }
    e << YAML::EndSeq << YAML::EndMap << YAML::EndMap;
    out.push_back(finish(e, "v1", "Service", gw));
  }
  return out;
}

absl::Status DeploymentController::reconcile(const std::vector<ObjectPtr>& gateways) {
  std::map<GeneratedKey, GeneratedObject> desired;
  for (const auto& gw : gateways) {
    if (gw->meta.deleting || !ambient::is_waypoint(gw->as<Gateway>())) continue;
    for (auto& o : waypoint_objects(*gw, opts_)) {
      GeneratedKey k{o.kind, o.ns, o.name};
      desired.emplace(std::move(k), std::move(o));
    }
  }
  absl::Status first;
  auto note = [&](const absl::Status& s) {
    if (!s.ok()) {
      lg().warn("{}: {}", writer_->name(), s.ToString());
      if (first.ok()) first = s;
    }
  };
  if (!collected_) {
    auto owned = writer_->list_labeled(kManagedLabel, kManagedValue);
    note(owned.status());
    if (owned.ok()) {
      collected_ = true;
      for (const auto& k : *owned) {
        if (!desired.count(k)) {
          lg().info("deleting {} {}/{}: its waypoint Gateway is gone", k.kind, k.ns, k.name);
          note(writer_->remove(k));
        }
      }
    }
  }
  for (const auto& [k, o] : desired) {
    auto it = written_.find(k);
    if (it != written_.end() && it->second == o.yaml) continue;
    absl::Status s = writer_->apply(o);
    note(s);
    if (s.ok()) {
      if (it == written_.end()) lg().info("waypoint {}/{}: wrote {}", k.ns, k.name, k.kind);
      written_[k] = o.yaml;
    }
  }
  for (auto it = written_.begin(); it != written_.end();) {
    if (desired.count(it->first)) {
      ++it;
      continue;
    }
    absl::Status s = writer_->remove(it->first);
    note(s);
    if (s.ok()) {
      lg().info("waypoint {}/{}: deleted {}", it->first.ns, it->first.name, it->first.kind);
      it = written_.erase(it);
    } else {
      ++it;
    }
  }
  return first;
}

}  // namespace ambit::istiod::gateway
