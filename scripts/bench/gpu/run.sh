#!/usr/bin/env bash
# run.sh: issue 9's GPU benchmark in one command, for the device machine (an H200, offline):
# builds the static library (CUDA on, sm_90, Release) in build-gpu, or reuses it when
# scripts/gpu_check.sh built it in the same call, compiles bench_gpu.c against it, then runs
#   bench_gpu                      iron-learn, each workload eager and graph, TF32 off and on
#   torch_peers.py                 PyTorch eager and CUDA-graph, and the machine's ceilings
#   bench_gpu --parity             CPU vs CUDA after 1 and 100 steps, against the CPU's own
#                                  rounding spread (PARITY=0 skips it)
#   products.py mlp474             each cuBLAS product of mlp474's step alone, and the weight
#                                  gradient split by rows (PRODUCTS=0 skips it)
# and prints table.py's markdown (ms/step, ratios, floors, counts, parity). Files under $OUT
# (default build-gpu/out; BUILD overrides build-gpu): ironlearn.jsonl, peers.jsonl,
# parity.jsonl, products.jsonl, table.md, and the logs. About 3 minutes on an H200
# (under 8 with a fresh build); every stage has a time limit.
# Without a GPU it prints a skip and exits 77. Exit: 0 when every stage ran and parity passed.
#
# Usage: OUT=/some/dir scripts/bench/gpu/run.sh [WORKLOAD...]
#   (device tool: command "OUT=$OUT bash scripts/bench/gpu/run.sh", carry ["build-gpudeps"])
#   WORKLOADS: xor mlp40k mlp474 siren65k (default all); PARITY_ROWS (default 20000): the
#   parity run trains on a subsample of at most that many points (see bench_gpu.c).
set -uo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root" || exit 1
OUT=${OUT:-$root/build-gpu/out}
mkdir -p "$OUT"
build=${BUILD:-$root/build-gpu}
here=$root/scripts/bench/gpu
# shellcheck source=scripts/gpu_env.sh
source "$root/scripts/gpu_env.sh"
gpu_present || { echo "run.sh: skipped: no GPU on this machine"; exit 77; }
note() { echo "run.sh: $*" | tee -a "$OUT/run.log" >&2; }
: >"$OUT/run.log"
status=0
work=("$@")
list=$(IFS=,; echo "${work[*]:-xor,mlp40k,mlp474,siren65k}")

# ---- build ------------------------------------------------------------------------------------
t0=$SECONDS
gpu_deps "$OUT" || exit 1
if ! gpu_build_lib "$build" >"$OUT/build.log" 2>&1; then
    note "library build failed (see build.log)"; exit 1
fi
if ! gpu_build_bench "$build" >>"$OUT/build.log" 2>&1; then
    note "bench_gpu.c does not compile or link (see build.log)"; exit 1
fi
note "built in $((SECONDS - t0)) s"

# ---- runs -------------------------------------------------------------------------------------
run() { # run NAME LIMIT OUTFILE CMD...: stdout to OUTFILE, stderr to NAME.log
    local name=$1 limit=$2 file=$3 t=$SECONDS
    shift 3
    timeout "$limit" "$@" >"$file" 2>"$OUT/$name.log"
    local rc=$?
    note "$name: exit $rc in $((SECONDS - t)) s"
    [[ $rc -eq 0 ]] || status=1
}
run ironlearn 200 "$OUT/ironlearn.jsonl" "$build/bench_gpu" --workloads "$list"
run peers 200 "$OUT/peers.jsonl" python3 "$here/torch_peers.py" "${work[@]}"
if [[ ${PARITY:-1} != 0 ]]; then
    run parity 300 "$OUT/parity.jsonl" "$build/bench_gpu" --parity --workloads "$list" \
        --parity-rows "${PARITY_ROWS:-20000}"
fi
if [[ ${PRODUCTS:-1} != 0 ]]; then
    run products 120 "$OUT/products.jsonl" python3 "$here/products.py" mlp474
fi

# ---- table ------------------------------------------------------------------------------------
files=("$OUT/ironlearn.jsonl" "$OUT/peers.jsonl")
for f in parity products; do [[ -f $OUT/$f.jsonl ]] && files+=("$OUT/$f.jsonl"); done
{
    echo "# iron-learn vs PyTorch, training steps on $(nvidia-smi --query-gpu=name \
        --format=csv,noheader 2>/dev/null | head -1), $(date -u +%Y-%m-%d)"
    echo
    python3 "$here/table.py" "${files[@]}" || status=1
} >"$OUT/table.md"
cat "$OUT/table.md"
note "total $((SECONDS - t0)) s, $([[ $status -eq 0 ]] && echo PASS || echo FAIL)"
exit $status
