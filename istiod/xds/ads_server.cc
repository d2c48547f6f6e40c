#include "istiod/xds/ads_server.h"

#include <google/protobuf/util/json_util.h>

#include <atomic>
#include <optional>

#include "common/base/log.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "istio/security/authorization.pb.h"
#include "ambit/waypoint/v1/resource.pb.h"
#include "istio/workload/workload.pb.h"
#include "istiod/xds/node_id.h"
#include "istiod/xds/waypoint_identity.h"

namespace ambit::istiod::xds {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using Clock = std::chrono::steady_clock;

namespace {
spdlog::logger& lg() { return log::scope("xds"); }

constexpr size_t kMaxNackMessage = 1024;

// At most `max` bytes of `s`, cut before a UTF-8 sequence rather than inside one: the text ends
// up in /debug/connections' JSON.
std::string truncate_utf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  return s.substr(0, n);
}

// "ipv4:10.0.0.1:5000" -> "ipv4:10.0.0.1": a client's streams come from many source ports.
std::string peer_host(const std::string& peer) {
  auto colon = peer.rfind(':');
  if (colon == std::string::npos || peer.rfind("unix", 0) == 0) return peer;
  return peer.substr(0, colon);
}

const std::vector<std::string>& served_types() {
  // WDS first: a waypoint's listeners and routes name Services it should already hold.
  static const std::vector<std::string> t = {ambient::kAddressType, ambient::kAuthorizationType,
                                             ambient::kWaypointResourceType};
  return t;
}
}  // namespace

std::string metric_type(const std::string& type_url) {
  if (type_url == ambient::kAddressType) return "wads";
  if (type_url == ambient::kAuthorizationType) return "wdsauthz";
  if (type_url == ambient::kWaypointResourceType) return "waypoint";
  return "unknown";
}

