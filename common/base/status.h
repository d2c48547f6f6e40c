// Status helpers on top of absl::Status: return-if-error macros and errno-carrying errors.
//
//   absl::StatusOr<UniqueFd> open_netns(std::string_view path) {
//     int fd = ::open(path.data(), O_RDONLY | O_CLOEXEC);
//     if (fd < 0) return errno_error(errno, "open netns ", path);
//     return UniqueFd(fd);
//   }
//   AMBIT_ASSIGN_OR_RETURN(UniqueFd ns, open_netns("/run/netns/a"));
//   AMBIT_RETURN_IF_ERROR(enter(ns));
//
// A syscall failure always says what was attempted and carries errno's text, so a log line alone
// explains it.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/base/strings.h"

namespace ambit {

// Maps errno to the closest absl code and prefixes the message with the attempted operation.
absl::Status errno_to_status(int err, std::string_view what);

template <typename... Args>
absl::Status errno_error(int err, const Args&... what) {
  return errno_to_status(err, str_cat(what...));
}

// Adds context ("while loading x: ") to an error, keeping its code.
absl::Status annotate(const absl::Status& s, std::string_view context);

}  // namespace ambit

#define AMBIT_STATUS_CONCAT_INNER_(a, b) a##b
#define AMBIT_STATUS_CONCAT_(a, b) AMBIT_STATUS_CONCAT_INNER_(a, b)

#define AMBIT_RETURN_IF_ERROR(expr)                 \
  do {                                              \
    ::absl::Status ambit_status_ = (expr);          \
    if (!ambit_status_.ok()) return ambit_status_;  \
  } while (0)

#define AMBIT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#define AMBIT_ASSIGN_OR_RETURN(lhs, expr) \
  AMBIT_ASSIGN_OR_RETURN_IMPL_(AMBIT_STATUS_CONCAT_(ambit_statusor_, __LINE__), lhs, expr)
