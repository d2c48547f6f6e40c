#include "istiod/config/yaml_parser.h"

#include <arpa/inet.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <optional>
#include <sstream>

#include "common/base/status.h"
#include "common/identity/spiffe.h"
#include "common/base/strings.h"
#include "istiod/config/field.h"
#include "istiod/config/gateway_api_parser.h"

namespace ambit::istiod {
namespace {

using parse::Field;
using parse::FieldError;
using parse::label_selector;
using parse::labels_field;


std::string ip_field(const Field& f) {
  std::string s = f.str();
  if (!valid_ip(s)) f.fail(str_cat("'", printable(s), "' is not an IP address"));
  return s;
}

std::vector<std::string> cidr_list(const Field& f) {
  std::vector<std::string> out;
  f.each([&](const Field& e) {
    std::string s = e.str();
    if (auto st = validate_cidr(s); !st.ok()) e.fail(std::string(st.message()));
    out.push_back(s);
  });
  return out;
}

std::vector<std::string> port_list(const Field& f) {
  std::vector<std::string> out;
  f.each([&](const Field& e) {
    if (!e.is_int()) e.fail(str_cat("want a port number, got '", printable(e.str()), "'"));
    e.port();
    out.push_back(e.str());
  });
  return out;
}

std::vector<std::string> nonempty_strings(const Field& f) {
  std::vector<std::string> out;
  f.each([&](const Field& e) {
    std::string s = e.str();
    if (s.empty()) e.fail("must not be empty");
    out.push_back(s);
  });
  return out;
}

Pod parse_pod(const Field& spec, const Field& status) {
  Pod p;
  p.node_name = spec["nodeName"].str();
  p.service_account = spec["serviceAccountName"].str(spec["serviceAccount"].str("default"));
  if (auto s = validate_path_segment("service account", p.service_account); !s.ok()) {
    spec["serviceAccountName"].fail(std::string(s.message()));
  }
  p.host_network = spec["hostNetwork"].boolean();
  p.restart_policy = spec["restartPolicy"].str("Always");
  if (p.restart_policy != "Always" && p.restart_policy != "OnFailure" && p.restart_policy != "Never") {
    spec["restartPolicy"].fail("want Always, OnFailure or Never");
  }
  spec["containers"].each([&](const Field& c) {
    Container ct;
    ct.name = c["name"].required_str();
    ct.image = c["image"].str();
    ct.command = c["command"].strings();
    ct.args = c["args"].strings();
    c["env"].each([&](const Field& e) { ct.env.push_back({e["name"].required_str(), e["value"].str()}); });
    c["ports"].each([&](const Field& pf) {
      ContainerPort cp;
      cp.name = pf["name"].str();
      cp.port = pf["containerPort"].port();
      cp.protocol = pf["protocol"].str("TCP");
      ct.ports.push_back(cp);
    });
    p.containers.push_back(std::move(ct));
  });
  p.phase = status["phase"].str();
  status["podIPs"].each([&](const Field& f) { p.ips.push_back(ip_field(f["ip"])); });
  if (p.ips.empty() && status["podIP"].present()) p.ips.push_back(ip_field(status["podIP"]));
  status["conditions"].each([&](const Field& c) {
    if (c["type"].str() == "Ready") p.ready = c["status"].str() == "True";
  });
  return p;
}

Service parse_service(const Field& spec) {
  Service s;
  if (spec["selector"].present()) s.selector = labels_field(spec["selector"]);
  s.type = spec["type"].str("ClusterIP");
  s.traffic_distribution = spec["trafficDistribution"].str();
  std::vector<std::string> ips = spec["clusterIPs"].strings();
  if (ips.empty() && spec["clusterIP"].present()) ips.push_back(spec["clusterIP"].str());
  for (size_t i = 0; i < ips.size(); ++i) {
    if (ips[i] == "None" || ips[i].empty()) continue;
    if (!valid_ip(ips[i])) {
      throw FieldError{"spec.clusterIPs", str_cat("'", printable(ips[i]), "' is not an IP address")};
    }
    s.cluster_ips.push_back(ips[i]);
  }
  std::map<std::string, bool> names;
  spec["ports"].each([&](const Field& pf) {
    ServicePort p;
    p.name = pf["name"].str();
    p.port = pf["port"].port();
    p.protocol = pf["protocol"].str("TCP");
    p.app_protocol = pf["appProtocol"].str();
    Field tp = pf["targetPort"];
    if (!tp.present()) {
      p.target_port.number = p.port;
    } else if (tp.is_int()) {
      p.target_port.number = tp.port();
    } else {
      p.target_port.name = tp.str();
      if (!valid_dns1123_label(p.target_port.name)) tp.fail("want a port number or a port name");
    }
    if (!p.name.empty() && names[p.name]) pf["name"].fail(str_cat("duplicate port name '", p.name, "'"));
    names[p.name] = true;
    s.ports.push_back(std::move(p));
  });
  if (s.ports.size() > 1) {
    for (const auto& p : s.ports) {
      if (p.name.empty()) throw FieldError{"spec.ports", "every port needs a name when there are several"};
    }
  }
  return s;
}

// A policy's workload selector; a misspelt key (`matchLabel`) would widen the policy from the
// selected workloads to the whole namespace.
std::optional<LabelSelector> policy_selector(const Field& f) {
  if (!f.present()) return std::nullopt;
  f.only({"matchLabels", "matchExpressions"});
  f["matchExpressions"].each([](const Field& e) { e.only({"key", "operator", "values"}); });
  return label_selector(f);
}

AuthorizationPolicy::TargetRef target_ref(const Field& t) {
  t.only({"group", "kind", "name", "namespace"});
  return {t["group"].str(), t["kind"].required_str(), t["name"].required_str(), t["namespace"].str()};
}

// Field names as in istio.io's security/v1 AuthorizationPolicy and PeerAuthentication.
AuthorizationPolicy parse_authz(const Field& spec) {
  AuthorizationPolicy ap;
  spec.only({"selector", "targetRef", "targetRefs", "action", "provider", "rules"});
  ap.selector = policy_selector(spec["selector"]);
  spec["targetRefs"].each([&](const Field& t) { ap.target_refs.push_back(target_ref(t)); });
  if (spec["targetRef"].present()) ap.target_refs.push_back(target_ref(spec["targetRef"]));
  if (ap.selector && !ap.target_refs.empty()) spec["targetRefs"].fail("cannot be used together with selector");
  std::string action = spec["action"].str("ALLOW");
  if (action == "ALLOW") ap.action = AuthorizationPolicy::Action::kAllow;
  else if (action == "DENY") ap.action = AuthorizationPolicy::Action::kDeny;
  else if (action == "AUDIT") ap.action = AuthorizationPolicy::Action::kAudit;
  else if (action == "CUSTOM") ap.action = AuthorizationPolicy::Action::kCustom;
  else spec["action"].fail(str_cat("unknown action '", printable(action), "' (want ALLOW, DENY, AUDIT, CUSTOM)"));
  spec["provider"].only({"name"});
  if (ap.action == AuthorizationPolicy::Action::kCustom) {
    ap.provider = spec["provider"]["name"].required_str();
  }
  spec["rules"].each([&](const Field& rf) {
    AuthorizationPolicy::Rule r;
    rf.only({"from", "to", "when"});
    rf["from"].each([&](const Field& ff) {
      ff.only({"source"});
      Field s = ff["source"];
      if (!s.present()) ff.fail("a from entry needs a source");
      s.only({"principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces",
              "notNamespaces", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks", "serviceAccounts",
              "notServiceAccounts"});
      AuthorizationPolicy::Source src;
      src.principals = nonempty_strings(s["principals"]);
      src.not_principals = nonempty_strings(s["notPrincipals"]);
      src.request_principals = nonempty_strings(s["requestPrincipals"]);
      src.not_request_principals = nonempty_strings(s["notRequestPrincipals"]);
      src.namespaces = nonempty_strings(s["namespaces"]);
      src.not_namespaces = nonempty_strings(s["notNamespaces"]);
      src.ip_blocks = cidr_list(s["ipBlocks"]);
      src.not_ip_blocks = cidr_list(s["notIpBlocks"]);
      src.remote_ip_blocks = cidr_list(s["remoteIpBlocks"]);
      src.not_remote_ip_blocks = cidr_list(s["notRemoteIpBlocks"]);
      src.service_accounts = nonempty_strings(s["serviceAccounts"]);
      src.not_service_accounts = nonempty_strings(s["notServiceAccounts"]);
      r.from.push_back(std::move(src));
    });
    rf["to"].each([&](const Field& tf) {
      tf.only({"operation"});
      Field o = tf["operation"];
      if (!o.present()) tf.fail("a to entry needs an operation");
      o.only({"hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"});
      AuthorizationPolicy::Operation op;
      op.hosts = nonempty_strings(o["hosts"]);
      op.not_hosts = nonempty_strings(o["notHosts"]);
      op.ports = port_list(o["ports"]);
      op.not_ports = port_list(o["notPorts"]);
      op.methods = nonempty_strings(o["methods"]);
      op.not_methods = nonempty_strings(o["notMethods"]);
      op.paths = nonempty_strings(o["paths"]);
      op.not_paths = nonempty_strings(o["notPaths"]);
      r.to.push_back(std::move(op));
    });
    rf["when"].each([&](const Field& wf) {
      wf.only({"key", "values", "notValues"});
      AuthorizationPolicy::Condition c;
      c.key = wf["key"].required_str();
      c.values = wf["values"].strings();
      c.not_values = wf["notValues"].strings();
      if (c.values.empty() && c.not_values.empty()) wf.fail("needs values or notValues");
      if (c.key == "destination.port") {
        for (auto* list : {&c.values, &c.not_values}) {
          for (const auto& v : *list) {
            // At most 5 digits before std::stoi, which throws (uncaught here) past INT_MAX.
            if (v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos ||
                std::stoi(v) < 1 || std::stoi(v) > 65535) {
              wf.fail(str_cat("destination.port value '", printable(v), "' is not a port"));
            }
          }
        }
      }
      if (c.key == "source.ip" || c.key == "destination.ip" || c.key == "remote.ip") {
        for (auto* list : {&c.values, &c.not_values}) {
          for (const auto& v : *list) {
            if (auto st = validate_cidr(v); !st.ok()) wf.fail(std::string(st.message()));
          }
        }
      }
      r.when.push_back(std::move(c));
    });
    ap.rules.push_back(std::move(r));
  });
  return ap;
}

PeerAuthentication::Mode pa_mode(const Field& f) {
  std::string m = f.str("UNSET");
  if (m == "UNSET") return PeerAuthentication::Mode::kUnset;
  if (m == "DISABLE") return PeerAuthentication::Mode::kDisable;
  if (m == "PERMISSIVE") return PeerAuthentication::Mode::kPermissive;
  if (m == "STRICT") return PeerAuthentication::Mode::kStrict;
  f.fail(str_cat("unknown mTLS mode '", printable(m), "' (want UNSET, DISABLE, PERMISSIVE, STRICT)"));
}

PeerAuthentication parse_peer_authn(const Field& spec) {
  PeerAuthentication pa;
  spec.only({"selector", "mtls", "portLevelMtls"});
  pa.selector = policy_selector(spec["selector"]);
  spec["mtls"].only({"mode"});
  pa.mode = pa_mode(spec["mtls"]["mode"]);
  Field plm = spec["portLevelMtls"];
  if (plm.present()) {
    if (!plm.node().IsMap()) plm.fail("want a map of port to mtls");
    if (!pa.selector) plm.fail("portLevelMtls requires a workload selector");
    for (auto it = plm.node().begin(); it != plm.node().end(); ++it) {
      Field k(it->first, str_cat(plm.path(), ".", it->first.Scalar()));
      uint16_t port = k.port();
      Field mtls(it->second, k.path());
      mtls.only({"mode"});
      pa.port_level[port] = pa_mode(mtls["mode"]);
    }
  }
  return pa;
}

// Aliases let a few bytes of YAML describe a huge node graph ("billion laughs") or a cyclic one
// (`spec: &a {rules: [*a]}`: yaml-cpp resolves the alias to the node being built). Every walk
// over the parsed nodes is therefore bounded: by nesting depth, and by a budget per text that
// grows with the text's size, so alias-free files of any size are never refused.
constexpr int kMaxDepth = 64;
constexpr int kMaxListDepth = 8;  // List items that are Lists
constexpr size_t kNodeCost = 16;  // budget units per node, on top of the JSON bytes written
struct Budget {
  size_t left;
};
[[noreturn]] void too_large() {
  throw FieldError{"", "the document expands (through YAML aliases) to more than this file may hold"};
}

void to_json(const YAML::Node& n, int depth, Budget* b, std::string* out);

void json_string(std::string* out, const std::string& s) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\t': *out += "\\t"; break;
      case '\r': *out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void charge(Budget* b, size_t cost) {
  if (cost > b->left) {
    b->left = 0;
    too_large();
  }
  b->left -= cost;
}

void to_json(const YAML::Node& n, int depth, Budget* b, std::string* out) {
  if (depth > kMaxDepth) throw FieldError{"", str_cat("nested more than ", kMaxDepth, " levels deep")};
  charge(b, kNodeCost);
  if (!n.IsDefined() || n.IsNull()) {
    *out += "null";
  } else if (n.IsScalar()) {
    charge(b, n.Scalar().size());
    json_string(out, n.Scalar());
  } else if (n.IsSequence()) {
    out->push_back('[');
    for (size_t i = 0; i < n.size(); ++i) {
      if (i) out->push_back(',');
      to_json(n[i], depth + 1, b, out);
    }
    out->push_back(']');
  } else {
    out->push_back('{');
    bool first = true;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!first) out->push_back(',');
      first = false;
      charge(b, kNodeCost + it->first.Scalar().size());
      json_string(out, it->first.Scalar());
      out->push_back(':');
      to_json(it->second, depth + 1, b, out);
    }
    out->push_back('}');
  }
}

