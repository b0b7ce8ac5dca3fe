#!/usr/bin/env bash
# Rebuilds the kernel loader's fixtures: pin_by_name.o, kfuncs.o, struct_ops_bad.o, usdt.o (usdt_probes.c, the host
# program it traces, is built by the tests), and core_task.o (the CO-RE fixture) and tcp_cc.o (a BPF TCP congestion
# control, struct_ops) against a vmlinux.h generated from the running kernel's
# BTF by our own `swiftbpf btf dump /sys/kernel/btf/vmlinux --format c`. The header (several MB) is
# written to a temporary directory and never committed.
#
#   ./build.sh                         # runs `swift run swiftbpf` from the repository
#   SWIFTBPF=/path/to/swiftbpf ./build.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [[ -n "${SWIFTBPF:-}" ]]; then
	"$SWIFTBPF" btf dump /sys/kernel/btf/vmlinux --format c > "$tmp/vmlinux.h"
else
	(cd "$repo" && swift run -q swiftbpf btf dump /sys/kernel/btf/vmlinux --format c) > "$tmp/vmlinux.h"
fi
echo "  GEN $tmp/vmlinux.h ($(wc -c < "$tmp/vmlinux.h") bytes)"
cd "$here"
"$repo/Scripts/bpf-cc.sh" core_task.c core_task.o -I "$tmp" "-fdebug-prefix-map=$tmp=vmlinux"
echo "  CC  core_task.c -> core_task.o"
"$repo/Scripts/bpf-cc.sh" tcp_cc.c tcp_cc.o -I "$tmp" "-fdebug-prefix-map=$tmp=vmlinux"
echo "  CC  tcp_cc.c -> tcp_cc.o"
"$repo/Scripts/bpf-cc.sh" struct_ops_bad.c struct_ops_bad.o
echo "  CC  struct_ops_bad.c -> struct_ops_bad.o"
"$repo/Scripts/bpf-cc.sh" pin_by_name.c pin_by_name.o
echo "  CC  pin_by_name.c -> pin_by_name.o"
"$repo/Scripts/bpf-cc.sh" kfuncs.c kfuncs.o
echo "  CC  kfuncs.c -> kfuncs.o"
"$repo/Scripts/bpf-cc.sh" usdt.c usdt.o
echo "  CC  usdt.c -> usdt.o"
