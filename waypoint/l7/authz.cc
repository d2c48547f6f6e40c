// L7 authorization; semantics in authz.h.
#include "waypoint/l7/authz.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "common/base/status.h"
#include "common/base/strings.h"

namespace ambit::waypoint::l7 {
namespace {

namespace pb = ::ambit::waypoint::v1;
namespace sec = ::istio::security;

// An Address as ztunnel reads it: 4 bytes IPv4, 16 bytes IPv6 (IPv4-mapped stays IPv6).
struct Cidr {
  bool v4 = true;
  std::array<uint8_t, 16> bytes{};
  unsigned len = 0;

  bool contains(const net::IpAddr& ip) const {
    if (v4 != ip.is_v4()) return false;
    const auto& raw = ip.raw();
    unsigned full = len / 8;
    if (std::memcmp(raw.data(), bytes.data(), full) != 0) return false;
    if (unsigned rem = len % 8) {
      auto mask = static_cast<uint8_t>(0xff << (8 - rem));
      if ((raw[full] & mask) != (bytes[full] & mask)) return false;
    }
    return true;
  }
};

struct ServiceAccount {
  std::string ns;
  std::string sa;
};

// One field and its not_ form: the positive list (when non-empty) needs a hit, the negative
// list may have none.
template <typename T>
struct Field {
  std::vector<T> pos;
  std::vector<T> neg;
  bool declared() const { return !pos.empty() || !neg.empty(); }

