#include "istiod/config/gateway_api_parser.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "common/base/strings.h"
#include "istiod/config/yaml_parser.h"

namespace ambit::istiod::parse {
namespace {

// CRD list limits (kubebuilder MaxItems) and the CEL cap on matches per route.
constexpr size_t kMaxParentRefs = 32;
constexpr size_t kMaxHostnames = 16;
constexpr size_t kMaxRules = 16;
constexpr size_t kMaxMatchesPerRule = 64;
constexpr size_t kMaxMatchesPerRoute = 128;
constexpr size_t kMaxHeaderMatches = 16;
constexpr size_t kMaxFilters = 16;
constexpr size_t kMaxBackendRefs = 16;
constexpr size_t kMaxHeaderModifications = 16;
constexpr size_t kMaxListeners = 64;
constexpr size_t kMaxAddresses = 16;
constexpr size_t kMaxPathLength = 1024;
constexpr size_t kMaxHeaderValueLength = 4096;
constexpr int32_t kMaxWeight = 1000000;

void at_most(const Field& f, size_t max) {
  if (f.size() > max) f.fail(str_cat("at most ", max, " entries are allowed, got ", f.size()));
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Hostname (routes, listeners): a DNS-1123 subdomain in lowercase, optionally with a leading
// "*." label; never an IP address.
std::string route_hostname(const Field& f, bool allow_wildcard) {
  std::string h = f.required_str();
  std::string_view rest = h;
  if (allow_wildcard && rest.substr(0, 2) == "*.") rest.remove_prefix(2);
  if (h.size() > 253 || !valid_dns1123_subdomain(rest)) {
    f.fail(str_cat("'", printable(h), "' is not a ", allow_wildcard ? "hostname (a DNS name, optionally *.-prefixed)"
                                                                    : "precise hostname (a DNS name)"));
  }
  if (valid_ip(h)) f.fail(str_cat("'", printable(h), "' is an IP address; a hostname is required"));
  return h;
}

// RFC 7230 token characters: what a header name may contain.
bool valid_header_name(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::string header_name(const Field& f) {
  std::string n = f.required_str();
  if (!valid_header_name(n)) f.fail(str_cat("'", printable(n), "' is not a valid header name"));
  return n;
}

void compile_regex(const Field& f, const std::string& pattern) {
  RE2 re(pattern, RE2::Quiet);
  if (!re.ok()) f.fail(str_cat("invalid regular expression '", printable(pattern), "': ", re.error()));
}

std::string section_name(const Field& f) {
  std::string s = f.required_str();
  if (!valid_dns1123_subdomain(s)) f.fail(str_cat("'", printable(s), "' is not a valid section name (a DNS-1123 subdomain)"));
  return s;
}

std::string group_field(const Field& f, const std::string& def) {
  if (!f.present()) return def;
  std::string g = f.str();
  if (!g.empty() && !valid_dns1123_subdomain(g)) f.fail(str_cat("'", printable(g), "' is not a valid API group"));
  return g;
}

std::string kind_field(const Field& f, const std::string& def) {
  if (!f.present()) return def;
  std::string k = f.required_str();
  bool ok = k.size() <= 63 && std::isalpha(static_cast<unsigned char>(k[0])) &&
            std::isalnum(static_cast<unsigned char>(k.back()));
  for (char c : k) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-');
  if (!ok) f.fail(str_cat("'", printable(k), "' is not a valid kind"));
  return k;
}

std::string object_name(const Field& f) {
  std::string n = f.required_str();
  if (n.size() > 253) f.fail("longer than 253 characters");
  return n;
}

std::string namespace_field(const Field& f) {
  if (!f.present()) return "";
  std::string ns = f.str();
  if (!valid_dns1123_label(ns)) f.fail(str_cat("'", printable(ns), "' is not a valid namespace name"));
  return ns;
}

std::optional<uint16_t> optional_port(const Field& f) {
  if (!f.present()) return std::nullopt;
  return f.port();
}

std::chrono::milliseconds duration_field(const Field& f) {
  std::string s = f.required_str();
  auto d = parse_gateway_duration(s);
  if (!d) f.fail(str_cat("'", printable(s), "' is not a Gateway API duration (e.g. 10s, 500ms, 1h30m)"));
  return *d;
}

ParentRef parent_ref(const Field& f) {
  f.only({"group", "kind", "namespace", "name", "sectionName", "port"});
  ParentRef p;
  p.group = group_field(f["group"], kGatewayApiGroup);
  p.kind = kind_field(f["kind"], "Gateway");
  p.ns = namespace_field(f["namespace"]);
  p.name = object_name(f["name"]);
  if (f["sectionName"].present()) p.section_name = section_name(f["sectionName"]);
  p.port = optional_port(f["port"]);
  return p;
}

std::vector<ParentRef> parent_refs(const Field& f) {
  at_most(f, kMaxParentRefs);
  std::vector<ParentRef> out;
  std::set<std::tuple<std::string, std::string, std::string, std::string, std::string, int>> seen;
  f.each([&](const Field& e) {
    ParentRef p = parent_ref(e);
    auto key = std::make_tuple(p.group, p.kind, p.ns, p.name, p.section_name, p.port.value_or(0));
    if (!seen.insert(key).second) e.fail("duplicate parentRef (the same parent, sectionName and port)");
    out.push_back(std::move(p));
  });
  return out;
}

std::vector<std::string> hostnames(const Field& f) {
  at_most(f, kMaxHostnames);
  std::vector<std::string> out;
  f.each([&](const Field& e) { out.push_back(route_hostname(e, true)); });
  return out;
}

// Exact/PathPrefix values: the CEL rules of HTTPPathMatch.
void check_path_value(const Field& f, const std::string& v) {
  if (v.empty() || v[0] != '/') f.fail("must be an absolute path (start with '/')");
  for (const char* bad : {"//", "/./", "/../", "%2f", "%2F", "#"}) {
    if (v.find(bad) != std::string::npos) f.fail(str_cat("must not contain '", bad, "'"));
  }
  auto ends = [&](std::string_view suf) { return v.size() >= suf.size() && v.compare(v.size() - suf.size(), suf.size(), suf) == 0; };
  if (ends("/..") || ends("/.")) f.fail("must not end with '/.' or '/..'");
  for (char c : v) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) f.fail("must not contain whitespace or control characters");
  }
}

PathMatch path_match(const Field& f) {
  PathMatch p;
  if (!f.present()) return p;  // CRD default: PathPrefix "/"
  f.only({"type", "value"});
  std::string t = f["type"].str("PathPrefix");
  if (t == "Exact") p.type = PathMatch::Type::kExact;
  else if (t == "PathPrefix") p.type = PathMatch::Type::kPathPrefix;
  else if (t == "RegularExpression") p.type = PathMatch::Type::kRegularExpression;
  else f["type"].fail(str_cat("unknown path match type '", printable(t), "' (want Exact, PathPrefix, RegularExpression)"));
  p.value = f["value"].str("/");
  if (p.value.size() > kMaxPathLength) f["value"].fail(str_cat("longer than ", kMaxPathLength, " characters"));
  if (p.type == PathMatch::Type::kRegularExpression) {
    if (p.value.empty()) f["value"].fail("must not be empty");
    compile_regex(f["value"], p.value);
  } else {
    check_path_value(f["value"], p.value);
  }
  return p;
}

HeaderMatch header_match(const Field& f, bool query) {
  f.only({"type", "name", "value"});
  HeaderMatch h;
  std::string t = f["type"].str("Exact");
  if (t == "Exact") h.type = HeaderMatch::Type::kExact;
  else if (t == "RegularExpression") h.type = HeaderMatch::Type::kRegularExpression;
  else f["type"].fail(str_cat("unknown match type '", printable(t), "' (want Exact, RegularExpression)"));
  h.name = query ? f["name"].required_str() : header_name(f["name"]);
  if (query && (h.name.size() > 256 || !valid_header_name(h.name))) {
    f["name"].fail(str_cat("'", printable(h.name), "' is not a valid query parameter name"));
  }
  h.value = f["value"].required_str();
  if (h.value.size() > (query ? 1024 : kMaxHeaderValueLength)) f["value"].fail("too long");
  if (h.type == HeaderMatch::Type::kRegularExpression) compile_regex(f["value"], h.value);
  return h;
}

// Header names are case-insensitive (listMapKey with the HTTP semantics the spec asks for);
// query parameter names are compared exactly.
std::vector<HeaderMatch> header_matches(const Field& f, bool query) {
  at_most(f, kMaxHeaderMatches);
  std::vector<HeaderMatch> out;
  std::set<std::string> names;
  f.each([&](const Field& e) {
    HeaderMatch h = header_match(e, query);
    if (!names.insert(query ? h.name : lower(h.name)).second) e["name"].fail(str_cat("duplicate name '", h.name, "'"));
    out.push_back(std::move(h));
  });
  return out;
}

HeaderModifier header_modifier(const Field& f) {
  f.only({"set", "add", "remove"});
  HeaderModifier m;
  std::set<std::string> names;
  for (const char* key : {"set", "add"}) {
    Field list = f[key];
    at_most(list, kMaxHeaderModifications);
    std::set<std::string> local;
    list.each([&](const Field& e) {
      e.only({"name", "value"});
      std::string n = header_name(e["name"]);
      if (!local.insert(lower(n)).second) e["name"].fail(str_cat("duplicate header '", n, "'"));
      std::string v = e["value"].required_str();
      if (v.size() > kMaxHeaderValueLength) e["value"].fail("too long");
      (std::string_view(key) == "set" ? m.set : m.add).emplace_back(n, v);
    });
  }
  Field rm = f["remove"];
  at_most(rm, kMaxHeaderModifications);
  std::set<std::string> removed;
  rm.each([&](const Field& e) {
    std::string n = header_name(e);
    if (!removed.insert(lower(n)).second) e.fail(str_cat("duplicate header '", n, "'"));
    m.remove.push_back(n);
  });
  return m;
}

PathModifier path_modifier(const Field& f) {
  f.only({"type", "replaceFullPath", "replacePrefixMatch"});
  PathModifier p;
  std::string t = f["type"].required_str();
  const char* want = nullptr;
  const char* other = nullptr;
  if (t == "ReplaceFullPath") {
    p.type = PathModifier::Type::kReplaceFullPath;
    want = "replaceFullPath";
    other = "replacePrefixMatch";
  } else if (t == "ReplacePrefixMatch") {
    p.type = PathModifier::Type::kReplacePrefixMatch;
    want = "replacePrefixMatch";
    other = "replaceFullPath";
  } else {
    f["type"].fail(str_cat("unknown path modifier '", printable(t), "' (want ReplaceFullPath, ReplacePrefixMatch)"));
  }
  if (!f[want].present()) f[want].fail(str_cat("required when type is ", t));
  if (f[other].present()) f[other].fail(str_cat("must not be set when type is ", t));
  p.value = f[want].str();
  if (p.value.size() > kMaxPathLength) f[want].fail(str_cat("longer than ", kMaxPathLength, " characters"));
  if (!p.value.empty() && p.value[0] != '/') f[want].fail("must be an absolute path (start with '/')");
  return p;
}

RequestRedirect request_redirect(const Field& f) {
  f.only({"scheme", "hostname", "path", "port", "statusCode"});
  RequestRedirect r;
  r.scheme = f["scheme"].str();
  if (!r.scheme.empty() && r.scheme != "http" && r.scheme != "https") {
    f["scheme"].fail(str_cat("'", printable(r.scheme), "' is not http or https"));
  }
  if (f["hostname"].present()) r.hostname = route_hostname(f["hostname"], false);
  if (f["path"].present()) r.path = path_modifier(f["path"]);
  r.port = optional_port(f["port"]);
  if (f["statusCode"].present()) {
    r.status_code = static_cast<int>(f["statusCode"].integer(0, 999));
    if (r.status_code != 301 && r.status_code != 302 && r.status_code != 303 && r.status_code != 307 &&
        r.status_code != 308) {
      f["statusCode"].fail(str_cat(r.status_code, " is not a redirect status (want 301, 302, 303, 307 or 308)"));
    }
  }
  return r;
}

URLRewrite url_rewrite(const Field& f) {
  f.only({"hostname", "path"});
  URLRewrite r;
  if (f["hostname"].present()) r.hostname = route_hostname(f["hostname"], false);
  if (f["path"].present()) r.path = path_modifier(f["path"]);
  return r;
}

RequestMirror request_mirror(const Field& f) {
  f.only({"backendRef", "percent", "fraction"});
  RequestMirror m;
  Field b = f["backendRef"];
  if (!b.present()) b.fail("required");
  b.only({"group", "kind", "name", "namespace", "port"});
  m.backend.group = group_field(b["group"], "");
  m.backend.kind = kind_field(b["kind"], "Service");
  m.backend.name = object_name(b["name"]);
  m.backend.ns = namespace_field(b["namespace"]);
  m.backend.port = optional_port(b["port"]);
  if (m.backend.group.empty() && m.backend.kind == "Service" && !m.backend.port) b["port"].fail("required for a Service");
  if (f["percent"].present() && f["fraction"].present()) f.fail("only one of percent and fraction may be set");
  if (f["percent"].present()) m.percent = static_cast<int>(f["percent"].integer(0, 100));
  if (Field fr = f["fraction"]; fr.present()) {
    fr.only({"numerator", "denominator"});
    if (!fr["numerator"].present()) fr["numerator"].fail("required");
    int num = static_cast<int>(fr["numerator"].integer(0, INT32_MAX));
    int den = fr["denominator"].present() ? static_cast<int>(fr["denominator"].integer(1, INT32_MAX)) : 100;
    if (num > den) fr.fail(str_cat("numerator ", num, " is greater than denominator ", den));
    m.fraction = std::make_pair(num, den);
  }
  return m;
}

// One filter; `grpc` limits the types to GRPCRouteFilter's.
RouteFilter route_filter(const Field& f, bool grpc) {
  f.only({"type", "requestHeaderModifier", "responseHeaderModifier", "requestRedirect", "urlRewrite",
          "requestMirror", "extensionRef", "cors", "externalAuth"});
  struct TypeInfo {
    const char* type;
    const char* field;
    RouteFilter::Type t;
    bool in_grpc;
  };
  static constexpr TypeInfo kTypes[] = {
      {"RequestHeaderModifier", "requestHeaderModifier", RouteFilter::Type::kRequestHeaderModifier, true},
      {"ResponseHeaderModifier", "responseHeaderModifier", RouteFilter::Type::kResponseHeaderModifier, true},
      {"RequestRedirect", "requestRedirect", RouteFilter::Type::kRequestRedirect, false},
      {"URLRewrite", "urlRewrite", RouteFilter::Type::kURLRewrite, false},
      {"RequestMirror", "requestMirror", RouteFilter::Type::kRequestMirror, true},
  };
  std::string type = f["type"].required_str();
  const TypeInfo* info = nullptr;
  for (const auto& t : kTypes) {
    if (type == t.type && (t.in_grpc || !grpc)) info = &t;
  }
  if (!info) {
    if (type == "ExtensionRef" || type == "CORS" || type == "ExternalAuth") {
      f["type"].fail(str_cat("filter type ", type, " is not supported by this implementation"));
    }
    f["type"].fail(str_cat("unknown filter type '", printable(type), "' (want ",
                           grpc ? "RequestHeaderModifier, ResponseHeaderModifier, RequestMirror"
                                : "RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect, URLRewrite, RequestMirror",
                           ")"));
  }
  // CEL: the field named after the type is required, every other one must be absent.
  for (const char* key : {"requestHeaderModifier", "responseHeaderModifier", "requestRedirect", "urlRewrite",
                          "requestMirror", "extensionRef", "cors", "externalAuth"}) {
    bool mine = std::string_view(key) == info->field;
    if (mine && !f[key].present()) f[key].fail(str_cat("required when type is ", type));
    if (!mine && f[key].present()) f[key].fail(str_cat("must not be set when type is ", type));
  }
  RouteFilter r;
  r.type = info->t;
  switch (r.type) {
    case RouteFilter::Type::kRequestHeaderModifier: r.header_modifier = header_modifier(f["requestHeaderModifier"]); break;
    case RouteFilter::Type::kResponseHeaderModifier: r.header_modifier = header_modifier(f["responseHeaderModifier"]); break;
    case RouteFilter::Type::kRequestRedirect: r.redirect = request_redirect(f["requestRedirect"]); break;
    case RouteFilter::Type::kURLRewrite: r.rewrite = url_rewrite(f["urlRewrite"]); break;
    case RouteFilter::Type::kRequestMirror: r.mirror = request_mirror(f["requestMirror"]); break;
  }
  return r;
}

std::vector<RouteFilter> route_filters(const Field& f, bool grpc) {
  at_most(f, kMaxFilters);
  std::vector<RouteFilter> out;
  f.each([&](const Field& e) { out.push_back(route_filter(e, grpc)); });
  // CEL: each of these at most once; redirect and rewrite exclude each other.
  std::map<RouteFilter::Type, int> count;
  for (const auto& x : out) count[x.type]++;
  for (auto [t, name] : {std::pair{RouteFilter::Type::kRequestHeaderModifier, "RequestHeaderModifier"},
                         std::pair{RouteFilter::Type::kResponseHeaderModifier, "ResponseHeaderModifier"},
                         std::pair{RouteFilter::Type::kRequestRedirect, "RequestRedirect"},
                         std::pair{RouteFilter::Type::kURLRewrite, "URLRewrite"}}) {
    if (count[t] > 1) f.fail(str_cat(name, " may be used at most once"));
  }
  if (count[RouteFilter::Type::kRequestRedirect] && count[RouteFilter::Type::kURLRewrite]) {
    f.fail("RequestRedirect and URLRewrite cannot be used together");
  }
  return out;
}

std::vector<BackendRef> backend_refs(const Field& f, bool grpc) {
  at_most(f, kMaxBackendRefs);
  std::vector<BackendRef> out;
  f.each([&](const Field& e) {
    e.only({"group", "kind", "name", "namespace", "port", "weight", "filters"});
    BackendRef b;
    b.group = group_field(e["group"], "");
    b.kind = kind_field(e["kind"], "Service");
    b.name = object_name(e["name"]);
    b.ns = namespace_field(e["namespace"]);
    b.port = optional_port(e["port"]);
    if (b.group.empty() && b.kind == "Service" && !b.port) e["port"].fail("required for a Service");
    if (e["weight"].present()) b.weight = static_cast<int32_t>(e["weight"].integer(0, kMaxWeight));
    b.filters = route_filters(e["filters"], grpc);
    out.push_back(std::move(b));
  });
  return out;
}

std::string rule_name(const Field& f, std::set<std::string>* seen) {
  if (!f.present()) return "";
  std::string n = section_name(f);
  if (!seen->insert(n).second) f.fail(str_cat("duplicate rule name '", n, "'"));
  return n;
}

bool uses_replace_prefix(const std::vector<RouteFilter>& filters) {
  for (const auto& x : filters) {
    if (x.type == RouteFilter::Type::kRequestRedirect && x.redirect.path &&
        x.redirect.path->type == PathModifier::Type::kReplacePrefixMatch) {
      return true;
    }
    if (x.type == RouteFilter::Type::kURLRewrite && x.rewrite.path &&
        x.rewrite.path->type == PathModifier::Type::kReplacePrefixMatch) {
      return true;
    }
  }
  return false;
}

HTTPRouteRule http_rule(const Field& r, std::set<std::string>* names, size_t* total_matches) {
  r.only({"name", "matches", "filters", "backendRefs", "timeouts", "retry", "sessionPersistence"});
  if (r["sessionPersistence"].present()) r["sessionPersistence"].fail("not supported by this implementation");
  HTTPRouteRule rule;
  rule.name = rule_name(r["name"], names);
  Field ms = r["matches"];
  at_most(ms, kMaxMatchesPerRule);
  ms.each([&](const Field& m) {
    m.only({"path", "headers", "queryParams", "method"});
    HTTPRouteMatch match;
    match.path = path_match(m["path"]);
    match.headers = header_matches(m["headers"], false);
    match.query_params = header_matches(m["queryParams"], true);
    match.method = m["method"].str();
    static constexpr const char* kMethods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    if (!match.method.empty() &&
        std::find_if(std::begin(kMethods), std::end(kMethods), [&](const char* x) { return match.method == x; }) ==
            std::end(kMethods)) {
      m["method"].fail(str_cat("'", printable(match.method), "' is not one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH"));
    }
    rule.matches.push_back(std::move(match));
  });
  if (rule.matches.empty()) rule.matches.push_back(HTTPRouteMatch{});  // CRD default
  *total_matches += rule.matches.size();
  rule.filters = route_filters(r["filters"], false);
  if (uses_replace_prefix(rule.filters) &&
      (rule.matches.size() != 1 || rule.matches[0].path.type != PathMatch::Type::kPathPrefix)) {
    r["filters"].fail("ReplacePrefixMatch requires exactly one match, with a PathPrefix path");
  }
  rule.backend_refs = backend_refs(r["backendRefs"], false);
  if (Field t = r["timeouts"]; t.present()) {
    t.only({"request", "backendRequest"});
    if (t["request"].present()) rule.timeouts.request = duration_field(t["request"]);
    if (t["backendRequest"].present()) rule.timeouts.backend_request = duration_field(t["backendRequest"]);
    const auto& req = rule.timeouts.request;
    const auto& be = rule.timeouts.backend_request;
    if (req && be && req->count() != 0 && *be > *req) {
      t["backendRequest"].fail("must not be longer than the request timeout");
    }
  }
  if (Field rt = r["retry"]; rt.present()) {
    rt.only({"codes", "attempts", "backoff"});
    HTTPRouteRetry retry;
    rt["codes"].each([&](const Field& c) { retry.codes.push_back(static_cast<int>(c.integer(400, 599))); });
    if (rt["attempts"].present()) retry.attempts = static_cast<int>(rt["attempts"].integer(0, INT32_MAX));
    if (rt["backoff"].present()) retry.backoff = duration_field(rt["backoff"]);
    rule.retry = std::move(retry);
  }
  return rule;
}

bool valid_grpc_service(std::string_view s) {
  // ^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$
  if (!s.empty() && s[0] == '.') s.remove_prefix(1);
  if (s.empty()) return false;
  for (std::string_view part : split(s, '.')) {
    if (part.empty() || std::isdigit(static_cast<unsigned char>(part[0]))) return false;
    for (char c : part) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    }
  }
  return true;
}

bool valid_grpc_method(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

GRPCRouteRule grpc_rule(const Field& r, std::set<std::string>* names, size_t* total_matches) {
  r.only({"name", "matches", "filters", "backendRefs", "sessionPersistence"});
  if (r["sessionPersistence"].present()) r["sessionPersistence"].fail("not supported by this implementation");
  GRPCRouteRule rule;
  rule.name = rule_name(r["name"], names);
  Field ms = r["matches"];
  at_most(ms, kMaxMatchesPerRule);
  ms.each([&](const Field& m) {
    m.only({"method", "headers"});
    GRPCRouteMatch match;
    if (Field mf = m["method"]; mf.present()) {
      mf.only({"type", "service", "method"});
      GRPCMethodMatch mm;
      std::string t = mf["type"].str("Exact");
      if (t == "Exact") mm.type = GRPCMethodMatch::Type::kExact;
      else if (t == "RegularExpression") mm.type = GRPCMethodMatch::Type::kRegularExpression;
      else mf["type"].fail(str_cat("unknown method match type '", printable(t), "' (want Exact, RegularExpression)"));
      mm.service = mf["service"].str();
      mm.method = mf["method"].str();
      if (mm.service.empty() && mm.method.empty()) mf.fail("one or both of service and method must be set");
      if (mm.service.size() > 1024) mf["service"].fail("longer than 1024 characters");
      if (mm.method.size() > 1024) mf["method"].fail("longer than 1024 characters");
      if (mm.type == GRPCMethodMatch::Type::kExact) {
        if (!mm.service.empty() && !valid_grpc_service(mm.service)) {
          mf["service"].fail(str_cat("'", printable(mm.service), "' is not a gRPC service name (e.g. foo.bar.Greeter)"));
        }
        if (!mm.method.empty() && !valid_grpc_method(mm.method)) {
          mf["method"].fail(str_cat("'", printable(mm.method), "' is not a gRPC method name"));
        }
      } else {
        if (!mm.service.empty()) compile_regex(mf["service"], mm.service);
        if (!mm.method.empty()) compile_regex(mf["method"], mm.method);
      }
      match.method = std::move(mm);
    }
    match.headers = header_matches(m["headers"], false);
    rule.matches.push_back(std::move(match));
  });
  *total_matches += std::max<size_t>(rule.matches.size(), 1);
  rule.filters = route_filters(r["filters"], true);
  rule.backend_refs = backend_refs(r["backendRefs"], true);
  return rule;
}

Gateway::Address gateway_address(const Field& a) {
  a.only({"type", "value"});
  Gateway::Address addr;
  addr.type = a["type"].str("IPAddress");
  addr.value = a["value"].required_str();
  if (addr.type == "IPAddress") {
    if (!valid_ip(addr.value)) a["value"].fail(str_cat("'", printable(addr.value), "' is not an IP address"));
  } else if (addr.type == "Hostname") {
    if (!valid_dns1123_subdomain(addr.value)) a["value"].fail(str_cat("'", printable(addr.value), "' is not a DNS name"));
  } else if (addr.type != "NamedAddress") {
    a["type"].fail(str_cat("'", printable(addr.type), "' is not IPAddress, Hostname or NamedAddress"));
  }
  return addr;
}

bool valid_protocol(std::string_view p) {
  // ^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$ or <domain>/<name>
  auto slash = p.find('/');
  auto simple = [](std::string_view s) {
    if (s.empty() || s.size() > 255 || !std::isalnum(static_cast<unsigned char>(s[0])) ||
        !std::isalnum(static_cast<unsigned char>(s.back()))) {
      return false;
    }
    for (char c : s) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    return true;
  };
  if (slash == std::string_view::npos) return simple(p);
  return valid_dns1123_subdomain(p.substr(0, slash)) && simple(p.substr(slash + 1)) &&
         p.substr(slash + 1).find('-') == std::string_view::npos;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_gateway_duration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t total = 0;
  int groups = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    int64_t n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) n = n * 10 + (s[i++] - '0');
    size_t digits = i - start;
    if (digits < 1 || digits > 5) return std::nullopt;
    int64_t unit = 0;
    if (s.substr(i, 2) == "ms") {
      unit = 1;
      i += 2;
    } else if (i < s.size() && s[i] == 'h') {
      unit = 3600000;
      ++i;
    } else if (i < s.size() && s[i] == 'm') {
      unit = 60000;
      ++i;
    } else if (i < s.size() && s[i] == 's') {
      unit = 1000;
      ++i;
    } else {
      return std::nullopt;
    }
    total += n * unit;
    if (++groups > 4) return std::nullopt;
  }
  return std::chrono::milliseconds(total);
}

