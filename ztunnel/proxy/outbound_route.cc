#include "ztunnel/proxy/outbound_route.h"

#include "common/base/strings.h"

namespace ambit::ztunnel {
namespace {

// The healthy endpoints first; unhealthy ones only when nothing healthy exists (ztunnel's
// health-aware selection with ONLY_HEALTHY falls back to none; we keep only healthy).
std::vector<wds::WorkloadPtr> healthy(std::vector<wds::WorkloadPtr> eps) {
  std::erase_if(eps, [](const wds::WorkloadPtr& w) { return !w->healthy() || w->ips.empty(); });
  return eps;
}

bool is_waypoint_member(const wds::State& state, const wds::WorkloadPtr& src, const wds::ServicePtr& wp_svc) {
  if (!src || !wp_svc) return false;
  for (const auto& ep : state.endpoints(wp_svc->key)) {
    if (ep->uid() == src->uid()) return true;
  }
  return false;
}

// Resolves a GatewayAddress to a waypoint endpoint: HBONE to <ep ip>:<hbone port>.
bool resolve_waypoint(const wds::State& state, const istio::workload::GatewayAddress& ga, const wds::WorkloadPtr& src,
                      size_t pick, Route* r) {
  uint16_t port = ga.hbone_mtls_port() ? static_cast<uint16_t>(ga.hbone_mtls_port()) : kHbonePort;
  if (ga.has_hostname()) {
    wds::ServicePtr svc = state.service_by_host(str_cat(ga.hostname().namespace_(), "/", ga.hostname().hostname()));
    if (!svc) {
      r->error = str_cat("waypoint service ", ga.hostname().hostname(), " not found");
      return false;
    }
    if (is_waypoint_member(state, src, svc)) return false;  // traffic from the waypoint itself
    auto eps = healthy(state.endpoints(svc->key));
    if (eps.empty()) {
      r->error = str_cat("waypoint ", ga.hostname().hostname(), " has no healthy endpoints");
      return false;
    }
    const wds::WorkloadPtr& ep = eps[pick % eps.size()];
    r->connect_to = net::SocketAddr{ep->ips[0], port};
    r->expected = {ep->identity};
    for (const auto& san : svc->proto.subject_alt_names()) {
      if (auto id = SpiffeId::parse(san); id.ok()) r->expected.push_back(*id);
    }
    r->via_waypoint = true;
    return true;
  }
  if (ga.has_address()) {
    auto ip = net::IpAddr::from_bytes(ga.address().address());
    if (!ip) {
      r->error = "waypoint address is not an IP";
      return false;
    }
    wds::WorkloadPtr wp = state.workload_by_ip(*ip);
    if (!wp) {
      r->error = str_cat("waypoint ", ip->to_string(), " is not a known workload");
      return false;
    }
    if (src && wp->uid() == src->uid()) return false;
    r->connect_to = net::SocketAddr{*ip, port};
    r->expected = {wp->identity};
    r->via_waypoint = true;
    return true;
  }
  return false;
}

}  // namespace

Route resolve_outbound(const wds::State& state, const wds::WorkloadPtr& src, const net::SocketAddr& orig, size_t pick) {
  Route r;
  r.authority = orig.to_string();
  if (wds::ServicePtr svc = state.service_by_vip(orig.ip)) {
    r.dst_service = svc;
    const istio::workload::Port* port = nullptr;
    for (const auto& p : svc->proto.ports()) {
      if (p.service_port() == orig.port) port = &p;
    }
    if (!port) {
      r.error = str_cat("service ", svc->proto.hostname(), " has no port ", orig.port);
      return r;
    }
    if (svc->proto.has_waypoint()) {
      if (resolve_waypoint(state, svc->proto.waypoint(), src, pick, &r)) {
        r.kind = Route::Kind::kHbone;  // authority stays the VIP:port
        return r;
      }
      if (!r.error.empty()) return r;
    }
    auto eps = healthy(state.endpoints(svc->key));
    if (eps.empty()) {
      r.error = str_cat("service ", svc->proto.hostname(), " has no healthy endpoints");
      return r;
    }
    wds::WorkloadPtr ep = eps[pick % eps.size()];
    uint16_t target = static_cast<uint16_t>(port->target_port());
    if (auto it = ep->proto.services().find(svc->key); it != ep->proto.services().end()) {
      for (const auto& p : it->second.ports()) {
        if (p.service_port() == orig.port && p.target_port() != 0) target = static_cast<uint16_t>(p.target_port());
      }
    }
    if (target == 0) target = orig.port;
    r.dst_workload = ep;
    net::SocketAddr dst{ep->ips[0], target};
    if (ep->hbone()) {
      r.kind = Route::Kind::kHbone;
      r.connect_to = net::SocketAddr{ep->ips[0], kHbonePort};
      r.authority = dst.to_string();
      r.expected = {ep->identity};
      for (const auto& san : svc->proto.subject_alt_names()) {
        if (auto id = SpiffeId::parse(san); id.ok()) r.expected.push_back(*id);
      }
    } else {
      r.kind = Route::Kind::kTcp;
      r.connect_to = dst;
    }
    return r;
  }
  if (wds::WorkloadPtr wl = state.workload_by_ip(orig.ip)) {
    r.dst_workload = wl;
    if (wl->proto.has_waypoint() && !(src && src->uid() == wl->uid())) {
      if (resolve_waypoint(state, wl->proto.waypoint(), src, pick, &r)) {
        r.kind = Route::Kind::kHbone;
        return r;
      }
      if (!r.error.empty()) return r;
    }
    if (wl->hbone()) {
      r.kind = Route::Kind::kHbone;
      r.connect_to = net::SocketAddr{orig.ip, kHbonePort};
      r.expected = {wl->identity};
      return r;
    }
    r.kind = Route::Kind::kTcp;
    r.connect_to = orig;
    return r;
  }
  // Not in the mesh: passthrough.
  r.kind = Route::Kind::kTcp;
  r.connect_to = orig;
  return r;
}

}  // namespace ambit::ztunnel
