#!/usr/bin/env bash
# Installs every Debian 12 package that Ambit's build, tests, benchmarks and demo need, mounts
# bpffs and checks cgroup v2. Idempotent: packages already installed are skipped, mounts that
# exist are left alone. Run as root.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: must run as root (apt-get, mount)" >&2
  exit 1
fi

# One list, grouped by purpose, so a missing install step shows up on a fresh machine.
packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache git clang llvm lld
  libclang-rt-14-dev            # libFuzzer + sanitizer runtimes for clang
  # eBPF
  libbpf-dev bpftool libelf-dev zlib1g-dev
  # libraries
  libssl-dev openssl libgrpc++-dev libgrpc-dev protobuf-compiler-grpc protobuf-compiler
  libprotobuf-dev libnghttp2-dev libboost1.81-dev nlohmann-json3-dev libyaml-cpp-dev
  libcli11-dev libspdlog-dev libfmt-dev doctest-dev libabsl-dev
  libre2-dev                    # RE2: linear-time regexes (Gateway API validation, waypoint matching)
  libjemalloc-dev               # ztunnel's allocator in release builds
  # network plumbing used by the agent, the local mesh and the tests
  iproute2 iptables procps psmisc util-linux curl
  # independent test peers
  prometheus                    # promtool check metrics
  python3 python3-grpcio python3-protobuf python3-h2 python3-yaml
  nghttp2-client stunnel4
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # prometheus would start a server from its postinst; we only want promtool.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#packages[@]} packages present"
fi

# bpffs: the agent pins maps and links under /sys/fs/bpf/ambit.
if ! mount | grep -q ' on /sys/fs/bpf type bpf'; then
  echo "install-deps: mounting bpffs on /sys/fs/bpf"
  mkdir -p /sys/fs/bpf
  mount -t bpf bpf /sys/fs/bpf
fi

# cgroup v2: pure (/sys/fs/cgroup) or hybrid (/sys/fs/cgroup/unified). Mount the hybrid one if
# neither exists; the eBPF capture attaches to a cgroup v2 hierarchy.
if ! mount | grep -q 'type cgroup2'; then
  if [[ -d /sys/fs/cgroup/unified ]]; then
    mount -t cgroup2 none /sys/fs/cgroup/unified
  else
    echo "install-deps: no cgroup v2 hierarchy mounted and /sys/fs/cgroup/unified missing" >&2
    exit 1
  fi
fi
echo "install-deps: cgroup v2 at $(mount | awk '$5=="cgroup2"{print $3; exit}')"
