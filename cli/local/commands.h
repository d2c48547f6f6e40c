// `ambitctl local ...` and `ambitctl dataplane ...`: each returns the process exit code after
// printing to stdout (results) or stderr (errors that name what was wrong).
#pragma once

#include <string>
#include <vector>

namespace ambit::cli {

struct LocalOptions {
  std::string dir;        // state directory
  std::string ns;         // -n
  std::string output;     // -o table|json|yaml
};

int local_up(const LocalOptions& o, int nodes, const std::string& name, int timeout_s);
int local_down(const LocalOptions& o, bool purge);
int local_apply(const LocalOptions& o, const std::vector<std::string>& files, bool wait);
int local_delete(const LocalOptions& o, const std::vector<std::string>& files);
int local_exec(const LocalOptions& o, const std::string& pod, const std::string& node,
               const std::vector<std::string>& argv);
int local_status(const LocalOptions& o);
int local_logs(const LocalOptions& o, const std::string& pod, const std::string& node,
               const std::string& component, const std::string& container, int tail, bool follow);
// stop/start a component: istiod, agent, ztunnel (the latter two per node, or all nodes).
int local_component(const LocalOptions& o, const std::string& action, const std::string& component,
                    const std::string& node);
int local_wait(const LocalOptions& o, int timeout_s);
int local_supervise(const LocalOptions& o);
int dataplane_label(const LocalOptions& o, bool enroll, const std::string& target);
int ztunnel_config(const LocalOptions& o, const std::string& section, const std::string& node);

}  // namespace ambit::cli
