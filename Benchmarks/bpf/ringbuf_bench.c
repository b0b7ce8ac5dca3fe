// SPDX-License-Identifier: GPL-2.0
/*
 * ringbuf_bench.c - the producers `swiftbpf-bench ringbuf` runs: syscall
 * programs (BPF_PROG_TYPE_SYSCALL, run by BPF_PROG_TEST_RUN) that write
 * `count` fixed-size records into bench_ring with bpf_ringbuf_reserve/submit
 * in a bpf_loop. Each record starts with a sequence number (first_seq,
 * first_seq + 1, ... per run; 0 unless the caller says) so readers can check
 * that nothing was lost or reordered, and a reader can be told to stop by a
 * marker record (a run with a first_seq of its choosing). A reserve
 * that fails (the ring is full) is a drop; r0 is the number of records
 * written. Rebuild with ./build.sh.
 */
#include "swiftbpf_helpers.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} bench_ring SEC(".maps");

/* The test run's context. */
struct produce_args {
	__u32 count;
	__u32 pad;
	__u64 first_seq;
};

struct record16 {
	__u64 seq;
	__u64 value;
};

struct record64 {
	__u64 seq;
	__u64 value[7];
};

struct loop_state {
	__u64 seq;
	__u32 written;
};

static long emit16(__u64 index, struct loop_state *state)
{
	struct record16 *r = bpf_ringbuf_reserve(&bench_ring, sizeof(*r), 0);

	if (!r)
		return 0;
	r->seq = state->seq++;
	r->value = index;
	bpf_ringbuf_submit(r, 0);
	state->written++;
	return 0;
}

static long emit64(__u64 index, struct loop_state *state)
{
	struct record64 *r = bpf_ringbuf_reserve(&bench_ring, sizeof(*r), 0);

	if (!r)
		return 0;
	r->seq = state->seq++;
	for (int i = 0; i < 7; i++)
		r->value[i] = index + i;
	bpf_ringbuf_submit(r, 0);
	state->written++;
	return 0;
}

SEC("syscall")
int produce16(struct produce_args *args)
{
	struct loop_state state = { .seq = args->first_seq };

	bpf_loop(args->count, emit16, &state, 0);
	return state.written;
}

SEC("syscall")
int produce64(struct produce_args *args)
{
	struct loop_state state = { .seq = args->first_seq };

	bpf_loop(args->count, emit64, &state, 0);
	return state.written;
}

char LICENSE[] SEC("license") = "GPL";
