#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds (Release), and shows what Ambit can
# do on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh release
exec ./scripts/demo-run.sh
