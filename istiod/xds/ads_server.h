// The delta ADS server: envoy.service.discovery.v3.AggregatedDiscoveryService/
// DeltaAggregatedResources for the two ambient types, type.googleapis.com/istio.workload.Address
// and type.googleapis.com/istio.security.Authorization, as upstream istiod serves them to ztunnel,
// and the waypoint's L7 config, type.googleapis.com/ambit.waypoint.v1.Resource: per waypoint,
// only to a stream whose node names that waypoint's Gateway and whose client certificate is its
// service account (waypoint_identity.h); any other stream asking for it ends PERMISSION_DENIED.
//
// Per stream (a gRPC callback reactor, no thread per client):
//  - the first request carries the Node; its id is parsed and checked against the caller's
//    authenticated identity (namespace must match), else the stream ends PERMISSION_DENIED;
//  - subscriptions: wildcard (first request with no names, or "*"), explicit names and aliases
//    (on-demand), unsubscribe; `initial_resource_versions` on reconnect means unchanged resources
//    are not resent and resources gone meanwhile are sent as removed_resources;
//  - every response has a fresh nonce; an ACK is a request echoing it; a NACK (error_detail) is
//    logged and counted with its message and never answered by a resend;
//  - backpressure: at most one response in flight per stream. Changes arriving meanwhile are
//    coalesced as a set of resource *names*; content is read from the index when the next
//    response is built, so a slow client costs one name set, not a queue of payloads;
//  - bounds (stream_limits.h): subscribed names per stream, name length, streams per client.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/metrics/registry.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "istiod/ambient/index.h"
#include "istiod/security/authenticator.h"
#include "istiod/xds/stream_limits.h"

namespace ambit::istiod::xds {

class Connection;

struct ClientInfo {
  uint64_t id = 0;
  std::string node_id;
  std::string identity;
  std::string auth_method;
  std::string peer;
  std::string connected_at;
  std::map<std::string, size_t> resources;  // type -> number the client holds
  uint64_t pushes = 0, acks = 0, nacks = 0;
  std::string last_nack;
  std::string waypoint;  // "ns/name" once the stream is authorized for that waypoint's L7 config
};

class AdsServer final : public envoy::service::discovery::v3::AggregatedDiscoveryService::CallbackService {
 public:
  AdsServer(const ambient::AmbientIndex* index, const security::Authenticator* auth, metrics::Registry* metrics,
            StreamLimits limits = {});
  ~AdsServer() override;

  grpc::ServerBidiReactor<envoy::service::discovery::v3::DeltaDiscoveryRequest,
                          envoy::service::discovery::v3::DeltaDiscoveryResponse>*
  DeltaAggregatedResources(grpc::CallbackServerContext* ctx) override;

  // Fans changed resource names out to every stream (called by the push debouncer).
  void push(const ambient::Changes& changes, std::chrono::steady_clock::time_point changed_at);

  std::vector<ClientInfo> clients() const;
  // What one client was sent, as JSON ({"node":..., "resources":[...]}); proxy_id matches the
  // node id, its pod name, or "pod.namespace". Empty if no such client.
  std::string config_dump(const std::string& proxy_id) const;
  size_t connection_count() const;

 private:
  friend class Connection;
  void attach(Connection* c);
  void detach(Connection* c);
  // Counts a stream against its client's limit; the violation if the client is at it.
  std::optional<LimitViolation> admit(const std::string& client);
  void release(const std::string& client);
  void count_rejection(const LimitViolation& v);

  const ambient::AmbientIndex* index_;
  const security::Authenticator* auth_;
  mutable std::mutex mu_;
  std::set<Connection*> conns_;
  uint64_t next_id_ = 1;
  const StreamLimits limits_;
  // Separate from mu_: taken while a Connection holds its own lock (mu_ is taken before it).
  std::mutex clients_mu_;
  std::map<std::string, size_t> streams_per_client_;

  // Istio's metric names (pilot/pkg/xds/monitoring.go).
  metrics::Family<metrics::Counter>& pushes_;
  metrics::Family<metrics::Counter>& rejects_;
  metrics::Family<metrics::Counter>& acks_;
  metrics::Family<metrics::Histogram>& convergence_;
  metrics::Family<metrics::Histogram>& config_size_;
  metrics::Family<metrics::Counter>& auth_failures_;
  metrics::Family<metrics::Counter>& limit_rejections_;
};

// "wads" / "wdsauthz": Istio's short names for the ambient types in metric labels.
std::string metric_type(const std::string& type_url);

}  // namespace ambit::istiod::xds
