#include "agent/cni/protocol.h"

#include <nlohmann/json.hpp>

#include "common/base/status.h"
#include "common/base/strings.h"

namespace ambit::agent {

namespace {

using nlohmann::json;

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string dump(const json& j) {
  // `replace`: an error message quoting untrusted bytes must never make encoding throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::Status field_error(std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(str_cat("field \"", field, "\": ", problem));
}

// Optional string field: absent or null is "", anything but a string is an error.
absl::Status get_string(const json& j, std::string_view field, std::string* out) {
  auto it = j.find(std::string(field));
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string())
    return field_error(field, str_cat("must be a string, not ", it->type_name()));
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status get_bool(const json& j, std::string_view field, bool* out) {
  auto it = j.find(std::string(field));
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean())
    return field_error(field, str_cat("must be a boolean, not ", it->type_name()));
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status get_ips(const json& j, std::string_view field, std::vector<net::IpAddr>* out) {
  auto it = j.find(std::string(field));
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array())
    return field_error(field, str_cat("must be an array, not ", it->type_name()));
  for (size_t i = 0; i < it->size(); ++i) {
    const json& e = (*it)[i];
    std::string where = str_cat(field, "[", i, "]");
    if (!e.is_string()) return field_error(where, str_cat("must be a string, not ", e.type_name()));
    auto ip = net::IpAddr::parse(e.get<std::string>());
    if (!ip) {
      return field_error(where,
                         str_cat("\"", printable(e.get<std::string>()), "\" is not an IP address"));
    }
    out->push_back(*ip);
  }
  return absl::OkStatus();
}

json ips_json(const std::vector<net::IpAddr>& ips) {
  json a = json::array();
  for (const auto& ip : ips) a.push_back(ip.to_string());
  return a;
}

// Parses one line into a JSON object and checks its protocol version.
absl::StatusOr<json> parse_message(std::string_view line, std::string_view kind) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (line.size() > kCniMaxMessageBytes) {
    return absl::InvalidArgumentError(
        str_cat(kind, " is ", line.size(), " bytes; the limit is ", kCniMaxMessageBytes));
  }
  if (trim(line).empty()) return absl::InvalidArgumentError(str_cat(kind, " is empty"));
  // nlohmann's lexer takes NUL for the end of input, which would let bytes after it through.
  if (size_t nul = line.find('\0'); nul != std::string_view::npos) {
    return absl::InvalidArgumentError(str_cat(kind, " contains a NUL byte at offset ", nul));
  }
  json j;
  try {
    j = json::parse(line.begin(), line.end());
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(str_cat(kind, " is not valid JSON: ", e.what()));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(str_cat(kind, " must be a JSON object, not ", j.type_name()));
  }
  auto v = j.find("version");
  if (v == j.end()) return field_error("version", "required");
  if (!v->is_number_integer()) {
    return field_error("version", str_cat("must be an integer, not ", v->type_name()));
  }
  if (v->get<int64_t>() != kCniProtocolVersion) {
    return field_error("version", str_cat("unsupported protocol version ", v->get<int64_t>(),
                                          " (this side speaks ", kCniProtocolVersion, ")"));
  }
  return j;
}

}  // namespace

std::string_view cni_command_name(CniCommand c) {
  switch (c) {
    case CniCommand::kAdd:
      return "ADD";
    case CniCommand::kDel:
      return "DEL";
    case CniCommand::kCheck:
      return "CHECK";
  }
  return "?";
}

std::string CniPod::describe() const {
  std::string who =
      name.empty() && ns.empty() ? std::string("unknown pod") : str_cat(ns, "/", name);
  std::string_view id = container_id;
  if (id.size() > 12) id = id.substr(0, 12);
  return str_cat(who, " (container ", id, ")");
}

CniResponse CniResponse::from_status(const absl::Status& s, std::string state) {
  CniResponse r;
  r.ok = s.ok();
  r.error = std::string(s.message());
  r.retry = is_retryable(s);
  r.status = absl::StatusCodeToString(s.code());
  r.state = std::move(state);
  return r;
}

bool is_retryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsResourceExhausted(s);
}

absl::Status validate_container_id(std::string_view id, std::string_view what) {
  // Same rule as libcni (pkg/utils.ValidateContainerID); the agent may use it in file names.
  if (id.empty()) return field_error(what, "required");
  if (id.size() > 256) return field_error(what, str_cat("is ", id.size(), " bytes; at most 256"));
  if (!is_alnum(id[0])) return field_error(what, "must start with a letter or digit");
  for (char c : id) {
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-') {
      return field_error(what, str_cat("contains '", printable(std::string_view(&c, 1)),
                                       "'; only letters, digits, '_', '.' and '-' are allowed"));
    }
  }
  return absl::OkStatus();
}

absl::Status validate_ifname(std::string_view ifname, std::string_view what) {
  // Linux IFNAMSIZ (16 with the NUL), and what dev_valid_name() refuses.
  if (ifname.empty()) return field_error(what, "required");
  if (ifname.size() > 15)
    return field_error(what, str_cat("\"", printable(ifname), "\" is longer than 15 bytes"));
  if (ifname == "." || ifname == "..") return field_error(what, "must not be \".\" or \"..\"");
  for (char c : ifname) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0') {
      return field_error(what,
                         str_cat("\"", printable(ifname), "\" contains '/', ':', a space or NUL"));
    }
  }
  return absl::OkStatus();
}

