#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test.
#   - build/test: Debug + ASan/UBSan; unit, BPF, network-namespace and end-to-end tests, and the
#     fuzz seed corpora replayed under the sanitizers;
#   - build/fuzz: clang libFuzzer targets, each fuzzed for a bounded time.
# Root is required (BPF, namespaces, cgroups); root-only tests fail loudly without it.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
./scripts/install-deps.sh
./scripts/build.sh test
./scripts/build.sh fuzz
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/test/lsan.supp:print_suppressions=0}
status=0
ctest --test-dir build/test --output-on-failure -j2 || status=$?
ctest --test-dir build/fuzz --output-on-failure || status=$?
echo "scripts/test.sh: finished in $(( $(date +%s) - start )) s, status $status"
exit $status
