#!/usr/bin/env bash
# Builds ubpf_runner (our C, in this folder) against uBPF's interpreter compiled from a folder of
# uBPF's sources (github.com/iovisor/ubpf), with uBPF's own release flags (-O2).
#
#   Benchmarks/ubpf/build-runner.sh UBPF_SOURCE_DIR [OUTPUT_DIR]
#
# OUTPUT_DIR (default /tmp/ubpf-runner) receives the objects and the `ubpf_runner` executable; then
# `swift run -c release swiftbpf-bench interpreter --ubpf OUTPUT_DIR/ubpf_runner`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "${1:?usage: build-runner.sh UBPF_SOURCE_DIR [OUTPUT_DIR]}" && pwd)"
out="${2:-/tmp/ubpf-runner}"
mkdir -p "$out"
cc="${CC:-cc}"
# The header CMake would configure from vm/ubpf_config.h.inc: elf.h is present on Linux.
printf '#pragma once\n#define UBPF_HAS_ELF_H 1\n' > "$out/ubpf_config.h"
objects=()
for file in ubpf_instruction_valid.c ubpf_jit.c ubpf_jit_arm64.c ubpf_jit_support.c ubpf_jit_x86_64.c ubpf_loader.c ubpf_safe.c ubpf_vm.c; do
	[ -f "$src/vm/$file" ] || continue
	"$cc" -O2 -fPIC -I"$src/vm" -I"$src/vm/inc" -I"$out" -c "$src/vm/$file" -o "$out/${file%.c}.o"
	objects+=("$out/${file%.c}.o")
done
"$cc" -O2 -I"$src/vm/inc" -I"$out" "$here/ubpf_runner.c" "${objects[@]}" -lm -o "$out/ubpf_runner"
echo "$out/ubpf_runner"
