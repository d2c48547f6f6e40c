// `ambitctl local ...`: each returns the process exit code after
// printing to stdout (results) or stderr (errors that name what was wrong).
#pragma once

#include <string>
#include <vector>

#include "cli/options.h"

namespace ambit::cli {

int local_up(const CliOptions& o, int nodes, const std::string& name, int timeout_s);
int local_down(const CliOptions& o, bool purge);
int local_apply(const CliOptions& o, const std::vector<std::string>& files, bool wait);
int local_delete(const CliOptions& o, const std::vector<std::string>& files);
int local_exec(const CliOptions& o, const std::string& pod, const std::string& node,
               const std::vector<std::string>& argv);
int local_status(const CliOptions& o);
int local_logs(const CliOptions& o, const std::string& pod, const std::string& node,
               const std::string& component, const std::string& container, int tail, bool follow);
// stop/start a component: istiod, agent, ztunnel (the latter two per node, or all nodes).
int local_component(const CliOptions& o, const std::string& action, const std::string& component,
                    const std::string& node);
int local_wait(const CliOptions& o, int timeout_s);
int local_supervise(const CliOptions& o);

}  // namespace ambit::cli
