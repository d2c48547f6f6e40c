#include "cli/waypoint/commands.h"

#include <cstdio>
#include <thread>

#include "cli/output.h"
#include "common/base/strings.h"

namespace ambit::cli::waypoint {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(200);

// Polls the Gateway until Programmed=True; the error carries the last condition istiod reported.
absl::Status wait_programmed(ObjectStore& store, const std::string& ns, const std::string& name,
                             std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string last = "istiod has not reported a status yet";
  for (;;) {
    auto gw = store.get("Gateway", ns, name);
    if (!gw.ok()) return gw.status();
    if (!*gw) return absl::NotFoundError(str_cat("waypoint ", ns, "/", name, " was deleted while waiting"));
    if (programmed(**gw)) return absl::OkStatus();
    if (auto c = condition(**gw, "Programmed")) last = str_cat(c->reason, ": ", c->message);
    if (Clock::now() >= deadline) {
      return absl::DeadlineExceededError(str_cat("timed out while waiting for waypoint ", ns, "/", name, ": ", last));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

absl::StatusOr<Manifest> namespace_object(ObjectStore& store, const std::string& ns) {
  auto existing = store.get("Namespace", "", ns);
  if (!existing.ok()) return existing.status();
  if (*existing) return std::move(**existing);
  Manifest m;
  m.api_version = "v1";
  m.kind = "Namespace";
  m.name = ns;
  m.node = YAML::Load(str_cat("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ", ns, "\n"));
  return m;
}

}  // namespace

int generate(const Spec& spec) {
  auto gw = make_gateway(spec);
  if (!gw.ok()) return fail(gw.status());
  std::fputs(gw->yaml().c_str(), stdout);
  return 0;
}

int apply(ObjectStore& store, const Spec& spec, const ApplyFlags& flags) {
  auto gw = make_gateway(spec);
  if (!gw.ok()) return fail(gw.status());
  auto ns_obj = namespace_object(store, spec.ns);
  if (!ns_obj.ok()) return fail(ns_obj.status());
  if (flags.enroll_namespace) {
    std::string current = label(*ns_obj, kUseWaypointLabel);
    if (!current.empty() && current != gw->name && !flags.overwrite) {
      // As istioctl: a warning, not an error — the namespace keeps the waypoint it has.
      std::printf("⚠️ Warning: namespace (%s) already has an enrolled Waypoint (%s). Consider adding the `--overwrite` "
                  "flag to your apply command.\n",
                  spec.ns.c_str(), current.c_str());
      return 0;
    }
    if (label(*ns_obj, kDataplaneModeLabel) != "ambient") {
      std::printf("⚠️ Warning: namespace is not enrolled in ambient. Consider running\t`ambitctl dataplane enroll -n %s`\n",
                  spec.ns.c_str());
    }
  }
  auto r = store.apply({*gw});
  if (!r.ok()) return fail(r.status());
  if (!r->empty() && r->front().verb == "rejected") return fail(absl::InvalidArgumentError(r->front().error));
  std::printf("✅ waypoint %s/%s applied\n", spec.ns.c_str(), gw->name.c_str());
  if (flags.wait) {
    if (auto s = wait_programmed(store, spec.ns, gw->name, flags.timeout); !s.ok()) return fail(s);
    std::printf("✅ waypoint %s/%s is ready!\n", spec.ns.c_str(), gw->name.c_str());
  }
  if (flags.enroll_namespace) {
    if (set_label(*ns_obj, kUseWaypointLabel, gw->name)) {
      auto nr = store.apply({*ns_obj});
      if (!nr.ok()) return fail(nr.status());
      if (!nr->empty() && nr->front().verb == "rejected") return fail(absl::InvalidArgumentError(nr->front().error));
    }
    std::printf("✅ namespace %s labeled with \"%s: %s\"\n", spec.ns.c_str(), kUseWaypointLabel, gw->name.c_str());
  }
  return 0;
}

int list(ObjectStore& store, const std::string& ns, bool all_namespaces) {
  auto gws = store.list("Gateway", all_namespaces ? "" : ns);
  if (!gws.ok()) return fail(gws.status());
  auto classes = store.list("GatewayClass", "");
  if (!classes.ok()) return fail(classes.status());
  std::fputs(list_table(*gws, *classes, all_namespaces).c_str(), stdout);
  return 0;
}

int status(ObjectStore& store, const std::string& ns, bool all_namespaces, bool namespace_column, bool wait,
           std::chrono::milliseconds timeout) {
  auto gws = store.list("Gateway", all_namespaces ? "" : ns);
  if (!gws.ok()) return fail(gws.status());
  if (wait) {
    // Every waypoint within one shared deadline; then print what is in force.
    auto deadline = Clock::now() + timeout;
    for (const auto& g : *gws) {
      if (!is_waypoint(g)) continue;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (auto s = wait_programmed(store, g.ns, g.name, std::max(left, std::chrono::milliseconds(0))); !s.ok()) {
        return fail(absl::DeadlineExceededError(
            str_cat("timed out while retrieving status for waypoint ", g.ns, "/", g.name, ": ", s.message())));
      }
    }
    gws = store.list("Gateway", all_namespaces ? "" : ns);
    if (!gws.ok()) return fail(gws.status());
  }
  std::fputs(status_table(*gws, namespace_column || all_namespaces).c_str(), stdout);
  return 0;
}

int remove(ObjectStore& store, const std::string& ns, const std::vector<std::string>& names, bool all,
           const std::string& revision) {
  if ((all || !revision.empty()) && !names.empty()) {
    return fail(absl::InvalidArgumentError("cannot specify waypoint names when deleting all waypoints"));
  }
  if (!all && revision.empty() && names.empty()) {
    return fail(absl::InvalidArgumentError(
        "must specify a waypoint name or delete all using --all or delete specific revision using --revision"));
  }
  auto gws = store.list("Gateway", ns);
  if (!gws.ok()) return fail(gws.status());
  std::vector<std::string> targets;
  if (names.empty()) {
    for (const auto& g : *gws) {
      if (is_waypoint(g) && (revision.empty() || label(g, kRevisionLabel) == revision)) targets.push_back(g.name);
    }
  } else {
    for (const auto& n : names) {
      bool found = false;
      for (const auto& g : *gws) found = found || (g.name == n && is_waypoint(g));
      if (found) {
        targets.push_back(n);
      } else {
        std::printf("waypoint %s/%s not found\n", ns.c_str(), n.c_str());
      }
    }
  }
  int rc = 0;
  for (const auto& n : targets) {
    auto removed = store.remove("Gateway", ns, n);
    if (!removed.ok()) {
      rc = fail(removed.status());
      continue;
    }
    std::printf("waypoint %s/%s %s\n", ns.c_str(), n.c_str(), *removed ? "deleted" : "not found");
  }
  return rc;
}

}  // namespace ambit::cli::waypoint
