// The doctest runner shared by every test binary. Installs the harness's signal handlers so an
// interrupted run still removes the namespaces, cgroups and pins it created.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "test/support/harness.h"

int main(int argc, char** argv) {
  ambit::test::Harness::install_signal_cleanup();
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  int rc = ctx.run();
  ambit::test::Harness::cleanup_all();
  return rc;
}