std::string to_json(const YAML::Node& n, Budget* b) {
  std::string out;
  to_json(n, 0, b, &out);
  return out;
}

// FNV-1a 64: stable across runs and machines (unlike std::hash), enough to detect change.
std::string fingerprint(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

struct KindInfo {
  const char* api_version;
  const char* kind;
  Kind k;
};
constexpr KindInfo kKinds[] = {
    {"v1", "Namespace", Kind::kNamespace},
    {"v1", "Pod", Kind::kPod},
    {"v1", "Service", Kind::kService},
    {"v1", "ServiceAccount", Kind::kServiceAccount},
    {"v1", "Node", Kind::kNode},
    {"security.istio.io/v1", "AuthorizationPolicy", Kind::kAuthorizationPolicy},
    {"security.istio.io/v1beta1", "AuthorizationPolicy", Kind::kAuthorizationPolicy},
    {"security.istio.io/v1", "PeerAuthentication", Kind::kPeerAuthentication},
    {"security.istio.io/v1beta1", "PeerAuthentication", Kind::kPeerAuthentication},
    {"gateway.networking.k8s.io/v1", "GatewayClass", Kind::kGatewayClass},
    {"gateway.networking.k8s.io/v1beta1", "GatewayClass", Kind::kGatewayClass},
    {"gateway.networking.k8s.io/v1", "Gateway", Kind::kGateway},
    {"gateway.networking.k8s.io/v1beta1", "Gateway", Kind::kGateway},
    {"gateway.networking.k8s.io/v1", "HTTPRoute", Kind::kHTTPRoute},
    {"gateway.networking.k8s.io/v1beta1", "HTTPRoute", Kind::kHTTPRoute},
    {"gateway.networking.k8s.io/v1", "GRPCRoute", Kind::kGRPCRoute},
};

// Parses one document into `out`; returns false (with a rejection or notice) when it is not
// accepted.
void parse_object(const YAML::Node& doc, const std::string& source, int list_depth, Budget* b, ParseResult* out) {
  Field root(doc, "");
  Rejection rej{source, "", "", "", ""};
  try {
    charge(b, kNodeCost);
    if (!doc.IsMap()) root.fail("a document must be an object with apiVersion and kind");
    std::string api = root["apiVersion"].str();
    std::string kind = root["kind"].str();
    rej.kind = kind;
    Field md = root["metadata"];
    rej.name = md["name"].str();
    rej.ns = md["namespace"].str();
    if (kind == "List") {
      if (list_depth >= kMaxListDepth) root.fail(str_cat("Lists nested more than ", kMaxListDepth, " deep"));
      root["items"].each([&](const Field& item) {
        parse_object(item.node(), str_cat(source, " ", item.path()), list_depth + 1, b, out);
      });
      return;
    }
    if (api.empty()) root["apiVersion"].fail("required");
    if (kind.empty()) root["kind"].fail("required");
    const KindInfo* info = nullptr;
    for (const auto& k : kKinds) {
      if (kind == k.kind && api == k.api_version) info = &k;
    }
    if (!info) {
      bool known_kind = false;
      for (const auto& k : kKinds) known_kind |= kind == k.kind;
      if (known_kind) root["apiVersion"].fail(str_cat("unsupported apiVersion '", printable(api), "' for ", kind));
      out->notices.push_back(str_cat(source, ": ignoring unknown kind ", printable(api), "/", printable(kind),
                                     rej.name.empty() ? "" : " ", rej.name));
      return;
    }
    auto obj = std::make_shared<ConfigObject>();
    obj->kind = info->k;
    obj->source = source;
    obj->fingerprint = fingerprint(to_json(doc, b));
    ObjectMeta& m = obj->meta;
    m.name = md["name"].required_str();
    bool namespaced = kind_is_namespaced(info->k);
    if (namespaced) {
      m.ns = md["namespace"].str("default");
      rej.ns = m.ns;
      if (!valid_dns1123_label(m.ns)) md["namespace"].fail(str_cat("'", printable(m.ns), "' is not a valid namespace name"));
    } else if (md["namespace"].present()) {
      md["namespace"].fail(str_cat(kind, " is cluster-scoped and takes no namespace"));
    }
    bool label_name = info->k == Kind::kNamespace || info->k == Kind::kService;
    if (label_name ? !valid_dns1123_label(m.name) : !valid_dns1123_subdomain(m.name)) {
      md["name"].fail(str_cat("'", printable(m.name), "' is not a valid ", label_name ? "DNS-1123 label" : "DNS-1123 subdomain"));
    }
    m.uid = md["uid"].str();
    m.resource_version = md["resourceVersion"].str(obj->fingerprint);
    if (md["generation"].present()) m.generation = md["generation"].integer(0, INT64_MAX);
    m.labels = labels_field(md["labels"]);
    m.annotations = md["annotations"].string_map();
    m.deleting = md["deletionTimestamp"].present();
    md["ownerReferences"].each([&](const Field& o) {
      m.owner_references.push_back({o["kind"].required_str(), o["name"].required_str()});
    });
    Field spec = root["spec"];
    switch (info->k) {
      case Kind::kNamespace: obj->spec = Namespace{}; break;
      case Kind::kPod: obj->spec = parse_pod(spec, root["status"]); break;
      case Kind::kService: obj->spec = parse_service(spec); break;
      case Kind::kServiceAccount: obj->spec = ServiceAccount{}; break;
      case Kind::kNode: {
        Node n;
        root["status"]["addresses"].each([&](const Field& a) {
          std::string addr = a["address"].str();
          if (valid_ip(addr)) {
            if (a["type"].str() == "InternalIP") n.addresses.insert(n.addresses.begin(), addr);
            else n.addresses.push_back(addr);
          }
        });
        obj->spec = n;
        break;
      }
      case Kind::kAuthorizationPolicy:
        root.only({"apiVersion", "kind", "metadata", "spec", "status"});
        obj->spec = parse_authz(spec);
        break;
      case Kind::kPeerAuthentication:
        root.only({"apiVersion", "kind", "metadata", "spec", "status"});
        obj->spec = parse_peer_authn(spec);
        break;
      case Kind::kGatewayClass: obj->spec = parse::parse_gateway_class(spec); break;
      case Kind::kGateway: obj->spec = parse::parse_gateway(spec, root["status"]); break;
      case Kind::kHTTPRoute:
        root.only({"apiVersion", "kind", "metadata", "spec", "status"});
        obj->spec = parse::parse_http_route(spec);
        break;
      case Kind::kGRPCRoute:
        root.only({"apiVersion", "kind", "metadata", "spec", "status"});
        obj->spec = parse::parse_grpc_route(spec);
        break;
    }
    out->objects.push_back(std::move(obj));
  } catch (const FieldError& e) {
    rej.reason = e.path.empty() ? e.msg : str_cat(e.path, ": ", e.msg);
    out->rejections.push_back(std::move(rej));
  } catch (const YAML::Exception& e) {
    rej.reason = str_cat("malformed: ", e.what());
    out->rejections.push_back(std::move(rej));
  }
}

}  // namespace