  template <typename Pred>
  bool matches(Pred hit) const {
    if (!pos.empty() && std::none_of(pos.begin(), pos.end(), hit)) return false;
    return std::none_of(neg.begin(), neg.end(), hit);
  }
};

using Strings = Field<StringMatcher>;

}  // namespace

struct SourceMatch {
  Strings principals, request_principals, namespaces;
  Field<Cidr> ips, remote_ips;
  Field<ServiceAccount> service_accounts;
};

struct OperationMatch {
  Strings hosts, methods, paths;
  Field<uint32_t> ports;
};

struct ConditionMatch {
  pb::Condition::Key key{};
  std::string name;  // header name, lower case
  Strings strings;
  Field<Cidr> ips;
  Field<uint32_t> ports;
};

struct CompiledPolicy::Rule {
  std::vector<SourceMatch> from;
  std::vector<OperationMatch> to;
  std::vector<ConditionMatch> when;
};

namespace {

using google::protobuf::RepeatedField;
using google::protobuf::RepeatedPtrField;

absl::Status compile_strings(const RepeatedPtrField<pb::StringMatch>& in, MatchField field,
                             std::string_view where, std::vector<StringMatcher>* out) {
  for (int i = 0; i < in.size(); ++i) {
    auto m = StringMatcher::compile(in[i], field, str_cat(where, "[", i, "]"));
    if (!m.ok()) return m.status();
    out->push_back(*std::move(m));
  }
  return absl::OkStatus();
}

absl::Status compile_strings(const RepeatedPtrField<pb::StringMatch>& pos,
                             const RepeatedPtrField<pb::StringMatch>& neg, MatchField field,
                             std::string_view where, std::string_view not_where, Strings* out) {
  AMBIT_RETURN_IF_ERROR(compile_strings(pos, field, where, &out->pos));
  return compile_strings(neg, field, not_where, &out->neg);
}

absl::Status compile_cidrs(const RepeatedPtrField<sec::Address>& in, std::string_view where,
                           std::vector<Cidr>* out) {
  for (int i = 0; i < in.size(); ++i) {
    const sec::Address& a = in[i];
    Cidr c;
    const std::string& b = a.address();
    if (b.size() != 4 && b.size() != 16) {
      return absl::InvalidArgumentError(
          str_cat(where, "[", i, "]: address of ", b.size(), " bytes (4 or 16 expected)"));
    }
    c.v4 = b.size() == 4;
    if (a.length() > b.size() * 8) {
      return absl::InvalidArgumentError(
          str_cat(where, "[", i, "]: prefix length ", a.length(), " > ", b.size() * 8));
    }
    std::memcpy(c.bytes.data(), b.data(), b.size());
    c.len = a.length();
    out->push_back(c);
  }
  return absl::OkStatus();
}

absl::Status compile_cidrs(const RepeatedPtrField<sec::Address>& pos,
                           const RepeatedPtrField<sec::Address>& neg, std::string_view where,
                           std::string_view not_where, Field<Cidr>* out) {
  AMBIT_RETURN_IF_ERROR(compile_cidrs(pos, where, &out->pos));
  return compile_cidrs(neg, not_where, &out->neg);
}

absl::Status compile_ports(const RepeatedField<uint32_t>& pos, const RepeatedField<uint32_t>& neg,
                           std::string_view where, Field<uint32_t>* out) {
  for (const RepeatedField<uint32_t>* in : {&pos, &neg}) {
    for (uint32_t p : *in) {
      if (p == 0 || p > 65535) {
        return absl::InvalidArgumentError(str_cat(where, ": port ", p, " is not 1..65535"));
      }
    }
  }
  out->pos.assign(pos.begin(), pos.end());
  out->neg.assign(neg.begin(), neg.end());
  return absl::OkStatus();
}

absl::Status compile_service_accounts(const RepeatedPtrField<sec::ServiceAccountMatch>& in,
                                      std::string_view where, std::vector<ServiceAccount>* out) {
  for (int i = 0; i < in.size(); ++i) {
    if (in[i].namespace_().empty() || in[i].serviceaccount().empty()) {
      return absl::InvalidArgumentError(
          str_cat(where, "[", i, "]: namespace and service account required"));
    }
    out->push_back(ServiceAccount{in[i].namespace_(), in[i].serviceaccount()});
  }
  return absl::OkStatus();
}

absl::StatusOr<SourceMatch> compile_source(const pb::Source& s, const std::string& w) {
  SourceMatch out;
  AMBIT_RETURN_IF_ERROR(compile_strings(s.principals(), s.not_principals(), MatchField::kPlain,
                                        w + ".principals", w + ".not_principals",
                                        &out.principals));
  AMBIT_RETURN_IF_ERROR(compile_strings(s.request_principals(), s.not_request_principals(),
                                        MatchField::kPlain, w + ".request_principals",
                                        w + ".not_request_principals", &out.request_principals));
  AMBIT_RETURN_IF_ERROR(compile_strings(s.namespaces(), s.not_namespaces(), MatchField::kPlain,
                                        w + ".namespaces", w + ".not_namespaces",
                                        &out.namespaces));
  AMBIT_RETURN_IF_ERROR(compile_cidrs(s.ip_blocks(), s.not_ip_blocks(), w + ".ip_blocks",
                                      w + ".not_ip_blocks", &out.ips));
  AMBIT_RETURN_IF_ERROR(compile_cidrs(s.remote_ip_blocks(), s.not_remote_ip_blocks(),
                                      w + ".remote_ip_blocks", w + ".not_remote_ip_blocks",
                                      &out.remote_ips));
  AMBIT_RETURN_IF_ERROR(compile_service_accounts(s.service_accounts(), w + ".service_accounts",
                                                 &out.service_accounts.pos));
  AMBIT_RETURN_IF_ERROR(compile_service_accounts(
      s.not_service_accounts(), w + ".not_service_accounts", &out.service_accounts.neg));
  if (!out.principals.declared() && !out.request_principals.declared() &&
      !out.namespaces.declared() && !out.ips.declared() && !out.remote_ips.declared() &&
      !out.service_accounts.declared()) {
    return absl::InvalidArgumentError(str_cat(w, ": empty source (Istio rejects it)"));
  }
  return out;
}

absl::StatusOr<OperationMatch> compile_operation(const pb::Operation& o, const std::string& w) {
  OperationMatch out;
  AMBIT_RETURN_IF_ERROR(compile_strings(o.hosts(), o.not_hosts(), MatchField::kHost, w + ".hosts",
                                        w + ".not_hosts", &out.hosts));
  AMBIT_RETURN_IF_ERROR(compile_strings(o.methods(), o.not_methods(), MatchField::kPlain,
                                        w + ".methods", w + ".not_methods", &out.methods));
  AMBIT_RETURN_IF_ERROR(compile_strings(o.paths(), o.not_paths(), MatchField::kPath,
                                        w + ".paths", w + ".not_paths", &out.paths));
  AMBIT_RETURN_IF_ERROR(compile_ports(o.ports(), o.not_ports(), w + ".ports", &out.ports));
  if (!out.hosts.declared() && !out.methods.declared() && !out.paths.declared() &&
      !out.ports.declared()) {
    return absl::InvalidArgumentError(str_cat(w, ": empty operation (Istio rejects it)"));
  }
  return out;
}

enum class ValueType { kString, kIp, kPort };

ValueType value_type(pb::Condition::Key k) {
  switch (k) {
    case pb::Condition::SOURCE_IP:
    case pb::Condition::REMOTE_IP:
    case pb::Condition::DESTINATION_IP:
      return ValueType::kIp;
    case pb::Condition::DESTINATION_PORT:
      return ValueType::kPort;
    default:
      return ValueType::kString;
  }
}

absl::StatusOr<ConditionMatch> compile_condition(const pb::Condition& c, const std::string& w) {
  ConditionMatch out;
  out.key = c.key();
  if (c.key() == pb::Condition::KEY_UNSPECIFIED || !pb::Condition::Key_IsValid(c.key())) {
    return absl::InvalidArgumentError(str_cat(w, ": unknown key ", static_cast<int>(c.key())));
  }
  const bool named =
      c.key() == pb::Condition::REQUEST_HEADER || c.key() == pb::Condition::REQUEST_AUTH_CLAIM;
  if (named && c.name().empty()) {
    return absl::InvalidArgumentError(str_cat(w, ": ", pb::Condition::Key_Name(c.key()),
                                              " needs a name"));
  }
  out.name = to_lower(c.name());
  const ValueType type = value_type(c.key());
  const bool has_strings = !c.values().empty() || !c.not_values().empty();
  const bool has_ips = !c.ip_values().empty() || !c.not_ip_values().empty();
  const bool has_ports = !c.port_values().empty() || !c.not_port_values().empty();
  if ((type != ValueType::kString && has_strings) || (type != ValueType::kIp && has_ips) ||
      (type != ValueType::kPort && has_ports)) {
    return absl::InvalidArgumentError(
        str_cat(w, ": values of the wrong type for ", pb::Condition::Key_Name(c.key())));
  }
  if (!has_strings && !has_ips && !has_ports) {
    return absl::InvalidArgumentError(str_cat(w, ": no values or not_values"));
  }
  const MatchField field =
      c.key() == pb::Condition::REQUEST_HEADER ? MatchField::kHeader : MatchField::kPlain;
  AMBIT_RETURN_IF_ERROR(compile_strings(c.values(), c.not_values(), field, w + ".values",
                                        w + ".not_values", &out.strings));
  AMBIT_RETURN_IF_ERROR(compile_cidrs(c.ip_values(), c.not_ip_values(), w + ".ip_values",
                                      w + ".not_ip_values", &out.ips));
  AMBIT_RETURN_IF_ERROR(
      compile_ports(c.port_values(), c.not_port_values(), w + ".port_values", &out.ports));
  return out;
}

// ---- evaluation -------------------------------------------------------------------------

// The request plus what every match needs from it, computed once per evaluation.
struct Subject {
  const AuthzRequest& req;
  std::string principal;  // identity without "spiffe://"; empty when there is none
  net::IpAddr remote_ip;
};

bool has_peer(const Subject& s) { return s.req.peer.has_value(); }

// A string key whose value may be absent: absent matches no positive value, so every negative
// list is satisfied.
bool absent_ok(const Strings& f) { return f.pos.empty(); }

bool string_field(const Strings& f, std::optional<std::string_view> v) {
  if (!v) return absent_ok(f);
  return f.matches([&](const StringMatcher& m) { return m.matches(*v); });
}

bool source_matches(const SourceMatch& m, const Subject& s) {
  const bool id = has_peer(s);
  auto ns = id ? std::optional<std::string_view>(s.req.peer->ns()) : std::nullopt;
  auto principal = id ? std::optional<std::string_view>(s.principal) : std::nullopt;
  return string_field(m.principals, principal) && string_field(m.namespaces, ns) &&
         string_field(m.request_principals, std::nullopt) &&
         m.ips.matches([&](const Cidr& c) { return c.contains(s.req.source_ip); }) &&
         m.remote_ips.matches([&](const Cidr& c) { return c.contains(s.remote_ip); }) &&
         m.service_accounts.matches([&](const ServiceAccount& sa) {
           return id && sa.ns == s.req.peer->ns() && sa.sa == s.req.peer->service_account();
         });
}

bool operation_matches(const OperationMatch& m, const Subject& s) {
  const AuthzRequest& r = s.req;
  return m.hosts.matches([&](const StringMatcher& x) { return x.matches(r.host); }) &&
         m.methods.matches([&](const StringMatcher& x) { return x.matches(r.method); }) &&
         m.paths.matches([&](const StringMatcher& x) { return x.matches(r.path); }) &&
         m.ports.matches([&](uint32_t p) { return p == r.destination_port; });
}

// request.headers[name], each value of a repeated header on its own (CVE-2026-26308).
bool header_condition(const ConditionMatch& c, const Subject& s) {
  std::vector<std::string_view> values;
  if (s.req.headers != nullptr) values = s.req.headers->get_all(c.name);
  auto any_value = [&](const StringMatcher& m) {
    return std::any_of(values.begin(), values.end(),
                       [&](std::string_view v) { return m.matches(v); });
  };
  return c.strings.matches(any_value);
}

bool condition_matches(const ConditionMatch& c, const Subject& s) {
  const AuthzRequest& r = s.req;
  const bool id = has_peer(s);
  switch (c.key) {
    case pb::Condition::REQUEST_HEADER:
      return header_condition(c, s);
    case pb::Condition::SOURCE_IP:
      return c.ips.matches([&](const Cidr& x) { return x.contains(r.source_ip); });
    case pb::Condition::REMOTE_IP:
      return c.ips.matches([&](const Cidr& x) { return x.contains(s.remote_ip); });
    case pb::Condition::DESTINATION_IP:
      return c.ips.matches([&](const Cidr& x) { return x.contains(r.destination_ip); });
    case pb::Condition::DESTINATION_PORT:
      return c.ports.matches([&](uint32_t p) { return p == r.destination_port; });
    case pb::Condition::SOURCE_NAMESPACE:
      return string_field(c.strings,
                          id ? std::optional<std::string_view>(r.peer->ns()) : std::nullopt);
    case pb::Condition::SOURCE_PRINCIPAL:
      return string_field(c.strings,
                          id ? std::optional<std::string_view>(s.principal) : std::nullopt);
    default:  // connection.sni, request.auth.*: never present here
      return string_field(c.strings, std::nullopt);
  }
}

bool rule_matches(const CompiledPolicy::Rule& rule, const Subject& s) {
  if (!rule.from.empty() && std::none_of(rule.from.begin(), rule.from.end(),
                                         [&](const SourceMatch& m) { return source_matches(m, s); })) {
    return false;
  }
  if (!rule.to.empty() &&
      std::none_of(rule.to.begin(), rule.to.end(),
                   [&](const OperationMatch& m) { return operation_matches(m, s); })) {
    return false;
  }
  return std::all_of(rule.when.begin(), rule.when.end(),
                     [&](const ConditionMatch& c) { return condition_matches(c, s); });
}

Subject make_subject(const AuthzRequest& req) {
  return Subject{req, req.peer ? req.peer->principal() : std::string(),
                 req.remote_ip.value_or(req.source_ip)};
}

std::string policy_key(const pb::Authorization& p) {
  return str_cat(p.namespace_(), "/", p.name());
}

void read_targets(const pb::Authorization& p, bool* waypoint, std::vector<ServiceKey>* services) {
  for (const pb::PolicyTarget& t : p.targets()) {
    if (t.has_waypoint()) *waypoint = true;
    if (t.has_service()) services->push_back(service_key(t.service()));
  }
}

std::string with_error(const CompiledPolicy& p) {
  return p.error().empty() ? p.key() : str_cat(p.key(), " (policy rejected: ", p.error(), ")");
}

AuthzVerdict decide(const std::vector<const CompiledPolicy*>& policies, const AuthzRequest& req,
                    bool include_dry_run) {
  using pb::Authorization;
  bool any_allow = false;
  for (const CompiledPolicy* p : policies) {
    if ((p->dry_run() && !include_dry_run) || p->action() == Authorization::AUDIT) continue;
    if (p->action() == Authorization::DENY) {
      if (p->matches(req)) {
        return AuthzVerdict{false, p->key(), str_cat("explicitly denied by: ", with_error(*p))};
      }
    } else {
      any_allow = true;
    }
  }
  if (!any_allow) return AuthzVerdict{true, "", "no allow policies, allow"};
  for (const CompiledPolicy* p : policies) {
    if ((p->dry_run() && !include_dry_run) || p->action() != Authorization::ALLOW) continue;
    if (p->matches(req)) return AuthzVerdict{true, p->key(), str_cat("allowed by: ", p->key())};
  }
  return AuthzVerdict{false, "", "allow policies exist, but none allowed"};
}

}  // namespace

absl::StatusOr<CompiledPolicy> CompiledPolicy::compile(const pb::Authorization& p) {
  CompiledPolicy out;
  out.key_ = policy_key(p);
  if (p.namespace_().empty() || p.name().empty()) {
    return absl::InvalidArgumentError("authorization: namespace and name required");
  }
  if (!pb::Authorization::Action_IsValid(p.action())) {
    return absl::InvalidArgumentError(
        str_cat("authorization ", out.key_, ": unknown action ", static_cast<int>(p.action())));
  }
  out.action_ = p.action();
  out.dry_run_ = p.dry_run();
  read_targets(p, &out.targets_waypoint_, &out.services_);
  if (!out.targets_waypoint_ && out.services_.empty()) {
    return absl::InvalidArgumentError(str_cat("authorization ", out.key_, ": no target"));
  }
  for (const ServiceKey& s : out.services_) {
    if (s.ns.empty() || s.hostname.empty()) {
      return absl::InvalidArgumentError(
          str_cat("authorization ", out.key_, ": a service target needs namespace and hostname"));
    }
  }
  auto fail = [&](const absl::Status& st) {
    return absl::InvalidArgumentError(str_cat("authorization ", out.key_, ": ", st.message()));
  };
  for (int i = 0; i < p.rules_size(); ++i) {
    const pb::Rule& r = p.rules(i);
    auto rule = std::make_shared<Rule>();
    for (int j = 0; j < r.from_size(); ++j) {
      auto s = compile_source(r.from(j), str_cat("rules[", i, "].from[", j, "]"));
      if (!s.ok()) return fail(s.status());
      rule->from.push_back(*std::move(s));
    }
    for (int j = 0; j < r.to_size(); ++j) {
      auto o = compile_operation(r.to(j), str_cat("rules[", i, "].to[", j, "]"));
      if (!o.ok()) return fail(o.status());
      rule->to.push_back(*std::move(o));
    }
    for (int j = 0; j < r.when_size(); ++j) {
      auto c = compile_condition(r.when(j), str_cat("rules[", i, "].when[", j, "]"));
      if (!c.ok()) return fail(c.status());
      rule->when.push_back(*std::move(c));
    }
    out.rules_.push_back(std::move(rule));
  }
  return out;
}

CompiledPolicy CompiledPolicy::broken(const pb::Authorization& p, std::string error) {
  CompiledPolicy out;
  out.key_ = policy_key(p);
  out.action_ = pb::Authorization::Action_IsValid(p.action()) ? p.action()
                                                             : pb::Authorization::DENY;
  out.dry_run_ = p.dry_run();
  read_targets(p, &out.targets_waypoint_, &out.services_);
  out.error_ = error.empty() ? std::string("rejected") : std::move(error);
  return out;
}

bool CompiledPolicy::matches(const AuthzRequest& req) const {
  // Fail closed: a broken DENY matches everything, a broken ALLOW or AUDIT nothing.
  if (!error_.empty()) return action_ == pb::Authorization::DENY;
  Subject s = make_subject(req);
  return std::any_of(rules_.begin(), rules_.end(),
                     [&](const std::shared_ptr<const Rule>& r) { return rule_matches(*r, s); });
}

PolicySet PolicySet::build(const std::vector<const pb::Authorization*>& policies,
                           std::vector<std::string>* errors) {
  PolicySet set;
  for (const pb::Authorization* p : policies) {
    if (p == nullptr) continue;
    auto c = CompiledPolicy::compile(*p);
    if (c.ok()) {
      set.policies_.push_back(*std::move(c));
    } else {
      if (errors) errors->emplace_back(c.status().message());
      set.policies_.push_back(CompiledPolicy::broken(*p, std::string(c.status().message())));
    }
  }
  std::stable_sort(set.policies_.begin(), set.policies_.end(),
                   [](const CompiledPolicy& a, const CompiledPolicy& b) { return a.key() < b.key(); });
  for (size_t i = 0; i < set.policies_.size(); ++i) {
    const CompiledPolicy& p = set.policies_[i];
    if (p.targets_waypoint()) set.waypoint_.push_back(i);
    std::vector<ServiceKey> svcs = p.target_services();
    std::sort(svcs.begin(), svcs.end());
    svcs.erase(std::unique(svcs.begin(), svcs.end()), svcs.end());
    // A policy targeting both the waypoint and a service is listed once, as waypoint-wide.
    if (!p.targets_waypoint()) {
      for (const ServiceKey& s : svcs) set.by_service_[s].push_back(i);
    }
  }
  return set;
}

std::vector<const CompiledPolicy*> PolicySet::applicable(const ServiceKey& service) const {
  std::vector<const CompiledPolicy*> out;
  for (size_t i : waypoint_) out.push_back(&policies_[i]);
  if (auto it = by_service_.find(service); it != by_service_.end()) {
    for (size_t i : it->second) out.push_back(&policies_[i]);
  }
  return out;
}

AuthzDecision PolicySet::evaluate(const ServiceKey& service, const AuthzRequest& req) const {
  return evaluate_policies(applicable(service), req);
}

AuthzDecision evaluate_policies(const std::vector<const CompiledPolicy*>& policies,
                                const AuthzRequest& req) {
  AuthzDecision d;
  for (const CompiledPolicy* p : policies) {
    if (p->action() == pb::Authorization::AUDIT && p->matches(req)) d.audited.push_back(p->key());
  }
  AuthzVerdict enforced = decide(policies, req, /*include_dry_run=*/false);
  d.allowed = enforced.allowed;
  d.policy = std::move(enforced.policy);
  d.reason = std::move(enforced.reason);
  if (std::any_of(policies.begin(), policies.end(),
                  [](const CompiledPolicy* p) { return p->dry_run(); })) {
    d.dry_run = decide(policies, req, /*include_dry_run=*/true);
  }
  return d;
}

}  // namespace ambit::waypoint::l7
