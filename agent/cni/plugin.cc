#include "agent/cni/plugin.h"

#include <algorithm>
#include <charconv>

#include "common/base/status.h"
#include "common/base/strings.h"

namespace ambit::agent::cni {

namespace {

using nlohmann::ordered_json;

constexpr std::string_view kSupportedVersions[] = {"0.4.0", "1.0.0"};
// The longest timeout_seconds we accept; anything longer is a typo, not a wish.
constexpr double kMaxTimeoutSeconds = 3600;

std::string dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

absl::Status config_error(std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(str_cat("network config: \"", field, "\" ", problem));
}

std::string json_text(const ordered_json& j) {
  std::string s = dump(j);
  return s.size() > 64 ? str_cat(s.substr(0, 61), "...") : s;
}

// Interprets "IP/len" from prevResult ips[].address.
absl::StatusOr<net::IpAddr> parse_cidr_address(std::string_view cidr, std::string_view where) {
  size_t slash = cidr.find('/');
  if (slash == std::string_view::npos) {
    return absl::InvalidArgumentError(
        str_cat(where, ": \"", printable(cidr), "\" is not in CIDR form (address/prefix)"));
  }
  auto ip = net::IpAddr::parse(cidr.substr(0, slash));
  std::string_view len_text = cidr.substr(slash + 1);
  unsigned len = 0;
  auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (!ip || ec != std::errc() || end != len_text.data() + len_text.size() || len_text.empty() ||
      len > (ip->is_v4() ? 32u : 128u)) {
    return absl::InvalidArgumentError(
        str_cat(where, ": \"", printable(cidr), "\" is not a valid address/prefix"));
  }
  return *ip;
}

}  // namespace

std::string version_json() {
  ordered_json j = {{"cniVersion", std::string(kCniVersion)},
                    {"supportedVersions", ordered_json::array()}};
  for (auto v : kSupportedVersions) j["supportedVersions"].push_back(std::string(v));
  return dump(j);
}

absl::Status check_cni_version(std::string_view version) {
  for (auto v : kSupportedVersions) {
    if (v == version) return absl::OkStatus();
  }
  std::vector<std::string> supported(std::begin(kSupportedVersions), std::end(kSupportedVersions));
  return absl::FailedPreconditionError(str_cat("cniVersion \"", printable(version),
                                               "\" is not supported; ambit-cni supports ",
                                               join(supported, ", ")));
}

absl::StatusOr<K8sArgs> parse_cni_args(std::string_view args) {
  K8sArgs out;
  bool ignore_unknown = false;
  std::vector<std::string> unknown;
  for (std::string_view pair : split(args, ';')) {
    if (trim(pair).empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          str_cat("CNI_ARGS: \"", printable(pair), "\" is not KEY=VALUE"));
    }
    std::string_view key = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (key == "K8S_POD_NAME") {
      out.pod_name = value;
    } else if (key == "K8S_POD_NAMESPACE") {
      out.pod_namespace = value;
    } else if (key == "K8S_POD_UID") {
      out.pod_uid = value;
    } else if (key == "K8S_POD_INFRA_CONTAINER_ID") {
      out.infra_container_id = value;
    } else if (key == "IgnoreUnknown") {
      // libcni's UnmarshallableBool: "1"/"true" (any case) or "0"/"false".
      std::string v(value);
      std::transform(v.begin(), v.end(), v.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (v == "1" || v == "true") {
        ignore_unknown = true;
      } else if (v == "0" || v == "false") {
        ignore_unknown = false;
      } else {
        return absl::InvalidArgumentError(
            str_cat("CNI_ARGS: IgnoreUnknown=\"", printable(value), "\" is not 1/true or 0/false"));
      }
    } else {
      unknown.emplace_back(key);
    }
  }
  if (!unknown.empty() && !ignore_unknown) {
    return absl::InvalidArgumentError(str_cat("CNI_ARGS: unknown key(s) ", join(unknown, ", "),
                                              " (the runtime sets IgnoreUnknown=1 to allow them)"));
  }
  return out;
}

absl::StatusOr<ordered_json> decode_config(std::string_view stdin_data) {
  if (trim(stdin_data).empty()) {
    return absl::InvalidArgumentError("network config on stdin is empty");
  }
  ordered_json j;
  try {
    j = ordered_json::parse(stdin_data.begin(), stdin_data.end());
  } catch (const ordered_json::exception& e) {
    return absl::InvalidArgumentError(
        str_cat("network config on stdin is not valid JSON: ", e.what()));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        str_cat("network config on stdin must be a JSON object, not ", j.type_name()));
  }
  return j;
}

