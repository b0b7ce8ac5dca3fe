#!/usr/bin/env bash
# Builds the BPF objects of public eBPF projects (the real-world corpus) from a folder of their
# sources, for measure.sh. Nothing here or in the outputs belongs in this repository.
#
#   Scripts/corpus/build.sh SRC_DIR OUT_DIR
#
# SRC_DIR holds one folder per project (any that is missing is skipped, saying so):
#   SRC_DIR/cilium/bpf/             cilium/cilium's bpf/ folder
#   SRC_DIR/katran/katran/lib/bpf/  facebookincubator/katran (katran/lib/bpf, katran/lib/linux_includes,
#                                   katran/decap/bpf)
#   SRC_DIR/xdp-tools/              xdp-project/xdp-tools
#   SRC_DIR/bcc/libbpf-tools/       iovisor/bcc's libbpf-tools/
#   SRC_DIR/linux/                  a kernel source tree (samples/bpf, tools/testing/selftests/bpf,
#                                   tools/include, include/uapi) — e.g. Debian's linux-source-6.12
#   SRC_DIR/libbpf/                 libbpf/libbpf (optional): its headers (bpf_helpers.h, ...) and a
#                                   static libbpf.a for measure.sh's loader are built from it into
#                                   OUT_DIR/.libbpf; without it the system's libbpf-dev is used
#                                   (apt-get install libbpf-dev; 1.1 is too old for some projects).
# Objects go to OUT_DIR/<project>/*.o; OUT_DIR/<project>/skipped.txt lists what did not build and
# why (the compiler's first error), and a summary is printed at the end.
#
# Needs: clang with the BPF target ($CLANG, else clang on PATH, else the Swift toolchain's
# /opt/swift/usr/bin/clang); a vmlinux.h, made from /sys/kernel/btf/vmlinux by our own
# `swiftbpf btf dump --format c` ($SWIFTBPF, else .build/debug/swiftbpf of this checkout) or by
# bpftool; kernel UAPI headers in /usr/include (linux-libc-dev); make, cc, libelf-dev and zlib to
# build libbpf from SRC_DIR/libbpf. Environment: JOBS (parallel compiles, default and at most 2),
# PROJECTS (a subset, e.g. "cilium katran").
set -uo pipefail
[[ $# -eq 2 ]] || { echo "usage: build.sh SRC_DIR OUT_DIR" >&2; exit 2; }
SRC="$(cd "$1" && pwd)" || exit 2
mkdir -p "$2" && OUT="$(cd "$2" && pwd)"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
JOBS="${JOBS:-2}"; (( JOBS > 2 )) && JOBS=2
PROJECTS="${PROJECTS:-cilium katran xdp-tools bcc linux-samples linux-selftests}"

CLANG="${CLANG:-clang}"
if ! command -v "$CLANG" >/dev/null 2>&1; then
	if [[ "$CLANG" == clang && -x /opt/swift/usr/bin/clang ]]; then CLANG=/opt/swift/usr/bin/clang
	else echo "build.sh: clang not found (set CLANG=/path/to/clang)" >&2; exit 1; fi
fi
echo "clang: $CLANG ($("$CLANG" --version | head -n1))"

# Shared include folder: vmlinux.h and the libbpf headers (bpf/bpf_helpers.h, ...).
INC="$OUT/include"
mkdir -p "$INC"
if [[ ! -s "$INC/vmlinux.h" ]]; then
	SWIFTBPF="${SWIFTBPF:-$repo/.build/debug/swiftbpf}"
	if [[ -x "$SWIFTBPF" ]] && "$SWIFTBPF" btf dump --format c /sys/kernel/btf/vmlinux > "$INC/vmlinux.h.tmp" 2>/dev/null; then
		echo "vmlinux.h: from /sys/kernel/btf/vmlinux by $SWIFTBPF btf dump --format c"
	elif command -v bpftool >/dev/null && bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$INC/vmlinux.h.tmp"; then
		echo "vmlinux.h: from /sys/kernel/btf/vmlinux by bpftool"
	else
		echo "build.sh: cannot make vmlinux.h (build swiftbpf or install bpftool)" >&2; exit 1
	fi
	mv "$INC/vmlinux.h.tmp" "$INC/vmlinux.h"
fi
LIBBPF_ROOT="$OUT/.libbpf/root"
if [[ -d "$SRC/libbpf/src" && ! -f "$LIBBPF_ROOT/lib/libbpf.a" ]]; then
	echo "libbpf: building $SRC/libbpf/src (static) into $OUT/.libbpf"
	make -s -C "$SRC/libbpf/src" -j"$JOBS" BUILD_STATIC_ONLY=1 OBJDIR="$OUT/.libbpf/build" \
		DESTDIR="$OUT/.libbpf/root" PREFIX=/ LIBDIR=/lib install >/dev/null \
		|| { echo "build.sh: libbpf did not build" >&2; exit 1; }
fi
if [[ -f "$LIBBPF_ROOT/include/bpf/bpf_helpers.h" ]]; then
	LIBBPF_INC="$LIBBPF_ROOT/include"
	ver="$(grep -oE '^LIBBPF_[0-9.]+' "$SRC/libbpf/src/libbpf.map" 2>/dev/null | sort -rV | head -n1 | cut -d_ -f2)"
	echo "libbpf headers: $LIBBPF_INC (libbpf ${ver:-of unknown version})"
elif [[ -f /usr/include/bpf/bpf_helpers.h ]]; then
	LIBBPF_INC=/usr/include
	echo "libbpf headers: /usr/include/bpf (libbpf-dev)"
else
	echo "build.sh: no libbpf headers: give SRC_DIR/libbpf or apt-get install libbpf-dev" >&2; exit 1
fi
# clang -target bpf does not search the host's multiarch folder, where asm/types.h lives.
SYSINC=()
multiarch="$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)"
[[ -d /usr/include/$multiarch ]] && SYSINC=(-idirafter "/usr/include/$multiarch")
SYSINC+=(-idirafter /usr/include)
# glibc's gnu/stubs.h picks stubs-32.h when __x86_64__ is not defined, as under -target bpf: an
# empty one lets the projects that include libc headers (katran, xdp-tools) compile.
mkdir -p "$INC/sysstubs/gnu"; : > "$INC/sysstubs/gnu/stubs-32.h"
SYSINC+=(-idirafter "$INC/sysstubs")

# One compile job per line: PROJECT \t OUTPUT \t DIR \t SOURCE \t FLAGS (space separated).
JOBLIST="$OUT/.jobs"
: > "$JOBLIST"
job() { # project out dir source flags...
	local project="$1" out="$2" dir="$3" source="$4"; shift 4
	printf '%s\t%s\t%s\t%s\t%s\n' "$project" "$out" "$dir" "$source" "$*" >> "$JOBLIST"
}
skip() { # project what why
	mkdir -p "$OUT/$1"; printf '%s: %s\n' "$2" "$3" >> "$OUT/$1/skipped.txt"
}
wants() { [[ " $PROJECTS " == *" $1 "* ]]; }
missing() { echo "skipped $1: $2 not found"; }

# cilium: the Makefile's default build (`make` in bpf/, KERNEL=netnext): each program with its
# MAX_*_OPTIONS set, the BPF_SIMPLE objects with BPF_SIMPLE_OPTIONS.
if wants cilium; then
	d="$SRC/cilium/bpf"
	if [[ -f "$d/Makefile" ]]; then
		rm -rf "$OUT/cilium"; mkdir -p "$OUT/cilium"
		base=(-I"$d/include" -I"$d" -D__NR_CPUS__="$(nproc --all)" -O2 -g --target=bpf -std=gnu89 -nostdinc
			-Wall -Wextra -Wshadow -Wno-address-of-packed-member -Wno-unknown-warning-option
			-Wno-gnu-variable-sized-type-not-at-end -Wdeclaration-after-statement -Wimplicit-int-conversion
			-Wenum-conversion -Wimplicit-fallthrough -mcpu=v3
			# clang 21 outlines cold blocks of cilium's big programs into <fn>.cold.N functions in
			# the program's own section; libbpf takes subprograms only from .text, so keep them inline.
			-mllvm -hotcoldsplit-threshold=1000000)
		max_base=(-DSKIP_DEBUG=1 -DENABLE_IPV4=1 -DENABLE_IPV6=1 -DENABLE_ROUTING=1 -DPOLICY_VERDICT_NOTIFY=1
			-DALLOW_ICMP_FRAG_NEEDED=1 -DENABLE_IDENTITY_MARK=1 -DMONITOR_AGGREGATION=3 -DCT_REPORT_FLAGS=0x0002
			-DENABLE_HOST_FIREWALL=1 -DENABLE_ICMP_RULE=1 -DENABLE_CUSTOM_CALLS=1 -DENABLE_SRV6=1 -DENABLE_L7_LB=1
			-DENABLE_MASQUERADE_IPV4=1 -DENABLE_MASQUERADE_IPV6=1 -DENABLE_SRC_RANGE_CHECK=1 -DENABLE_NODEPORT=1
			-DENABLE_NODEPORT_ACCELERATION=1 -DENABLE_SESSION_AFFINITY=1 -DENABLE_DSR_ICMP_ERRORS=1 -DENABLE_DSR=1
			-DENABLE_DSR_HYBRID=1 -DENABLE_IPV4_FRAGMENTS=1 -DENABLE_BANDWIDTH_MANAGER=1 -DENABLE_EGRESS_GATEWAY=1
			-DENABLE_VTEP=1 -DENABLE_TPROXY=1 -DENABLE_HOST_ROUTING=1 -DETH_HLEN=0)
		declare -A extra=(
			[bpf_lxc]="-DENCAP_IFINDEX=1 -DTUNNEL_MODE=1 -DENABLE_IPSEC=1"
			[bpf_host]="-DENCAP_IFINDEX=1 -DTUNNEL_MODE=1 -DENABLE_IPSEC=1 -DENABLE_WIREGUARD=1 -DENCRYPTION_STRICT_MODE=1 -DENABLE_HIGH_SCALE_IPCACHE=1"
			[bpf_overlay]="-DENCAP_IFINDEX=1 -DTUNNEL_MODE=1 -DENABLE_MULTICAST=1 -DLB_SELECTION=1 -DLB_SELECTION_MAGLEV=1 -DENABLE_IPSEC=1 -DENABLE_HIGH_SCALE_IPCACHE=1"
			[bpf_sock]="-DENABLE_NAT_46X64=1 -DENABLE_NAT_46X64_GATEWAY=1 -DENCAP_IFINDEX=1 -DTUNNEL_MODE=1 -DLB_SELECTION=1 -DLB_SELECTION_MAGLEV=1 -DENABLE_IPSEC=1"
			[bpf_wireguard]="-DENCAP_IFINDEX=1 -DTUNNEL_MODE=1 -DENABLE_WIREGUARD=1 -DENCRYPTION_STRICT_MODE=1 -DENABLE_HIGH_SCALE_IPCACHE=1"
			[bpf_xdp]="-DENABLE_PREFILTER=1 -DLB_SELECTION=1 -DLB_SELECTION_MAGLEV=1"
		)
		for prog in bpf_lxc bpf_host bpf_overlay bpf_sock bpf_wireguard bpf_xdp; do
			if [[ -f "$d/$prog.c" ]]; then job cilium "$prog.o" "$d" "$prog.c" "${max_base[*]} ${extra[$prog]} ${base[*]}"
			else skip cilium "$prog.c" "not in this version"; fi
		done
		for prog in bpf_network bpf_alignchecker; do
			[[ -f "$d/$prog.c" ]] && job cilium "$prog.o" "$d" "$prog.c" "-DENABLE_IPV4=1 -DENABLE_IPV6=1 -DENABLE_IPSEC=1 ${base[*]}"
		done
	else missing cilium "$d/Makefile"; fi
fi

# katran: katran/lib/Makefile-bpf (its own linux_includes, -D__KERNEL__, the source root on the path).
if wants katran; then
	d="$SRC/katran"
	if [[ -d "$d/katran/lib/bpf" ]]; then
		rm -rf "$OUT/katran"; mkdir -p "$OUT/katran"
		flags="-I$d/katran/lib/linux_includes -I$d -DDEBUG -D__KERNEL__ -Wno-unused-value -Wno-pointer-sign -Wno-compare-distinct-pointer-types -O2 -g -target bpf ${SYSINC[*]}"
		for s in balancer.bpf.c healthchecking_ipip.c healthchecking.bpf.c xdp_pktcntr.c xdp_root.c; do
			[[ -f "$d/katran/lib/bpf/$s" ]] && job katran "${s%.c}.o" "$d/katran/lib/bpf" "$s" "$flags"
		done
		[[ -f "$d/katran/decap/bpf/decap.bpf.c" ]] && job katran decap.bpf.o "$d/katran/decap/bpf" decap.bpf.c "$flags"
	else missing katran "$d/katran/lib/bpf"; fi
fi

# xdp-tools: every XDP_TARGETS of the tools' Makefiles, lib/util's .bpf.c, libxdp's programs.
if wants xdp-tools; then
	d="$SRC/xdp-tools"
	if [[ -d "$d/lib" ]]; then
		rm -rf "$OUT/xdp-tools"; mkdir -p "$OUT/xdp-tools"
		# What its configure script defines for a libbpf that has these functions (libbpf >= 1.0).
		have=""
		for f in PERF_BUFFER__CONSUME BTF__LOAD_FROM_KERNEL_BY_ID BTF__TYPE_CNT BPF_OBJECT__NEXT_MAP \
			BPF_OBJECT__NEXT_PROGRAM BPF_PROGRAM__INSN_CNT BPF_PROGRAM__TYPE BPF_PROGRAM__FLAGS \
			BPF_PROGRAM__EXPECTED_ATTACH_TYPE BPF_MAP_CREATE PERF_BUFFER__NEW_RAW BPF_XDP_ATTACH \
			BPF_MAP__SET_AUTOCREATE BPF_PROG_TEST_RUN_OPTS BPF_XDP_QUERY; do have+=" -DHAVE_LIBBPF_$f"; done
		flags="-Wall -Wno-unused-value -Wno-pointer-sign -Wno-compare-distinct-pointer-types -Wno-visibility -fno-stack-protector -std=gnu2x -DBPF_DIR_MNT=\"/sys/fs/bpf\" -DBPF_OBJECT_PATH=\"/usr/local/lib/bpf\" -DMAX_DISPATCHER_ACTIONS=10 -DDEBUG $have -I$d/headers -I$LIBBPF_INC -O2 -g -target bpf ${SYSINC[*]}"
		for mk in "$d"/*/Makefile "$d"/lib/testing/Makefile; do
			tool="$(dirname "$mk")"
			targets="$(awk '/^XDP_TARGETS/{f=1} f{print; if (!/\\$/) exit}' "$mk" | sed 's/^XDP_TARGETS *:*= *//; s/\\//g')"
			for t in $targets; do
				if [[ -f "$tool/$t.c" ]]; then job xdp-tools "$(basename "$tool")_$t.o" "$tool" "$t.c" "$flags"
				else skip xdp-tools "$tool/$t.c" "not found"; fi
			done
		done
		for s in "$d"/lib/util/*.bpf.c "$d"/lib/libxdp/xsk_def_xdp_prog*.c; do
			[[ -f "$s" ]] && job xdp-tools "$(basename "$(dirname "$s")")_$(basename "${s%.c}").o" "$(dirname "$s")" "$(basename "$s")" "$flags"
		done
		if [[ -f "$d/lib/libxdp/xdp-dispatcher.c.in" ]]; then
			if command -v m4 >/dev/null; then
				m4 -DMAX_DISPATCHER_ACTIONS=10 "$d/lib/libxdp/xdp-dispatcher.c.in" > "$OUT/xdp-tools/xdp-dispatcher.c"
				job xdp-tools libxdp_xdp-dispatcher.o "$OUT/xdp-tools" xdp-dispatcher.c "$flags -I$d/lib/libxdp"
			else skip xdp-tools lib/libxdp/xdp-dispatcher.c.in "needs m4 (apt-get install m4) to be generated"; fi
		fi
	else missing xdp-tools "$d/lib"; fi
fi

# bcc's libbpf-tools: every *.bpf.c as its Makefile builds them (vmlinux.h of the running kernel
# instead of the committed x86/vmlinux.h). Their vmlinux.h, as bpftool 7.4+ writes it, declares the
# kernel's kfuncs (sigsnoop calls bpf_task_from_pid behind bpf_ksym_exists): INC/kfuncs/vmlinux.h
# is the same header with the kfunc prototypes (`swiftbpf btf dump --format c --kfuncs`), used
# for bcc only (the selftests declare their kfuncs themselves).
if wants bcc; then
	d="$SRC/bcc/libbpf-tools"
	if [[ -d "$d" ]]; then
		rm -rf "$OUT/bcc"; mkdir -p "$OUT/bcc"
		uapi=""; [[ -d "$SRC/libbpf/include/uapi" ]] && uapi="-I$SRC/libbpf/include/uapi"
		bccinc="$INC"
		if [[ ! -s "$INC/kfuncs/vmlinux.h" ]]; then
			mkdir -p "$INC/kfuncs"
			SWIFTBPF="${SWIFTBPF:-$repo/.build/debug/swiftbpf}"
			if [[ -x "$SWIFTBPF" ]] && "$SWIFTBPF" btf dump --format c --kfuncs /sys/kernel/btf/vmlinux > "$INC/kfuncs/vmlinux.h.tmp" 2>/dev/null; then
				mv "$INC/kfuncs/vmlinux.h.tmp" "$INC/kfuncs/vmlinux.h"
			else
				rm -f "$INC/kfuncs/vmlinux.h.tmp"
				echo "bcc: no vmlinux.h with kfunc prototypes (needs a swiftbpf with btf dump --kfuncs); sigsnoop will not build"
			fi
		fi
		[[ -s "$INC/kfuncs/vmlinux.h" ]] && bccinc="$INC/kfuncs"
		flags="-g -O2 -Wall -target bpf -D__TARGET_ARCH_x86 -I$bccinc -I$LIBBPF_INC -I$d $uapi ${SYSINC[*]}"
		for s in "$d"/*.bpf.c; do job bcc "$(basename "${s%.c}").o" "$d" "$(basename "$s")" "$flags"; done
	else missing bcc "$d"; fi
fi

# The kernel's samples/bpf: the *.bpf.c (and *_kern.c using vmlinux.h) as its Makefile's vmlinux.h
# rule builds them; the other *_kern.c need a configured kernel build tree (LINUXINCLUDE with
# generated headers) and are tried with the UAPI headers only.
if wants linux-samples; then
	d="$SRC/linux/samples/bpf"
	if [[ -d "$d" ]]; then
		rm -rf "$OUT/linux-samples"; mkdir -p "$OUT/linux-samples"
		k="$SRC/linux"
		vm="-g -O2 --target=bpf -D__TARGET_ARCH_x86 -Wno-compare-distinct-pointer-types -I$INC -I$k/include -I$d -I$k/tools/include -I$LIBBPF_INC ${SYSINC[*]}"
		old="-g -O2 --target=bpf -D__KERNEL__ -D__BPF_TRACING__ -D__TARGET_ARCH_x86 -Wno-unused-value -Wno-pointer-sign -Wno-compare-distinct-pointer-types -Wno-gnu-variable-sized-type-not-at-end -Wno-address-of-packed-member -Wno-tautological-compare -Wno-unknown-warning-option -fno-asynchronous-unwind-tables -I$d -I$k/tools/testing/selftests/bpf -I$LIBBPF_INC -I$INC/samples-uapi ${SYSINC[*]}"
		# Their <uapi/linux/...> includes, answered by the system's UAPI headers.
		mkdir -p "$INC/samples-uapi"; ln -sfn /usr/include "$INC/samples-uapi/uapi"
		for s in "$d"/*.bpf.c "$d"/*_kern.c; do
			b="$(basename "$s")"
			if [[ "$b" == *.bpf.c ]] || grep -q '"vmlinux.h"' "$s"; then job linux-samples "${b%.c}.o" "$d" "$b" "$vm"
			else job linux-samples "${b%.c}.o" "$d" "$b" "$old"; fi
		done
	else missing linux-samples "$d"; fi
fi

# The kernel's selftests: tools/testing/selftests/bpf/progs/*.c with the Makefile's BPF_CFLAGS
# (-mcpu=v3). Some need bpf_testmod's kfuncs or a newer/older kernel than the running one.
if wants linux-selftests; then
	d="$SRC/linux/tools/testing/selftests/bpf"
	if [[ -d "$d/progs" ]]; then
		rm -rf "$OUT/linux-selftests"; mkdir -p "$OUT/linux-selftests"
		flags="-g -Wall -Werror -D__TARGET_ARCH_x86 -mlittle-endian -I$INC -I$LIBBPF_INC -I$d -I$SRC/linux/tools/include/uapi -Wno-compare-distinct-pointer-types -std=gnu11 -fno-strict-aliasing ${SYSINC[*]} -O2 --target=bpf -mcpu=v3"
		for s in "$d"/progs/*.c; do
			b="$(basename "$s")"
			extra=""; case "$b" in test_l4lb_noinline.c|test_xdp_noinline.c) extra="-fno-inline";; esac
			job linux-selftests "${b%.c}.o" "$d/progs" "$b" "$flags $extra"
		done
	else missing linux-selftests "$d/progs"; fi
fi

compile_one() {
	local project out dir source flags
	IFS=$'\t' read -r project out dir source flags <<< "$1"
	local log="$OUT/$project/.$out.log"
	# shellcheck disable=SC2086
	if (cd "$dir" && eval "\"$CLANG\" $flags -c \"$source\" -o \"$OUT/$project/$out\"") > "$log" 2>&1; then
		rm -f "$log"
	else
		rm -f "$OUT/$project/$out"
		local why
		why="$(grep -m1 -E 'error:|fatal' "$log" | sed "s|$SRC/||g; s|$OUT/||g")"
		printf '%s: %s\n' "$source" "${why:-clang failed (see .$out.log)}" >> "$OUT/$project/skipped.txt"
	fi
}
export -f compile_one
export OUT SRC CLANG
total=$(wc -l < "$JOBLIST")
echo "compiling $total sources with -j$JOBS ..."
tr '\n' '\0' < "$JOBLIST" | xargs -0 -P "$JOBS" -I{} bash -c 'compile_one "$1"' _ {}

echo
echo "built:"
for p in $PROJECTS; do
	[[ -d "$OUT/$p" ]] || continue
	n=$(find "$OUT/$p" -maxdepth 1 -name '*.o' | wc -l)
	s=0; [[ -f "$OUT/$p/skipped.txt" ]] && s=$(wc -l < "$OUT/$p/skipped.txt")
	echo "  $p: $n objects, $s skipped"
done
for p in $PROJECTS; do
	[[ -s "$OUT/$p/skipped.txt" ]] || continue
	echo
	echo "skipped in $p (source: first compiler error):"
	sort "$OUT/$p/skipped.txt" | sed 's/^/  /'
done
