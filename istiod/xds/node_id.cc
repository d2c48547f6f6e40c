#include "istiod/xds/node_id.h"

#include "common/base/strings.h"
#include "istiod/config/yaml_parser.h"

namespace ambit::istiod::xds {

absl::StatusOr<NodeId> parse_node_id(std::string_view id) {
  auto parts = split(id, '~');
  if (parts.size() != 4) {
    return absl::InvalidArgumentError(
        str_cat("node id '", printable(id), "' is not <type>~<ip>~<pod>.<namespace>~<domain>"));
  }
  NodeId n;
  n.raw = std::string(id);
  n.type = std::string(parts[0]);
  if (n.type != "ztunnel" && n.type != "waypoint" && n.type != "sidecar" && n.type != "router") {
    return absl::InvalidArgumentError(str_cat("node id type '", printable(parts[0]), "' is unknown"));
  }
  n.ip = std::string(parts[1]);
  if (!valid_ip(n.ip)) return absl::InvalidArgumentError(str_cat("node id IP '", printable(parts[1]), "' is not an IP"));
  std::string_view pod = parts[2];
  auto dot = pod.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == pod.size()) {
    return absl::InvalidArgumentError(str_cat("node id '", printable(id), "' has no <pod>.<namespace>"));
  }
  n.pod_name = std::string(pod.substr(0, dot));
  n.ns = std::string(pod.substr(dot + 1));
  if (!valid_dns1123_label(n.ns)) return absl::InvalidArgumentError(str_cat("node id namespace '", printable(n.ns), "' is invalid"));
  n.domain = std::string(parts[3]);
  return n;
}

}  // namespace ambit::istiod::xds
