// L4 authorization evaluation; mirrors ztunnel src/rbac.rs and assert_rbac in src/state.rs.
#include "ztunnel/rbac/rbac.h"

#include <array>
#include <cstring>

#include "common/base/strings.h"

namespace ambit::ztunnel {
namespace {

using istio::security::Address;
using istio::security::Authorization;
using istio::security::Match;
using istio::security::ServiceAccountMatch;
using istio::security::StringMatch;

// The connection plus what every Match needs from it, computed once per evaluation.
struct Subject {
  const RbacConnection& conn;
  std::string principal;  // identity without "spiffe://"; empty when there is no identity
};

Subject make_subject(const RbacConnection& conn) {
  return Subject{conn, conn.src_identity ? conn.src_identity->principal() : std::string()};
}

// An Address as ztunnel's IpNet: 4 bytes -> IPv4, 16 bytes -> IPv6 (even if IPv4-mapped, as
// ztunnel's byte_to_ip does not canonicalise). Anything else is not representable and dropped.
struct Cidr {
  bool v4 = true;
  std::array<uint8_t, 16> bytes{};
  unsigned len = 0;
};

std::optional<Cidr> to_cidr(const Address& a) {
  Cidr c;
  const std::string& b = a.address();
  if (b.size() == 4) {
    c.v4 = true;
  } else if (b.size() == 16) {
    c.v4 = false;
  } else {
    return std::nullopt;
  }
  if (a.length() > (c.v4 ? 32u : 128u)) return std::nullopt;
  std::memcpy(c.bytes.data(), b.data(), b.size());
  c.len = a.length();
  return c;
}

bool cidr_valid(const Address& a) { return to_cidr(a).has_value(); }

bool cidr_contains(const Address& a, const net::IpAddr& ip) {
  auto c = to_cidr(a);
  if (!c || c->v4 != ip.is_v4()) return false;
  const auto& raw = ip.raw();
  unsigned full = c->len / 8;
  if (std::memcmp(raw.data(), c->bytes.data(), full) != 0) return false;
  if (unsigned rem = c->len % 8) {
    auto mask = static_cast<uint8_t>(0xff << (8 - rem));
    if ((raw[full] & mask) != (c->bytes[full] & mask)) return false;
  }
  return true;
}

bool string_match_valid(const StringMatch& m) {
  return m.match_type_case() != StringMatch::MATCH_TYPE_NOT_SET;
}

template <typename T>
bool always_valid(const T&) {
  return true;
}

// ztunnel's matches_internal: the positive list (if it has any usable entry) needs one hit; the
// negative list may have none. Unusable entries are skipped, as ztunnel drops them on ingest.
template <typename List, typename Valid, typename Pred>
bool kind_matches(const List& positive, const List& negative, Valid valid, Pred pred) {
  bool declared = false;
  bool hit = false;
  for (const auto& v : positive) {
    if (!valid(v)) continue;
    declared = true;
    if (pred(v)) {
      hit = true;
      break;
    }
  }
  if (declared && !hit) return false;
  for (const auto& v : negative) {
    if (valid(v) && pred(v)) return false;
  }
  return true;
}

template <typename List, typename Valid>
bool any_valid(const List& l, Valid valid) {
  for (const auto& v : l) {
    if (valid(v)) return true;
  }
  return false;
}

// RbacMatch::is_empty after ztunnel's conversion from xDS.
bool match_is_empty(const Match& m) {
  return !any_valid(m.namespaces(), string_match_valid) &&
         !any_valid(m.not_namespaces(), string_match_valid) &&
         !any_valid(m.principals(), string_match_valid) &&
         !any_valid(m.not_principals(), string_match_valid) &&
         !any_valid(m.source_ips(), cidr_valid) && !any_valid(m.not_source_ips(), cidr_valid) &&
         !any_valid(m.destination_ips(), cidr_valid) &&
         !any_valid(m.not_destination_ips(), cidr_valid) && m.destination_ports().empty() &&
         m.not_destination_ports().empty() && m.service_accounts().empty() &&
         m.not_service_accounts().empty();
}

bool match_matches(const Match& m, const Subject& s) {
  if (match_is_empty(m)) return false;
  const RbacConnection& c = s.conn;
  const bool has_id = c.src_identity.has_value();
  return kind_matches(m.destination_ips(), m.not_destination_ips(), cidr_valid,
                      [&](const Address& a) { return cidr_contains(a, c.dst_ip); }) &&
         kind_matches(m.source_ips(), m.not_source_ips(), cidr_valid,
                      [&](const Address& a) { return cidr_contains(a, c.src_ip); }) &&
         kind_matches(m.destination_ports(), m.not_destination_ports(), always_valid<uint32_t>,
                      [&](uint32_t p) { return p == c.dst_port; }) &&
         kind_matches(m.service_accounts(), m.not_service_accounts(),
                      always_valid<ServiceAccountMatch>,
                      [&](const ServiceAccountMatch& sa) {
                        return has_id && sa.namespace_() == c.src_identity->ns() &&
                               sa.serviceaccount() == c.src_identity->service_account();
                      }) &&
         kind_matches(
             m.principals(), m.not_principals(), string_match_valid,
             [&](const StringMatch& sm) { return has_id && string_matches(sm, s.principal); }) &&
         kind_matches(m.namespaces(), m.not_namespaces(), string_match_valid,
                      [&](const StringMatch& sm) {
                        return has_id && string_matches(sm, c.src_identity->ns());
                      });
}

bool policy_matches(const Authorization& p, const Subject& s) {
  // Rules OR-ed; no rules at all matches nothing.
  for (const auto& rule : p.rules()) {
    bool rule_match = true;  // a rule with no clauses matches everything
    for (const auto& clause : rule.clauses()) {
      bool clause_match = clause.matches().empty();  // a clause with no matches matches
      for (const auto& m : clause.matches()) {
        if (match_matches(m, s)) {
          clause_match = true;
          break;
        }
      }
      if (!clause_match) {
        rule_match = false;
        break;
      }
    }
    if (rule_match) return true;
  }
  return false;
}

// assert_rbac: DENY first, then "no ALLOW policies -> allow", then any ALLOW match -> allow.
RbacDecision decide(const std::vector<const Authorization*>& policies, const Subject& s,
                    bool include_dry_run) {
  bool any_allow = false;
  for (const Authorization* p : policies) {
    if (p->dry_run() && !include_dry_run) continue;
    if (p->action() == istio::security::DENY) {
      if (policy_matches(*p, s)) {
        std::string key = policy_key(*p);
        return RbacDecision{false, key, str_cat("explicitly denied by: ", key)};
      }
    } else {
      any_allow = true;
    }
  }
  if (!any_allow) return RbacDecision{true, "", "no allow policies, allow"};
  for (const Authorization* p : policies) {
    if (p->dry_run() && !include_dry_run) continue;
    if (p->action() != istio::security::DENY && policy_matches(*p, s)) {
      std::string key = policy_key(*p);
      return RbacDecision{true, key, str_cat("allowed by: ", key)};
    }
  }
  return RbacDecision{false, "", "allow policies exist, but none allowed"};
}

}  // namespace

std::string to_string(const RbacConnection& conn) {
  return str_cat(conn.src_ip.to_string(), "(",
                 conn.src_identity ? conn.src_identity->to_string() : std::string("None"), ")->",
                 net::SocketAddr{conn.dst_ip, conn.dst_port}.to_string());
}

std::string policy_key(const Authorization& policy) {
  return str_cat(policy.namespace_(), "/", policy.name());
}

bool string_matches(const StringMatch& m, std::string_view value) {
  switch (m.match_type_case()) {
    case StringMatch::kExact:
      return value == std::string_view(m.exact());
    case StringMatch::kPrefix:
      return value.starts_with(std::string_view(m.prefix()));
    case StringMatch::kSuffix:
      return value.ends_with(std::string_view(m.suffix()));
    case StringMatch::kPresence:
      return !value.empty();
    case StringMatch::MATCH_TYPE_NOT_SET:
      break;
  }
  return false;
}

bool match_matches(const Match& m, const RbacConnection& conn) {
  return match_matches(m, make_subject(conn));
}

bool policy_matches(const Authorization& policy, const RbacConnection& conn) {
  return policy_matches(policy, make_subject(conn));
}

RbacResult evaluate_rbac(const std::vector<const Authorization*>& policies,
                         const RbacConnection& conn) {
  Subject s = make_subject(conn);
  RbacDecision enforced = decide(policies, s, /*include_dry_run=*/false);
  RbacResult r{enforced.allowed, std::move(enforced.policy), std::move(enforced.reason), {}};
  for (const Authorization* p : policies) {
    if (p->dry_run()) {
      r.dry_run = decide(policies, s, /*include_dry_run=*/true);
      break;
    }
  }
  return r;
}

RbacResult evaluate_rbac(const std::vector<wds::PolicyPtr>& policies, const RbacConnection& conn) {
  std::vector<const Authorization*> protos;
  protos.reserve(policies.size());
  for (const auto& p : policies) {
    if (p) protos.push_back(&p->proto);
  }
  return evaluate_rbac(protos, conn);
}

}  // namespace ambit::ztunnel
