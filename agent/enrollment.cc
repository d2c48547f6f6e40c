#include "agent/enrollment.h"

#include <nlohmann/json.hpp>

#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/net/ip_addr.h"
#include "common/net/netns.h"

namespace ambit::agent {

namespace {
spdlog::logger& lg() { return log::scope("enroll"); }
constexpr auto kZdsTimeout = std::chrono::seconds(5);
}  // namespace

Enrollment::Enrollment(std::string node, Capture* capture, ZtunnelLink* ztunnel, std::string state_file,
                       metrics::Registry* m)
    : node_(std::move(node)),
      capture_(capture),
      ztunnel_(ztunnel),
      state_file_(std::move(state_file)),
      enrolled_gauge_(m->gauge("ambit_agent_enrolled_pods", "Pods whose traffic is captured for ztunnel").with({})),
      reconcile_errors_(m->counter("ambit_agent_reconcile_errors_total", "Enroll/release attempts that failed").with({})),
      stale_removed_(m->counter("ambit_agent_stale_removed_total",
                                "Pods and capture entries found at start with no live network namespace, removed")
                         .with({})) {}

Enrollment::~Enrollment() { stop(); }

CapturedPod Enrollment::captured(const PodRecord& p) const {
  CapturedPod c;
  c.uid = p.uid;
  c.netns_path = p.netns_path;
  c.ifname = p.ifname;
  c.ip4 = net::IpAddr::parse(p.ip4).value_or(net::IpAddr());
  if (auto ip6 = net::IpAddr::parse(p.ip6); ip6 && !ip6->is_v4()) c.ip6 = *ip6;
  return c;
}

absl::Status Enrollment::load() {
  auto text = crypto::read_file(state_file_);
  if (!text.ok()) return absl::OkStatus();  // first start
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return absl::InvalidArgumentError(str_cat("state file ", state_file_, " is not a JSON array; remove it to start fresh"));
  }
  std::lock_guard lock(mu_);
  bool forgot = false;
  for (const auto& e : j) {
    PodRecord p;
    p.uid = e.value("uid", "");
    p.name = e.value("name", "");
    p.ns = e.value("namespace", "");
    p.netns_path = e.value("netns", "");
    p.ifname = e.value("ifname", "eth0");
    p.ip4 = e.value("ip4", "");
    p.ip6 = e.value("ip6", "");  // absent in files of agents before IPv6 capture
    p.container_id = e.value("containerId", "");
    if (p.uid.empty()) continue;
    // A missed DEL: the runtime deleted the namespace while no agent listened. Nothing of the pod
    // is left to capture; keeping it would hand ztunnel a dead namespace in every snapshot.
    if (auto ns = net::open_netns(p.netns_path); !ns.ok() && absl::IsNotFound(ns.status())) {
      lg().warn("pod {}/{} ({}): network namespace {} is gone (its CNI DEL was missed): forgetting it", p.ns,
                p.name, p.uid, p.netns_path);
      stale_removed_.inc();
      forgot = true;
      continue;
    }
    // What the kernel captures now (pins of the previous agent) counts as enrolled: the
    // restart must not touch it. ztunnel re-learns the pod from the next ZDS snapshot.
    if (capture_->captured(captured(p))) {
      enrolled_.insert(p.uid);
      in_ztunnel_.insert(p.uid);
      // Re-apply the capture idempotently: the tc filter is replaced in place (no window), so a
      // pod captured by the previous agent runs this agent's inbound program from now on.
      if (auto s = capture_->enroll(captured(p)); !s.ok()) {
        lg().warn("refreshing capture of {}/{}: {} (the previous agent's programs stay)", p.ns, p.name, s.message());
      }
    }
    pods_[p.uid] = p;
  }
  // Capture entries of namespaces no known pod has any more (the same missed DEL): in the pinned
  // maps they would outlive everything else. Every enrolled pod is in the state file (cni_add
  // persists it before enrolling), so an entry no known pod accounts for is stale. Without a
  // state file at all (returned above) nothing is removed: that would uncapture live pods.
  std::vector<CapturedPod> known;
  for (const auto& [uid, p] : pods_) known.push_back(captured(p));
  for (const auto& what : capture_->remove_stale(known)) {
    lg().warn("removed stale capture entry {}: no live pod's network namespace has it", what);
    stale_removed_.inc();
  }
  if (forgot) {
    if (auto s = persist_locked(); !s.ok()) lg().warn("persisting pods after forgetting stale ones: {}", s.message());
  }
  enrolled_gauge_.set(static_cast<double>(enrolled_.size()));
  lg().info("loaded {} pods from {} ({} still captured)", pods_.size(), state_file_, enrolled_.size());
  return absl::OkStatus();
}

