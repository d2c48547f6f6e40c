#include "waypoint/l7/route_table.h"

#include <re2/re2.h>

#include <algorithm>

#include "common/base/status.h"
#include "common/base/strings.h"

namespace ambit::waypoint::l7 {
namespace {

namespace pb = ::ambit::waypoint::v1;
using PathKind = CompiledMatch::PathKind;

absl::StatusOr<std::shared_ptr<const re2::RE2>> compile_regex(std::string_view text,
                                                              std::string_view where) {
  RE2::Options opts;
  opts.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(re2::StringPiece(text.data(), text.size()), opts);
  if (!re->ok()) {
    return absl::InvalidArgumentError(
        str_cat(where, ": regex \"", printable(text), "\": ", re->error()));
  }
  return re;
}

absl::Status check_path(std::string_view p, std::string_view where) {
  if (!p.starts_with('/')) {
    return absl::InvalidArgumentError(
        str_cat(where, ": \"", printable(p), "\" does not start with '/'"));
  }
  for (char c : p) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || u >= 0x80 || c == '?' || c == '#') {
      return absl::InvalidArgumentError(
          str_cat(where, ": \"", printable(p), "\" has a byte a normalized path never has"));
    }
  }
  return absl::OkStatus();
}

std::string_view strip_trailing_slash(std::string_view p) {
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  return p;
}

template <typename M>
absl::Status compile_values(const google::protobuf::RepeatedPtrField<M>& in, bool header,
                            std::string_view where, std::vector<CompiledMatch::ValueMatch>* out) {
  for (int i = 0; i < in.size(); ++i) {
    const M& m = in[i];
    std::string w = str_cat(where, "[", i, "]");
    if (m.name().empty()) return absl::InvalidArgumentError(str_cat(w, ": empty name"));
    if (header) AMBIT_RETURN_IF_ERROR(validate_header(m.name(), ""));
    CompiledMatch::ValueMatch v;
    v.name = header ? to_lower(m.name()) : m.name();
    // Gateway API: of entries with an equivalent name only the first counts.
    if (std::any_of(out->begin(), out->end(),
                    [&](const CompiledMatch::ValueMatch& x) { return x.name == v.name; })) {
      continue;
    }
    if (m.value_case() == M::kRegex) {
      auto re = compile_regex(m.regex(), w);
      if (!re.ok()) return re.status();
      v.re = *std::move(re);
    } else if (m.value_case() == M::kExact) {
      v.exact = m.exact();
    } else {
      return absl::InvalidArgumentError(str_cat(w, ": no value (exact or regex)"));
    }
    out->push_back(std::move(v));
  }
  return absl::OkStatus();
}

absl::Status set_path(PathKind kind, std::string text, std::string_view where, CompiledMatch* m) {
  m->path_kind = kind;
  if (kind == PathKind::kRegex) {
    auto re = compile_regex(text, where);
    if (!re.ok()) return re.status();
    m->path_re = *std::move(re);
    m->path = std::move(text);
    return absl::OkStatus();
  }
  AMBIT_RETURN_IF_ERROR(check_path(text, where));
  m->path = kind == PathKind::kPrefix ? std::string(strip_trailing_slash(text)) : std::move(text);
  return absl::OkStatus();
}

// GRPCRoute method match → path match, as Istio's conversion.go does.
absl::Status compile_grpc(const pb::GrpcMethodMatch& g, std::string_view where, CompiledMatch* m) {
  if (g.service().empty() && g.method().empty()) {
    return absl::InvalidArgumentError(str_cat(where, ": neither service nor method"));
  }
  if (g.regex()) {
    std::string svc = g.service().empty() ? "[^/]+" : g.service();
    std::string method = g.method().empty() ? "[^/]+" : g.method();
    return set_path(PathKind::kRegex, str_cat("/", svc, "/", method), where, m);
  }
  for (std::string_view part : {std::string_view(g.service()), std::string_view(g.method())}) {
    if (part.find_first_of("/?#") != std::string_view::npos) {
      return absl::InvalidArgumentError(
          str_cat(where, ": \"", printable(part), "\" has '/', '?' or '#'"));
    }
  }
  if (!g.service().empty() && !g.method().empty()) {
    return set_path(PathKind::kExact, str_cat("/", g.service(), "/", g.method()), where, m);
  }
  if (!g.service().empty()) return set_path(PathKind::kPrefix, str_cat("/", g.service()), where, m);
  return set_path(PathKind::kRegex, str_cat("/[^/]+/", RE2::QuoteMeta(g.method())), where,
                  m);
}

