// Directory helpers shared by the components that keep state in plain files.
#pragma once

#include <string>
#include <vector>

namespace ambit {

// Names of the entries of `dir` (not "." or ".."), ending in `suffix` when given, sorted.
// A missing or unreadable directory lists as empty: callers treat "no files" and "no directory"
// alike (a state directory that was never written).
std::vector<std::string> list_dir(const std::string& dir, const std::string& suffix = "");

}  // namespace ambit
