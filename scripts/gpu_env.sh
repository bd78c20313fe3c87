# shellcheck shell=bash disable=SC2154
# gpu_env.sh: sourced (bash) by scripts/gpu_check.sh and scripts/bench/gpu/run.sh, the
# commands for the offline GPU machine. Defines:
#   gpu_present          0 when nvidia-smi lists a GPU; else prints why to stderr, returns 1
#   gpu_deps LOGDIR      finds the C dependencies and fills gpu_opts (CMake options for
#                        build-gpu: CUDA on, sm_90, Release, tests, Lua as available);
#                        returns 1 when the library cannot be built (no cJSON)
#   gpu_build_lib BUILD  configures BUILD with gpu_opts unless it is already configured that
#                        way (e.g. by gpu_check.sh in the same call), then builds the static
#                        library only
# Dependencies: apt when it works (it usually cannot: no network), else the pack
# build-gpudeps/ made by scripts/gpu_deps.sh and carried with the device call, else the cmocka
# tests or ilua are left out. Messages go through the caller's note() when it has one.
# Needs $root (the repository root) set before sourcing.
export PATH=/usr/local/cuda/bin:$PATH

gpu_note() { if declare -F note >/dev/null; then note "$@"; else echo "$*" >&2; fi; }

gpu_present() {
    if ! command -v nvidia-smi >/dev/null; then
        echo "no GPU: nvidia-smi is not on PATH" >&2
        return 1
    fi
    if ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
        echo "no GPU: nvidia-smi lists none ($(nvidia-smi -L 2>&1 | head -1))" >&2
        return 1
    fi
}

_gpu_have() { pkg-config --exists "$1" 2>/dev/null; }
_gpu_havestb() { [[ -f /usr/include/stb/stb_image.h || -f /usr/local/include/stb/stb_image.h ]]; }
_gpu_alldeps() { _gpu_have libcjson && _gpu_have cmocka && _gpu_have lua5.4 && _gpu_havestb; }

gpu_deps() {
    local logdir=$1 stbdir=()
    if ! _gpu_alldeps; then
        timeout 60 apt-get install -y -qq libcjson-dev libstb-dev libcmocka-dev liblua5.4-dev \
            >"$logdir/apt.log" 2>&1 || true
    fi
    if ! _gpu_alldeps && [[ -d $root/build-gpudeps ]]; then
        local deps=$root/build-gpudeps pc
        for pc in "$deps"/lib/pkgconfig/*.pc; do sed -i "s|@PREFIX@|$deps|" "$pc"; done
        export PKG_CONFIG_PATH=$deps/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
        export LD_LIBRARY_PATH=$deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
        _gpu_havestb || stbdir=(-DIL_STB_INCLUDE_DIR="$deps/include")
        gpu_note "deps: using the carried pack build-gpudeps/"
    fi
    _gpu_have libcjson || { gpu_note "deps: no cJSON: the library cannot be built"; return 1; }
    gpu_opts=(-DIL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release
        "${stbdir[@]}" -DIL_BUILD_TESTS=ON)
    if ! _gpu_have cmocka; then
        gpu_opts+=(-DIL_TESTS_CUDA_ONLY=ON)
        gpu_note "deps: no cmocka: CUDA tests only"
    fi
    if _gpu_have lua5.4; then gpu_opts+=(-DIL_LUA=ON)
    else gpu_opts+=(-DIL_LUA=OFF); gpu_note "deps: no Lua 5.4: no ilua"; fi
    command -v ninja >/dev/null && gpu_opts+=(-G Ninja)
    return 0
}

gpu_build_lib() {
    local build=$1 cache=$1/CMakeCache.txt
    if ! { [[ -f $cache ]] && grep -q '^IL_CUDA:.*=ON$' "$cache" &&
        grep -q '^CMAKE_CUDA_ARCHITECTURES:.*=90$' "$cache" &&
        grep -q '^CMAKE_BUILD_TYPE:.*=Release$' "$cache"; }; then
        rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"
        cmake -S "$root" -B "$build" "${gpu_opts[@]}" || return 1
    fi
    cmake --build "$build" --target ironlearn_static -j"$(nproc 2>/dev/null || echo 8)"
}

# gpu_build_bench BUILD: compiles scripts/bench/gpu/{bench_gpu,parity}.c against BUILD's static library
# (built with CUDA, as gpu_build_lib leaves it) into BUILD/bench_gpu.
gpu_build_bench() {
    local build=$1 cuda_lib=/usr/local/cuda/lib64
    cc -std=c11 -O2 -Wall -I"$root/core" -I"$root/core/include" \
        "$root/scripts/bench/gpu/bench_gpu.c" "$root/scripts/bench/gpu/parity.c" \
        -o "$build/bench_gpu" "$build/core/libironlearn.a" \
        -L"$cuda_lib" -lcudart_static -lcublas -lcublasLt -lpthread -ldl -lrt -lm \
        -Wl,-rpath,"$cuda_lib"
}
