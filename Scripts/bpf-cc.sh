#!/usr/bin/env bash
# Compiles one eBPF C file the way every object in this repository is built:
#   Scripts/bpf-cc.sh SOURCE.c OUTPUT.o [extra clang flags...]
# Uses $CLANG, else `clang` from PATH, else the Swift toolchain's (it has the BPF target).
# -fdebug-prefix-map keeps the checkout path out of the DWARF, so rebuilds elsewhere give the same bytes.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: bpf-cc.sh SOURCE.c OUTPUT.o [clang flags...]" >&2; exit 2; }
src="$1"; out="$2"; shift 2
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

CLANG="${CLANG:-clang}"
if ! command -v "$CLANG" >/dev/null 2>&1; then
	if [[ "$CLANG" == clang && -x /opt/swift/usr/bin/clang ]]; then
		CLANG=/opt/swift/usr/bin/clang
	else
		echo "bpf-cc.sh: clang not found (set CLANG=/path/to/clang)" >&2
		exit 1
	fi
fi

dir="$(cd "$(dirname "$src")" && pwd)"
cd "$dir"
"$CLANG" -O2 -g -target bpf -mcpu=v3 -I "$repo/Tests/Fixtures/bpf/include" -Wall -Werror \
	"-fdebug-prefix-map=$dir=." -fdebug-prefix-map="$repo/Tests/Fixtures/bpf/include=include" "$@" \
	-c "$(basename "$src")" -o "$OLDPWD/$out"
