#!/bin/sh
# run_matmul.sh: builds the static library (Release) in build-bench and the matmul benchmark
# against OpenBLAS (Debian's libopenblas-pthread-dev, found with pkg-config), then runs it.
# The benchmark prints a markdown table; paste it into docs/benchmarks.md.
# Usage: scripts/bench/run_matmul.sh [rounds]    (from anywhere; default 5 rounds)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DIL_LUA=OFF -DIL_BUILD_TESTS=OFF \
  -DIL_BUILD_EXAMPLES=OFF -DIL_CUDA=OFF >/dev/null
cmake --build "$build" --target ironlearn_static -j 2 >/dev/null
blas_cflags=$(pkg-config --cflags openblas)
blas_libs=$(pkg-config --libs openblas)
# shellcheck disable=SC2086 # the pkg-config flags are word lists
${CC:-cc} -std=c11 -O2 -Wall -Wextra -I"$root/core" -I"$root/core/include" $blas_cflags \
  "$root/scripts/bench/bench_matmul.c" -o "$build/bench_matmul" \
  "$build/core/libironlearn.a" $blas_libs -lpthread -lm
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
exec "$build/bench_matmul" "${1:-5}"
