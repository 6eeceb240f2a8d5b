#!/usr/bin/env bash
# Installs what nfcc needs on a fresh Debian bookworm machine, and nothing twice.
# Idempotent: packages already present are skipped; safe to run before every command.
set -euo pipefail

PKGS=(
  clang-19 llvm-19-dev llvm-19-tools lld-19 libclang-19-dev   # compiler, inkwell's LLVM, bindgen's libclang
  libzstd-dev zlib1g-dev libz3-dev                            # LLVM's link deps, the solver
  libclang-rt-19-dev                                          # AddressSanitizer, the baseline of `nfcc bench`
  valgrind tcpdump                                            # exact counts, pcap inspection in tests
  libdpdk-dev pkg-config dpdk-dev                             # `nfcc run --dpdk` (DPDK 22.11), dpdk-testpmd
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The unversioned llvm-config on this image is LLVM 14; llvm-sys must see 19.
if [ ! -x /usr/lib/llvm-19/bin/llvm-config ]; then
  echo "setup: /usr/lib/llvm-19/bin/llvm-config missing after install" >&2
  exit 1
fi
