#include "cli/ztunnel_config_command.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/local/node_http.h"
#include "cli/local/plan.h"
#include "cli/output.h"
#include "cli/ztunnel_config.h"
#include "common/base/strings.h"

namespace ambit::cli {

using nlohmann::json;

int ztunnel_config(const CliOptions& o, const std::string& section, const std::string& node) {
  auto plan = MeshPlan::load(o.dir);
  if (!plan.ok()) return fail(plan.status());
  auto i = plan->node_index(node.empty() ? "node1" : node);
  if (!i.ok()) return fail(i.status());
  auto r = http_get_in_netns(plan->node_netns(*i), 15000, "/config_dump");
  if (!r.ok()) return fail(absl::UnavailableError(str_cat("ztunnel on ", plan->node_name(*i), ": ", r.status().message())));
  if (r->status != 200) return fail(absl::UnavailableError(str_cat("ztunnel on ", plan->node_name(*i), " answered ", r->status)));
  auto dump = json::parse(r->body, nullptr, false);
  if (dump.is_discarded()) return fail(absl::DataLossError("ztunnel's config_dump is not JSON"));
  ZtunnelConfigFilter f{.ns = o.ns};
  if (o.output == "json" || o.output == "yaml") {
    auto j = ztunnel_config_json(dump, section, f);
    if (!j.ok()) return fail(j.status());
    std::fputs(render_structured(*j, o.output).c_str(), stdout);
    return 0;
  }
  auto t = ztunnel_config_table(dump, section, f);
  if (!t.ok()) return fail(t.status());
  std::fputs(t->c_str(), stdout);
  return 0;
}

}  // namespace ambit::cli