std::string Rejection::to_string() const {
  std::string who = kind.empty() ? "object" : kind;
  if (!name.empty()) who = ns.empty() ? str_cat(who, " ", name) : str_cat(who, " ", ns, "/", name);
  return str_cat(source, ": ", who, ": ", reason);
}

namespace {

// Notes where the last document started; ignores everything else.
class DocumentStarts final : public YAML::EventHandler {
 public:
  YAML::Mark start = YAML::Mark::null_mark();
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// yaml-cpp 0.7's LoadAll never returns on some malformed texts (a stray ',' where a node should
// start, e.g. ",a: 1"; jbeder/yaml-cpp#1040, fixed upstream by #1318/#1319): the parser reports
// an endless run of empty documents without consuming any input, and LoadAll collects them
// until memory runs out. So walk the documents once without building them: a document that
// starts where the previous one did is that loop, and is reported as a syntax error there.
void check_documents_advance(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts starts;
  int prev = -1;
  while (parser.HandleNextDocument(starts)) {
    if (starts.start.pos == prev) throw YAML::ParserException(starts.start, "unexpected token");
    prev = starts.start.pos;
  }
}

}  // namespace

absl::StatusOr<ParseResult> parse_yaml(std::string_view text, std::string_view source) {
  std::vector<YAML::Node> docs;
  try {
    check_documents_advance(std::string(text));
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(str_cat(source, ": YAML syntax error at line ", e.mark.line + 1,
                                              ", column ", e.mark.column + 1, ": ", e.msg));
  }
  ParseResult out;
  // 16 MiB, or more for a larger text: far beyond what alias-free YAML of that size expands to.
  Budget budget{std::max<size_t>(size_t{16} << 20, 64 * text.size())};
  for (size_t i = 0; i < docs.size(); ++i) {
    if (!docs[i].IsDefined() || docs[i].IsNull()) continue;  // empty document ("---\n---")
    parse_object(docs[i], str_cat(source, "#", i + 1), 0, &budget, &out);
  }
  return out;
}

bool valid_dns1123_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && !(c == '-' && i > 0 && i + 1 < s.size())) return false;
  }
  return true;
}