// One delta ADS stream. Lifetime: created by DeltaAggregatedResources, deleted in OnDone.
// Locking: mu_ guards all state; gRPC operations are started after releasing it, so a reaction
// run inline by the library can never deadlock on it.
class Connection final : public grpc::ServerBidiReactor<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
 public:
  Connection(AdsServer* server, grpc::CallbackServerContext* ctx) : server_(server), ctx_(ctx) {
    info_.peer = ctx->peer();
    info_.connected_at = crypto::format_time(std::chrono::system_clock::now());
    creds_ = security::credentials_of(*ctx);
    server_->attach(this);
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed or went away.
      finish(grpc::Status::OK);
      return;
    }
    grpc::Status st = handle(req_);
    if (!st.ok()) {
      finish(st);
      return;
    }
    StartRead(&req_);
    maybe_write();
  }

  void OnWriteDone(bool ok) override {
    Clock::time_point changed_at;
    std::string type;
    std::optional<grpc::Status> deferred;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      changed_at = in_flight_changed_at_;
      type = in_flight_type_;
      if (pending_finish_) {
        deferred = std::move(pending_finish_);
        pending_finish_.reset();
        finished_ = true;
      }
    }
    if (deferred) {
      Finish(*deferred);
      return;
    }
    if (!ok) {
      finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    if (changed_at != Clock::time_point{}) {
      server_->convergence_.with({metric_type(type)})
          .observe(std::chrono::duration<double>(Clock::now() - changed_at).count());
    }
    maybe_write();
  }

  void OnDone() override {
    if (!client_key_.empty()) server_->release(client_key_);
    server_->detach(this);
    unref();
  }

  // AdsServer::push holds a reference while it enqueues outside its lock.
  void ref() { refs_.fetch_add(1); }
  void unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  void OnCancel() override { lg().debug("stream {} cancelled", info_.node_id); }

  // Called by AdsServer::push (config thread).
  void enqueue(const ambient::Changes& c, Clock::time_point changed_at) {
    {
      std::lock_guard lock(mu_);
      for (auto& [type, ts] : types_) {
        const std::set<std::string>* names = nullptr;
        if (type == ambient::kAddressType) {
          names = &c.addresses;
        } else if (type == ambient::kAuthorizationType) {
          names = &c.authorizations;
        } else if (waypoint_) {
          auto it = c.waypoints.find(*waypoint_);
          if (it != c.waypoints.end()) names = &it->second;
        }
        if (!names || names->empty() || !ts.subscribed) continue;
        ts.pending.insert(names->begin(), names->end());
        if (ts.oldest_change == Clock::time_point{}) ts.oldest_change = changed_at;
      }
    }
    maybe_write();
  }

  ClientInfo info() const {
    std::lock_guard lock(mu_);
    ClientInfo i = info_;
    for (const auto& [type, ts] : types_) i.resources[type] = ts.known.size();
    return i;
  }

  bool matches(const std::string& proxy_id) const {
    std::lock_guard lock(mu_);
    return !info_.node_id.empty() &&
           (proxy_id == info_.node_id || proxy_id == pod_name_ || proxy_id == pod_name_ + "." + pod_ns_);
  }

  // lookup() for the debug views, from outside the stream's lock.
  ambient::ResourcePtr lookup_unlocked(const std::string& type, const std::string& name) const {
    std::lock_guard lock(mu_);
    return lookup(type, name);
  }

  // What this stream reads for `type`: the index's global resources, or its waypoint's own.
  // Called with mu_ held (waypoint_ is set under it).
  ambient::ResourcePtr lookup(const std::string& type, const std::string& name) const {
    if (type != ambient::kWaypointResourceType) return server_->index_->find(type, name);
    return waypoint_ ? server_->index_->find_waypoint_resource(*waypoint_, name) : nullptr;
  }
  std::vector<ambient::ResourcePtr> lookup_all(const std::string& type) const {
    if (type != ambient::kWaypointResourceType) return server_->index_->all(type);
    return waypoint_ ? server_->index_->waypoint_resources(*waypoint_) : std::vector<ambient::ResourcePtr>{};
  }

  // name -> version the client holds, per type.
  std::map<std::string, std::map<std::string, std::string>> known() const {
    std::lock_guard lock(mu_);
    std::map<std::string, std::map<std::string, std::string>> out;
    for (const auto& [type, ts] : types_) out[type] = ts.known;
    return out;
  }

 private:
  struct TypeState {
    bool subscribed = false;
    bool wildcard = false;
    std::set<std::string> names;                // explicit subscriptions (resource names)
    std::map<std::string, std::string> known;   // what the client holds: name -> version
    std::set<std::string> pending;              // names to re-evaluate
    bool full = false;                          // re-evaluate everything subscribed
    // Every subscribed type gets at least one response, even if empty: ztunnel is not ready
    // until it has heard from istiod for each type.
    bool initial_sent = false;
    Clock::time_point oldest_change{};
  };

  bool wants(const TypeState& ts, const std::string& name) const {
    return ts.wildcard || ts.names.count(name) > 0;
  }

  // Ends the stream for a request past a limit; counted and logged with who sent it.
  grpc::Status reject(const LimitViolation& v) {
    server_->count_rejection(v);
    lg().warn("xDS stream from {} ({}) ended: {}", ctx_->peer(), info_.node_id.empty() ? "no node yet" : info_.node_id,
              v.status.error_message());
    return v.status;
  }

  size_t subscribed_names() const {
    size_t n = 0;
    for (const auto& [_, ts] : types_) n += ts.names.size();
    return n;
  }

  grpc::Status handle(const DeltaDiscoveryRequest& r) {
    std::lock_guard lock(mu_);
    // Before anything from the request is stored, logged or looked up.
    if (auto v = check_name_lengths(r, server_->limits_)) return reject(*v);
    if (!authenticated_) {
      if (!r.has_node() || r.node().id().empty()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first request must carry node.id");
      }
      auto node = parse_node_id(r.node().id());
      if (!node.ok()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(node.status().message()));
      auto caller = server_->auth_->authenticate(creds_);
      if (!caller.ok()) {
        server_->auth_failures_.with({"unauthenticated"}).inc();
        lg().warn("xDS stream from {} ({}) refused: {}", ctx_->peer(), r.node().id(), caller.status().message());
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(caller.status().message()));
      }
      // EnableXDSIdentityCheck: the authenticated identity must be of the node's namespace.
      if (caller->method != "anonymous" && caller->identity.ns() != node->ns) {
        server_->auth_failures_.with({"identity_mismatch"}).inc();
        std::string msg = str_cat("authenticated identity ", caller->identity.to_string(),
                                  " does not match the namespace of node ", node->raw);
        lg().warn("xDS stream refused: {}", msg);
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, msg);
      }
      if (caller->method == "node-token") {
        // A node credential only speaks for its own node's ztunnel.
        const auto& md = r.node().metadata().fields();
        auto nn = md.find("NODE_NAME");
        if (nn != md.end() && nn->second.string_value() != caller->node) {
          server_->auth_failures_.with({"identity_mismatch"}).inc();
          std::string msg = str_cat("node credential is for node ", caller->node, " but NODE_NAME is ",
                                    nn->second.string_value());
          lg().warn("xDS stream refused: {}", msg);
          return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, msg);
        }
      }
      // Keyed by who the caller proved to be and where it connects from: every ztunnel shares
      // the ztunnel identity (its node differs), and many pods may share a service account.
      std::string client = str_cat(caller->identity.to_string(), caller->node.empty() ? "" : " on node ",
                                   caller->node, " at ", peer_host(ctx_->peer()));
      if (auto v = server_->admit(client)) return reject(*v);
      client_key_ = client;
      authenticated_ = true;
      caller_ = *caller;
      node_ = *node;
      node_metadata_ = r.node().metadata();
      info_.node_id = node->raw;
      info_.identity = caller->identity.to_string();
      info_.auth_method = caller->method;
      pod_name_ = node->pod_name;
      pod_ns_ = node->ns;
      lg().info("xDS stream from {} node {} as {} ({})", ctx_->peer(), node->raw, info_.identity, caller->method);
    }

    const std::string& type = r.type_url();
    if (type != ambient::kAddressType && type != ambient::kAuthorizationType &&
        type != ambient::kWaypointResourceType) {
      lg().warn("{}: ignoring request for unsupported type {}", info_.node_id, type);
      return grpc::Status::OK;
    }
    if (type == ambient::kWaypointResourceType && !waypoint_) {
      // Decided once per stream, before anything of this type is stored or sent.
      auto wp = waypoint_of(node_, node_metadata_);
      if (!wp.ok()) {
        server_->auth_failures_.with({"waypoint_node"}).inc();
        lg().warn("xDS stream from {} refused waypoint config: {}", ctx_->peer(), wp.status().message());
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(wp.status().message()));
      }
      if (auto st = authorize_waypoint(*caller_, *wp); !st.ok()) {
        server_->auth_failures_.with({"identity_mismatch"}).inc();
        lg().warn("xDS stream from {} refused: {}", ctx_->peer(), st.message());
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, std::string(st.message()));
      }
      waypoint_ = *wp;
      info_.waypoint = wp->to_string();
    }
    TypeState& ts = types_[type];

    if (!r.response_nonce().empty()) {
      if (r.has_error_detail()) {
        ++info_.nacks;
        // Kept for /debug/connections; a client's message is not ours to hold in full.
        info_.last_nack = truncate_utf8(r.error_detail().message(), kMaxNackMessage);
        server_->rejects_.with({metric_type(type)}).inc();
        lg().warn("{} NACKed {} nonce {}: {}", info_.node_id, metric_type(type), r.response_nonce(),
                  info_.last_nack);
      } else {
        ++info_.acks;
        server_->acks_.with({metric_type(type)}).inc();
      }
    }

    bool first = !ts.subscribed;
    if (first) {
      ts.subscribed = true;
      // Delta xDS: a first request with no names is a wildcard subscription.
      ts.wildcard = r.resource_names_subscribe().empty();
      for (const auto& [name, version] : r.initial_resource_versions()) ts.known[name] = version;
      ts.full = true;
    }
    for (const auto& n : r.resource_names_subscribe()) {
      if (n == "*") {
        ts.wildcard = true;
        ts.full = true;
        continue;
      }
      std::string name = n;
      if (type == ambient::kAddressType && !server_->index_->find(type, name)) {
        std::string resolved = server_->index_->resolve_alias(n);
        if (!resolved.empty()) name = resolved;
      }
      ts.names.insert(name);
      ts.pending.insert(name);
    }
    for (const auto& n : r.resource_names_unsubscribe()) {
      if (n == "*") {
        ts.wildcard = false;
        ts.full = true;  // drop what is no longer subscribed from `known`
        continue;
      }
      ts.names.erase(n);
      // Unsubscribed resources are forgotten without a removal (the client dropped them).
      ts.known.erase(n);
    }
    // Checked after applying, so re-subscribing held names or swapping names within one request
    // is not counted twice; the overshoot is one request's worth, and the stream ends with it.
    if (auto v = check_subscribed_names(subscribed_names(), server_->limits_)) return reject(*v);
    return grpc::Status::OK;
  }

  // Builds the next response for one type; returns false if nothing to send.
  bool build_locked(const std::string& type, TypeState& ts) {
    resp_.Clear();
    auto add = [&](const ambient::ResourcePtr& r) {
      auto* out = resp_.add_resources();
      out->set_name(r->name);
      out->set_version(r->version);
      for (const auto& a : r->aliases) out->add_aliases(a);
      out->mutable_resource()->set_type_url(r->type_url);
      out->mutable_resource()->set_value(r->bytes);
      ts.known[r->name] = r->version;
    };
    if (ts.full) {
      std::set<std::string> present;
      if (ts.wildcard) {
        for (const auto& r : lookup_all(type)) {
          present.insert(r->name);
          auto k = ts.known.find(r->name);
          if (k == ts.known.end() || k->second != r->version) add(r);
        }
      }
      for (const auto& n : ts.names) {
        if (auto r = lookup(type, n)) {
          present.insert(n);
          auto k = ts.known.find(n);
          if (k == ts.known.end() || k->second != r->version) add(r);
        }
      }
      for (auto it = ts.known.begin(); it != ts.known.end();) {
        if (!present.count(it->first)) {
          resp_.add_removed_resources(it->first);
          it = ts.known.erase(it);
        } else {
          ++it;
        }
      }
      ts.full = false;
      ts.pending.clear();
    } else {
      for (const auto& n : ts.pending) {
        auto r = wants(ts, n) ? lookup(type, n) : nullptr;
        auto k = ts.known.find(n);
        if (r) {
          if (k == ts.known.end() || k->second != r->version) add(r);
        } else if (k != ts.known.end()) {
          resp_.add_removed_resources(n);
          ts.known.erase(k);
        }
      }
      ts.pending.clear();
    }
    if (resp_.resources_size() == 0 && resp_.removed_resources_size() == 0 && ts.initial_sent) {
      ts.oldest_change = Clock::time_point{};
      return false;
    }
    ts.initial_sent = true;
    resp_.set_type_url(type);
    resp_.set_nonce(str_cat(info_.id, "-", ++nonce_));
    resp_.set_system_version_info(str_cat(nonce_));
    resp_.mutable_control_plane()->set_identifier("ambit-istiod");
    in_flight_changed_at_ = ts.oldest_change;
    in_flight_type_ = type;
    ts.oldest_change = Clock::time_point{};
    return true;
  }

  void maybe_write() {
    size_t bytes = 0;
    std::string type_sent;
    {
      std::lock_guard lock(mu_);
      if (writing_ || finished_ || pending_finish_ || !authenticated_) return;
      bool have = false;
      for (const auto& type : served_types()) {  // Address before Authorization, as istiod orders
        auto it = types_.find(type);
        if (it == types_.end() || !it->second.subscribed) continue;
        if (!it->second.full && it->second.pending.empty()) continue;
        if (build_locked(type, it->second)) {
          have = true;
          type_sent = type;
          break;
        }
      }
      if (!have) return;
      writing_ = true;
      ++info_.pushes;
      bytes = resp_.ByteSizeLong();
    }
    server_->pushes_.with({metric_type(type_sent)}).inc();
    server_->config_size_.with({metric_type(type_sent)}).observe(static_cast<double>(bytes));
    StartWrite(&resp_);
  }

  // Finish must not overlap a write: if one is in flight, OnWriteDone finishes instead.
  void finish(const grpc::Status& st) {
    {
      std::lock_guard lock(mu_);
      if (finished_ || pending_finish_) return;
      if (writing_) {
        pending_finish_ = st;
        return;
      }
      finished_ = true;
    }
    Finish(st);
  }

  AdsServer* server_;
  grpc::CallbackServerContext* ctx_;
  security::CallCredentials creds_;
  mutable std::mutex mu_;
  DeltaDiscoveryRequest req_;
  DeltaDiscoveryResponse resp_;
  bool authenticated_ = false;
  bool writing_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> pending_finish_;
  std::atomic<int> refs_{1};
  uint64_t nonce_ = 0;
  Clock::time_point in_flight_changed_at_{};
  std::string in_flight_type_;
  std::map<std::string, TypeState> types_;
  ClientInfo info_;
  std::string pod_name_, pod_ns_;
  std::optional<security::Caller> caller_;  // set once authenticated
  NodeId node_;
  google::protobuf::Struct node_metadata_;
  std::optional<ambient::WaypointRef> waypoint_;  // set once authorized for its L7 config
  std::string client_key_;  // set once admitted against the per-client stream limit

 public:
  void set_id(uint64_t id) { info_.id = id; }
};

