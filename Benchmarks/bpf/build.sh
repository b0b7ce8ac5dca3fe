#!/usr/bin/env bash
# Rebuilds the benchmark programs: ./build.sh (uses Scripts/bpf-cc.sh, so $CLANG or the toolchain's clang).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
for src in *.c; do
	../../Scripts/bpf-cc.sh "$src" "${src%.c}.o"
done
