#include "common/base/strings.h"
#include "common/base/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>
#include <vector>


namespace ambit::log {
namespace {

struct Registry {
  std::mutex mu;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  spdlog::level::level_enum base = spdlog::level::info;
  std::map<std::string, spdlog::level::level_enum> base_overrides;
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%fZ\t%l\t%n\t%v", spdlog::pattern_time_type::utc));
    return reg;
  }();
  return *r;
}

bool parse_level(std::string_view s, spdlog::level::level_enum* out) {
  static const std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"warning", spdlog::level::warn}, {"error", spdlog::level::err},
      {"off", spdlog::level::off}};
  for (const auto& [name, lvl] : kLevels) {
    if (s == name) {
      *out = lvl;
      return true;
    }
  }
  return false;
}

struct ParsedSpec {
  bool has_all = false;
  spdlog::level::level_enum all = spdlog::level::info;
  std::map<std::string, spdlog::level::level_enum> scopes;
};

absl::Status parse_spec(std::string_view spec, ParsedSpec* out) {
  for (std::string_view part : split_nonempty(spec, ',')) {
    part = trim(part);
    if (part.empty()) continue;
    auto colon = part.find(':');
    spdlog::level::level_enum lvl;
    if (colon == std::string_view::npos) {
      if (!parse_level(part, &lvl)) {
        return absl::InvalidArgumentError(str_cat("unknown log level '", part, "'"));
      }
      out->has_all = true;
      out->all = lvl;
      continue;
    }
    std::string_view name = part.substr(0, colon);
    std::string_view level = part.substr(colon + 1);
    if (name.empty()) return absl::InvalidArgumentError(str_cat("empty scope in '", part, "'"));
    if (!parse_level(level, &lvl)) {
      return absl::InvalidArgumentError(
          str_cat("unknown log level '", level, "' for scope '", name, "'"));
    }
    out->scopes[std::string(name)] = lvl;
  }
  return absl::OkStatus();
}

}  // namespace

spdlog::logger& scope(std::string_view name) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.loggers.find(name);
  if (it != r.loggers.end()) return *it->second;
  auto lg = std::make_shared<spdlog::logger>(std::string(name), r.sink);
  auto ov = r.base_overrides.find(std::string(name));
  lg->set_level(ov != r.base_overrides.end() ? ov->second : r.base);
  lg->flush_on(spdlog::level::warn);
  return *r.loggers.emplace(std::string(name), std::move(lg)).first->second;
}

absl::Status set_levels(std::string_view spec) {
  ParsedSpec p;
  if (auto s = parse_spec(spec, &p); !s.ok()) return s;
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  if (p.has_all) {
    for (auto& [_, lg] : r.loggers) lg->set_level(p.all);
  }
  for (const auto& [name, lvl] : p.scopes) {
    auto it = r.loggers.find(name);
    if (it == r.loggers.end()) {
      auto lg = std::make_shared<spdlog::logger>(name, r.sink);
      lg->flush_on(spdlog::level::warn);
      it = r.loggers.emplace(name, std::move(lg)).first;
    }
    it->second->set_level(lvl);
  }
  return absl::OkStatus();
}

void reset_levels() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  for (auto& [name, lg] : r.loggers) {
    auto ov = r.base_overrides.find(name);
    lg->set_level(ov != r.base_overrides.end() ? ov->second : r.base);
  }
}

std::map<std::string, std::string> levels() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::map<std::string, std::string> out;
  for (const auto& [name, lg] : r.loggers) {
    auto sv = spdlog::level::to_string_view(lg->level());
    out[name] = std::string(sv.data(), sv.size());
  }
  return out;
}

absl::Status init(std::string_view default_spec) {
  ParsedSpec p;
  if (auto s = parse_spec(default_spec, &p); !s.ok()) return s;
  {
    Registry& r = registry();
    std::lock_guard lock(r.mu);
    if (p.has_all) r.base = p.all;
    r.base_overrides = p.scopes;
  }
  reset_levels();
  return absl::OkStatus();
}

}  // namespace ambit::log
