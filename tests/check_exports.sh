#!/bin/sh
# Checks that the shared library exports the public il_* API and nothing else (the version script
# core/ironlearn.map): anything else would be ABI we never meant to promise.
#   tests/check_exports.sh path/to/libironlearn.so
set -eu
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '{print $NF}')
[ -n "$syms" ] || { echo "check_exports: $lib exports nothing" >&2; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -v '^il_' || true)
if [ -n "$bad" ]; then
    echo "check_exports: $lib exports symbols outside il_*:" >&2
    printf '%s\n' "$bad" >&2
    exit 1
fi
printf '%s\n' "$syms" | grep -qx 'il_version' || { echo "check_exports: il_version missing" >&2; exit 1; }
echo "check_exports: $(printf '%s\n' "$syms" | wc -l) il_* symbols, nothing else"
