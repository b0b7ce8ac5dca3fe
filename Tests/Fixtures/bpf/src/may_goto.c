// SPDX-License-Identifier: GPL-2.0
/*
 * may_goto.c - loops bounded by the may_goto instruction (the kernel selftests'
 * can_loop / cond_break), which clang 19+ emits from `asm goto("may_goto ...")`.
 * Each call frame has a loop budget (the kernel's BPF_MAX_LOOPS, 8M; the
 * kernel's x86-64 JIT renews it until about 250 ms have passed): may_goto falls
 * through while budget is left and jumps once it is spent.
 *
 * Programs (all SEC("xdp"), run with BPF_PROG_TEST_RUN-style inputs):
 *   mg_scan     counts the packet bytes from offset 14 until the first zero byte
 *               (a loop bounded only by can_loop); returns that count, or
 *               1000 + count when the packet ends first.
 *               Frames.ipv4(...): byte 15 (TOS) is 0 -> returns 1; 40 bytes of
 *               0xff -> 1026; the ARP request (byte 14 is 0) -> 0.
 *   mg_collatz  Collatz steps from n = (packet byte 23, the IP protocol) | 1
 *               (a data-dependent loop, can_loop): TCP (6) -> n = 7 -> 16 steps;
 *               UDP (17) -> 12 steps; ICMP (1) -> 0; packet shorter than 24
 *               bytes -> 0xffff.
 *   mg_nested   sum of grid[i * 8 + j] * (i + 1) over an 8x8 grid in .data, the
 *               outer loop with can_loop, the inner one with cond_break;
 *               grid[i * 8 + j] = i * 8 + j -> returns 11760.
 *   mg_budget   a loop with no bound but the budget: counts its iterations and
 *               returns 1 when more than 1000 ran (both backends), else 0.
 *   mg_callback bpf_loop(4, cb): cb(index) adds index * j for j < 8 (can_loop;
 *               each callback call is a frame with its own budget), then
 *               steps a subprogram's can_loop loop 5 times -> 6 * 28 + 5 = 173.
 */
#include "swiftbpf_helpers.h"

/* Our own spelling of the selftests' macros: may_goto jumps to l_break once the budget is spent. */
#define can_loop                                                        \
	({                                                              \
		__label__ l_break, l_continue;                          \
		int ok_ = 1;                                            \
		asm volatile goto("may_goto %l[l_break]" :::: l_break); \
		goto l_continue;                                        \
	l_break:                                                        \
		ok_ = 0;                                                \
	l_continue:;                                                    \
		ok_;                                                    \
	})

#define cond_break                                                      \
	({                                                              \
		__label__ l_break, l_continue;                          \
		asm volatile goto("may_goto %l[l_break]" :::: l_break); \
		goto l_continue;                                        \
	l_break:                                                        \
		break;                                                  \
	l_continue:;                                                    \
	})

volatile __u32 zero;   /* .bss: 0, but unknown to the compiler (no unrolling) */

/* grid[i * 8 + j] = i * 8 + j */
__u32 grid[64] = {
	0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
	32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
	48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
};

SEC("xdp")
int mg_scan(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 i = zero;

	while (can_loop) {
		__u8 *p = data + 14 + (i & 1023);

		if ((void *)(p + 1) > end)
			return 1000 + i;
		if (*p == 0)
			break;
		i++;
	}
	return i;
}

SEC("xdp")
int mg_collatz(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *proto = data + 23;
	__u32 n, steps = 0;

	if ((void *)(proto + 1) > end)
		return 0xffff;
	n = *proto | 1;
	while (n != 1 && can_loop) {
		n = (n & 1) ? 3 * n + 1 : n / 2;
		steps++;
	}
	return steps;
}

SEC("xdp")
int mg_nested(struct xdp_md *ctx)
{
	__u32 sum = 0, i, j;

	for (i = zero; i < 8 && can_loop; i++)
		for (j = zero; j < 8; j++) {
			__u32 k = i * 8 + j;

			asm volatile("" : "+r"(k));   /* keep the index (no pointer walk) */
			if (k < 64)
				sum += grid[k] * (i + 1);
			cond_break;
		}
	return sum;
}

SEC("xdp")
int mg_budget(struct xdp_md *ctx)
{
	__u64 n = zero;

	for (;;) {
		cond_break;
		n++;
	}
	return n > 1000 ? 1 : 0;
}

struct cb_ctx {
	__u64 sum;
};

static int mg_step(__u32 index, struct cb_ctx *c)
{
	__u32 j;

	for (j = zero; j < 8 && can_loop; j++)
		c->sum += index * j;
	return 0;
}

static __noinline __u64 mg_count(__u32 n)
{
	__u64 k = 0;

	while (k < n && can_loop)
		k++;
	return k;
}

SEC("xdp")
int mg_callback(struct xdp_md *ctx)
{
	struct cb_ctx c = { 0 };

	bpf_loop(4, mg_step, &c, 0);
	return c.sum + mg_count(5 + zero);
}

char LICENSE[] SEC("license") = "GPL";