absl::StatusOr<CompiledMatch> compile_match(const pb::RouteMatch& in, bool grpc,
                                            std::string_view where) {
  CompiledMatch m;
  if (grpc) {
    if (in.has_path() || !in.method().empty() || !in.query_params().empty()) {
      return absl::InvalidArgumentError(
          str_cat(where, ": a GRPCRoute match has only grpc and headers"));
    }
    if (in.has_grpc()) AMBIT_RETURN_IF_ERROR(compile_grpc(in.grpc(), str_cat(where, ".grpc"), &m));
  } else {
    if (in.has_grpc()) {
      return absl::InvalidArgumentError(str_cat(where, ": grpc match on an HTTPRoute"));
    }
    std::string w = str_cat(where, ".path");
    switch (in.path().kind_case()) {
      case pb::PathMatch::kExact:
        AMBIT_RETURN_IF_ERROR(set_path(PathKind::kExact, in.path().exact(), w, &m));
        break;
      case pb::PathMatch::kPrefix:
        AMBIT_RETURN_IF_ERROR(set_path(PathKind::kPrefix, in.path().prefix(), w, &m));
        break;
      case pb::PathMatch::kRegex:
        AMBIT_RETURN_IF_ERROR(set_path(PathKind::kRegex, in.path().regex(), w, &m));
        break;
      case pb::PathMatch::KIND_NOT_SET:
        break;  // PathPrefix "/"
    }
    if (!in.method().empty()) {
      if (auto st = validate_method(in.method()); !st.ok()) {
        return absl::InvalidArgumentError(str_cat(where, ".method: ", st.message()));
      }
      m.method = in.method();
    }
    AMBIT_RETURN_IF_ERROR(
        compile_values(in.query_params(), false, str_cat(where, ".query_params"), &m.query));
  }
  AMBIT_RETURN_IF_ERROR(compile_values(in.headers(), true, str_cat(where, ".headers"), &m.headers));
  return m;
}

absl::StatusOr<CompiledRule> compile_rule(const pb::RouteRule& in, bool grpc,
                                          std::string_view where) {
  CompiledRule r;
  r.name = in.name();
  for (int i = 0; i < in.matches_size(); ++i) {
    auto m = compile_match(in.matches(i), grpc, str_cat(where, ".matches[", i, "]"));
    if (!m.ok()) return m.status();
    r.matches.push_back(*std::move(m));
  }
  if (r.matches.empty()) {
    r.matches.emplace_back();  // PathPrefix "/"

  }
  const bool prefix_ok = std::all_of(r.matches.begin(), r.matches.end(), [](const CompiledMatch& m) {
    return m.path_kind == PathKind::kPrefix;
  });
  bool redirect = false, rewrite = false;
  for (int i = 0; i < in.filters_size(); ++i) {
    auto f = compile_filter(in.filters(i), prefix_ok, str_cat(where, ".filters[", i, "]"));
    if (!f.ok()) return f.status();
    redirect |= std::holds_alternative<RequestRedirect>(*f);
    rewrite |= std::holds_alternative<UrlRewrite>(*f);
    r.filters.push_back(*std::move(f));
  }
  if (redirect && rewrite) {
    return absl::InvalidArgumentError(
        str_cat(where, ".filters: RequestRedirect and URLRewrite cannot be combined"));
  }
  for (int i = 0; i < in.backends_size(); ++i) {
    const pb::Backend& b = in.backends(i);
    std::string w = str_cat(where, ".backends[", i, "]");
    Backend out;
    auto t = compile_backend_ref(b.ref(), w);
    if (!t.ok()) return t.status();
    out.target = *std::move(t);
    out.weight = b.has_weight() ? b.weight() : 1;
    if (out.weight > 1000000) {
      return absl::InvalidArgumentError(str_cat(w, ": weight ", out.weight, " > 1000000"));
    }
    for (int j = 0; j < b.filters_size(); ++j) {
      auto f = compile_filter(b.filters(j), false, str_cat(w, ".filters[", j, "]"));
      if (!f.ok()) return f.status();
      if (!std::holds_alternative<RequestHeaderModifier>(*f) &&
          !std::holds_alternative<ResponseHeaderModifier>(*f)) {
        return absl::InvalidArgumentError(
            str_cat(w, ".filters[", j, "]: only header modifiers apply per backend"));
      }
      out.filters.push_back(*std::move(f));
    }
    r.total_weight += out.weight;
    r.backends.push_back(std::move(out));
  }
  if (in.has_timeouts()) {
    auto t = compile_timeouts(in.timeouts(), str_cat(where, ".timeouts"));
    if (!t.ok()) return t.status();
    r.timeouts = *t;
  }
  if (in.has_retry()) {
    auto t = compile_retry(in.retry(), str_cat(where, ".retry"));
    if (!t.ok()) return t.status();
    r.retry = *std::move(t);
  }
  return r;
}

