#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds the mesh's programs (Release), and
# runs the local mesh demo (scripts/demo-run.sh). Root, Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh release istiod ztunnel ambit-agent ambit-cni ambitctl ambit-echo
exec ./scripts/demo-run.sh
