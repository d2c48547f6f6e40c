// Logging by scope, with levels changeable at run time (the admin server's /logging endpoint).
//
//   static auto& lg = ambit::log::scope("xds");
//   lg.info("connected to {}", addr);
//   ambit::log::set_levels("xds:debug,ca:warn");   // or "debug" for every scope
//
// Lines look like ztunnel's: `2026-11-25T20:00:00.123456Z  info  xds  connected to ...`.
// Scopes are created on first use and live for the process; each is an spdlog logger writing to
// one shared stderr sink, so a level change never races a log call.
#pragma once

#include <spdlog/spdlog.h>

#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

// Debian's Abseil has its own string_view; let log lines format it (Status::message()).
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Ctx>
  auto format(absl::string_view s, Ctx& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};

namespace ambit::log {

// The logger for `name`, created with the default level if new.
spdlog::logger& scope(std::string_view name);

// Parses "level" (all scopes and the default) or "scope:level,scope:level".
// Levels: trace, debug, info, warn, error, off. Unknown levels are an error; nothing changes.
absl::Status set_levels(std::string_view spec);

// Resets every scope to the default level given at process start.
void reset_levels();

// Current level of each scope, for /logging.
std::map<std::string, std::string> levels();

// Sets the process default (used by reset) from a flag, e.g. --log-level=debug.
absl::Status init(std::string_view default_spec);

}  // namespace ambit::log