int path_rank(PathKind k) {
  switch (k) {
    case PathKind::kExact:
      return 3;
    case PathKind::kPrefix:
      return 2;
    case PathKind::kRegex:
      return 1;
  }
  return 0;
}

// Gateway API precedence; see the header. true when `a` goes first.
bool precedes(const RouteTable::Entry& a, const RouteTable::Entry& b) {
  const CompiledMatch& ma = *a.match;
  const CompiledMatch& mb = *b.match;
  if (path_rank(ma.path_kind) != path_rank(mb.path_kind)) {
    return path_rank(ma.path_kind) > path_rank(mb.path_kind);
  }
  if (ma.path.size() != mb.path.size()) return ma.path.size() > mb.path.size();
  if (ma.method.empty() != mb.method.empty()) return !ma.method.empty();
  if (ma.headers.size() != mb.headers.size()) return ma.headers.size() > mb.headers.size();
  if (ma.query.size() != mb.query.size()) return ma.query.size() > mb.query.size();
  const CompiledRoute& ra = *a.route;
  const CompiledRoute& rb = *b.route;
  if (&ra != &rb) {
    const bool ka = ra.creation_timestamp > 0, kb = rb.creation_timestamp > 0;
    if (ka != kb) return ka;
    if (ka && ra.creation_timestamp != rb.creation_timestamp) {
      return ra.creation_timestamp < rb.creation_timestamp;
    }
    if (ra.key() != rb.key()) return ra.key() < rb.key();
    return ra.kind < rb.kind;
  }
  if (a.rule != b.rule) return a.rule < b.rule;  // same vector: rule order
  return a.match < b.match;
}

// One query parameter, percent-decoded ("+" kept: it is not a space in a URI's query).
std::string decode_component(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

using QueryParams = std::vector<std::pair<std::string, std::string>>;

QueryParams parse_query(std::string_view q) {
  QueryParams out;
  for (std::string_view part : split_nonempty(q, '&')) {
    size_t eq = part.find('=');
    std::string_view name = part.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    out.emplace_back(decode_component(name), decode_component(value));
  }
  return out;
}

bool entry_matches(const RouteTable::Entry& e, const RouteRequest& req, const QueryParams& query) {
  const CompiledMatch& m = *e.match;
  if (!m.path_matches(req.path)) return false;
  if (!m.method.empty() && m.method != req.method) return false;
  for (const CompiledMatch::ValueMatch& h : m.headers) {
    std::vector<std::string_view> values;
    if (req.headers != nullptr) values = req.headers->get_all(h.name);
    if (std::none_of(values.begin(), values.end(), [&](std::string_view v) { return h.matches(v); })) {
      return false;
    }
  }
  for (const CompiledMatch::ValueMatch& q : m.query) {
    if (std::none_of(query.begin(), query.end(), [&](const auto& kv) {
          return kv.first == q.name && q.matches(kv.second);
        })) {
      return false;
    }
  }
  return true;
}

bool port_applies(const RouteTable::Entry& e, uint16_t port) {
  return e.parent_port == 0 || e.parent_port == port;
}

RouteDecision decision(const RouteTable::Entry& e) {
  RouteDecision d;
  d.kind = RouteDecision::Kind::kRoute;
  d.route = e.route;
  d.rule = e.rule;
  d.match = e.match;
  if (e.match->path_kind == PathKind::kPrefix) d.matched_prefix = e.match->path;
  return d;
}

}  // namespace

bool CompiledMatch::ValueMatch::matches(std::string_view v) const {
  if (re) return RE2::FullMatch(re2::StringPiece(v.data(), v.size()), *re);
  return v == exact;
}

bool CompiledMatch::path_matches(std::string_view p) const {
  switch (path_kind) {
    case PathKind::kExact:
      return p == path;
    case PathKind::kPrefix:
      // Element-wise: "/foo" matches "/foo", "/foo/" and "/foo/bar", never "/foobar".
      return p.starts_with(path) && (p.size() == path.size() || p[path.size()] == '/');
    case PathKind::kRegex:
      return RE2::FullMatch(re2::StringPiece(p.data(), p.size()), *path_re);
  }
  return false;
}

bool hostname_matches(std::string_view pattern, std::string_view host) {
  if (pattern.starts_with("*.")) {
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && host.ends_with(suffix);
  }
  return pattern == host;
}