absl::Status validate_k8s_name(std::string_view name, std::string_view what) {
  // RFC 1123 subdomain (pod names; namespaces are labels, a subset). The agent keys pods by
  // "namespace/name", so a '/' must never get through.
  if (name.empty()) return field_error(what, "required");
  if (name.size() > 253)
    return field_error(what, str_cat("is ", name.size(), " bytes; at most 253"));
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) {
      return field_error(what, str_cat("\"", printable(name),
                                       "\" is not a Kubernetes name (lower-case letters, digits, "
                                       "'-' and '.')"));
    }
  }
  if (!is_alnum(name.front()) || !is_alnum(name.back())) {
    return field_error(
        what, str_cat("\"", printable(name), "\" must start and end with a letter or digit"));
  }
  return absl::OkStatus();
}

std::string encode_request(const CniRequest& r) {
  json j = {
      {"version", kCniProtocolVersion},
      {"command", std::string(cni_command_name(r.command))},
      {"container_id", r.pod.container_id},
      {"netns", r.pod.netns},
      {"ifname", r.pod.ifname},
      {"pod_name", r.pod.name},
      {"pod_namespace", r.pod.ns},
      {"pod_uid", r.pod.uid},
      {"ips", ips_json(r.pod.ips)},
      {"gateways", ips_json(r.pod.gateways)},
  };
  if (r.timeout.count() > 0) j["timeout_ms"] = r.timeout.count();
  return dump(j) + "\n";
}

std::string encode_response(const CniResponse& r) {
  json j = {
      {"version", kCniProtocolVersion},
      {"ok", r.ok},
      {"error", r.error},
      {"retry", r.retry},
      {"status", r.status},
      {"state", r.state},
  };
  return dump(j) + "\n";
}

absl::StatusOr<CniRequest> decode_request(std::string_view line) {
  auto parsed = parse_message(line, "request");
  if (!parsed.ok()) return parsed.status();
  const json& j = *parsed;

  CniRequest r;
  std::string command;
  if (auto s = get_string(j, "command", &command); !s.ok()) return s;
  if (command == "ADD") {
    r.command = CniCommand::kAdd;
  } else if (command == "DEL") {
    r.command = CniCommand::kDel;
  } else if (command == "CHECK") {
    r.command = CniCommand::kCheck;
  } else if (command.empty()) {
    return field_error("command", "required (ADD, DEL or CHECK)");
  } else {
    return field_error("command", str_cat("\"", printable(command), "\" is not ADD, DEL or CHECK"));
  }
  const bool del = r.command == CniCommand::kDel;
  CniPod& p = r.pod;
  for (auto [field, out] : {std::pair<const char*, std::string*>{"container_id", &p.container_id},
                            {"netns", &p.netns},
                            {"ifname", &p.ifname},
                            {"pod_name", &p.name},
                            {"pod_namespace", &p.ns},
                            {"pod_uid", &p.uid}}) {
    if (auto s = get_string(j, field, out); !s.ok()) return s;
  }
  if (auto s = get_ips(j, "ips", &p.ips); !s.ok()) return s;
  if (auto s = get_ips(j, "gateways", &p.gateways); !s.ok()) return s;

  if (auto s = validate_container_id(p.container_id, "container_id"); !s.ok()) return s;
  // DEL must work with whatever the runtime still knows; ADD and CHECK need the whole pod.
  auto required = [&](std::string_view field, const std::string& v) {
    return v.empty() && !del ? field_error(field, str_cat("required for ", command))
                             : absl::OkStatus();
  };
  if (auto s = required("netns", p.netns); !s.ok()) return s;
  if (!p.netns.empty() && p.netns.front() != '/') {
    return field_error("netns", str_cat("\"", printable(p.netns), "\" is not an absolute path"));
  }
  if (auto s = required("ifname", p.ifname); !s.ok()) return s;
  if (!p.ifname.empty()) {
    if (auto s = validate_ifname(p.ifname, "ifname"); !s.ok()) return s;
  }
  if (auto s = required("pod_name", p.name); !s.ok()) return s;
  if (auto s = required("pod_namespace", p.ns); !s.ok()) return s;
  if (!p.name.empty()) {
    if (auto s = validate_k8s_name(p.name, "pod_name"); !s.ok()) return s;
  }
  if (!p.ns.empty()) {
    if (auto s = validate_k8s_name(p.ns, "pod_namespace"); !s.ok()) return s;
  }
  if (!p.uid.empty()) {
    if (auto s = validate_container_id(p.uid, "pod_uid"); !s.ok()) return s;
  }

  if (auto t = j.find("timeout_ms"); t != j.end() && !t->is_null()) {
    if (!t->is_number_integer() || t->get<int64_t>() < 0) {
      return field_error("timeout_ms", "must be a non-negative integer (milliseconds)");
    }
    r.timeout = std::chrono::milliseconds(t->get<int64_t>());
  }
  return r;
}

absl::StatusOr<CniResponse> decode_response(std::string_view line) {
  auto parsed = parse_message(line, "response");
  if (!parsed.ok()) return parsed.status();
  const json& j = *parsed;
  CniResponse r;
  if (j.find("ok") == j.end()) return field_error("ok", "required");
  if (auto s = get_bool(j, "ok", &r.ok); !s.ok()) return s;
  if (auto s = get_bool(j, "retry", &r.retry); !s.ok()) return s;
  if (auto s = get_string(j, "error", &r.error); !s.ok()) return s;
  if (auto s = get_string(j, "status", &r.status); !s.ok()) return s;
  if (auto s = get_string(j, "state", &r.state); !s.ok()) return s;
  if (!r.ok && r.error.empty()) r.error = "agent refused the request without saying why";
  return r;
}

}  // namespace ambit::agent
