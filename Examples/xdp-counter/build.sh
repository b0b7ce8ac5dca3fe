#!/usr/bin/env bash
# Builds xdp_counter.o from xdp_counter.c with the fixtures' header.
#   ./build.sh                 # uses `clang` from PATH (or the Swift toolchain's)
#   CLANG=/path/to/clang ./build.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

CLANG="${CLANG:-clang}"
if ! command -v "$CLANG" >/dev/null 2>&1; then
	if [[ "$CLANG" == clang && -x /opt/swift/usr/bin/clang ]]; then
		CLANG=/opt/swift/usr/bin/clang
	else
		echo "build.sh: clang not found (set CLANG=/path/to/clang)" >&2
		exit 1
	fi
fi

"$CLANG" -O2 -g -target bpf -mcpu=v3 -I ../../Tests/Fixtures/bpf/include \
	-Wall -Werror "-fdebug-prefix-map=$here=." \
	-c xdp_counter.c -o xdp_counter.o
echo "built $here/xdp_counter.o"