absl::StatusOr<CompiledRoute> compile_route(const pb::Route& in) {
  CompiledRoute r;
  r.kind = in.kind();
  r.ns = in.namespace_();
  r.name = in.name();
  r.creation_timestamp = in.creation_timestamp();
  const char* kind = in.kind() == pb::Route::GRPC_ROUTE ? "GRPCRoute" : "HTTPRoute";
  const std::string where = str_cat("route ", kind, " ", r.ns, "/", r.name);
  auto fail = [&](const absl::Status& st) {
    return absl::InvalidArgumentError(str_cat(where, ": ", st.message()));
  };
  if (!pb::Route::Kind_IsValid(in.kind())) return fail(absl::InvalidArgumentError("unknown kind"));
  if (r.ns.empty() || r.name.empty()) {
    return fail(absl::InvalidArgumentError("namespace and name required"));
  }
  if (in.parents().empty()) return fail(absl::InvalidArgumentError("no parents"));
  for (int i = 0; i < in.parents_size(); ++i) {
    const pb::ParentRef& p = in.parents(i);
    RouteParent out;
    if (p.port() > 65535) {
      return fail(absl::InvalidArgumentError(str_cat("parents[", i, "]: port ", p.port())));
    }
    out.port = p.port();
    if (p.has_waypoint()) {
      out.waypoint = true;
    } else if (p.has_service() && !p.service().namespace_().empty() &&
               !p.service().hostname().empty()) {
      out.service = service_key(p.service());
    } else {
      return fail(absl::InvalidArgumentError(
          str_cat("parents[", i, "]: a service (namespace, hostname) or the waypoint")));
    }
    r.parents.push_back(std::move(out));
  }
  for (const std::string& h : in.hostnames()) {
    if (h.empty()) return fail(absl::InvalidArgumentError("empty hostname"));
    r.hostnames.push_back(to_lower(h));
  }
  const bool grpc = in.kind() == pb::Route::GRPC_ROUTE;
  for (int i = 0; i < in.rules_size(); ++i) {
    auto rule = compile_rule(in.rules(i), grpc, str_cat("rules[", i, "]"));
    if (!rule.ok()) return fail(rule.status());
    r.rules.push_back(*std::move(rule));
  }
  return r;
}

std::shared_ptr<const RouteTable> RouteTable::build(const std::vector<const pb::Route*>& routes,
                                                    std::vector<std::string>* errors) {
  auto t = std::make_shared<RouteTable>();
  for (const pb::Route* in : routes) {
    if (in == nullptr) continue;
    auto r = compile_route(*in);
    if (!r.ok()) {
      if (errors) errors->emplace_back(r.status().message());
      continue;
    }
    t->routes_.push_back(std::make_unique<CompiledRoute>(*std::move(r)));
  }
  for (const auto& route : t->routes_) {
    for (const RouteParent& parent : route->parents) {
      std::vector<Entry>& list = parent.waypoint ? t->waypoint_ : t->by_service_[parent.service];
      for (const CompiledRule& rule : route->rules) {
        for (const CompiledMatch& m : rule.matches) {
          list.push_back(Entry{route.get(), &rule, &m, parent.port});
        }
      }
    }
  }
  auto sort = [](std::vector<Entry>* list) { std::stable_sort(list->begin(), list->end(), precedes); };
  sort(&t->waypoint_);
  for (auto& [key, list] : t->by_service_) sort(&list);
  return t;
}

RouteDecision RouteTable::match(const ServiceKey& service, uint16_t port,
                                const RouteRequest& req) const {
  const QueryParams query = parse_query(req.query);
  RouteDecision not_found;
  not_found.kind = RouteDecision::Kind::kNotFound;
  if (auto it = by_service_.find(service); it != by_service_.end()) {
    bool any = false;
    for (const Entry& e : it->second) {
      if (!port_applies(e, port)) continue;
      any = true;
      if (entry_matches(e, req, query)) return decision(e);
    }
    if (any) return not_found;
  }
  const std::string host = host_without_port(req.host);
  bool any = false;
  for (const Entry& e : waypoint_) {
    if (!port_applies(e, port)) continue;
    const auto& names = e.route->hostnames;
    if (!names.empty() && std::none_of(names.begin(), names.end(), [&](const std::string& n) {
          return hostname_matches(n, host) || hostname_matches(n, service.hostname);
        })) {
      continue;
    }
    any = true;
    if (entry_matches(e, req, query)) return decision(e);
  }
  if (any) return not_found;
  return RouteDecision{};
}

const Backend* pick_backend(const CompiledRule& rule, uint64_t draw) {
  if (rule.total_weight == 0) return nullptr;
  uint64_t x = draw % rule.total_weight;
  for (const Backend& b : rule.backends) {
    if (x < b.weight) return &b;
    x -= b.weight;
  }
  return nullptr;  // unreachable: the weights sum to total_weight
}

}  // namespace ambit::waypoint::l7