AdsServer::AdsServer(const ambient::AmbientIndex* index, const security::Authenticator* auth, metrics::Registry* m,
                     StreamLimits limits)
    : index_(index),
      auth_(auth),
      limits_(limits),
      pushes_(m->counter("pilot_xds_pushes", "Pilot build and send errors for lds, rds, cds and eds.", {"type"})),
      rejects_(m->counter("pilot_total_xds_rejects", "Total number of XDS responses from pilot rejected by proxy.", {"type"})),
      acks_(m->counter("pilot_xds_acks", "Total number of XDS responses acknowledged by proxies.", {"type"})),
      convergence_(m->histogram("pilot_proxy_convergence_time",
                                "Delay in seconds between config change and a proxy receiving all required configuration.",
                                {"type"}, {0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 3, 5, 10, 20, 30})),
      config_size_(m->histogram("pilot_xds_config_size_bytes", "Distribution of configuration sizes pushed to clients",
                                {"type"}, metrics::exponential_buckets(1, 10, 9))),
      auth_failures_(m->counter("pilot_xds_auth_failures", "xDS streams refused by authentication or identity checks.",
                                {"reason"})),
      limit_rejections_(m->counter("ambit_xds_limit_rejections",
                                   "xDS streams ended because a request went past a limit (stream_limits.h).",
                                   {"limit"})) {
  m->collector("pilot_xds", "Number of endpoints connected to this pilot using XDS.", metrics::Type::kGauge,
               {"version"}, [this] {
                 return metrics::Registry::Rows{{{"ambit"}, static_cast<double>(connection_count())}};
               });
}

