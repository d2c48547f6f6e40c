// A delta ADS client (envoy.service.discovery.v3.AggregatedDiscoveryService/
// DeltaAggregatedResources) shared by ztunnel and the node agent: one stream, wildcard
// subscriptions for the given types, resources applied one by one through type handlers (a bad
// resource is NACKed by name with its reason while the rest are applied), ACK/NACK per response,
// reconnect with backoff (10 ms doubling to 15 s) and `initial_resource_versions` so the server
// resends only what changed. Runs on its own thread (blocking gRPC stream).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace ambit::xds {

struct TypeHandler {
  std::string type_url;
  // Apply one resource (the Any's value bytes); an error NACKs it.
  std::function<absl::Status(const std::string& name, const std::string& bytes)> upsert;
  std::function<void(const std::string& name)> remove;
  // After each response of this type was applied (e.g. re-check connections).
  std::function<void()> after_response;
};

struct NodeInfo {
  std::string id;
  std::map<std::string, std::string> metadata;  // Node.metadata string fields
  std::string user_agent = "ambit";
};

struct ClientMetrics {
  std::function<void(const std::string& type_url)> on_message;
  std::function<void(const std::string& type_url)> on_reject;
  std::function<void(bool connected)> on_connected;
};

// The channel for the next session, asked for before each (re)connect. A client that proves who
// it is with a rotating certificate (the waypoint) builds a new channel when the certificate
// changed; nullptr means "not possible yet" (no certificate): the session is retried with backoff.
using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>()>;

class DeltaClient {
 public:
  DeltaClient(std::shared_ptr<grpc::Channel> channel, std::string token_source, NodeInfo node,
              std::vector<TypeHandler> handlers, ClientMetrics metrics = {}, std::string server_name = "xds");
  DeltaClient(ChannelFactory channels, std::string token_source, NodeInfo node, std::vector<TypeHandler> handlers,
              ClientMetrics metrics = {}, std::string server_name = "xds");
  ~DeltaClient();
  void start();
  void stop();
  bool connected() const { return connected_.load(); }
  // True once every type's first response was applied; stays true across reconnects (the
  // cached state keeps serving while the server is away).
  bool synced() const { return synced_.load(); }

 private:
  void run();
  bool session();

  ChannelFactory channels_;
  std::string token_source_;
  NodeInfo node_;
  std::vector<TypeHandler> handlers_;
  ClientMetrics metrics_;
  std::string server_name_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<bool> synced_{false};
  std::mutex ctx_mu_;
  grpc::ClientContext* ctx_ = nullptr;
  std::map<std::string, std::map<std::string, std::string>> versions_;  // type -> name -> version
};

// Reads a bearer credential: the contents of `source` if it names a readable file, else `source`.
std::string read_token(const std::string& source);

// A TLS channel to istiod verified against `root_pem` with `san` as the expected name.
std::shared_ptr<grpc::Channel> make_istiod_channel(const std::string& address, const std::string& root_pem,
                                                   const std::string& san);
// The same, presenting a client certificate (mTLS): how a workload that holds a mesh certificate
// (the waypoint) proves its identity to istiod — no bearer token then.
std::shared_ptr<grpc::Channel> make_istiod_mtls_channel(const std::string& address, const std::string& root_pem,
                                                        const std::string& san, const std::string& cert_chain_pem,
                                                        const std::string& key_pem);

}  // namespace ambit::xds
