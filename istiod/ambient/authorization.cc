#include "istiod/ambient/authorization.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <set>

#include "common/base/strings.h"

namespace ambit::istiod::ambient {
namespace {

namespace sec = istio::security;
using google::protobuf::RepeatedField;
using google::protobuf::RepeatedPtrField;
using Mode = PeerAuthentication::Mode;

// ---- value conversions (authorization.go stringToMatch / stringToPort / stringToIP) ----------

// "*" → presence, "*x" → suffix "x", "x*" → prefix "x", else exact. Principals are passed as
// written: ztunnel strips "spiffe://" from the peer identity before comparing.
void add_string_matches(const std::vector<std::string>& values,
                        RepeatedPtrField<sec::StringMatch>* out) {
  for (const std::string& v : values) {
    sec::StringMatch* m = out->Add();
    if (v == "*") {
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

// strconv.ParseUint(s, 10, 32) and <= 65535; anything else is skipped, as istiod does.
std::optional<uint32_t> parse_port(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
    if (v > 65535) return std::nullopt;
  }
  return v;
}

// netip.ParseAddr: 4 raw bytes for IPv4, 16 for IPv6 (IPv4-mapped IPv6 stays 16). A zone
// ("fe80::1%eth0") is accepted and dropped, as AsSlice() does; prefixes take no zone.
bool parse_ip(std::string_view s, bool allow_zone, std::string* bytes) {
  std::string text(s);
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    bytes->assign(reinterpret_cast<char*>(buf), 4);
    return true;
  }
  if (size_t pct = text.find('%'); pct != std::string::npos) {
    if (!allow_zone || pct + 1 == text.size()) return false;
    text.resize(pct);
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    bytes->assign(reinterpret_cast<char*>(buf), 16);
    return true;
  }
  return false;
}

// ---- rules (authorization.go handleRule) ---------------------------------------------------

// `when` keys ztunnel can evaluate (l4WhenAttributes). Others are L7.
bool is_l4_when_key(std::string_view k) {
  return k == "source.ip" || k == "source.namespace" || k == "source.principal" ||
         k == "destination.ip" || k == "destination.port";
}

void note_l7(const std::vector<std::string>& field, const char* name, std::set<std::string>* l7) {
  if (!field.empty()) l7->insert(name);
}

// Builds the rule into `out`; returns false when an ALLOW rule must be dropped for using L7
// attributes ("L7 policies never match for ALLOW"). `l7` collects the attributes found.
bool convert_rule(const AuthorizationPolicy::Rule& rule, bool allow, std::string_view policy_ns,
                  sec::Rule* out, std::set<std::string>* l7) {
  bool found_l7 = false;
  if (!rule.to.empty()) {
    sec::Clause* clause = out->add_clauses();
    for (const AuthorizationPolicy::Operation& op : rule.to) {
      std::set<std::string> here;
      note_l7(op.hosts, "hosts", &here);
      note_l7(op.not_hosts, "notHosts", &here);
      note_l7(op.methods, "methods", &here);
      note_l7(op.not_methods, "notMethods", &here);
      note_l7(op.paths, "paths", &here);
      note_l7(op.not_paths, "notPaths", &here);
      found_l7 |= !here.empty();
      l7->insert(here.begin(), here.end());
      sec::Match* m = clause->add_matches();
      add_ports(op.ports, m->mutable_destination_ports());
      add_ports(op.not_ports, m->mutable_not_destination_ports());
    }
  }
  if (!rule.from.empty()) {
    sec::Clause* clause = out->add_clauses();
    for (const AuthorizationPolicy::Source& src : rule.from) {
      std::set<std::string> here;
      note_l7(src.remote_ip_blocks, "remoteIpBlocks", &here);
      note_l7(src.not_remote_ip_blocks, "notRemoteIpBlocks", &here);
      note_l7(src.request_principals, "requestPrincipals", &here);
      note_l7(src.not_request_principals, "notRequestPrincipals", &here);
      found_l7 |= !here.empty();
      l7->insert(here.begin(), here.end());
      sec::Match* m = clause->add_matches();
      add_addresses(src.ip_blocks, m->mutable_source_ips());
      add_addresses(src.not_ip_blocks, m->mutable_not_source_ips());
      add_string_matches(src.namespaces, m->mutable_namespaces());
      add_string_matches(src.not_namespaces, m->mutable_not_namespaces());
      add_service_accounts(src.service_accounts, policy_ns, m->mutable_service_accounts());
      add_service_accounts(src.not_service_accounts, policy_ns, m->mutable_not_service_accounts());
      add_string_matches(src.principals, m->mutable_principals());
      add_string_matches(src.not_principals, m->mutable_not_principals());
    }
  }
  for (const AuthorizationPolicy::Condition& when : rule.when) {
    // An L7 key still yields a clause, with an empty Match (never matches at ztunnel).
    sec::Match* m = out->add_clauses()->add_matches();
    const std::string& k = when.key;
    if (!is_l4_when_key(k)) {
      found_l7 = true;
      l7->insert(k);
    } else if (k == "source.namespace") {
      add_string_matches(when.values, m->mutable_namespaces());
      add_string_matches(when.not_values, m->mutable_not_namespaces());
    } else if (k == "source.principal") {
      add_string_matches(when.values, m->mutable_principals());
      add_string_matches(when.not_values, m->mutable_not_principals());
    } else if (k == "source.ip") {
      add_addresses(when.values, m->mutable_source_ips());
      add_addresses(when.not_values, m->mutable_not_source_ips());
    } else if (k == "destination.ip") {
      add_addresses(when.values, m->mutable_destination_ips());
      add_addresses(when.not_values, m->mutable_not_destination_ips());
    } else {  // destination.port
      add_ports(when.values, m->mutable_destination_ports());
      add_ports(when.not_values, m->mutable_not_destination_ports());
    }
  }
  return !(allow && found_l7);
}

bool match_empty(const sec::Match& m) { return m.ByteSizeLong() == 0; }

// authorization.go hasEffectiveRules: does any rule fire at ztunnel? A rule without clauses
// matches everything; a clause whose Matches are all empty matches nothing.
bool has_effective_rules(const sec::Authorization& a) {
  for (const sec::Rule& r : a.rules()) {
    bool effective = true;
    for (const sec::Clause& c : r.clauses()) {
      if (std::all_of(c.matches().begin(), c.matches().end(), match_empty)) {
        effective = false;
        break;
      }
    }
    if (effective) return true;
  }
  return false;
}

// strconv.ParseBool; an unparsable value means "not dry-run" (istiod logs and proceeds).
bool parse_go_bool(std::string_view v) {
  return v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True";
}

bool is_dry_run(const ConfigObject& obj) {
  auto it = obj.meta.annotations.find(kDryRunAnnotation);
  return it != obj.meta.annotations.end() && parse_go_bool(it->second);
}

// ---- PeerAuthentication helpers ------------------------------------------------------------

const PeerAuthentication* pa_spec(const ConfigObject* obj) {
  if (obj == nullptr || obj->kind != Kind::kPeerAuthentication) return nullptr;
  return &obj->as<PeerAuthentication>();
}

// isMtlsMode*: a missing policy is neither STRICT nor anything else, but counts as UNSET.
bool strict(const PeerAuthentication* p) { return p && p->mode == Mode::kStrict; }
bool unset(const PeerAuthentication* p) { return !p || p->mode == Mode::kUnset; }
bool non_strict(Mode m) { return m == Mode::kPermissive || m == Mode::kDisable; }

// convertedSelectorPeerAuthentications treats "no selector" and "no labels" alike.
bool selector_has_labels(const std::optional<LabelSelector>& s) { return s && !s->empty(); }

sec::Rule* add_not_principals_presence(sec::Rule* rule) {
  rule->add_clauses()->add_matches()->add_not_principals()->mutable_presence();
  return rule;
}

std::string converted_pa_key(const ConfigObject& pa) {
  return str_cat(pa.meta.ns, "/", kConvertedPeerAuthenticationPrefix, pa.meta.name);
}

}  // namespace

// ---- value conversions shared with the waypoint's policies ------------------------------

void add_ports(const std::vector<std::string>& values, RepeatedField<uint32_t>* out) {
  for (const std::string& v : values) {
    if (auto p = parse_port(v)) out->Add(*p);
  }
}

// "addr" → full-length prefix; "addr/bits" → the address as written (not masked) and bits,
// as netip.ParsePrefix keeps it. Unparsable values are skipped.
void add_addresses(const std::vector<std::string>& values, RepeatedPtrField<sec::Address>* out) {
  for (const std::string& v : values) {
    if (v.empty()) continue;
    std::string bytes;
    uint32_t length = 0;
    size_t slash = v.rfind('/');
    if (slash == std::string::npos) {
      if (!parse_ip(v, /*allow_zone=*/true, &bytes)) continue;
      length = static_cast<uint32_t>(bytes.size() * 8);
    } else {
      if (!parse_ip(std::string_view(v).substr(0, slash), /*allow_zone=*/false, &bytes)) continue;
      std::string_view bits = std::string_view(v).substr(slash + 1);
      // ParsePrefix: decimal digits, no sign, no leading zero, at most the address length.
      if (bits.empty() || bits.size() > 3 || (bits.size() > 1 && bits[0] == '0')) continue;
      auto n = parse_port(bits);
      if (!n || *n > bytes.size() * 8) continue;
      length = *n;
    }
    sec::Address* a = out->Add();
    a->set_address(bytes);
    a->set_length(length);
  }
}

// "ns/sa" names a service account of another namespace; a bare "sa" is in the policy's.
void add_service_accounts(const std::vector<std::string>& values, std::string_view policy_ns,
                          RepeatedPtrField<sec::ServiceAccountMatch>* out) {
  for (const std::string& v : values) {
    sec::ServiceAccountMatch* m = out->Add();
    if (size_t slash = v.find('/'); slash != std::string::npos) {
      m->set_namespace_(v.substr(0, slash));
      m->set_serviceaccount(v.substr(slash + 1));
    } else {
      m->set_namespace_(std::string(policy_ns));
      m->set_serviceaccount(v);
    }
  }
}

// ---- AuthorizationPolicy --------------------------------------------------------------------

bool is_ztunnel_authorization_policy(const ConfigObject& ap, const AuthorizationOptions& opts) {
  if (ap.kind != Kind::kAuthorizationPolicy) return false;
  const auto& spec = ap.as<AuthorizationPolicy>();
  if (is_dry_run(ap) && !opts.enable_dry_run) return false;
  if (!spec.target_refs.empty()) return false;
  return spec.action == AuthorizationPolicy::Action::kAllow ||
         spec.action == AuthorizationPolicy::Action::kDeny;
}

std::optional<sec::Authorization> convert_authorization_policy(const ConfigObject& ap,
                                                               const MeshConfig& mesh,
                                                               const AuthorizationOptions& opts,
                                                               std::string* status) {
  std::string ignored;
  if (status == nullptr) status = &ignored;
  status->clear();
  if (ap.kind != Kind::kAuthorizationPolicy) return std::nullopt;
  const auto& spec = ap.as<AuthorizationPolicy>();
  bool dry_run = is_dry_run(ap);
  if (dry_run && !opts.enable_dry_run) {
    *status = str_cat("found policy \"", ap.meta.ns, "/", ap.meta.name,
                      "\" using dry-run annotation, but support for ambient dry-run "
                      "authorizationPolicies isn't enabled");
    return std::nullopt;
  }
  if (!spec.target_refs.empty()) return std::nullopt;  // a waypoint policy, not for ztunnel

  sec::Authorization out;
  out.set_name(ap.meta.name);
  out.set_namespace_(ap.meta.ns);
  if (spec.selector) {
    out.set_scope(sec::WORKLOAD_SELECTOR);
  } else {
    out.set_scope(ap.meta.ns == mesh.root_namespace ? sec::GLOBAL : sec::NAMESPACE);
  }
  switch (spec.action) {
    case AuthorizationPolicy::Action::kAllow:
      out.set_action(sec::ALLOW);
      break;
    case AuthorizationPolicy::Action::kDeny:
      out.set_action(sec::DENY);
      break;
    case AuthorizationPolicy::Action::kAudit:
      *status = "ztunnel does not support the AUDIT action";
      return std::nullopt;
    case AuthorizationPolicy::Action::kCustom:
      *status = "ztunnel does not support the CUSTOM action";
      return std::nullopt;
  }
  out.set_dry_run(dry_run);

  bool allow = out.action() == sec::ALLOW;
  std::set<std::string> l7;
  for (const AuthorizationPolicy::Rule& rule : spec.rules) {
    sec::Rule converted;
    if (convert_rule(rule, allow, ap.meta.ns, &converted, &l7)) {
      *out.add_rules() = std::move(converted);
    }
  }
  if (!l7.empty()) {
    std::string boilerplate;
    if (!allow && !has_effective_rules(out)) {
      boilerplate =
          "After omitting unsupported HTTP attributes, this DENY policy has no enforceable rules "
          "at ztunnel and will have no effect. Deploy a waypoint proxy and use a targetRef to "
          "enforce this policy.";
    } else if (!allow) {
      boilerplate =
          "DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more "
          "restrictive than requested.";
    } else {
      boilerplate =
          "Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more "
          "restrictive than requested.";
    }
    *status = str_cat("ztunnel does not support HTTP attributes (found: ",
                      join(std::vector<std::string>(l7.begin(), l7.end()), ", "),
                      "). In ambient mode you must use a waypoint proxy to enforce HTTP rules. ",
                      boilerplate);
  }
  return out;
}

// ---- PeerAuthentication ---------------------------------------------------------------------

sec::Authorization static_strict_policy(const MeshConfig& mesh) {
  sec::Authorization out;
  out.set_name(kStaticStrictPolicyName);
  out.set_namespace_(mesh.root_namespace);
  out.set_scope(sec::WORKLOAD_SELECTOR);
  out.set_action(sec::DENY);
  add_not_principals_presence(out.add_rules());
  return out;
}

const ConfigObject* namespace_peer_authentication(std::span<const ConfigObject* const> pas) {
  for (const ConfigObject* p : pas) {
    if (const PeerAuthentication* spec = pa_spec(p); spec && !spec->selector) return p;
  }
  return nullptr;
}

std::optional<sec::Authorization> convert_peer_authentication(const ConfigObject& cfg,
                                                              const ConfigObject* namespace_pa,
                                                              const ConfigObject* root_pa,
                                                              const MeshConfig& mesh) {
  const PeerAuthentication* pa = pa_spec(&cfg);
  if (!pa || cfg.meta.ns == mesh.root_namespace || !pa->selector || pa->port_level.empty()) {
    return std::nullopt;
  }
  const PeerAuthentication* ns = pa_spec(namespace_pa);
  const PeerAuthentication* root = pa_spec(root_pa);
  const Mode mode = pa->mode;

  // `clauses` are AND-ed into one final rule; each STRICT port gets a rule of its own (OR-ed).
  sec::Authorization out;
  sec::Rule clauses;
  if (mode == Mode::kStrict) add_not_principals_presence(&clauses);
  bool found_non_strict_port = false;
  for (const auto& [port, port_mode] : pa->port_level) {  // ascending, like maps.SeqStable
    if (port_mode == Mode::kStrict) {
      // Already enforced by the parent. Upstream's condition, operator precedence included:
      // the mesh-STRICT term does not require this policy's own mode to be UNSET.
      if (strict(pa) || (unset(pa) && ns && strict(ns)) ||
          ((!ns || unset(ns)) && root && strict(root))) {
        continue;
      }
      sec::Match* m = out.add_rules()->add_clauses()->add_matches();
      m->add_not_principals()->mutable_presence();
      m->add_destination_ports(port);
    } else if (non_strict(port_mode)) {
      if (non_strict(mode)) continue;
      // UNSET here with a non-STRICT parent: nothing to exempt. (An UNSET namespace policy under
      // a STRICT mesh counts as non-STRICT here, as upstream has it.)
      if (mode == Mode::kUnset &&
          ((ns && !strict(ns)) || (!ns && root && !strict(root)) || (!ns && !root))) {
        continue;
      }
      found_non_strict_port = true;
      clauses.add_clauses()->add_matches()->add_not_destination_ports(port);
    }
    // A port-level UNSET changes nothing.
  }
  // STRICT with only STRICT ports: the static STRICT policy says it all.
  if (mode == Mode::kStrict && !found_non_strict_port) return std::nullopt;
  if (clauses.clauses().empty() && out.rules().empty()) return std::nullopt;

  // A STRICT parent (mesh, unless the namespace overrides it, or namespace) is folded into this
  // policy, because the workload then does not reference the static STRICT policy: any matching
  // DENY policy would block the exempted port.
  bool merge_strict = (root && strict(root) && (!ns || unset(ns) || strict(ns))) || strict(ns);
  if (merge_strict && found_non_strict_port) add_not_principals_presence(&clauses);
  if (!clauses.clauses().empty()) *out.add_rules() = std::move(clauses);

  out.set_name(str_cat(kConvertedPeerAuthenticationPrefix, cfg.meta.name));
  out.set_namespace_(cfg.meta.ns);
  out.set_scope(sec::WORKLOAD_SELECTOR);
  out.set_action(sec::DENY);
  return out;
}

std::vector<std::string> peer_authentication_policy_names(
    std::string_view ns, const Labels& labels, std::span<const ConfigObject* const> namespace_pas,
    std::span<const ConfigObject* const> root_pas, const MeshConfig& mesh) {
  const std::string& root_ns = mesh.root_namespace;
  const ConfigObject* mesh_cfg = nullptr;
  const ConfigObject* namespace_cfg = nullptr;
  const ConfigObject* workload_cfg = nullptr;
  // fetchPeerAuthentications: root-namespace policies without a selector, and the workload
  // namespace's policies that have no selector or select the workload. Then
  // convertedSelectorPeerAuthentications sorts them into levels; the first (oldest) wins.
  auto consider = [&](const ConfigObject* p, bool from_root_list) {
    const PeerAuthentication* spec = pa_spec(p);
    if (!spec) return;
    bool root_mesh_wide = p->meta.ns == root_ns && !spec->selector;
    bool in_ns =
        !from_root_list && p->meta.ns == ns && (!spec->selector || spec->selector->matches(labels));
    if (!root_mesh_wide && !in_ns) return;
    if (!selector_has_labels(spec->selector)) {
      const ConfigObject*& level = p->meta.ns == root_ns ? mesh_cfg : namespace_cfg;
      if (!level) level = p;
    } else if (p->meta.ns != root_ns && !workload_cfg) {
      workload_cfg = p;
    }
  };
  for (const ConfigObject* p : namespace_pas) consider(p, false);
  if (ns != root_ns) {
    for (const ConfigObject* p : root_pas) consider(p, true);
  }

  bool effective_strict = mesh_cfg && strict(pa_spec(mesh_cfg));
  if (namespace_cfg && !unset(pa_spec(namespace_cfg)))
    effective_strict = strict(pa_spec(namespace_cfg));
  std::string port_level_key;
  if (workload_cfg) {
    const PeerAuthentication* w = pa_spec(workload_cfg);
    if (w->mode == Mode::kStrict) effective_strict = true;
    if (non_strict(w->mode)) effective_strict = false;
    auto any_port = [&](auto pred) {
      return std::any_of(w->port_level.begin(), w->port_level.end(),
                         [&](const auto& kv) { return pred(kv.second); });
    };
    auto is_strict = [](Mode m) { return m == Mode::kStrict; };
    auto is_permissive = [](Mode m) { return m == Mode::kPermissive; };
    if (w->mode == Mode::kStrict) {
      if (any_port(non_strict)) {
        port_level_key = converted_pa_key(*workload_cfg);
        effective_strict = false;  // the converted policy carries the STRICT default
      }
    } else if (non_strict(w->mode)) {
      if (any_port(is_strict)) port_level_key = converted_pa_key(*workload_cfg);
    } else if (effective_strict) {
      // Upstream only looks for PERMISSIVE ports here (a DISABLE port under a STRICT parent
      // keeps the static STRICT policy).
      if (any_port(is_permissive)) {
        port_level_key = converted_pa_key(*workload_cfg);
        effective_strict = false;
      }
    } else if (any_port(is_strict)) {
      port_level_key = converted_pa_key(*workload_cfg);
    }
  }

  std::set<std::string> keys;  // effectivePeerAuthenticationKeys: a sorted set
  if (effective_strict) keys.insert(str_cat(root_ns, "/", kStaticStrictPolicyName));
  if (!port_level_key.empty()) keys.insert(port_level_key);
  return {keys.begin(), keys.end()};
}

// ---- Workload.authorization_policies --------------------------------------------------------

std::vector<std::string> workload_authorization_policies(
    std::string_view ns, const Labels& labels, std::span<const ConfigObject* const> namespace_aps,
    std::span<const ConfigObject* const> root_aps,
    std::span<const ConfigObject* const> namespace_pas,
    std::span<const ConfigObject* const> root_pas, const MeshConfig& mesh,
    const AuthorizationOptions& opts) {
  bool in_root = ns == mesh.root_namespace;
  std::vector<std::string> out;
  auto consider = [&](const ConfigObject* p) {
    if (!p || !is_ztunnel_authorization_policy(*p, opts)) return;
    if (p->meta.ns != ns && p->meta.ns != mesh.root_namespace) return;
    // Only selector policies are listed, and only when the selector has labels: `selector: {}`
    // gives a WORKLOAD_SELECTOR policy that istiod attaches to nothing.
    const auto& sel = p->as<AuthorizationPolicy>().selector;
    if (!selector_has_labels(sel) || !sel->matches(labels)) return;
    out.push_back(str_cat(p->meta.ns, "/", p->meta.name));
  };
  for (const ConfigObject* p : namespace_aps) consider(p);
  if (!in_root) {
    for (const ConfigObject* p : root_aps) consider(p);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  std::vector<std::string> pa_names =
      peer_authentication_policy_names(ns, labels, namespace_pas, root_pas, mesh);
  out.insert(out.end(), pa_names.begin(), pa_names.end());
  return out;
}

}  // namespace ambit::istiod::ambient
