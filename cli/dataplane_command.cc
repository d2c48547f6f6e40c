#include "cli/dataplane_command.h"

#include <algorithm>
#include <cstdio>

#include "cli/output.h"
#include "common/base/strings.h"

namespace ambit::cli {

int dataplane_label(ObjectStore& store, const CliOptions& o, bool enroll, const std::string& target) {
  if (o.ns.empty()) return fail(absl::InvalidArgumentError("-n NAMESPACE is required"));
  const std::string key = "istio.io/dataplane-mode";
  Manifest m;
  if (target.empty()) {
    auto existing = store.get("Namespace", "", o.ns);
    if (!existing.ok()) return fail(existing.status());
    if (*existing) {
      m = std::move(**existing);
    } else {
      m.api_version = "v1";
      m.kind = "Namespace";
      m.name = o.ns;
      m.node = YAML::Load(str_cat("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ", o.ns, "\n"));
    }
  } else {
    std::string kind = "Pod", name = target;
    if (target.rfind("deployment/", 0) == 0) {
      kind = "Deployment";
      name = target.substr(11);
    } else if (target.rfind("pod/", 0) == 0) {
      name = target.substr(4);
    }
    auto existing = store.get(kind, o.ns, name);
    if (!existing.ok()) return fail(existing.status());
    if (!*existing) {
      return fail(absl::NotFoundError(str_cat(kind, " ", o.ns, "/", name,
                                              " was not applied with `ambitctl local apply` (a replica of a Deployment is "
                                              "labelled through deployment/NAME)")));
    }
    m = std::move(**existing);
  }
  // A namespace is enrolled by the label and released by removing it; a pod is enrolled
  // explicitly or opted out with "none" (which wins over its namespace's label, as in Istio).
  std::string value = enroll ? "ambient" : (m.kind == "Namespace" ? "" : "none");
  bool changed = set_label(m, key, value);
  std::string kind = m.kind, name = m.name;
  if (changed) {
    auto r = store.apply({m});
    if (!r.ok()) return fail(r.status());
    if (!r->empty() && r->front().verb == "rejected") return fail(absl::InvalidArgumentError(r->front().error));
  }
  std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::printf("%s/%s %s (%s%s)\n", kind.c_str(), name.c_str(), changed ? "labeled" : "unchanged", key.c_str(),
              value.empty() ? " removed" : ("=" + value).c_str());
  return 0;
}

}  // namespace ambit::cli
