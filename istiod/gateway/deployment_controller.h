// The waypoint deployment controller: for every waypoint Gateway (ambient/waypoints.h
// is_waypoint), the ServiceAccount, Deployment and Service that Istio's waypoint template
// (manifests/charts/istio-control/istio-discovery/files/waypoint.yaml, rendered by
// pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go) would create, all named after the
// Gateway, written through the config source's write path (config/source.h ConfigWriter).
// Deleting the Gateway deletes them; objects left over from a Gateway deleted while istiod was
// down are found by their managed label on the first reconcile and deleted too. Reconciling is
// idempotent: an object is written only when its content changes.
//
//   DeploymentController c(&writer, WaypointTemplateOptions{.xds_address = "172.31.1.1:15012"});
//   c.reconcile(index.objects(Kind::kGateway));   // after every config change
#pragma once

#include <map>
#include <string>
#include <vector>

#include "istiod/ambient/mesh_config.h"
#include "istiod/config/source.h"
#include "istiod/model/objects.h"

namespace ambit::istiod::gateway {

// Istio's label on everything its gateway controller generates for a waypoint.
inline constexpr const char* kManagedLabel = "gateway.istio.io/managed";
inline constexpr const char* kManagedValue = "istio.io-mesh-controller";

struct WaypointTemplateOptions {
  // What the waypoint binary connects to for xDS and certificates.
  std::string xds_address = "istiod.istio-system.svc:15012";
  std::string binary = "waypoint";  // the container's command (local mode runs processes)
};

// The ServiceAccount, Deployment and Service for a waypoint Gateway, in that order.
//  - ServiceAccount <gw>.
//  - Deployment <gw>: 1 replica; pods labelled gateway.networking.k8s.io/gateway-name=<gw> (the
//    Service's selector, and how istiod counts the waypoint's ready pods) and
//    istio.io/dataplane-mode=none (the waypoint's traffic is not captured: it speaks HBONE
//    itself); container istio-proxy running `waypoint --name <gw> -n <ns> --xds-address ...`,
//    readiness probe GET :15021/healthz/ready as in Istio's template.
//  - Service <gw>: selector gateway-name=<gw>; ports status-port 15021 (appProtocol tcp) and
//    mesh 15008 (appProtocol all), as Istio renders a waypoint's Service. ztunnel resolves the
//    waypoint's GatewayAddress through this Service (hostname <gw>.<ns>.svc.<domain>).
// Every object carries the managed label and an ownerReference to the Gateway.
std::vector<GeneratedObject> waypoint_objects(const ConfigObject& gateway, const WaypointTemplateOptions& opts);

class DeploymentController {
 public:
  DeploymentController(ConfigWriter* writer, WaypointTemplateOptions opts) : writer_(writer), opts_(std::move(opts)) {}

  // Brings the generated objects in line with `gateways` (all Gateways in the store). Failed
  // writes are returned (the first) and retried by the next call.
  absl::Status reconcile(const std::vector<ObjectPtr>& gateways);

 private:
  ConfigWriter* writer_;
  WaypointTemplateOptions opts_;
  std::map<GeneratedKey, std::string> written_;  // what this process wrote (or found in place)
  bool collected_ = false;                       // orphans after a restart removed once
};

}  // namespace ambit::istiod::gateway
