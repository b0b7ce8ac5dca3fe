# Sourced by measure.sh and loader_parity.sh: builds kernel_verdicts.c (our libbpf loader) into
# OBJ_DIR/.tools when it is missing or older than its source, against OBJ_DIR/.libbpf (build.sh
# makes it) or the system's libbpf-dev, and prints its path.
build_kernel_verdicts() {
	local obj="$1" src
	src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kernel_verdicts.c"
	local loader="$obj/.tools/kernel_verdicts"
	mkdir -p "$obj/.tools"
	if [[ ! -x "$loader" || "$src" -nt "$loader" ]]; then
		if [[ -f "$obj/.libbpf/root/lib/libbpf.a" ]]; then
			cc -O2 -Wall -I"$obj/.libbpf/root/include" "$src" "$obj/.libbpf/root/lib/libbpf.a" -lelf -lz -o "$loader" >&2
		else
			cc -O2 -Wall "$src" -lbpf -o "$loader" >&2
		fi
	fi
	echo "$loader"
}