bool valid_dns1123_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (std::string_view part : split(s, '.')) {
    if (!valid_dns1123_label(part)) return false;
  }
  return true;
}

absl::Status validate_label_key(std::string_view k) {
  std::string_view name = k;
  auto slash = k.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = k.substr(0, slash);
    name = k.substr(slash + 1);
    if (!valid_dns1123_subdomain(prefix)) {
      return absl::InvalidArgumentError(str_cat("label key '", printable(k), "' has an invalid prefix"));
    }
  }
  if (name.empty() || name.size() > 63) {
    return absl::InvalidArgumentError(str_cat("label key '", printable(k), "' must have a 1-63 character name"));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    bool inner = c == '-' || c == '_' || c == '.';
    if (!alnum && !(inner && i > 0 && i + 1 < name.size())) {
      return absl::InvalidArgumentError(str_cat("label key '", printable(k), "' has an invalid character"));
    }
  }
  return absl::OkStatus();
}

absl::Status validate_label_value(std::string_view v) {
  if (v.size() > 63) return absl::InvalidArgumentError(str_cat("label value '", printable(v), "' is longer than 63 characters"));
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    bool inner = c == '-' || c == '_' || c == '.';
    if (!alnum && !(inner && i > 0 && i + 1 < v.size())) {
      return absl::InvalidArgumentError(str_cat("label value '", printable(v), "' has an invalid character"));
    }
  }
  return absl::OkStatus();
}

