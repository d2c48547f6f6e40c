#include "istiod/waypoint/policies.h"

#include <set>
#include <string_view>

#include "common/base/strings.h"
#include "istiod/ambient/authorization.h"

namespace ambit::istiod::waypoint {

namespace pb = ::ambit::waypoint::v1;
using google::protobuf::RepeatedPtrField;

namespace {

// authorization.go stringToMatch; for paths, Istio's template syntax first.
void add_strings(const std::vector<std::string>& values, bool paths, RepeatedPtrField<pb::StringMatch>* out) {
  for (const std::string& v : values) {
    pb::StringMatch* m = out->Add();
    if (paths && (v.find("{*}") != std::string::npos || v.find("{**}") != std::string::npos)) {
      m->set_path_template(v);
    } else if (v == "*") {
      m->mutable_presence();
    } else if (v.starts_with('*')) {
      m->set_suffix(v.substr(1));
    } else if (v.ends_with('*')) {
      m->set_prefix(v.substr(0, v.size() - 1));
    } else {
      m->set_exact(v);
    }
  }
}

bool parse_pb_bool(std::string_view v) {  // strconv.ParseBool, as the ztunnel path reads the annotation
  return v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True";
}

// "request.headers[x-user]" with prefix "request.headers" → "x-user"; nullopt if not that shape.
std::optional<std::string> bracketed(std::string_view key, std::string_view prefix) {
  if (!key.starts_with(prefix)) return std::nullopt;
  std::string_view rest = key.substr(prefix.size());
  if (rest.size() < 3 || rest.front() != '[' || rest.back() != ']') return std::nullopt;
  return std::string(rest.substr(1, rest.size() - 2));
}

// One `when` condition; false when the key is unknown or nothing usable is left.
bool condition(const AuthorizationPolicy::Condition& in, pb::Condition* out) {
  const std::string& k = in.key;
  enum class Values { kStrings, kIps, kPorts } values = Values::kStrings;
  if (auto name = bracketed(k, "request.headers")) {
    out->set_key(pb::Condition::REQUEST_HEADER);
    out->set_name(*name);
  } else if (auto claim = bracketed(k, "request.auth.claims")) {
    out->set_key(pb::Condition::REQUEST_AUTH_CLAIM);
    out->set_name(*claim);
  } else if (k == "source.ip") {
    out->set_key(pb::Condition::SOURCE_IP);
    values = Values::kIps;
  } else if (k == "remote.ip") {
    out->set_key(pb::Condition::REMOTE_IP);
    values = Values::kIps;
  } else if (k == "destination.ip") {
    out->set_key(pb::Condition::DESTINATION_IP);
    values = Values::kIps;
  } else if (k == "destination.port") {
    out->set_key(pb::Condition::DESTINATION_PORT);
    values = Values::kPorts;
  } else if (k == "source.namespace") {
    out->set_key(pb::Condition::SOURCE_NAMESPACE);
  } else if (k == "source.principal") {
    out->set_key(pb::Condition::SOURCE_PRINCIPAL);
  } else if (k == "connection.sni") {
    out->set_key(pb::Condition::CONNECTION_SNI);
  } else if (k == "request.auth.principal") {
    out->set_key(pb::Condition::REQUEST_AUTH_PRINCIPAL);
  } else if (k == "request.auth.audiences") {
    out->set_key(pb::Condition::REQUEST_AUTH_AUDIENCES);
  } else if (k == "request.auth.presenter") {
    out->set_key(pb::Condition::REQUEST_AUTH_PRESENTER);
  } else {
    return false;
  }
  if (out->name().empty() &&
      (out->key() == pb::Condition::REQUEST_HEADER || out->key() == pb::Condition::REQUEST_AUTH_CLAIM)) {
    return false;
  }
  switch (values) {
    case Values::kStrings:
      add_strings(in.values, false, out->mutable_values());
      add_strings(in.not_values, false, out->mutable_not_values());
      return out->values_size() + out->not_values_size() > 0;
    case Values::kIps:
      ambient::add_addresses(in.values, out->mutable_ip_values());
      ambient::add_addresses(in.not_values, out->mutable_not_ip_values());
      return out->ip_values_size() + out->not_ip_values_size() > 0;
    case Values::kPorts:
      ambient::add_ports(in.values, out->mutable_port_values());
      ambient::add_ports(in.not_values, out->mutable_not_port_values());
      // Port 0 passes add_ports but is no port; the waypoint would refuse the whole policy.
      for (uint32_t p : out->port_values()) {
        if (p == 0) return false;
      }
      for (uint32_t p : out->not_port_values()) {
        if (p == 0) return false;
      }
      return out->port_values_size() + out->not_port_values_size() > 0;
  }
  return false;
}

void source(const AuthorizationPolicy::Source& in, const std::string& policy_ns, pb::Source* out) {
  add_strings(in.principals, false, out->mutable_principals());
  add_strings(in.not_principals, false, out->mutable_not_principals());
  add_strings(in.request_principals, false, out->mutable_request_principals());
  add_strings(in.not_request_principals, false, out->mutable_not_request_principals());
  add_strings(in.namespaces, false, out->mutable_namespaces());
  add_strings(in.not_namespaces, false, out->mutable_not_namespaces());
  ambient::add_addresses(in.ip_blocks, out->mutable_ip_blocks());
  ambient::add_addresses(in.not_ip_blocks, out->mutable_not_ip_blocks());
  ambient::add_addresses(in.remote_ip_blocks, out->mutable_remote_ip_blocks());
  ambient::add_addresses(in.not_remote_ip_blocks, out->mutable_not_remote_ip_blocks());
  ambient::add_service_accounts(in.service_accounts, policy_ns, out->mutable_service_accounts());
  ambient::add_service_accounts(in.not_service_accounts, policy_ns, out->mutable_not_service_accounts());
}

bool operation(const AuthorizationPolicy::Operation& in, pb::Operation* out) {
  add_strings(in.hosts, false, out->mutable_hosts());
  add_strings(in.not_hosts, false, out->mutable_not_hosts());
  ambient::add_ports(in.ports, out->mutable_ports());
  ambient::add_ports(in.not_ports, out->mutable_not_ports());
  add_strings(in.methods, false, out->mutable_methods());
  add_strings(in.not_methods, false, out->mutable_not_methods());
  add_strings(in.paths, true, out->mutable_paths());
  add_strings(in.not_paths, true, out->mutable_not_paths());
  for (const auto* ports : {&out->ports(), &out->not_ports()}) {
    for (uint32_t p : *ports) {
      if (p == 0) return false;
    }
  }
  return true;
}

bool empty(const google::protobuf::Message& m) { return m.ByteSizeLong() == 0; }

}  // namespace

std::optional<TranslatedPolicy> translate_policy(const ConfigObject& ap, const WaypointScope& scope) {
  if (ap.kind != Kind::kAuthorizationPolicy) return std::nullopt;
  const AuthorizationPolicy& spec = ap.as<AuthorizationPolicy>();
  if (spec.selector || spec.target_refs.empty()) return std::nullopt;  // ztunnel's

  TranslatedPolicy out;
  pb::Authorization& p = out.policy;
  p.set_namespace_(ap.meta.ns);
  p.set_name(ap.meta.name);

  bool to_waypoint = false;
  std::set<std::string> services;
  for (const auto& t : spec.target_refs) {
    if (!t.ns.empty() && t.ns != ap.meta.ns) continue;  // no cross-namespace targetRefs
    if (t.group == kGatewayApiGroup && t.kind == "Gateway") {
      to_waypoint |= ap.meta.ns == scope.waypoint.ns && t.name == scope.waypoint.name;
    } else if (t.group == kGatewayApiGroup && t.kind == "GatewayClass") {
      to_waypoint |= ap.meta.ns == scope.mesh.root_namespace && t.name == ambient::kWaypointGatewayClass;
    } else if (t.group.empty() && t.kind == "Service") {
      if (scope.serves(ap.meta.ns, t.name) && services.insert(t.name).second) {
        *p.add_targets()->mutable_service() = scope.service_key(ap.meta.ns, t.name);
      }
    }
  }
  if (to_waypoint) p.add_targets()->mutable_waypoint();
  if (p.targets_size() == 0) return std::nullopt;

  switch (spec.action) {
    case AuthorizationPolicy::Action::kAllow: p.set_action(pb::Authorization::ALLOW); break;
    case AuthorizationPolicy::Action::kDeny: p.set_action(pb::Authorization::DENY); break;
    case AuthorizationPolicy::Action::kAudit: p.set_action(pb::Authorization::AUDIT); break;
    case AuthorizationPolicy::Action::kCustom:
      p.set_action(pb::Authorization::DENY);
      out.problems.push_back(str_cat("CUSTOM (provider ", spec.provider,
                                     ") has no ext_authz here: enforced as DENY of its rules"));
      break;
  }
  auto it = ap.meta.annotations.find(ambient::kDryRunAnnotation);
  p.set_dry_run(it != ap.meta.annotations.end() && parse_pb_bool(it->second));

  const bool allow = p.action() == pb::Authorization::ALLOW;
  for (size_t i = 0; i < spec.rules.size(); ++i) {
    const AuthorizationPolicy::Rule& in = spec.rules[i];
    pb::Rule rule;
    std::string bad;
    for (size_t j = 0; j < in.from.size() && bad.empty(); ++j) {
      pb::Source* s = rule.add_from();
      source(in.from[j], ap.meta.ns, s);
      if (empty(*s)) bad = str_cat("rules[", i, "].from[", j, "]: empty source");
    }
    for (size_t j = 0; j < in.to.size() && bad.empty(); ++j) {
      pb::Operation* o = rule.add_to();
      if (!operation(in.to[j], o) || empty(*o)) bad = str_cat("rules[", i, "].to[", j, "]: empty operation or port 0");
    }
    for (size_t j = 0; j < in.when.size() && bad.empty(); ++j) {
      if (!condition(in.when[j], rule.add_when())) {
        bad = str_cat("rules[", i, "].when[", j, "]: key '", printable(in.when[j].key),
                      "' is unknown to the waypoint or has no usable values");
      }
    }
    if (bad.empty()) {
      *p.add_rules() = std::move(rule);
    } else if (allow) {
      out.problems.push_back(bad + "; the rule is dropped (an ALLOW then allows less)");
    } else {
      out.problems.push_back(bad + "; the rule matches every request (fail closed)");
      p.add_rules();  // no from/to/when: matches everything
    }
  }
  return out;
}

}  // namespace ambit::istiod::waypoint