GatewayClass parse_gateway_class(const Field& spec) {
  GatewayClass c;
  std::string cn = spec["controllerName"].required_str();
  // GatewayController: "<domain>/<path>".
  auto slash = cn.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == cn.size() || cn.size() > 253 ||
      !valid_dns1123_subdomain(std::string_view(cn).substr(0, slash))) {
    spec["controllerName"].fail(str_cat("'", printable(cn), "' is not a controller name (<domain>/<path>)"));
  }
  c.controller_name = cn;
  c.description = spec["description"].str();
  return c;
}

// Gateways of other classes (ingress, east-west) carry fields a waypoint does not use (tls,
// infrastructure, ...): those are not refused; what is read is validated as the CRD does.
Gateway parse_gateway(const Field& spec, const Field& status) {
  Gateway g;
  g.gateway_class = object_name(spec["gatewayClassName"]);
  Field ls = spec["listeners"];
  if (!ls.present() || ls.size() == 0) ls.fail("at least one listener is required");
  at_most(ls, kMaxListeners);
  std::set<std::string> names;
  std::set<std::tuple<int, std::string, std::string>> combos;
  ls.each([&](const Field& l) {
    Gateway::Listener li;
    li.name = section_name(l["name"]);
    if (!names.insert(li.name).second) l["name"].fail(str_cat("duplicate listener name '", li.name, "'"));
    if (!l["port"].present()) l["port"].fail("required");
    li.port = l["port"].port();
    li.protocol = l["protocol"].required_str();
    if (!valid_protocol(li.protocol)) l["protocol"].fail(str_cat("'", printable(li.protocol), "' is not a valid protocol"));
    if (l["hostname"].present()) li.hostname = route_hostname(l["hostname"], true);
    if (!combos.insert({li.port, li.protocol, li.hostname}).second) {
      l.fail("another listener has the same port, protocol and hostname");
    }
    if (Field ar = l["allowedRoutes"]; ar.present()) {
      ar.only({"namespaces", "kinds"});
      Field ns = ar["namespaces"];
      ns.only({"from", "selector"});
      std::string from = ns["from"].str("Same");
      using From = Gateway::AllowedRoutes::From;
      if (from == "Same") li.allowed_routes.from = From::kSame;
      else if (from == "All") li.allowed_routes.from = From::kAll;
      else if (from == "Selector") li.allowed_routes.from = From::kSelector;
      else ns["from"].fail(str_cat("unknown value '", printable(from), "' (want All, Selector, Same)"));
      if (li.allowed_routes.from == From::kSelector) {
        if (!ns["selector"].present()) ns["selector"].fail("required when from is Selector");
        ns["selector"].only({"matchLabels", "matchExpressions"});
        li.allowed_routes.selector = label_selector(ns["selector"]);
      } else if (ns["selector"].present()) {
        ns["selector"].fail("only allowed when from is Selector");
      }
      at_most(ar["kinds"], 8);
      ar["kinds"].each([&](const Field& k) {
        k.only({"group", "kind"});
        li.allowed_routes.kinds.push_back({group_field(k["group"], kGatewayApiGroup), kind_field(k["kind"], "")});
        if (li.allowed_routes.kinds.back().kind.empty()) k["kind"].fail("required");
      });
    }
    g.listeners.push_back(std::move(li));
  });
  // A waypoint addressed by IP (GHSA-7p2q-4xvg-vxc6 crashed istiod on one): the addresses are
  // checked here, as the CRD's validation does, so nothing later meets a malformed one.
  at_most(spec["addresses"], kMaxAddresses);
  spec["addresses"].each([&](const Field& a) { g.addresses.push_back(gateway_address(a)); });
  status["addresses"].each([&](const Field& a) { g.status_addresses.push_back(gateway_address(a)); });
  return g;
}

