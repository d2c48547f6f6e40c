#include "waypoint/proxy/request_plan.h"

#include <variant>

#include "common/base/strings.h"
#include "waypoint/l7/authz.h"
#include "waypoint/l7/http_message.h"
#include "waypoint/l7/path_normalize.h"
#include "waypoint/l7/route_table.h"

namespace ambit::waypoint {

namespace {

Plan respond(int status, std::string body, std::string flags = "", std::string detail = "") {
  Plan p;
  p.kind = Plan::Kind::kRespond;
  p.status = status;
  p.body = std::move(body);
  p.response_flags = std::move(flags);
  p.detail = std::move(detail);
  return p;
}

// Filters of a rule or a backend, in order. Returns a plan when one answers locally (a redirect).
std::optional<Plan> apply_filters(const std::vector<l7::CompiledFilter>& filters, const l7::RequestContext& ctx,
                                  http::RequestHead& head, Plan& plan) {
  for (const auto& f : filters) {
    if (const auto* m = std::get_if<l7::RequestHeaderModifier>(&f)) {
      l7::apply_header_modifier(m->mod, &head.headers);
    } else if (const auto* m = std::get_if<l7::ResponseHeaderModifier>(&f)) {
      plan.response_modifiers.push_back(m->mod);
    } else if (const auto* r = std::get_if<l7::RequestRedirect>(&f)) {
      l7::Redirect red = l7::redirect_response(*r, ctx);
      Plan p = respond(red.status, "");
      p.headers.add("location", red.location);
      p.route = plan.route;
      return p;
    } else if (const auto* u = std::get_if<l7::UrlRewrite>(&f)) {
      l7::apply_url_rewrite(*u, ctx, &head);
    }
    // RequestMirror: the copy is not sent yet (the session has no fire-and-forget upstream);
    // the primary request is unaffected, as the mirror's answer would be ignored anyway.
  }
  return std::nullopt;
}

}  // namespace

Plan plan_request(const L7Snapshot& snap, const Listener& listener, const Peer& peer, const net::IpAddr& dst_ip,
                  http::RequestHead& head, uint64_t draw) {
  if (auto s = l7::validate_method(head.method); !s.ok()) return respond(400, "Bad Request", "", std::string(s.message()));
  auto norm = l7::normalize_path(head.path, snap.normalization);
  if (!norm.ok()) return respond(400, "Bad Request", "", std::string(norm.status().message()));

  l7::AuthzRequest ar;
  ar.source_ip = peer.ip;
  ar.peer = peer.identity;
  ar.destination_ip = dst_ip;
  ar.destination_port = listener.port;
  ar.host = head.authority;
  ar.method = head.method;
  ar.path = norm->path;
  ar.headers = &head.headers;
  l7::AuthzDecision authz = snap.policies->evaluate(listener.service, ar);
  if (!authz.allowed) {
    Plan p = respond(l7::kDeniedStatus, std::string(l7::kDeniedBody), "RBAC", authz.reason);
    p.policy = authz.policy;
    return p;
  }

  // What is matched is what is forwarded (a path a policy saw normalized must not reach the
  // backend in another form).
  head.path = norm->forward();
  Plan plan;
  plan.kind = Plan::Kind::kForward;
  plan.policy = authz.policy;
  l7::RouteRequest rr{head.authority, norm->path, norm->query, head.method, &head.headers};
  l7::RouteDecision d = snap.routes->match(listener.service, listener.port, rr);
  switch (d.kind) {
    case l7::RouteDecision::Kind::kNotFound:
      return respond(404, "route not found", "NR", str_cat("no rule of the routes of ", listener.service.to_string(), " matches"));
    case l7::RouteDecision::Kind::kDefault:
      plan.backend.service = listener.service;
      plan.backend.port = listener.port;
      return plan;
    case l7::RouteDecision::Kind::kRoute:
      break;
  }
  plan.route = d.route->key();
  plan.timeouts = d.rule->timeouts;
  plan.retry = d.rule->retry;
  l7::RequestContext ctx;
  ctx.authority = head.authority;
  ctx.path = norm->path;
  ctx.query = norm->query;
  ctx.has_query = norm->has_query;
  ctx.matched_prefix = d.matched_prefix;
  ctx.listener_port = listener.port;
  if (auto local = apply_filters(d.rule->filters, ctx, head, plan)) return *local;
  const l7::Backend* b = l7::pick_backend(*d.rule, draw);
  if (b == nullptr) return respond(500, "no backend", "", str_cat("route ", plan.route, ": the rule has no backend with weight"));
  if (!b->target.valid()) return respond(500, "invalid backend", "", str_cat("route ", plan.route, ": ", b->target.invalid));
  if (auto local = apply_filters(b->filters, ctx, head, plan)) return *local;
  plan.backend = b->target;
  if (plan.backend.port == 0) plan.backend.port = listener.port;
  return plan;
}

}  // namespace ambit::waypoint
