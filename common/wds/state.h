// What a proxy knows about the mesh from WDS: workloads (by uid and by IP), services (by
// "ns/hostname" and by VIP), the endpoints of each service, and L4 authorization policies.
// Shared by ztunnel (routing, L4 policy) and the waypoint (backends, endpoints). Shaped like
// ztunnel's src/state/{workload,service}.rs and src/state.rs.
//
// Ingest validates each resource (so the xDS client can NACK a bad one by name and still apply
// the rest). Readers on data-path threads take a shared lock for one lookup per new connection —
// never per byte — and get immutable shared pointers they can keep.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/identity/spiffe.h"
#include "common/net/ip_addr.h"
#include "istio/security/authorization.pb.h"
#include "istio/workload/workload.pb.h"

namespace ambit::wds {

struct Workload {
  istio::workload::Workload proto;
  std::vector<net::IpAddr> ips;
  SpiffeId identity;  // spiffe://<trust_domain or default>/ns/<ns>/sa/<sa or default>
  const std::string& uid() const { return proto.uid(); }
  const std::string& ns() const { return proto.namespace_(); }
  const std::string& name() const { return proto.name(); }
  bool hbone() const { return proto.tunnel_protocol() == istio::workload::HBONE; }
  bool healthy() const { return proto.status() == istio::workload::HEALTHY; }
};
using WorkloadPtr = std::shared_ptr<const Workload>;

struct Service {
  istio::workload::Service proto;
  std::string key;  // "ns/hostname"
  std::vector<net::IpAddr> vips;
};
using ServicePtr = std::shared_ptr<const Service>;

struct Policy {
  istio::security::Authorization proto;
  std::string key;  // "ns/name"
};
using PolicyPtr = std::shared_ptr<const Policy>;

class State {
 public:
  explicit State(std::string default_trust_domain = "cluster.local", std::string network = "");

  // --- ingest (xDS); each returns InvalidArgument naming what is wrong -------------------------
  absl::Status upsert_address(const std::string& resource_name, const istio::workload::Address& a);
  void remove_address(const std::string& resource_name);
  absl::Status upsert_policy(const std::string& resource_name, const istio::security::Authorization& p);
  void remove_policy(const std::string& resource_name);

  // --- lookups ---------------------------------------------------------------------------------
  WorkloadPtr workload_by_uid(const std::string& uid) const;
  WorkloadPtr workload_by_ip(const net::IpAddr& ip) const;
  // ztunnel's find_by_info: the workload on this node with that namespace/name/service account.
  WorkloadPtr workload_by_info(const std::string& ns, const std::string& name, const std::string& sa) const;
  ServicePtr service_by_vip(const net::IpAddr& ip) const;
  ServicePtr service_by_host(const std::string& key) const;  // "ns/hostname"
  std::vector<WorkloadPtr> endpoints(const std::string& service_key) const;
  // The policies that apply to connections to `dst` (GLOBAL, its namespace's NAMESPACE policies,
  // and the WORKLOAD_SELECTOR policies it names), in a stable order.
  std::vector<PolicyPtr> policies_for(const Workload& dst) const;

  // Every change bumps this; policy changes also bump policy_generation (connection re-checks).
  uint64_t generation() const { return generation_.load(); }
  uint64_t policy_generation() const { return policy_generation_.load(); }

  // Snapshots for admin/config_dump.
  std::vector<WorkloadPtr> workloads() const;
  std::vector<ServicePtr> services() const;
  std::vector<PolicyPtr> policies() const;

  const std::string& network() const { return network_; }

 private:
  void index_workload_locked(const WorkloadPtr& w, bool add);
  void index_service_locked(const ServicePtr& s, bool add);
  void remove_owner_locked(const std::string& resource_name);
  void index_policy_locked(const PolicyPtr& p, bool add);

  std::string default_td_;
  std::string network_;
  mutable std::shared_mutex mu_;
  std::map<std::string, WorkloadPtr> workloads_;          // uid
  std::map<std::string, std::string> address_owner_;      // resource name -> uid or service key
  // Several workloads (or services) may share an address (e.g. host-network pods, a VIP moving
  // between services): each IP keeps every owner, newest last, and lookups take the newest.
  std::map<net::IpAddr, std::vector<std::string>> workload_ips_;  // ip -> uids
  std::map<std::string, ServicePtr> services_;            // "ns/hostname"
  std::map<net::IpAddr, std::vector<std::string>> vips_;  // ip -> service keys
  std::map<std::string, std::set<std::string>> endpoints_;  // service key -> workload uids
  std::map<std::string, PolicyPtr> policies_;             // "ns/name"
  // Indexes for the per-connection lookups, so a new connection costs O(log n), not a scan of
  // every workload or policy of the mesh.
  std::map<std::pair<std::string, std::string>, std::set<std::string>> workloads_by_name_;  // (ns, name) -> uids
  std::set<std::string> global_policies_;                         // GLOBAL policy keys
  std::map<std::string, std::set<std::string>> ns_policies_;      // namespace -> NAMESPACE policy keys
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> policy_generation_{0};
};

}  // namespace ambit::wds