absl::StatusOr<NetConfig> parse_net_config(const ordered_json& conf) {
  NetConfig c;
  auto string_field = [&](const char* field, bool required, std::string* out) -> absl::Status {
    auto it = conf.find(field);
    if (it == conf.end() || it->is_null()) {
      return required ? config_error(field, "is required") : absl::OkStatus();
    }
    if (!it->is_string())
      return config_error(field, str_cat("must be a string, not ", json_text(*it)));
    *out = it->get<std::string>();
    if (required && out->empty()) return config_error(field, "must not be empty");
    return absl::OkStatus();
  };
  AMBIT_RETURN_IF_ERROR(string_field("cniVersion", true, &c.cni_version));
  AMBIT_RETURN_IF_ERROR(string_field("name", true, &c.name));
  AMBIT_RETURN_IF_ERROR(string_field("type", false, &c.type));
  if (conf.contains("agent_socket")) {
    AMBIT_RETURN_IF_ERROR(string_field("agent_socket", true, &c.agent_socket));
    if (c.agent_socket.front() != '/') {
      return config_error("agent_socket", str_cat("must be an absolute path, not \"",
                                                  printable(c.agent_socket), "\""));
    }
  }
  if (auto it = conf.find("timeout_seconds"); it != conf.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() <= 0 || it->get<double>() > kMaxTimeoutSeconds) {
      return config_error("timeout_seconds",
                          str_cat("must be a number of seconds in (0, ", int(kMaxTimeoutSeconds),
                                  "], not ", json_text(*it)));
    }
    c.timeout = std::chrono::milliseconds(static_cast<int64_t>(it->get<double>() * 1000));
    if (c.timeout.count() == 0) c.timeout = std::chrono::milliseconds(1);
  }
  if (auto it = conf.find("prevResult"); it != conf.end() && !it->is_null()) {
    if (!it->is_object()) {
      return config_error("prevResult", str_cat("must be an object, not ", json_text(*it)));
    }
    c.prev_result = *it;
  }
  return c;
}

absl::StatusOr<PodNetwork> parse_prev_result(const ordered_json& prev) {
  PodNetwork net;
  if (!prev.is_object()) return absl::InvalidArgumentError("prevResult must be a JSON object");
  size_t interfaces = 0;
  bool have_interfaces = false;
  if (auto it = prev.find("interfaces"); it != prev.end() && !it->is_null()) {
    if (!it->is_array()) {
      return absl::InvalidArgumentError(
          str_cat("prevResult.interfaces must be an array, not ", json_text(*it)));
    }
    have_interfaces = true;
    interfaces = it->size();
  }
  auto ips = prev.find("ips");
  if (ips == prev.end() || ips->is_null()) return net;
  if (!ips->is_array()) {
    return absl::InvalidArgumentError(
        str_cat("prevResult.ips must be an array, not ", json_text(*ips)));
  }
  for (size_t i = 0; i < ips->size(); ++i) {
    const ordered_json& e = (*ips)[i];
    std::string where = str_cat("prevResult.ips[", i, "]");
    if (!e.is_object()) {
      return absl::InvalidArgumentError(str_cat(where, " must be an object, not ", json_text(e)));
    }
    auto addr = e.find("address");
    if (addr == e.end() || !addr->is_string()) {
      return absl::InvalidArgumentError(str_cat(where, ".address is required (a CIDR string)"));
    }
    AMBIT_ASSIGN_OR_RETURN(
        net::IpAddr ip, parse_cidr_address(addr->get<std::string>(), str_cat(where, ".address")));
    net.ips.push_back(ip);
    if (auto gw = e.find("gateway"); gw != e.end() && !gw->is_null()) {
      std::optional<net::IpAddr> g;
      if (gw->is_string()) g = net::IpAddr::parse(gw->get<std::string>());
      if (!g) {
        return absl::InvalidArgumentError(
            str_cat(where, ".gateway: ", json_text(*gw), " is not an IP address"));
      }
      if (std::find(net.gateways.begin(), net.gateways.end(), *g) == net.gateways.end()) {
        net.gateways.push_back(*g);
      }
    }
    if (auto idx = e.find("interface"); idx != e.end() && !idx->is_null()) {
      if (!idx->is_number_integer() || idx->get<int64_t>() < 0 ||
          (have_interfaces && static_cast<size_t>(idx->get<int64_t>()) >= interfaces)) {
        return absl::InvalidArgumentError(str_cat(where, ".interface: ", json_text(*idx),
                                                  " is not an index into prevResult.interfaces (",
                                                  interfaces, " entries)"));
      }
    }
  }
  return net;
}