AdsServer::~AdsServer() = default;

grpc::ServerBidiReactor<DeltaDiscoveryRequest, DeltaDiscoveryResponse>* AdsServer::DeltaAggregatedResources(
    grpc::CallbackServerContext* ctx) {
  return new Connection(this, ctx);
}

void AdsServer::attach(Connection* c) {
  std::lock_guard lock(mu_);
  c->set_id(next_id_++);
  conns_.insert(c);
}

void AdsServer::detach(Connection* c) {
  std::lock_guard lock(mu_);
  conns_.erase(c);
}

std::optional<LimitViolation> AdsServer::admit(const std::string& client) {
  std::lock_guard lock(clients_mu_);
  size_t& open = streams_per_client_[client];
  if (auto v = check_streams_per_client(client, open, limits_)) {
    if (open == 0) streams_per_client_.erase(client);
    return v;
  }
  ++open;
  return std::nullopt;
}

void AdsServer::release(const std::string& client) {
  std::lock_guard lock(clients_mu_);
  auto it = streams_per_client_.find(client);
  if (it == streams_per_client_.end()) return;
  if (--it->second == 0) streams_per_client_.erase(it);
}

void AdsServer::count_rejection(const LimitViolation& v) { limit_rejections_.with({v.limit}).inc(); }

