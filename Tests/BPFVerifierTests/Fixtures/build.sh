#!/usr/bin/env bash
# Rebuilds the verifier's C fixtures (NAME.c -> NAME.o) with Scripts/bpf-cc.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
for src in *.c; do
	echo "  CC  $src -> ${src%.c}.o"
	../../../Scripts/bpf-cc.sh "$src" "${src%.c}.o"
done
# Objects for older loaders (legacy/): kept apart from the fixtures every verifier and kernel
# test loads, since some of their programs have no type the kernel could load them as.
for src in legacy/*.c; do
	echo "  CC  $src -> ${src%.c}.o"
	../../../Scripts/bpf-cc.sh "$src" "${src%.c}.o"
done
# Arena programs (arena/): verified, but not run by the runtime (it has no arena maps).
for src in arena/*.c; do
	echo "  CC  $src -> ${src%.c}.o"
	../../../Scripts/bpf-cc.sh "$src" "${src%.c}.o"
done
# BTF-typed programs (typed/btf_pointers.c) and the stand-in kernel whose BTF types them
# (typed/kernel_types.c): verified only against that BTF, so kept apart too.
for src in typed/*.c; do
	echo "  CC  $src -> ${src%.c}.o"
	../../../Scripts/bpf-cc.sh "$src" "${src%.c}.o"
done
# typed/kernel/*.c are built against the running kernel's types: a vmlinux.h our own
# `swiftbpf btf dump` generates (set SWIFTBPF, or it runs `swift run swiftbpf`), never committed.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [[ -n "${SWIFTBPF:-}" ]]; then
	"$SWIFTBPF" btf dump /sys/kernel/btf/vmlinux --format c > "$tmp/vmlinux.h"
else
	(cd ../../.. && swift run -q swiftbpf btf dump /sys/kernel/btf/vmlinux --format c) > "$tmp/vmlinux.h"
fi
for src in typed/kernel/*.c; do
	echo "  CC  $src -> ${src%.c}.o"
	../../../Scripts/bpf-cc.sh "$src" "${src%.c}.o" -I "$tmp" "-fdebug-prefix-map=$tmp=vmlinux"
done
