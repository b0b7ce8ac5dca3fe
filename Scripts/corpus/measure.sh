#!/usr/bin/env bash
# Measures a swiftbpf binary on the corpus built by build.sh: the kernel's verdict, ours, and
# whether the runtime runs each XDP/TC program on a test frame (see measure.py).
#
#   Scripts/corpus/measure.sh OBJ_DIR [SWIFTBPF_BINARY] [measure.py options: --out DIR,
#                             --projects P..., --refresh-kernel, --verify-timeout S]
#
# SWIFTBPF_BINARY defaults to this checkout's .build/debug/swiftbpf. Results: OBJ_DIR/results/
# corpus.jsonl and summary.md (--out DIR elsewhere). Needs root on Linux (the kernel's verdicts),
# python3, cc, libelf-dev and zlib, and libbpf >= 1.0: OBJ_DIR/.libbpf (build.sh makes it from
# SRC_DIR/libbpf) or the system's libbpf-dev. The kernel's verdicts are cached per object
# (OBJ_DIR/<project>/*.kernel.jsonl) and reused when only the swiftbpf binary changes.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: measure.sh OBJ_DIR [SWIFTBPF_BINARY] [options]" >&2; exit 2; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
obj="$(cd "$1" && pwd)"; shift
swiftbpf="$here/../../.build/debug/swiftbpf"
if [[ $# -ge 1 && "$1" != --* ]]; then swiftbpf="$1"; shift; fi
[[ -x "$swiftbpf" ]] || { echo "measure.sh: no swiftbpf binary at $swiftbpf (swift build --product swiftbpf)" >&2; exit 1; }

# shellcheck source=kernel_verdicts.sh
source "$here/kernel_verdicts.sh"
loader="$(build_kernel_verdicts "$obj")"
exec python3 "$here/measure.py" "$obj" "$swiftbpf" --loader "$loader" "$@"
