#!/usr/bin/env bash
# Installs a built tree into a temporary prefix and checks the package from the outside: a
# consumer project through find_package(ironlearn) (shared, static, and the examples), the same
# main.c through pkg-config, and `require "il"` from a stock lua5.4.
#   scripts/install_check.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
jobs=$(nproc 2>/dev/null || echo 2)
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT

cmake --install "$build" --prefix "$prefix/usr" >/dev/null
p=$prefix/usr

cmake -S tests/consumer -B "$prefix/consumer" -DCMAKE_PREFIX_PATH="$p" \
      -DIL_EXAMPLES_DIR="$PWD/examples" >/dev/null
cmake --build "$prefix/consumer" -j"$jobs" >/dev/null
"$prefix/consumer/consumer_shared"
"$prefix/consumer/consumer_static"
for prog in xor embed_host; do
    if [[ -x "$prefix/consumer/$prog" ]]; then
        # The embedding host finds its script next to its source.
        # (Not `cmd && echo`: set -e ignores a failure on the left of &&.)
        if ! (cd examples/embed && "$prefix/consumer/$prog" >/dev/null); then
            echo "install_check: $prog failed" >&2
            exit 1
        fi
        echo "install_check: $prog ok"
    fi
done

libdir=$(dirname "$(find "$p" -name ironlearn.pc)")/..
export PKG_CONFIG_PATH=$libdir/pkgconfig
# shellcheck disable=SC2046 # word splitting of the flags is intended
cc -std=c11 -o "$prefix/consumer_pc" tests/consumer/main.c $(pkg-config --cflags --libs ironlearn) \
   -Wl,-rpath,"$(pkg-config --variable=libdir ironlearn)"
"$prefix/consumer_pc"

cmod=$(dirname "$(find "$p" -name il.so)")
lua5.4 -e "package.cpath='$cmod/?.so;'..package.cpath; local il = require 'il';
  assert(il.version); print('install_check: lua5.4 loads il ' .. il.version)"
"$p/bin/ilua" -e 'assert(il.version)'
echo "install_check: ok"
