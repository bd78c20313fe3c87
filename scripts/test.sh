#!/usr/bin/env bash
# Sets up, builds and runs every test: the Release build, an install of it into a temporary
# prefix consumed from outside, the threaded tests under ThreadSanitizer, then the whole suite
# built with AddressSanitizer and UndefinedBehaviorSanitizer. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

scripts/setup.sh

echo "== Release build and tests"
scripts/build.sh build
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== Install into a temporary prefix and consume the package (CMake, pkg-config, lua5.4)"
scripts/install_check.sh build

echo "== LuaRocks: luarocks make, then require \"il\" from lua5.4"
scripts/rock_check.sh

echo "== ThreadSanitizer: two contexts and two lua_States in threads, the thread pool"
# Only the threaded tests (about 10 s to build): a full TSan suite would double CI time.
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIL_TSAN=ON -DIL_CUDA=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target test_threads test_threadpool
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure -R '^test_thread'

echo "== ASan + UBSan build and tests"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIL_SANITIZE=ON
# Tests ask for impossible sizes on purpose: ASan must return NULL there, not abort.
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1
ctest --test-dir build-asan --output-on-failure -j"$jobs"
