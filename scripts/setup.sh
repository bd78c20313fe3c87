#!/usr/bin/env bash
# Installs, from Debian's packages, whatever the build and the tests need and is missing.
#   scripts/setup.sh          build + test dependencies
#   scripts/setup.sh --bench  also the benchmark peers (OpenBLAS, PyTorch, NumPy)
set -euo pipefail

pkgs=(build-essential cmake pkg-config liblua5.4-dev lua5.4 libcmocka-dev libcjson-dev lua-busted libstb-dev gnuplot-nox luarocks)
if [[ "${1:-}" == "--bench" ]]; then
    pkgs+=(libopenblas-dev python3-numpy python3-torch)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "setup: all ${#pkgs[@]} packages present"
    exit 0
fi

sudo=()
[[ $(id -u) -ne 0 ]] && sudo=(sudo)
echo "setup: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
echo "setup: done"
