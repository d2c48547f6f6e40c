// `ambitctl waypoint generate|apply|list|status|delete`, istioctl's flags and output, over an
// ObjectStore (the local mesh's today; a Kubernetes API store swaps in without touching these).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cli/object_store.h"
#include "cli/options.h"
#include "cli/waypoint/waypoint.h"

namespace ambit::cli::waypoint {

struct ApplyFlags {
  bool enroll_namespace = false;  // label the namespace istio.io/use-waypoint=<name>
  bool overwrite = false;         // replace another waypoint the namespace already uses
  bool wait = false;              // until Programmed=True
  std::chrono::milliseconds timeout = std::chrono::seconds(90);
};

// Each prints results to stdout, errors to stderr, and returns the exit code.
int generate(const Spec& spec);
int apply(ObjectStore& store, const Spec& spec, const ApplyFlags& flags);
int list(ObjectStore& store, const std::string& ns, bool all_namespaces);
// `namespace_column`: istioctl shows it when -n was not given.
int status(ObjectStore& store, const std::string& ns, bool all_namespaces, bool namespace_column, bool wait,
           std::chrono::milliseconds timeout);
// Names, or every waypoint of the namespace (`all`), or those of one revision.
int remove(ObjectStore& store, const std::string& ns, const std::vector<std::string>& names, bool all,
           const std::string& revision);

}  // namespace ambit::cli::waypoint
