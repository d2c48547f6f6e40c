// Gateway API (gateway.networking.k8s.io/v1) objects as istiod keeps them: GatewayClass, Gateway,
// HTTPRoute and GRPCRoute, fully typed, with the CRD's defaults applied. The parser
// (config/gateway_api_parser.h) enforces the CRD's validation (enums, limits, CEL rules), so the
// invariants written next to each field hold for everything downstream: the waypoint binding
// (ambient/waypoints.h), the deployment controller and the waypoint's L7 config.
// Field names follow kubernetes-sigs/gateway-api apis/v1/{gateway,httproute,grpcroute}_types.go.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "istiod/model/labels.h"

namespace ambit::istiod {

inline constexpr const char* kGatewayApiGroup = "gateway.networking.k8s.io";

// gateway.networking.k8s.io/v1 GatewayClass (cluster-scoped).
struct GatewayClass {
  std::string controller_name;  // spec.controllerName, required
  std::string description;
};

// gateway.networking.k8s.io/v1 Gateway.
struct Gateway {
  struct RouteGroupKind {
    std::string group = kGatewayApiGroup;
    std::string kind;
  };
  // listeners[].allowedRoutes: which namespaces' routes (and, for a waypoint, which namespaces'
  // Services and Pods through istio.io/use-waypoint) may attach.
  struct AllowedRoutes {
    enum class From { kSame, kAll, kSelector };
    From from = From::kSame;                // namespaces.from, default Same
    std::optional<LabelSelector> selector;  // set iff from == kSelector
    std::vector<RouteGroupKind> kinds;
  };
  struct Listener {
    std::string name;
    std::string hostname;  // "" = any
    uint16_t port = 0;
    std::string protocol;  // HTTP, HTTPS, TLS, TCP, UDP, HBONE, or a domain-prefixed name
    AllowedRoutes allowed_routes;
  };
  // spec.addresses / status.addresses: type IPAddress (a valid IP), Hostname (a DNS name) or
  // NamedAddress (anything).
  struct Address {
    std::string type;
    std::string value;
  };
  std::string gateway_class;  // required
  std::vector<Listener> listeners;  // 1..64, names unique
  std::vector<Address> addresses;
  // status.addresses as the object carries them (a Kubernetes watcher sees the status the
  // controller wrote). Local mode's config files carry none; see ambient/waypoints.h.
  std::vector<Address> status_addresses;
};

// A parentRef of a route (ParentReference).
struct ParentRef {
  std::string group = kGatewayApiGroup;  // "" for core (Service)
  std::string kind = "Gateway";
  std::string name;
  std::string ns;  // "" = the route's namespace
  std::string section_name;
  std::optional<uint16_t> port;
};

struct HeaderMatch {
  enum class Type { kExact, kRegularExpression };
  Type type = Type::kExact;
  std::string name;   // header or query parameter name; HTTP header names compare case-insensitively
  std::string value;  // for kRegularExpression: an RE2 pattern that compiles
};

struct PathMatch {
  enum class Type { kExact, kPathPrefix, kRegularExpression };
  Type type = Type::kPathPrefix;
  std::string value = "/";  // Exact/PathPrefix: starts with '/', no "//", "/./", "/../", "%2f", '#'
};

struct HTTPRouteMatch {
  PathMatch path;  // always set: the CRD defaults it to PathPrefix "/"
  std::vector<HeaderMatch> headers;       // names unique (case-insensitive), at most 16
  std::vector<HeaderMatch> query_params;  // names unique (exact), at most 16
  std::string method;                     // "" = any; else one of the nine RFC 9110 methods
};

struct HeaderModifier {
  std::vector<std::pair<std::string, std::string>> set, add;  // names unique per list
  std::vector<std::string> remove;
};

struct PathModifier {
  enum class Type { kReplaceFullPath, kReplacePrefixMatch };
  Type type = Type::kReplaceFullPath;
  std::string value;
};

struct BackendRef;

struct RequestRedirect {
  std::string scheme;    // "", http or https
  std::string hostname;  // "" = keep
  std::optional<PathModifier> path;
  std::optional<uint16_t> port;
  int status_code = 302;  // 301, 302, 303, 307 or 308
};

struct URLRewrite {
  std::string hostname;
  std::optional<PathModifier> path;
};

struct MirrorTarget {
  std::string group;  // "" = core
  std::string kind = "Service";
  std::string name;
  std::string ns;
  std::optional<uint16_t> port;  // required for a Service
};

struct RequestMirror {
  MirrorTarget backend;
  // At most one of percent (0..100) and fraction (numerator <= denominator, denominator > 0).
  // Neither: mirror everything.
  std::optional<int> percent;
  std::optional<std::pair<int, int>> fraction;
};

struct RouteFilter {
  enum class Type {
    kRequestHeaderModifier,
    kResponseHeaderModifier,
    kRequestRedirect,
    kURLRewrite,
    kRequestMirror,
  };
  Type type = Type::kRequestHeaderModifier;
  HeaderModifier header_modifier;  // kRequestHeaderModifier / kResponseHeaderModifier
  RequestRedirect redirect;        // kRequestRedirect
  URLRewrite rewrite;              // kURLRewrite
  RequestMirror mirror;            // kRequestMirror
};

struct BackendRef {
  std::string group;  // "" = core
  std::string kind = "Service";
  std::string name;
  std::string ns;  // "" = the route's namespace
  std::optional<uint16_t> port;  // required for a Service
  int32_t weight = 1;            // 0..1,000,000
  std::vector<RouteFilter> filters;
};

struct HTTPRouteTimeouts {
  std::optional<std::chrono::milliseconds> request;          // 0 = no timeout
  std::optional<std::chrono::milliseconds> backend_request;  // <= request when both are non-zero
};

struct HTTPRouteRetry {
  std::vector<int> codes;  // 400..599
  std::optional<int> attempts;
  std::optional<std::chrono::milliseconds> backoff;
};

struct HTTPRouteRule {
  std::string name;  // optional, unique within the route
  std::vector<HTTPRouteMatch> matches;  // never empty: the CRD defaults it to one PathPrefix "/"
  std::vector<RouteFilter> filters;
  std::vector<BackendRef> backend_refs;
  HTTPRouteTimeouts timeouts;
  std::optional<HTTPRouteRetry> retry;
};

// gateway.networking.k8s.io/v1 HTTPRoute.
struct HTTPRoute {
  std::vector<ParentRef> parent_refs;
  std::vector<std::string> hostnames;  // lowercase DNS names, optionally "*." wildcard
  std::vector<HTTPRouteRule> rules;    // never empty: the CRD defaults it to one rule
};

struct GRPCMethodMatch {
  enum class Type { kExact, kRegularExpression };
  Type type = Type::kExact;
  std::string service;  // at least one of service and method is set
  std::string method;
};

struct GRPCRouteMatch {
  std::optional<GRPCMethodMatch> method;
  std::vector<HeaderMatch> headers;
};

struct GRPCRouteRule {
  std::string name;
  std::vector<GRPCRouteMatch> matches;  // empty: matches every request
  std::vector<RouteFilter> filters;     // header modifiers and mirrors only
  std::vector<BackendRef> backend_refs;
};

// gateway.networking.k8s.io/v1 GRPCRoute.
struct GRPCRoute {
  std::vector<ParentRef> parent_refs;
  std::vector<std::string> hostnames;
  std::vector<GRPCRouteRule> rules;
};

}  // namespace ambit::istiod
