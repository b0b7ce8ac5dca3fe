#!/usr/bin/env bash
# Compares SwiftBPF's kernel loader with libbpf, program by program: the same outcome, and for the
# programs both load the same kernel tag (identical relocated instructions) and expected attach
# type (see loader_parity.py).
#
#   Scripts/corpus/loader_parity.sh OBJ_DIR [SWIFTBPF_BINARY] [loader_parity.py options:
#                                   --projects P... (default bcc), --out DIR, --refresh]
#
# SWIFTBPF_BINARY defaults to this checkout's .build/debug/swiftbpf. Results: OBJ_DIR/results/
# loader-parity.jsonl and loader-parity.md. Needs root on Linux, python3, cc, libelf-dev and zlib,
# and libbpf >= 1.0 (OBJ_DIR/.libbpf from build.sh, or the system's libbpf-dev).
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: loader_parity.sh OBJ_DIR [SWIFTBPF_BINARY] [options]" >&2; exit 2; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
obj="$(cd "$1" && pwd)"; shift
swiftbpf="$here/../../.build/debug/swiftbpf"
if [[ $# -ge 1 && "$1" != --* ]]; then swiftbpf="$1"; shift; fi
[[ -x "$swiftbpf" ]] || { echo "loader_parity.sh: no swiftbpf binary at $swiftbpf (swift build --product swiftbpf)" >&2; exit 1; }
# shellcheck source=kernel_verdicts.sh
source "$here/kernel_verdicts.sh"
loader="$(build_kernel_verdicts "$obj")"
exec python3 "$here/loader_parity.py" "$obj" "$swiftbpf" --loader "$loader" "$@"
