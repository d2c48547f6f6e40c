#include "common/wds/state.h"

#include <mutex>

#include "common/base/strings.h"

namespace ambit::wds {

State::State(std::string default_trust_domain, std::string network)
    : default_td_(std::move(default_trust_domain)), network_(std::move(network)) {}

absl::Status State::upsert_address(const std::string& name, const istio::workload::Address& a) {
  if (a.has_workload()) {
    const auto& p = a.workload();
    if (p.uid().empty()) return absl::InvalidArgumentError(str_cat("workload ", name, ": empty uid"));
    if (p.uid() != name) {
      return absl::InvalidArgumentError(str_cat("workload resource name ", name, " differs from uid ", p.uid()));
    }
    auto w = std::make_shared<Workload>(Workload{p, {}, *SpiffeId::make("x", "x", "x")});
    for (const auto& b : p.addresses()) {
      auto ip = net::IpAddr::from_bytes(b);
      if (!ip) {
        return absl::InvalidArgumentError(str_cat("workload ", name, ": address of ", b.size(), " bytes (want 4 or 16)"));
      }
      w->ips.push_back(*ip);
    }
    auto id = SpiffeId::make(p.trust_domain().empty() ? default_td_ : p.trust_domain(), p.namespace_(),
                             p.service_account().empty() ? "default" : p.service_account());
    if (!id.ok()) return absl::InvalidArgumentError(str_cat("workload ", name, ": identity: ", id.status().message()));
    w->identity = *id;
    std::unique_lock lock(mu_);
    remove_owner_locked(name);  // replace: unindex the old version (of either kind) first
    if (auto old = workloads_.find(p.uid()); old != workloads_.end()) {
      index_workload_locked(old->second, false);
      workloads_.erase(old);
    }
    address_owner_[name] = p.uid();
    workloads_[p.uid()] = w;
    index_workload_locked(w, true);
  } else if (a.has_service()) {
    const auto& p = a.service();
    if (p.hostname().empty()) return absl::InvalidArgumentError(str_cat("service ", name, ": empty hostname"));
    auto s = std::make_shared<Service>(Service{p, str_cat(p.namespace_(), "/", p.hostname()), {}});
    if (s->key != name) {
      return absl::InvalidArgumentError(str_cat("service resource name ", name, " differs from ", s->key));
    }
    for (const auto& na : p.addresses()) {
      auto ip = net::IpAddr::from_bytes(na.address());
      if (!ip) {
        return absl::InvalidArgumentError(
            str_cat("service ", name, ": address of ", na.address().size(), " bytes (want 4 or 16)"));
      }
      s->vips.push_back(*ip);
    }
    for (const auto& port : p.ports()) {
      if (port.service_port() == 0 || port.service_port() > 65535 || port.target_port() > 65535) {
        return absl::InvalidArgumentError(str_cat("service ", name, ": invalid port ", port.service_port()));
      }
    }
    std::unique_lock lock(mu_);
    remove_owner_locked(name);
    if (auto old = services_.find(s->key); old != services_.end()) {
      index_service_locked(old->second, false);
      services_.erase(old);
    }
    address_owner_[name] = s->key;
    services_[s->key] = s;
    index_service_locked(s, true);
  } else {
    return absl::InvalidArgumentError(str_cat("address ", name, ": neither workload nor service"));
  }
  generation_++;
  return absl::OkStatus();
}

namespace {
void index_add(std::map<net::IpAddr, std::vector<std::string>>& m, const net::IpAddr& ip, const std::string& key) {
  auto& v = m[ip];
  std::erase(v, key);
  v.push_back(key);
}
void index_del(std::map<net::IpAddr, std::vector<std::string>>& m, const net::IpAddr& ip, const std::string& key) {
  auto it = m.find(ip);
  if (it == m.end()) return;
  std::erase(it->second, key);
  if (it->second.empty()) m.erase(it);
}
}  // namespace

void State::remove_owner_locked(const std::string& name) {
  auto it = address_owner_.find(name);
  if (it == address_owner_.end()) return;
  if (auto w = workloads_.find(it->second); w != workloads_.end()) {
    index_workload_locked(w->second, false);
    workloads_.erase(w);
  } else if (auto s = services_.find(it->second); s != services_.end()) {
    index_service_locked(s->second, false);
    services_.erase(s);
  }
  address_owner_.erase(it);
}

void State::index_service_locked(const ServicePtr& s, bool add) {
  for (const auto& ip : s->vips) {
    if (add) index_add(vips_, ip, s->key);
    else index_del(vips_, ip, s->key);
  }
}

void State::index_policy_locked(const PolicyPtr& p, bool add) {
  std::set<std::string>* keys = nullptr;
  if (p->proto.scope() == istio::security::GLOBAL) keys = &global_policies_;
  if (p->proto.scope() == istio::security::NAMESPACE) keys = &ns_policies_[p->proto.namespace_()];
  if (!keys) return;  // WORKLOAD_SELECTOR: found through the names the workload lists
  if (add) {
    keys->insert(p->key);
  } else {
    keys->erase(p->key);
    if (keys->empty() && p->proto.scope() == istio::security::NAMESPACE) ns_policies_.erase(p->proto.namespace_());
  }
}

void State::index_workload_locked(const WorkloadPtr& w, bool add) {
  auto name = std::make_pair(w->ns(), w->name());
  if (add) {
    workloads_by_name_[name].insert(w->uid());
  } else if (auto it = workloads_by_name_.find(name); it != workloads_by_name_.end()) {
    it->second.erase(w->uid());
    if (it->second.empty()) workloads_by_name_.erase(it);
  }
  for (const auto& ip : w->ips) {
    if (add) index_add(workload_ips_, ip, w->uid());
    else index_del(workload_ips_, ip, w->uid());
  }
  for (const auto& [svc, _] : w->proto.services()) {
    if (add) {
      endpoints_[svc].insert(w->uid());
    } else if (auto it = endpoints_.find(svc); it != endpoints_.end()) {
      it->second.erase(w->uid());
      if (it->second.empty()) endpoints_.erase(it);
    }
  }
}

void State::remove_address(const std::string& name) {
  std::unique_lock lock(mu_);
  if (!address_owner_.count(name)) return;
  remove_owner_locked(name);
  generation_++;
}

absl::Status State::upsert_policy(const std::string& name, const istio::security::Authorization& p) {
  if (p.name().empty()) return absl::InvalidArgumentError(str_cat("policy ", name, ": empty name"));
  if (!istio::security::Scope_IsValid(p.scope())) {
    return absl::InvalidArgumentError(str_cat("policy ", name, ": unknown scope ", p.scope()));
  }
  if (!istio::security::Action_IsValid(p.action())) {
    return absl::InvalidArgumentError(str_cat("policy ", name, ": unknown action ", p.action()));
  }
  for (const auto& rule : p.rules()) {
    for (const auto& clause : rule.clauses()) {
      for (const auto& m : clause.matches()) {
        for (const auto* list : {&m.source_ips(), &m.not_source_ips(), &m.destination_ips(), &m.not_destination_ips()}) {
          for (const auto& a : *list) {
            auto ip = net::IpAddr::from_bytes(a.address());
            if (!ip || a.length() > (ip->is_v4() ? 32u : 128u)) {
              return absl::InvalidArgumentError(str_cat("policy ", name, ": invalid CIDR in match"));
            }
          }
        }
      }
    }
  }
  auto pol = std::make_shared<Policy>(Policy{p, name});
  std::unique_lock lock(mu_);
  if (auto old = policies_.find(name); old != policies_.end()) index_policy_locked(old->second, false);
  index_policy_locked(pol, true);
  policies_[name] = std::move(pol);
  generation_++;
  policy_generation_++;
  return absl::OkStatus();
}

void State::remove_policy(const std::string& name) {
  std::unique_lock lock(mu_);
  if (auto it = policies_.find(name); it != policies_.end()) index_policy_locked(it->second, false);
  if (policies_.erase(name)) {
    generation_++;
    policy_generation_++;
  }
}

WorkloadPtr State::workload_by_uid(const std::string& uid) const {
  std::shared_lock lock(mu_);
  auto it = workloads_.find(uid);
  return it == workloads_.end() ? nullptr : it->second;
}

WorkloadPtr State::workload_by_ip(const net::IpAddr& ip) const {
  std::shared_lock lock(mu_);
  auto it = workload_ips_.find(ip);
  if (it == workload_ips_.end() || it->second.empty()) return nullptr;
  auto w = workloads_.find(it->second.back());
  return w == workloads_.end() ? nullptr : w->second;
}

WorkloadPtr State::workload_by_info(const std::string& ns, const std::string& name, const std::string& sa) const {
  std::shared_lock lock(mu_);
  auto it = workloads_by_name_.find(std::make_pair(ns, name));
  if (it == workloads_by_name_.end()) return nullptr;
  for (const auto& uid : it->second) {  // uid order, as a scan of workloads_ would find them
    auto w = workloads_.find(uid);
    if (w == workloads_.end()) continue;
    const std::string& wsa = w->second->proto.service_account();
    if (sa.empty() || (wsa.empty() ? "default" : wsa) == sa) return w->second;
  }
  return nullptr;
}

ServicePtr State::service_by_vip(const net::IpAddr& ip) const {
  std::shared_lock lock(mu_);
  auto it = vips_.find(ip);
  if (it == vips_.end() || it->second.empty()) return nullptr;
  auto s = services_.find(it->second.back());
  return s == services_.end() ? nullptr : s->second;
}

ServicePtr State::service_by_host(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = services_.find(key);
  return it == services_.end() ? nullptr : it->second;
}

std::vector<WorkloadPtr> State::endpoints(const std::string& service_key) const {
  std::shared_lock lock(mu_);
  std::vector<WorkloadPtr> out;
  auto it = endpoints_.find(service_key);
  if (it == endpoints_.end()) return out;
  for (const auto& uid : it->second) {
    if (auto w = workloads_.find(uid); w != workloads_.end()) out.push_back(w->second);
  }
  return out;
}

std::vector<PolicyPtr> State::policies_for(const Workload& dst) const {
  std::shared_lock lock(mu_);
  // Keys in "ns/name" order (the order a scan of policies_ gives), gathered from the indexes.
  std::set<std::string> keys(global_policies_);
  if (auto it = ns_policies_.find(dst.ns()); it != ns_policies_.end()) keys.insert(it->second.begin(), it->second.end());
  for (const auto& key : dst.proto.authorization_policies()) {
    auto p = policies_.find(key);
    if (p != policies_.end() && p->second->proto.scope() == istio::security::WORKLOAD_SELECTOR) keys.insert(key);
  }
  std::vector<PolicyPtr> out;
  out.reserve(keys.size());
  for (const auto& key : keys) {
    if (auto p = policies_.find(key); p != policies_.end()) out.push_back(p->second);
  }
  return out;
}

std::vector<WorkloadPtr> State::workloads() const {
  std::shared_lock lock(mu_);
  std::vector<WorkloadPtr> out;
  for (const auto& [_, w] : workloads_) out.push_back(w);
  return out;
}

std::vector<ServicePtr> State::services() const {
  std::shared_lock lock(mu_);
  std::vector<ServicePtr> out;
  for (const auto& [_, s] : services_) out.push_back(s);
  return out;
}

std::vector<PolicyPtr> State::policies() const {
  std::shared_lock lock(mu_);
  std::vector<PolicyPtr> out;
  for (const auto& [_, p] : policies_) out.push_back(p);
  return out;
}

}  // namespace ambit::wds
