// ztunnel's configuration: flags (and the Istio env names where they exist), with ztunnel's
// defaults (ZT:src/config.rs).
#pragma once

#include <chrono>
#include <string>

namespace ambit::ztunnel {

struct Config {
  std::string node_name;                   // NODE_NAME: matches Workload.node
  std::string pod_name = "ztunnel";        // POD_NAME (xDS node id)
  std::string pod_namespace = "istio-system";
  std::string instance_ip = "127.0.0.1";   // INSTANCE_IP (xDS node id)
  std::string cluster_id = "Kubernetes";
  std::string trust_domain = "cluster.local";
  std::string network;

  std::string xds_address;                 // host:port of istiod (TLS); empty: no xDS (tests)
  std::string ca_address;                  // defaults to xds_address
  std::string root_cert_path;              // CA_ROOT_CA / XDS_ROOT_CA
  std::string auth_token;                  // node credential: a path (read at use) or a literal
  std::string istiod_san = "istiod.istio-system.svc";  // name verified on istiod's certificate

  std::string zds_socket = "/var/run/ztunnel/ztunnel.sock";  // INPOD_UDS

  std::string admin_address = "127.0.0.1:15000";
  std::string stats_address = "0.0.0.0:15020";
  std::string readiness_address = "0.0.0.0:15021";

  int worker_threads = 2;                  // ZTUNNEL_WORKER_THREADS
  std::chrono::seconds secret_ttl{24 * 3600};  // SECRET_TTL
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::seconds pool_idle_timeout{300};  // POOL_UNUSED_RELEASE_TIMEOUT
  std::chrono::seconds drain_deadline{5};       // CONNECTION_TERMINATION_DEADLINE
  // Bounds on what a peer can hold (hardening): a TLS handshake in either direction and an HBONE
  // CONNECT's answer must come within handshake_timeout; an inbound HBONE connection without
  // streams is closed after inbound_idle_timeout (longer than the clients' pool_idle_timeout, so
  // a pooled connection is normally released by its client first); inbound connections are
  // capped in total and per source address (proxy/admission.h).
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::seconds inbound_idle_timeout{360};
  size_t max_inbound_connections = 16384;
  size_t max_inbound_per_source = 1024;
  // ENABLE_ORIG_SRC: needs the pod's reply routing (agent/inpod_routing.h). The binary turns it
  // on; in-process tests whose pods lack that routing leave it off.
  bool preserve_source_ip = false;
};

}  // namespace ambit::ztunnel
