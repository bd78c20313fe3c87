#!/bin/sh
# run_train.sh: the training benchmarks, iron-learn beside PyTorch (CPU) and NumPy in one run.
# Builds the static library (Release) in build-bench, runs each workload with each
# implementation, and prints a markdown table of microseconds per step and ratios.
# Needs scripts/setup.sh --bench (python3-torch, python3-numpy from Debian).
# Usage: scripts/bench/run_train.sh
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-bench"
py=/usr/bin/python3 # Debian's interpreter, where python3-torch and python3-numpy live
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DIL_LUA=OFF -DIL_BUILD_TESTS=OFF \
  -DIL_BUILD_EXAMPLES=OFF -DIL_CUDA=OFF >/dev/null
cmake --build "$build" --target ironlearn_static -j 2 >/dev/null
${CC:-cc} -std=c11 -O2 -Wall -Wextra -I"$root/core/include" \
  "$root/scripts/bench/bench_train.c" -o "$build/bench_train" \
  "$build/core/libironlearn.a" -lpthread -lm
out="$build/train_results.jsonl"
: >"$out"
for w in xor mlp40k; do
  for t in 1 2; do
    "$build/bench_train" "$w" "$t" >>"$out"
    $py "$root/scripts/bench/train_torch.py" "$w" "$t" >>"$out"
  done
  $py "$root/scripts/bench/train_numpy.py" "$w" >>"$out"
done
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
$py "$root/scripts/bench/train_table.py" "$out"
