// Tests that need root (BPF, namespaces, cgroups) call AMBIT_REQUIRE_ROOT() first. Without the
// privilege the test FAILS with a message — it is never silently skipped, so a CI run without
// root cannot look green.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#define AMBIT_REQUIRE_ROOT()                                                                   \
  REQUIRE_MESSAGE(::geteuid() == 0,                                                            \
                  "this test needs root (BPF, network namespaces, cgroups); run the suite as " \
                  "root, e.g. `sudo scripts/test.sh`")

// Checks an absl::Status / StatusOr inside a test, printing the message on failure.
#define AMBIT_REQUIRE_OK(expr)                                   \
  do {                                                           \
    const auto& ambit_req_ = (expr);                                    \
    REQUIRE_MESSAGE(ambit_req_.ok(), ::ambit::test::status_text(ambit_req_)); \
  } while (0)
#define AMBIT_CHECK_OK(expr)                                   \
  do {                                                         \
    const auto& ambit_chk_ = (expr);                                  \
    CHECK_MESSAGE(ambit_chk_.ok(), ::ambit::test::status_text(ambit_chk_)); \
  } while (0)

#include "absl/status/statusor.h"
namespace ambit::test {
inline std::string status_text(const absl::Status& s) { return s.ToString(); }
template <typename T>
std::string status_text(const absl::StatusOr<T>& s) {
  return s.status().ToString();
}
}  // namespace ambit::test
