// ambitctl: the istioctl-shaped command line (local mesh, dataplane labels, ztunnel-config).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cli/dataplane_command.h"
#include "cli/local/commands.h"
#include "cli/local/local_store.h"
#include "cli/local/plan.h"
#include "cli/output.h"
#include "cli/waypoint/commands.h"
#include "cli/ztunnel_config_command.h"
#include "common/base/version.h"

using namespace ambit::cli;

int main(int argc, char** argv) {
  // `exec ... -- CMD ARGS`: everything after "--" is the command, untouched by flag parsing.
  std::vector<std::string> command;
  int cli_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      cli_argc = i;
      for (int j = i + 1; j < argc; ++j) command.emplace_back(argv[j]);
      break;
    }
  }

  CLI::App app{"ambitctl: manage an Ambit mesh (istioctl-shaped)", "ambitctl"};
  app.require_subcommand(1);
  app.fallthrough();
  CliOptions o;
  o.dir = MeshPlan::default_dir();
  o.output = "table";
  app.add_option("--dir", o.dir, "Local mesh state directory ($AMBIT_LOCAL_DIR)")->capture_default_str();
  app.add_option("-n,--namespace", o.ns, "Namespace");
  app.add_option("-o,--output", o.output, "Output format")->check(CLI::IsMember({"table", "json", "yaml"}))->capture_default_str();
  int rc = 0;

  auto* version = app.add_subcommand("version", "Print the version");
  version->callback([] { std::printf("ambitctl version %s\n", ambit::kVersion); });

  // ---- local ----
  auto* local = app.add_subcommand("local", "A whole mesh on this machine: nodes as network namespaces");
  local->require_subcommand(1);
  local->fallthrough();

  int nodes = 2, timeout_s = 180;
  std::string name = "ambit";
  auto* up = local->add_subcommand("up", "Create nodes, start istiod, agents and ztunnels; wait until ready (idempotent)");
  up->add_option("--nodes", nodes, "Number of nodes")->capture_default_str();
  up->add_option("--name", name, "Prefix of the mesh's namespaces, cgroups and BPF pins")->capture_default_str();
  up->add_option("--timeout", timeout_s, "Seconds to wait for readiness")->capture_default_str();
  up->callback([&] { rc = local_up(o, nodes, name, timeout_s); });

  bool purge = false;
  auto* down = local->add_subcommand("down", "Remove every namespace, cgroup, BPF pin and process of the mesh");
  down->add_flag("--purge", purge, "Also delete the state directory (config, CA, logs)");
  down->callback([&] { rc = local_down(o, purge); });

  std::vector<std::string> files;
  bool wait = false;
  auto* apply = local->add_subcommand("apply", "Apply Kubernetes-shaped YAML (Pods, Deployments, Services, policies...)");
  apply->add_option("-f,--filename", files, "File or directory")->required();
  apply->add_flag("--wait", wait, "Wait until every pod runs");
  apply->callback([&] { rc = local_apply(o, files, wait); });
  auto* del = local->add_subcommand("delete", "Delete the objects of YAML files");
  del->add_option("-f,--filename", files, "File or directory")->required();
  del->callback([&] { rc = local_delete(o, files); });

  std::string pod, node, component, container;
  auto* exec = local->add_subcommand("exec", "Run a command in a pod (its netns and cgroup) or a node: exec POD -- CMD...");
  exec->add_option("pod", pod, "Pod name");
  exec->add_option("--node", node, "Run in a node's namespace instead of a pod");
  exec->callback([&] {
    if (pod.empty() == node.empty()) {
      std::fprintf(stderr, "ambitctl: give either a POD or --node NODE\n");
      rc = 2;
      return;
    }
    rc = local_exec(o, pod, node, command);
  });

  auto* status = local->add_subcommand("status", "Nodes, pods (IP, node, enrolled) and component health");
  status->callback([&] { rc = local_status(o); });

  int tail = 0;
  bool follow = false;
  auto* logs = local->add_subcommand("logs", "Logs of a pod or a component: logs POD | --component C [--node N]");
  logs->add_option("pod", pod, "Pod name");
  logs->add_option("--node", node, "Node of the component");
  logs->add_option("--component", component, "istiod, agent, ztunnel or supervisor");
  logs->add_option("-c,--container", container, "Container of the pod");
  logs->add_option("--tail", tail, "Only the last N lines");
  logs->add_flag("-f,--follow", follow, "Keep printing new lines");
  logs->callback([&] { rc = local_logs(o, pod, node, component, container, tail, follow); });

  for (const char* action : {"stop", "start"}) {
    auto* c = local->add_subcommand(action, std::string(action) + " a component (istiod, agent, ztunnel) on one or all nodes");
    c->add_option("component", component, "istiod, agent or ztunnel")->required();
    c->add_option("--node", node, "Only this node");
    c->callback([&, action] { rc = local_component(o, action, component, node); });
  }

  auto* waitc = local->add_subcommand("wait", "Wait until the components are ready and every pod runs");
  waitc->add_option("--timeout", timeout_s, "Seconds")->capture_default_str();
  waitc->callback([&] { rc = local_wait(o, timeout_s); });

  auto* supervise = local->add_subcommand("supervise", "");  // internal: started by `local up`
  supervise->group("");
  supervise->callback([&] { rc = local_supervise(o); });

  // ---- dataplane ----
  auto* dp = app.add_subcommand("dataplane", "Enroll namespaces or pods in the mesh, or release them");
  dp->require_subcommand(1);
  dp->fallthrough();
  std::string target;
  for (const char* action : {"enroll", "release"}) {
    auto* c = dp->add_subcommand(action, std::string(action) + " -n NS [POD|pod/NAME|deployment/NAME]");
    c->add_option("target", target, "A pod or deployment; the namespace when omitted");
    bool enroll = std::strcmp(action, "enroll") == 0;
    c->callback([&, enroll] {
      auto store = open_local_store(o.dir);
      rc = store.ok() ? dataplane_label(**store, o, enroll, target) : fail(store.status());
    });
  }

  // ---- ztunnel-config ----
  std::string section;
  auto* zc = app.add_subcommand("ztunnel-config", "What a ztunnel knows: workload|service|policy|certificate|connections|all");
  zc->add_option("section", section, "workload, service, policy, certificate, connections or all")->required();
  zc->add_option("--node", node, "Node whose ztunnel to ask (default node1)");
  zc->callback([&] { rc = ztunnel_config(o, section, node); });

  // ---- waypoint ----
  auto* wp = app.add_subcommand("waypoint", "Manage waypoints (L7 proxies for a namespace or service)");
  wp->require_subcommand(1);
  wp->fallthrough();
  waypoint::Spec spec;
  waypoint::ApplyFlags wflags;
  std::string wp_timeout = "90s", revision;
  bool all_namespaces = false, delete_all = false, status_wait = false;
  std::vector<std::string> wp_names;
  wp->add_option("--name", spec.name, "name of the waypoint")->capture_default_str();
  auto with_ns = [&] { spec.ns = o.ns.empty() ? "default" : o.ns; };
  auto timeout_ok = [&](std::chrono::milliseconds* out) {
    // Go duration syntax, as istioctl's flag: "90s", "2m", "1m30s", "500ms".
    absl::Duration d;
    if (!absl::ParseDuration(wp_timeout, &d) || d < absl::ZeroDuration()) {
      fail(absl::InvalidArgumentError("--waypoint-timeout " + wp_timeout + ": not a duration (e.g. 90s, 2m, 500ms)"));
      return false;
    }
    *out = absl::ToChronoMilliseconds(d);
    return true;
  };
  const char* for_help = "Specify the traffic type [all none service workload] for the waypoint";
  auto* wgen = wp->add_subcommand("generate", "Generate a waypoint configuration as YAML");
  wgen->add_option("--for", spec.traffic_for, for_help);
  wgen->add_option("-r,--revision", spec.revision, "The revision to label the waypoint with");
  wgen->callback([&] { with_ns(); rc = waypoint::generate(spec); });
  auto* wapply = wp->add_subcommand("apply", "Apply a waypoint configuration to the mesh");
  wapply->add_option("--for", spec.traffic_for, for_help);
  wapply->add_option("-r,--revision", spec.revision, "The revision to label the waypoint with");
  wapply->add_flag("--enroll-namespace", wflags.enroll_namespace, "If set, the namespace will be labeled with the waypoint name");
  wapply->add_flag("--overwrite", wflags.overwrite, "Overwrite the existing Waypoint used by the namespace");
  wapply->add_flag("-w,--wait", wflags.wait, "Wait for the waypoint to be ready");
  wapply->add_option("--waypoint-timeout", wp_timeout, "Timeout for waiting for waypoint ready")->capture_default_str();
  wapply->callback([&] {
    with_ns();
    if (!timeout_ok(&wflags.timeout)) return void(rc = 1);
    auto store = open_local_store(o.dir);
    rc = store.ok() ? waypoint::apply(**store, spec, wflags) : fail(store.status());
  });
  auto* wlist = wp->add_subcommand("list", "List managed waypoint configurations");
  wlist->add_flag("-A,--all-namespaces", all_namespaces, "List all waypoints in all namespaces");
  wlist->callback([&] {
    with_ns();
    auto store = open_local_store(o.dir);
    rc = store.ok() ? waypoint::list(**store, spec.ns, all_namespaces) : fail(store.status());
  });
  auto* wstatus = wp->add_subcommand("status", "Show the status of waypoints in a namespace");
  wstatus->add_flag("-A,--all-namespaces", all_namespaces, "Show waypoints in all namespaces");
  wstatus->add_flag("-w,--wait", status_wait, "Wait for status");
  wstatus->add_option("--waypoint-timeout", wp_timeout, "Timeout for retrieving status for waypoint")->capture_default_str();
  wstatus->callback([&] {
    with_ns();
    std::chrono::milliseconds t{};
    if (!timeout_ok(&t)) return void(rc = 1);
    auto store = open_local_store(o.dir);
    rc = store.ok() ? waypoint::status(**store, spec.ns, all_namespaces, o.ns.empty(), status_wait, t)
                    : fail(store.status());
  });
  auto* wdel = wp->add_subcommand("delete", "Delete waypoints: delete NAME... | --all | -r REVISION");
  wdel->add_option("names", wp_names, "Waypoint names");
  wdel->add_flag("--all", delete_all, "Delete all waypoints in the namespace");
  wdel->add_option("-r,--revision", revision, "Delete the specified version of the waypoint in the namespace");
  wdel->callback([&] {
    with_ns();
    auto store = open_local_store(o.dir);
    rc = store.ok() ? waypoint::remove(**store, spec.ns, wp_names, delete_all, revision) : fail(store.status());
  });

  try {
    app.parse(cli_argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return rc;
}
