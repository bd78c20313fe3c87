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
ctest --test-dir build-asan --output-on-failure -j"$jobs"
