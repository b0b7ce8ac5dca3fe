#!/usr/bin/env bash
# Rebuilds every eBPF C fixture in src/ into obj/NAME.o and checks that each
# object carries the ELF sections a SwiftBPF loader relies on.
#
#   ./build.sh                 # uses `clang` from PATH (or the Swift toolchain's)
#   CLANG=/path/to/clang ./build.sh
#
# The clang bundled with the Swift toolchain has the BPF target built in.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

CLANG="${CLANG:-clang}"
command -v "$CLANG" >/dev/null 2>&1 || CLANG=/opt/swift/usr/bin/clang   # for the section check below

mkdir -p obj
shopt -s nullglob
sources=(src/*.c)
if ((${#sources[@]} == 0)); then
	echo "build.sh: no sources in src/" >&2
	exit 1
fi

for src in "${sources[@]}"; do
	name="$(basename "$src" .c)"
	echo "  CC  $src -> obj/$name.o"
	../../../Scripts/bpf-cc.sh "$src" "obj/$name.o"
done

# ---------------------------------------------------------------------------
# Section check. Prefer llvm-objdump (next to clang, then PATH), then readelf,
# then a small Python ELF reader.
# ---------------------------------------------------------------------------
section_names() {
	local obj="$1" tool
	for tool in "$(dirname "$(command -v "$CLANG")")/llvm-objdump" llvm-objdump; do
		if command -v "$tool" >/dev/null 2>&1; then
			"$tool" -h "$obj" | awk '$1 ~ /^[0-9]+$/ && NF >= 2 { print $2 }'
			return
		fi
	done
	if command -v readelf >/dev/null 2>&1; then
		readelf -SW "$obj" | sed -n 's/^ *\[ *[0-9]*\] \([^ ]*\) .*/\1/p'
		return
	fi
	python3 - "$obj" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
shoff, = struct.unpack_from("<Q", d, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
def sh(i):
    return struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize)
stroff = sh(shstrndx)[4]
for i in range(1, shnum):
    n = sh(i)[0]
    print(d[stroff + n:d.index(b"\0", stroff + n)].decode())
PY
}

status=0
for src in "${sources[@]}"; do
	name="$(basename "$src" .c)"
	obj="obj/$name.o"
	mapfile -t secs < <(section_names "$obj")
	# (no `printf | grep -q`: with pipefail, grep's early exit can fail printf with SIGPIPE)
	have() { local x; for x in "${secs[@]}"; do [[ "$x" == "$1" ]] && return 0; done; return 1; }

	missing=()
	for s in .BTF .BTF.ext license; do
		have "$s" || missing+=("$s")
	done
	if grep -q 'SEC("\.maps")' "$src"; then
		have .maps || missing+=(.maps)
	fi
	# Program sections: every SEC("...") used on a function, minus data ones.
	progs=()
	while IFS= read -r s; do
		case "$s" in
			.maps|license|version|maps|.data*|.rodata*|.bss*|.kconfig) ;;
			*) progs+=("$s"); have "$s" || missing+=("$s") ;;
		esac
	done < <(grep -o 'SEC("[^"]*")' "$src" | sed 's/^SEC("\(.*\)")$/\1/' | sort -u)
	if ((${#progs[@]} == 0)); then
		missing+=("<any program section>")
	fi

	if ((${#missing[@]})); then
		echo "FAIL $obj: missing ${missing[*]}" >&2
		status=1
	else
		echo "  OK  $obj: ${progs[*]}"
	fi
done
exit $status
