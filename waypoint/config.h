// The waypoint's configuration: flags, with the environment a pod gets in the local mesh (and in
// Kubernetes through Istio's injection template) as defaults — POD_NAME, POD_NAMESPACE, POD_IP,
// AMBIT_SA_TOKEN_FILE, CA_ADDRESS, CA_ROOT_CA (docs/local-mesh.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ambit::waypoint {

struct Config {
  // The Gateway this waypoint serves. The Deployment istiod generates runs as the ServiceAccount
  // named after the Gateway (istiod/gateway/deployment_controller.cc, as Istio's waypoint
  // template), so the identity is spiffe://<trust_domain>/ns/<ns>/sa/<name>.
  std::string name;
  std::string ns;
  std::string trust_domain = "cluster.local";
  std::string cluster_id = "Kubernetes";

  // This pod, for the xDS node id "waypoint~<ip>~<pod>.<ns>~<ns>.svc.cluster.local".
  std::string pod_name;  // POD_NAME; default: the Gateway's name
  std::string pod_ip;    // POD_IP; default: 127.0.0.1

  std::string xds_address;  // istiod host:port (TLS); default $CA_ADDRESS: istiod serves both on 15012
  std::string ca_address;   // default $CA_ADDRESS, else xds_address
  std::string token_file;   // the pod's service-account token, for the CA only ($AMBIT_SA_TOKEN_FILE)
  std::string root_cert_path;  // the mesh root ($CA_ROOT_CA): verifies istiod and HBONE peers
  std::string istiod_san = "istiod.istio-system.svc";

  int workers = 2;
  // Ports; 0 picks a free one (tests). HBONE listens on every address of the pod, admin on
  // loopback only (it can change log levels), stats and readiness on every address (scraped
  // and probed from outside the pod).
  std::string hbone_host = "0.0.0.0";
  uint16_t hbone_port = 15008;
  std::string admin_host = "127.0.0.1";
  uint16_t admin_port = 15000;
  std::string stats_host = "0.0.0.0";
  uint16_t stats_port = 15020;
  std::string readiness_host = "0.0.0.0";
  uint16_t readiness_port = 15021;

  std::chrono::seconds cert_ttl{24 * 3600};
  std::chrono::seconds drain_deadline{5};  // SIGTERM: how long open connections may finish
  // Where upstream ztunnels listen for HBONE (ProxySettings::hbone_port); tests move it.
  uint16_t upstream_hbone_port = 15008;
};

}  // namespace ambit::waypoint
