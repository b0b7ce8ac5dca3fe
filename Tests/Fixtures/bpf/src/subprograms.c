// SPDX-License-Identifier: GPL-2.0
/*
 * subprograms.c - BPF-to-BPF calls. The callees live in .text; a loader must
 * append each used callee to every program that reaches it and fix up the
 * pc-relative `call` (src_reg = BPF_PSEUDO_CALL) instructions.
 *
 * .text functions:
 *   clamp_len     static __noinline   min(x, 1500)
 *   scale_global  global __noinline   3 * x + 1 (BTF linkage "global";
 *                                     the kernel verifies it on its own)
 *   chain_level1  static __noinline   chain_level2(x) + 1
 *   chain_level2  static __noinline   chain_level3(x) * 2
 *   chain_level3  static __noinline   x + 10
 *   so chain_level1(x) = 2 * (x + 10) + 1  (call depth 3, no recursion)
 *
 * Programs (both call clamp_len and scale_global):
 *   sub_xdp  SEC("xdp")  -> BPF_PROG_TYPE_XDP / BPF_XDP
 *            len = data_end - data; stores
 *              sub_result_xdp = scale_global(clamp_len(len)) + chain_level1(len & 0xff)
 *            returns XDP_PASS (2).
 *            For a 100-byte frame: scale 3*100+1 = 301, chain 2*(100+10)+1 = 221,
 *            sub_result_xdp = 522.
 *            For a 2000-byte frame: clamp -> 1500, scale 4501,
 *            chain(2000 & 0xff = 208) = 437, sub_result_xdp = 4938.
 *   sub_tc   SEC("tc")   -> BPF_PROG_TYPE_SCHED_CLS (no expected attach type)
 *            returns scale_global(clamp_len(skb->len)) & 0x7 == 0 ? TC_ACT_SHOT
 *            : TC_ACT_OK, and stores sub_result_tc = scale_global(clamp_len(len)).
 *            For skb->len 100: 301 & 7 = 5 -> TC_ACT_OK (0), sub_result_tc 301.
 *            For skb->len 5:   16 & 7 = 0  -> TC_ACT_SHOT (2), sub_result_tc 16.
 */
#include "swiftbpf_helpers.h"

__u32 sub_result_xdp;
__u32 sub_result_tc;

static __noinline __u32 clamp_len(__u32 x)
{
	return x > 1500 ? 1500 : x;
}

__noinline __u32 scale_global(__u32 x)
{
	return 3 * x + 1;
}

static __noinline __u32 chain_level3(__u32 x)
{
	return x + 10;
}

static __noinline __u32 chain_level2(__u32 x)
{
	return chain_level3(x) * 2;
}

static __noinline __u32 chain_level1(__u32 x)
{
	return chain_level2(x) + 1;
}

SEC("xdp")
int sub_xdp(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	sub_result_xdp = scale_global(clamp_len(len)) + chain_level1(len & 0xff);
	return XDP_PASS;
}

SEC("tc")
int sub_tc(struct __sk_buff *skb)
{
	__u32 v = scale_global(clamp_len(skb->len));

	sub_result_tc = v;
	return (v & 0x7) == 0 ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