bool valid_ip(std::string_view s) {
  // inet_pton reads a C string: "10.0.0.1\0anything" (a YAML "\0" escape) would pass as
  // 10.0.0.1 while the whole string is what gets stored and used.
  if (s.find('\0') != std::string_view::npos) return false;
  std::string str(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, str.c_str(), buf) == 1 || inet_pton(AF_INET6, str.c_str(), buf) == 1;
}

absl::Status validate_cidr(std::string_view s) {
  if (s.find('\0') != std::string_view::npos) {  // inet_pton would stop at it (see valid_ip)
    return absl::InvalidArgumentError(str_cat("'", printable(s), "' is not an IP address or CIDR"));
  }
  auto slash = s.find('/');
  std::string ip(s.substr(0, slash));
  unsigned char buf[16];
  int max = 0;
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) max = 32;
  else if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) max = 128;
  else return absl::InvalidArgumentError(str_cat("'", printable(s), "' is not an IP address or CIDR"));
  if (slash == std::string_view::npos) return absl::OkStatus();
  std::string_view len = s.substr(slash + 1);
  if (len.empty() || len.size() > 3 || len.find_first_not_of("0123456789") != std::string_view::npos ||
      std::stoi(std::string(len)) > max) {
    return absl::InvalidArgumentError(str_cat("'", printable(s), "' has an invalid prefix length"));
  }
  return absl::OkStatus();
}

}  // namespace ambit::istiod
