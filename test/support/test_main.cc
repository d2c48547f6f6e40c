// The doctest runner shared by every test binary. Installs the harness's signal handlers so an
// interrupted run still removes the namespaces, cgroups and pins it created.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "test/support/harness.h"

namespace {
// True once any assertion of the running test case has failed.
bool doctest_current_failed() {
  return doctest::detail::g_cs != nullptr && doctest::detail::g_cs->numAssertsFailedCurrentTest_atomic > 0;
}
}  // namespace

int main(int argc, char** argv) {
  ambit::test::Harness::install_signal_cleanup();
  ambit::test::set_failure_probe(&doctest_current_failed);
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  int rc = ctx.run();
  ambit::test::Harness::cleanup_all();
  return rc;
}