size_t AdsServer::connection_count() const {
  std::lock_guard lock(mu_);
  return conns_.size();
}

void AdsServer::push(const ambient::Changes& changes, Clock::time_point changed_at) {
  if (changes.empty()) return;
  std::vector<Connection*> targets;
  {
    std::lock_guard lock(mu_);
    for (Connection* c : conns_) {
      c->ref();
      targets.push_back(c);
    }
  }
  // Outside the lock: StartWrite may run reactions (even OnDone) inline.
  for (Connection* c : targets) {
    c->enqueue(changes, changed_at);
    c->unref();
  }
}

std::vector<ClientInfo> AdsServer::clients() const {
  std::lock_guard lock(mu_);
  std::vector<ClientInfo> out;
  for (Connection* c : conns_) out.push_back(c->info());
  return out;
}

std::string AdsServer::config_dump(const std::string& proxy_id) const {
  std::lock_guard lock(mu_);
  for (Connection* c : conns_) {
    if (!c->matches(proxy_id)) continue;
    ClientInfo info = c->info();
    std::string out = str_cat("{\"node\":\"", info.node_id, "\",\"identity\":\"", info.identity, "\",\"resources\":[");
    bool first = true;
    for (const auto& [type, known] : c->known()) {
      for (const auto& [name, version] : known) {
        auto r = c->lookup_unlocked(type, name);
        std::string json = "null";
        if (r && r->version == version) {
          google::protobuf::util::JsonPrintOptions opts;
          std::unique_ptr<google::protobuf::Message> m;
          if (type == ambient::kAddressType) {
            m = std::make_unique<istio::workload::Address>();
          } else if (type == ambient::kAuthorizationType) {
            m = std::make_unique<istio::security::Authorization>();
          } else {
            m = std::make_unique<::ambit::waypoint::v1::Resource>();
          }
          m->ParseFromString(r->bytes);
          json.clear();
          (void)google::protobuf::util::MessageToJsonString(*m, &json, opts);
        }
        if (!first) out += ",";
        first = false;
        str_append(&out, "{\"type\":\"", type, "\",\"name\":\"", name, "\",\"version\":\"", version,
                   "\",\"resource\":", json, "}");
      }
    }
    out += "]}";
    return out;
  }
  return "";
}

}  // namespace ambit::istiod::xds
