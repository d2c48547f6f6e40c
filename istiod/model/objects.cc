#include "istiod/model/objects.h"

#include <algorithm>

#include "common/base/strings.h"

namespace ambit::istiod {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kNamespace: return "Namespace";
    case Kind::kPod: return "Pod";
    case Kind::kService: return "Service";
    case Kind::kServiceAccount: return "ServiceAccount";
    case Kind::kNode: return "Node";
    case Kind::kAuthorizationPolicy: return "AuthorizationPolicy";
    case Kind::kPeerAuthentication: return "PeerAuthentication";
    case Kind::kGatewayClass: return "GatewayClass";
    case Kind::kGateway: return "Gateway";
    case Kind::kHTTPRoute: return "HTTPRoute";
    case Kind::kGRPCRoute: return "GRPCRoute";
  }
  return "?";
}

const char* kind_api_version(Kind k) {
  switch (k) {
    case Kind::kAuthorizationPolicy:
    case Kind::kPeerAuthentication: return "security.istio.io/v1";
    case Kind::kGatewayClass:
    case Kind::kGateway:
    case Kind::kHTTPRoute:
    case Kind::kGRPCRoute: return "gateway.networking.k8s.io/v1";
    default: return "v1";
  }
}

bool kind_is_namespaced(Kind k) { return k != Kind::kNamespace && k != Kind::kNode && k != Kind::kGatewayClass; }

std::string ObjectKey::to_string() const {
  return ns.empty() ? str_cat(kind_name(kind), " ", name) : str_cat(kind_name(kind), " ", ns, "/", name);
}

bool LabelSelector::matches(const Labels& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& r : match_expressions) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    bool in = has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    switch (r.op) {
      case Requirement::Op::kIn: if (!in) return false; break;
      case Requirement::Op::kNotIn: if (in) return false; break;
      case Requirement::Op::kExists: if (!has) return false; break;
      case Requirement::Op::kDoesNotExist: if (has) return false; break;
    }
  }
  return true;
}

bool selector_matches(const Labels& selector, const Labels& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace ambit::istiod
