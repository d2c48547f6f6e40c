#include "istiod/xds/waypoint_identity.h"

#include "common/base/strings.h"
#include "istiod/config/yaml_parser.h"

namespace ambit::istiod::xds {

absl::StatusOr<ambient::WaypointRef> waypoint_of(const NodeId& node, const google::protobuf::Struct& metadata) {
  if (node.type != "waypoint") {
    return absl::InvalidArgumentError(
        str_cat("node ", node.raw, " is a ", node.type, " node; waypoint config is for node type waypoint"));
  }
  auto it = metadata.fields().find(kWaypointRoleKey);
  if (it == metadata.fields().end() || it->second.kind_case() != google::protobuf::Value::kStringValue) {
    return absl::InvalidArgumentError(
        str_cat("node ", node.raw, " names no Gateway: node metadata \"", kWaypointRoleKey,
                "\" must be \"<namespace>~<gateway>\""));
  }
  const std::string& role = it->second.string_value();
  auto parts = split(role, '~');
  if (parts.size() != 2 || !valid_dns1123_label(parts[0]) || parts[1].empty() || parts[1].size() > 253) {
    return absl::InvalidArgumentError(str_cat("node metadata \"", kWaypointRoleKey, "\" '", printable(role),
                                              "' is not \"<namespace>~<gateway>\""));
  }
  ambient::WaypointRef wp{std::string(parts[0]), std::string(parts[1])};
  if (wp.ns != node.ns) {
    return absl::InvalidArgumentError(str_cat("node ", node.raw, " in namespace ", node.ns, " names Gateway ",
                                              wp.to_string(), " of another namespace"));
  }
  return wp;
}

absl::Status authorize_waypoint(const security::Caller& caller, const ambient::WaypointRef& wp) {
  if (caller.method == "client-certificate" && caller.identity.ns() == wp.ns &&
      caller.identity.service_account() == wp.name) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      str_cat("the config of waypoint ", wp.to_string(), " is only for its service account ", wp.ns, "/", wp.name,
              " with a client certificate; the caller is ", caller.identity.to_string(), " (", caller.method, ")"));
}

}  // namespace ambit::istiod::xds