absl::Status Enrollment::persist_locked() const {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& [uid, p] : pods_) {
    j.push_back({{"uid", p.uid}, {"name", p.name}, {"namespace", p.ns}, {"netns", p.netns_path},
                 {"ifname", p.ifname}, {"ip4", p.ip4}, {"ip6", p.ip6}, {"containerId", p.container_id}});
  }
  return crypto::write_file_atomic(state_file_, j.dump(2), 0600);
}

void Enrollment::start() { thread_ = std::thread([this] { loop(); }); }

void Enrollment::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  done_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Enrollment::set_wds_synced(std::function<bool()> synced) {
  std::lock_guard lock(mu_);
  wds_synced_ = std::move(synced);
}

void Enrollment::kick() {
  dirty_ = true;
  cv_.notify_all();
}

bool Enrollment::desired_locked(const PodRecord& p, const Wds** w) const {
  auto it = wds_.find(str_cat(p.ns, "/", p.name));
  if (w) *w = it == wds_.end() ? nullptr : &it->second;
  return it != wds_.end() && it->second.hbone && it->second.node == node_;
}

void Enrollment::loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::seconds(5), [this] { return dirty_ || stop_; });
    if (stop_) break;
    dirty_ = false;
    reconcile_locked(lock);
  }
}

// Runs with mu_ held; drops it around ZDS round trips so CNI requests and WDS updates keep flowing.
void Enrollment::reconcile_locked(std::unique_lock<std::mutex>& lock) {
  std::vector<PodRecord> to_enroll, to_release;
  std::map<std::string, std::string> sa;
  const bool complete = wds_synced_();
  for (const auto& [uid, p] : pods_) {
    const Wds* w = nullptr;
    bool want = desired_locked(p, &w);
    bool have = enrolled_.count(uid) > 0;
    if (want && !have) {
      to_enroll.push_back(p);
      sa[uid] = w->service_account.empty() ? "default" : w->service_account;
    } else if (!want && have && complete) {
      to_release.push_back(p);
    }
  }
  for (const auto& p : to_release) {
    lock.unlock();
    absl::Status s = capture_->release(captured(p));
    lock.lock();
    if (s.ok()) {
      enrolled_.erase(p.uid);
      errors_.erase(p.uid);
      lg().info("released pod {}/{} ({}): new connections go direct; open ones continue", p.ns, p.name, p.uid);
    } else {
      errors_[p.uid] = std::string(s.message());
      reconcile_errors_.inc();
      lg().warn("release {}/{}: {}", p.ns, p.name, s.message());
    }
  }
  for (const auto& p : to_enroll) {
    std::string account = sa[p.uid];
    lock.unlock();
    // ztunnel first: once it acked, its listeners exist inside the pod.
    absl::Status s = ztunnel_->add(p, account, kZdsTimeout);
    if (s.ok()) s = capture_->enroll(captured(p));
    lock.lock();
    if (!pods_.count(p.uid)) continue;  // deleted meanwhile
    if (s.ok()) {
      enrolled_.insert(p.uid);
      in_ztunnel_.insert(p.uid);
      errors_.erase(p.uid);
      lg().info("enrolled pod {}/{} ({}) via {}", p.ns, p.name, p.uid, capture_->mode());
    } else {
      errors_[p.uid] = std::string(s.message());
      reconcile_errors_.inc();
      lg().warn("enroll {}/{}: {}", p.ns, p.name, s.message());
    }
  }
  enrolled_gauge_.set(static_cast<double>(enrolled_.size()));
  done_cv_.notify_all();
}

absl::Status Enrollment::cni_add(const PodRecord& pod, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  pods_[pod.uid] = pod;
  AMBIT_RETURN_IF_ERROR(persist_locked());
  errors_.erase(pod.uid);
  kick();
  std::string key = str_cat(pod.ns, "/", pod.name);
  for (;;) {
    if (stop_) return absl::UnavailableError("agent is shutting down");
    auto w = wds_.find(key);
    if (w != wds_.end()) {
      bool want = w->second.hbone && w->second.node == node_;
      if (!want) return absl::OkStatus();  // not ambient: nothing to wait for
      if (enrolled_.count(pod.uid)) return absl::OkStatus();
      if (auto e = errors_.find(pod.uid); e != errors_.end()) {
        return absl::UnavailableError(str_cat("pod ", key, " could not be enrolled: ", e->second));
      }
    }
    if (done_cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      auto now = wds_.find(key);
      if (now == wds_.end()) {
        return absl::DeadlineExceededError(str_cat("pod ", key, " is not known to istiod (no WDS workload) yet"));
      }
      if (!(now->second.hbone && now->second.node == node_)) return absl::OkStatus();
      if (enrolled_.count(pod.uid)) return absl::OkStatus();
      return absl::DeadlineExceededError(str_cat("pod ", key, " was not acknowledged by ztunnel in time"));
    }
  }
}

