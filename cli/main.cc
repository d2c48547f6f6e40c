// ambitctl: the istioctl-shaped command line (local mesh, dataplane labels, ztunnel-config).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/local/commands.h"
#include "cli/local/plan.h"
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
  LocalOptions o;
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
    c->callback([&, enroll] { rc = dataplane_label(o, enroll, target); });
  }

  // ---- ztunnel-config ----
  std::string section;
  auto* zc = app.add_subcommand("ztunnel-config", "What a ztunnel knows: workload|service|policy|certificate|connections|all");
  zc->add_option("section", section, "workload, service, policy, certificate, connections or all")->required();
  zc->add_option("--node", node, "Node whose ztunnel to ask (default node1)");
  zc->callback([&] { rc = ztunnel_config(o, section, node); });

  try {
    app.parse(cli_argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return rc;
}
