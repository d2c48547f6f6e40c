#include "cli/local/plan.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/base/strings.h"
#include "common/crypto/certificate.h"

namespace ambit::cli {

std::string MeshPlan::default_dir() {
  const char* env = std::getenv("AMBIT_LOCAL_DIR");
  return env && *env ? env : "/var/lib/ambit/local";
}

absl::StatusOr<MeshPlan> MeshPlan::load(const std::string& dir) {
  std::ifstream in(dir + "/mesh.json");
  if (!in) return absl::NotFoundError(str_cat("no local mesh in ", dir, " (run `ambitctl local up` first)"));
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError(str_cat(dir, "/mesh.json is not valid JSON"));
  MeshPlan p;
  p.dir = dir;
  p.name = j.value("name", "");
  p.nodes = j.value("nodes", 0);
  p.bin_dir = j.value("binDir", "");
  if (p.name.empty() || p.nodes < 1 || p.bin_dir.empty()) {
    return absl::DataLossError(str_cat(dir, "/mesh.json lacks name, nodes or binDir"));
  }
  return p;
}

std::string MeshPlan::to_json() const {
  nlohmann::json j = {{"name", name}, {"nodes", nodes}, {"binDir", bin_dir}, {"dir", dir}};
  return j.dump(2) + "\n";
}

absl::Status MeshPlan::save() const { return crypto::write_file_atomic(dir + "/mesh.json", to_json()); }

absl::StatusOr<int> MeshPlan::node_index(const std::string& node) const {
  std::string digits = node.rfind("node", 0) == 0 ? node.substr(4) : node;
  int i = 0;
  bool ok = !digits.empty() && digits.size() < 4;
  for (char c : digits) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) i = i * 10 + (c - '0');
  }
  if (!ok || i < 1 || i > nodes) {
    return absl::InvalidArgumentError(str_cat("unknown node \"", node, "\": this mesh has node1..node", nodes));
  }
  return i;
}

std::string MeshPlan::node_ip(int i) const { return i == 1 ? "172.31.1.1" : str_cat("172.31.", i - 1, ".2"); }
std::string MeshPlan::pod_subnet(int i) const { return str_cat("10.40.", i, ".0/24"); }
std::string MeshPlan::pod_gateway(int i) const { return str_cat("10.40.", i, ".1"); }
std::string MeshPlan::xds_address(int i) const { return i == 1 ? "127.0.0.1:15012" : str_cat("172.31.", i - 1, ".1:15012"); }

std::string component_name(const std::string& kind, const MeshPlan& plan, int node) {
  return kind == "istiod" ? kind : str_cat(kind, "-", plan.node_name(node));
}

}  // namespace ambit::cli