std::string format_result(const NetConfig& conf) {
  ordered_json out = {{"cniVersion", conf.cni_version}};
  if (conf.prev_result.is_object()) {
    for (auto it = conf.prev_result.begin(); it != conf.prev_result.end(); ++it) {
      if (it.key() != "cniVersion") out[it.key()] = it.value();
    }
  }
  return dump(out) + "\n";
}

std::string format_error(std::string_view cni_version, int code, std::string_view msg,
                         std::string_view details) {
  ordered_json j = {
      {"cniVersion", std::string(cni_version)}, {"code", code}, {"msg", std::string(msg)}};
  if (!details.empty()) j["details"] = std::string(details);
  return dump(j) + "\n";
}

namespace {

// run_plugin's state: the output being built and the error helpers.
struct Run {
  explicit Run(const CniEnv& e) : env(e) {}
  const CniEnv& env;
  std::string cni_version = std::string(kCniVersion);
  PluginOutput out;

  PluginOutput fail(int code, std::string_view msg, std::string_view details = "") {
    out.exit_code = 1;
    out.out = format_error(cni_version, code, msg, details);
    out.err +=
        str_cat("ambit-cni: ", env.command, env.command.empty() ? "" : " ", "failed (code ", code,
                "): ", msg, details.empty() ? "" : " [", details, details.empty() ? "" : "]", "\n");
    return out;
  }
  PluginOutput fail_status(int code, const absl::Status& s) {
    return fail(code, to_std(s.message()));
  }
  void note(std::string_view msg) {
    out.err += str_cat("ambit-cni: ", env.command, " ", msg, "\n");
  }
};

// What an agent failure means for the runtime: retry later (11) or a plain error (999).
int code_for(const absl::Status& s) { return is_retryable(s) ? kErrTryAgainLater : kErrInternal; }

}  // namespace

