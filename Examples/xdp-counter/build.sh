#!/usr/bin/env bash
# Builds xdp_counter.o from xdp_counter.c with the fixtures' header (see Scripts/bpf-cc.sh).
#   ./build.sh                 # uses `clang` from PATH (or the Swift toolchain's)
#   CLANG=/path/to/clang ./build.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
../../Scripts/bpf-cc.sh xdp_counter.c xdp_counter.o
echo "built $here/xdp_counter.o"