HTTPRoute parse_http_route(const Field& spec) {
  spec.only({"parentRefs", "hostnames", "rules"});
  HTTPRoute r;
  r.parent_refs = parent_refs(spec["parentRefs"]);
  r.hostnames = hostnames(spec["hostnames"]);
  Field rules = spec["rules"];
  at_most(rules, kMaxRules);
  std::set<std::string> names;
  size_t total = 0;
  rules.each([&](const Field& rf) { r.rules.push_back(http_rule(rf, &names, &total)); });
  if (r.rules.empty()) {  // CRD default: one rule matching every request, with no backends
    r.rules.push_back(HTTPRouteRule{});
    r.rules.back().matches.push_back(HTTPRouteMatch{});
  }
  if (total > kMaxMatchesPerRoute) {
    rules.fail(str_cat("at most ", kMaxMatchesPerRoute, " matches are allowed across all rules, got ", total));
  }
  return r;
}

GRPCRoute parse_grpc_route(const Field& spec) {
  spec.only({"parentRefs", "hostnames", "rules"});
  GRPCRoute r;
  r.parent_refs = parent_refs(spec["parentRefs"]);
  r.hostnames = hostnames(spec["hostnames"]);
  Field rules = spec["rules"];
  at_most(rules, kMaxRules);
  std::set<std::string> names;
  size_t total = 0;
  rules.each([&](const Field& rf) { r.rules.push_back(grpc_rule(rf, &names, &total)); });
  if (total > kMaxMatchesPerRoute) {
    rules.fail(str_cat("at most ", kMaxMatchesPerRoute, " matches are allowed across all rules, got ", total));
  }
  return r;
}

}  // namespace ambit::istiod::parse