PluginOutput run_plugin(const CniEnv& env, std::string_view stdin_data, const AgentCall& call) {
  Run run(env);
  if (env.command.empty()) {
    return run.fail(kErrInvalidEnvironment,
                    "CNI_COMMAND is not set (ambit-cni is run by the container runtime; see "
                    "ambit-cni --help)");
  }
  if (env.command == "VERSION") {
    run.out.out = version_json() + "\n";
    return run.out;
  }

  // Errors carry the config's cniVersion when it is readable at all.
  auto decoded = decode_config(stdin_data);
  if (decoded.ok()) {
    if (auto v = decoded->find("cniVersion"); v != decoded->end() && v->is_string()) {
      run.cni_version = v->get<std::string>();
    }
  }

  CniCommand command;
  if (env.command == "ADD") {
    command = CniCommand::kAdd;
  } else if (env.command == "DEL") {
    command = CniCommand::kDel;
  } else if (env.command == "CHECK") {
    command = CniCommand::kCheck;
  } else {
    return run.fail(kErrInvalidEnvironment,
                    str_cat("CNI_COMMAND \"", printable(env.command),
                            "\" is not supported (ADD, DEL, CHECK or VERSION)"));
  }
  const bool del = command == CniCommand::kDel;

  // Environment first, as libcni's skel does: the runtime's mistake, not the config's.
  std::vector<std::string> missing;
  if (env.container_id.empty()) missing.push_back("CNI_CONTAINERID");
  if (env.netns.empty() && !del) missing.push_back("CNI_NETNS");
  if (env.ifname.empty()) missing.push_back("CNI_IFNAME");
  if (!missing.empty()) {
    return run.fail(kErrInvalidEnvironment,
                    str_cat("required environment variables missing: ", join(missing, ", ")));
  }
  if (auto s = validate_container_id(env.container_id, "CNI_CONTAINERID"); !s.ok()) {
    return run.fail_status(kErrInvalidEnvironment, s);
  }
  if (auto s = validate_ifname(env.ifname, "CNI_IFNAME"); !s.ok()) {
    return run.fail_status(kErrInvalidEnvironment, s);
  }
  if (!env.netns.empty() && env.netns.front() != '/') {
    return run.fail(kErrInvalidEnvironment,
                    str_cat("CNI_NETNS \"", printable(env.netns), "\" is not an absolute path"));
  }

  if (!decoded.ok()) return run.fail_status(kErrDecodingFailure, decoded.status());
  auto conf = parse_net_config(*decoded);
  if (!conf.ok()) return run.fail_status(kErrInvalidNetworkConfig, conf.status());
  if (auto s = check_cni_version(conf->cni_version); !s.ok()) {
    return run.fail_status(kErrIncompatibleVersion, s);
  }

  CniRequest req;
  req.command = command;
  CniPod& pod = req.pod;
  pod.container_id = env.container_id;
  pod.netns = env.netns;
  pod.ifname = env.ifname;

  // DEL works with whatever it can read: a bad CNI_ARGS or prevResult must not wedge teardown.
  auto args = parse_cni_args(env.args);
  if (!args.ok()) {
    if (!del) return run.fail_status(kErrInvalidEnvironment, args.status());
    run.note(str_cat("ignoring CNI_ARGS: ", args.status().message()));
    args = K8sArgs{};
  }
  pod.name = args->pod_name;
  pod.ns = args->pod_namespace;
  pod.uid = args->pod_uid;
  for (auto [value, what] :
       {std::pair<std::string*, const char*>{&pod.name, "CNI_ARGS K8S_POD_NAME"},
        {&pod.ns, "CNI_ARGS K8S_POD_NAMESPACE"}}) {
    if (value->empty()) continue;
    if (auto s = validate_k8s_name(*value, what); !s.ok()) {
      if (!del) return run.fail_status(kErrInvalidEnvironment, s);
      value->clear();
    }
  }
  if (!pod.uid.empty()) {
    if (auto s = validate_container_id(pod.uid, "CNI_ARGS K8S_POD_UID"); !s.ok()) {
      if (!del) return run.fail_status(kErrInvalidEnvironment, s);
      pod.uid.clear();
    }
  }
  const bool is_pod = !pod.name.empty() || !pod.ns.empty();
  if (is_pod && (pod.name.empty() || pod.ns.empty()) && !del) {
    return run.fail(kErrInvalidEnvironment,
                    "CNI_ARGS has only one of K8S_POD_NAME and K8S_POD_NAMESPACE");
  }

  if (!del && conf->prev_result.is_null()) {
    return run.fail(kErrInvalidNetworkConfig,
                    "prevResult is missing: ambit-cni is a chained plugin and must come after the "
                    "main network plugin in the conflist");
  }
  if (!conf->prev_result.is_null()) {
    auto net = parse_prev_result(conf->prev_result);
    if (net.ok()) {
      pod.ips = std::move(net->ips);
      pod.gateways = std::move(net->gateways);
    } else if (!del) {
      return run.fail_status(kErrInvalidNetworkConfig, net.status());
    }
  }

  const std::string details = str_cat("agent_socket=", conf->agent_socket);
  auto start = std::chrono::steady_clock::now();
  switch (command) {
    case CniCommand::kAdd: {
      if (!is_pod) {
        // Istio does the same: without a pod identity there is nothing to match mesh config to.
        run.note(str_cat("container ", env.container_id,
                         " is not a Kubernetes pod (no K8S_POD_NAME/K8S_POD_NAMESPACE in "
                         "CNI_ARGS); passing prevResult through"));
        run.out.out = format_result(*conf);
        return run.out;
      }
      // The agent gets a little less than our own budget, so that when ztunnel is late it is
      // the agent's explanation that reaches the runtime, not our bare timeout.
      auto margin = std::min<std::chrono::milliseconds>(std::chrono::seconds(2), conf->timeout / 5);
      req.timeout =
          std::max<std::chrono::milliseconds>(conf->timeout - margin, std::chrono::milliseconds(1));
      auto resp = call(conf->agent_socket, req, start + conf->timeout);
      if (!resp.ok()) {
        return run.fail(code_for(resp.status()),
                        str_cat("cannot enroll ", pod.describe(), ": ", resp.status().message()),
                        details);
      }
      if (!resp->ok) {
        return run.fail(resp->retry ? kErrTryAgainLater : kErrInternal,
                        str_cat("agent refused ", pod.describe(), ": ", resp->error),
                        str_cat(details, " status=", resp->status));
      }
      run.out.out = format_result(*conf);
      return run.out;
    }
    case CniCommand::kCheck: {
      if (!is_pod) return run.out;
      auto resp = call(conf->agent_socket, req, start + conf->timeout);
      if (!resp.ok()) {
        return run.fail(code_for(resp.status()),
                        str_cat("cannot check ", pod.describe(), ": ", resp.status().message()),
                        details);
      }
      if (!resp->ok) {
        return run.fail(resp->retry ? kErrTryAgainLater : kErrInternal,
                        str_cat("check of ", pod.describe(), " failed: ", resp->error),
                        str_cat(details, " status=", resp->status));
      }
      return run.out;
    }
    case CniCommand::kDel: {
      // Best effort, never an error: the spec makes DEL idempotent, and the agent also forgets
      // pods it learns are gone by other means.
      auto wait = std::min<std::chrono::milliseconds>(conf->timeout, kMaxDelWait);
      auto resp = call(conf->agent_socket, req, start + wait);
      if (!resp.ok()) {
        run.note(str_cat("could not tell the agent about ", pod.describe(),
                         " (ignored): ", resp.status().message()));
      } else if (!resp->ok) {
        run.note(str_cat("agent could not delete ", pod.describe(), " (ignored): ", resp->error));
      }
      return run.out;
    }
  }
  return run.fail(kErrInternal, "unreachable");
}