absl::Status Enrollment::cni_del(const std::string& id) {
  PodRecord p;
  bool was_enrolled, in_zt;
  std::string uid = id;
  {
    std::lock_guard lock(mu_);
    auto it = pods_.find(uid);
    if (it == pods_.end()) {
      for (auto j = pods_.begin(); j != pods_.end(); ++j) {
        if (!j->second.container_id.empty() && j->second.container_id == id) it = j;
      }
      if (it == pods_.end()) return absl::OkStatus();  // DEL is idempotent
      uid = it->first;
    }
    p = it->second;
    was_enrolled = enrolled_.count(uid) > 0;
    in_zt = in_ztunnel_.count(uid) > 0;
    pods_.erase(it);
    enrolled_.erase(uid);
    in_ztunnel_.erase(uid);
    errors_.erase(uid);
    (void)persist_locked();
    enrolled_gauge_.set(static_cast<double>(enrolled_.size()));
  }
  if (was_enrolled) (void)capture_->release(captured(p));
  if (in_zt) {
    if (auto s = ztunnel_->del(uid, kZdsTimeout); !s.ok()) lg().warn("ZDS del {}: {}", uid, s.message());
  }
  lg().info("pod {}/{} ({}) deleted", p.ns, p.name, uid);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Enrollment::check(const std::string& uid) {
  std::lock_guard lock(mu_);
  auto it = pods_.find(uid);
  if (it == pods_.end()) return absl::NotFoundError(str_cat("pod ", uid, " is not registered with the agent"));
  bool want = desired_locked(it->second, nullptr);
  bool have = enrolled_.count(uid) > 0;
  if (want && !have) return absl::FailedPreconditionError(str_cat("pod ", uid, " should be enrolled but is not"));
  return std::string(have ? "enrolled" : "not enrolled");
}

void Enrollment::wds_upsert(const istio::workload::Workload& w) {
  std::lock_guard lock(mu_);
  std::string key = str_cat(w.namespace_(), "/", w.name());
  Wds v{w.tunnel_protocol() == istio::workload::HBONE, w.node(), w.service_account()};
  auto it = wds_.find(key);
  if (it != wds_.end() && it->second.hbone == v.hbone && it->second.node == v.node &&
      it->second.service_account == v.service_account) {
    return;
  }
  wds_[key] = v;
  wds_keys_[w.uid()] = key;
  kick();
  done_cv_.notify_all();
}

void Enrollment::wds_remove(const std::string& uid) {
  std::lock_guard lock(mu_);
  auto it = wds_keys_.find(uid);
  if (it == wds_keys_.end()) return;
  wds_.erase(it->second);
  wds_keys_.erase(it);
  kick();
}

std::vector<std::pair<PodRecord, std::string>> Enrollment::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<PodRecord, std::string>> out;
  for (const auto& [uid, p] : pods_) {
    const Wds* w = nullptr;
    if (desired_locked(p, &w) || enrolled_.count(uid)) {
      out.emplace_back(p, w && !w->service_account.empty() ? w->service_account : "default");
    }
  }
  return out;
}

size_t Enrollment::enrolled_count() const {
  std::lock_guard lock(mu_);
  return enrolled_.size();
}

std::string Enrollment::status_json() const {
  std::lock_guard lock(mu_);
  nlohmann::json pods = nlohmann::json::array();
  for (const auto& [uid, p] : pods_) {
    nlohmann::json e = {{"uid", uid}, {"name", p.name}, {"namespace", p.ns}, {"ip", p.ip4},
                        {"netns", p.netns_path}, {"enrolled", enrolled_.count(uid) > 0},
                        {"ambient", desired_locked(p, nullptr)}};
    if (auto it = errors_.find(uid); it != errors_.end()) e["error"] = it->second;
    pods.push_back(e);
  }
  return nlohmann::json{{"node", node_}, {"mode", capture_->mode()}, {"pods", pods}}.dump(2);
}

}  // namespace ambit::agent
