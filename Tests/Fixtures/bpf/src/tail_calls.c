// SPDX-License-Identifier: GPL-2.0
/*
 * tail_calls.c - a chain of tail calls through a PROG_ARRAY whose slots are
 * filled by the object file itself (`.values = {...}` relocations in .maps).
 *
 * Maps:
 *   chain   PROG_ARRAY(3) key_size 4, value_size 4, max_entries 4,
 *           initial slots {[0] = tail_stage1, [1] = tail_stage2,
 *                          [2] = tail_stage3}; slot 3 stays empty
 *   visits  ARRAY(2) __u32 -> __u64, max_entries 4: visits[i] counts entries
 *           into stage i (0 = tail_entry)
 *
 * Programs (all SEC("xdp") -> BPF_PROG_TYPE_XDP / BPF_XDP, five programs
 * sharing one section, told apart by their symbol names):
 *   tail_entry    visits[0]++, tail call chain[0]; falls through -> XDP_ABORTED
 *   tail_stage1   visits[1]++, tail call chain[1]; falls through -> XDP_ABORTED
 *   tail_stage2   visits[2]++, tail call chain[2]; falls through -> XDP_ABORTED
 *   tail_stage3   visits[3]++, returns XDP_DROP (1)
 *   tail_missing  tail call chain[3] (empty) -> falls through, returns XDP_PASS (2)
 *
 * Expected from fresh maps:
 *   run tail_entry once   -> retval 1 (XDP_DROP), visits = [1, 1, 1, 1]
 *   run tail_missing once -> retval 2 (XDP_PASS), visits unchanged
 *   run tail_stage2 once  -> retval 1, visits[2] and visits[3] each +1
 * If a loader leaves the prog array empty, tail_entry returns 0 and
 * visits = [1, 0, 0, 0].
 */
#include "swiftbpf_helpers.h"

int tail_stage1(struct xdp_md *ctx);
int tail_stage2(struct xdp_md *ctx);
int tail_stage3(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct xdp_md *));
} chain SEC(".maps") = {
	.values = {
		[0] = &tail_stage1,
		[1] = &tail_stage2,
		[2] = &tail_stage3,
	},
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} visits SEC(".maps");

static __always_inline void visit(__u32 stage)
{
	__u64 *v = bpf_map_lookup_elem(&visits, &stage);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("xdp")
int tail_entry(struct xdp_md *ctx)
{
	visit(0);
	bpf_tail_call(ctx, &chain, 0);
	return XDP_ABORTED;
}

SEC("xdp")
int tail_stage1(struct xdp_md *ctx)
{
	visit(1);
	bpf_tail_call(ctx, &chain, 1);
	return XDP_ABORTED;
}

SEC("xdp")
int tail_stage2(struct xdp_md *ctx)
{
	visit(2);
	bpf_tail_call(ctx, &chain, 2);
	return XDP_ABORTED;
}

SEC("xdp")
int tail_stage3(struct xdp_md *ctx)
{
	visit(3);
	return XDP_DROP;
}

SEC("xdp")
int tail_missing(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &chain, 3);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