std::string usage() {
  return str_cat(
      "ambit-cni: Ambit's chained CNI plugin (CNI spec ", kCniVersion,
      "; configs 0.4.0 and 1.0.0)\n",
      "\n"
      "The container runtime runs it after the main network plugin. It tells the node agent\n"
      "(ambit-agent) about each pod and, on ADD, returns only once the agent has enrolled the pod\n"
      "in the mesh (ztunnel acknowledged it) or knows it does not belong there. If the agent "
      "cannot\n"
      "be reached, ADD fails (code 11, try again later): pods never start uncaptured.\n"
      "\n"
      "Environment: CNI_COMMAND=ADD|DEL|CHECK|VERSION, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME,\n"
      "  CNI_ARGS=K8S_POD_NAME=..;K8S_POD_NAMESPACE=..;K8S_POD_UID=..;IgnoreUnknown=1, CNI_PATH\n"
      "Stdin: the network config, e.g. in a conflist after the main plugin:\n"
      "  {\"type\": \"ambit-cni\", \"agent_socket\": \"",
      kDefaultCniSocket, "\", \"timeout_seconds\": ", kDefaultTimeout.count(),
      "}\n"
      "Stdout: the result (ADD), nothing (DEL, CHECK), or a CNI error object; exit status 1 on "
      "error.\n"
      "\n"
      "Options: --help, --version\n");
}

}  // namespace ambit::agent::cni
