#!/usr/bin/env bash
# Configures and builds one of Ambit's build trees:
#   scripts/build.sh release   -> build/release  (Release; the demo and benchmarks)
#   scripts/build.sh test      -> build/test     (Debug + ASan/UBSan; every test)
#   scripts/build.sh fuzz      -> build/fuzz     (clang + libFuzzer; fuzz targets only)
#   scripts/build.sh release ambitctl istiod ...   -> only those targets
# Two cores: -j2. ccache is used when installed (scripts/install-deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
shift || true
targets=()
for t in "$@"; do targets+=(--target "$t"); done
jobs=${AMBIT_JOBS:-2}
# ccache keyed on paths relative to the checkout, so a clone elsewhere (CI's clean clone) hits
# the same cache entries instead of rebuilding everything.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
case "$kind" in
  release) args=(-DCMAKE_BUILD_TYPE=Release) ;;
  test)    args=(-DCMAKE_BUILD_TYPE=Debug -DAMBIT_SANITIZE=ON) ;;
  fuzz)    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DAMBIT_FUZZ=ON
                 -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  *) echo "usage: $0 release|test|fuzz" >&2; exit 2 ;;
esac
cmake -S . -B "build/$kind" -G Ninja "${args[@]}" >/dev/null
cmake --build "build/$kind" -j"$jobs" "${targets[@]}"
