// `ambitctl dataplane enroll|release -n NS [POD|pod/NAME|deployment/NAME]`: sets or removes
// `istio.io/dataplane-mode=ambient` through the object store.
#pragma once

#include <string>

#include "cli/object_store.h"
#include "cli/options.h"

namespace ambit::cli {

int dataplane_label(ObjectStore& store, const CliOptions& o, bool enroll, const std::string& target);

}  // namespace ambit::cli
