#!/usr/bin/env bash
# Sets up, builds and runs every test: the Release build, then the same suite built with
# AddressSanitizer and UndefinedBehaviorSanitizer. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

scripts/setup.sh

echo "== Release build and tests"
scripts/build.sh build
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== ASan + UBSan build and tests"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIL_SANITIZE=ON
# Tests ask for impossible sizes on purpose: ASan must return NULL there, not abort.
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1
ctest --test-dir build-asan --output-on-failure -j"$jobs"
