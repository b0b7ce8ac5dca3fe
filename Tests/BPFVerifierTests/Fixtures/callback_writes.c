// SPDX-License-Identifier: GPL-2.0
/*
 * callback_writes.c - what a bpf_loop callback may change in its caller's stack. The callback
 * gets a pointer to a struct on the caller's stack; after the helper, the caller's stack bytes
 * the callback wrote hold unknown values, and every other byte keeps what the caller knew.
 * Built with ./build.sh.
 *
 *   loop_keeps_spilled_length   a length the caller keeps on its stack stays known
 *   loop_keeps_other_field      a field of the struct the callback never writes stays known
 *   loop_changes_index          the callback writes the index the caller then reads the packet at
 *   loop_keeps_callers_dynptr   a ringbuf dynptr the callback only reads through is still there
 *   loop_reads_callers_index    the callback reads an index its caller set and no iteration changes
 *   loop_advances_callers_index each iteration moves the index: a later one reads past the buffer
 *
 * bpf_loop's callback is explored run by run (as the kernel does), so a count the callback keeps
 * in its caller's stack is known after each number of runs the constant nr_loops allows:
 *
 *   loop_counts_one_run         one run: the count is 0 or 1, an index into a 2-byte table
 *   loop_counts_past_table      two runs: the count may be 2, past the table
 *   loop_counts_nested_runs     a callback that runs two more bpf_loops of one run each
 */
#include "swiftbpf_helpers.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} records SEC(".maps");

struct loop_state {
	__u64 count;
	__u64 index;
};

static long count_only(__u32 i, void *data)
{
	struct loop_state *s = data;

	s->count += i;
	return 0;
}

static long move_index(__u32 i, void *data)
{
	struct loop_state *s = data;

	s->index = 100;
	return 0;
}

SEC("xdp")
int loop_keeps_spilled_length(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	volatile __u64 header = 20;
	struct loop_state s = { 0, 0 };

	bpf_loop(4, count_only, &s, 0);
	if (data + header + 14 > data_end)
		return XDP_PASS;
	return ((__u8 *)data)[header + 13] + (__u8)s.count;
}

SEC("xdp")
int loop_keeps_other_field(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	volatile struct loop_state s = { 0, 6 };

	bpf_loop(4, count_only, (void *)&s, 0);
	if (data + 14 > data_end)
		return XDP_PASS;
	return ((__u8 *)data)[s.index] + (__u8)s.count;
}

SEC("xdp")
int loop_changes_index(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	volatile struct loop_state s = { 0, 6 };

	bpf_loop(4, move_index, (void *)&s, 0);
	if (data + 14 > data_end)
		return XDP_PASS;
	return ((__u8 *)data)[s.index];
}

static long touch_record(__u32 i, void *data)
{
	__u64 *value = bpf_dynptr_data(data, 0, sizeof(*value));

	if (value)
		*value += i;
	return 0;
}

SEC("xdp")
int loop_keeps_callers_dynptr(struct xdp_md *ctx)
{
	struct bpf_dynptr record;

	bpf_ringbuf_reserve_dynptr(&records, 8, 0, &record);
	bpf_loop(4, touch_record, &record, 0);
	bpf_ringbuf_discard_dynptr(&record, 0);
	return XDP_PASS;
}

struct scan_state {
	__u64 index;
	__u64 sum;
	__u8 bytes[8];
};

static long sum_at_index(__u32 i, void *data)
{
	struct scan_state *s = data;

	s->sum += s->bytes[s->index];
	return 0;
}

static long advance_index(__u32 i, void *data)
{
	struct scan_state *s = data;

	s->sum += s->bytes[s->index];
	s->index += 1;
	return 0;
}

SEC("xdp")
int loop_reads_callers_index(struct xdp_md *ctx)
{
	struct scan_state s;

	__builtin_memset(&s, 0, sizeof(s));
	s.index = 6;
	bpf_loop(4, sum_at_index, &s, 0);
	return (__u8)s.sum;
}

SEC("xdp")
int loop_advances_callers_index(struct xdp_md *ctx)
{
	struct scan_state s;

	__builtin_memset(&s, 0, sizeof(s));
	s.index = 6;
	bpf_loop(4, advance_index, &s, 0);
	return (__u8)s.sum;
}

__u8 run_table[2] = { 3, 5 };

static long bump_count(__u32 i, void *data)
{
	struct loop_state *s = data;

	s->count += 1;
	return 0;
}

SEC("xdp")
int loop_counts_one_run(struct xdp_md *ctx)
{
	struct loop_state s = { 0, 0 };

	bpf_loop(1, bump_count, &s, 0);
	return run_table[s.count];
}

SEC("xdp")
int loop_counts_past_table(struct xdp_md *ctx)
{
	struct loop_state s = { 0, 0 };

	bpf_loop(2, bump_count, &s, 0);
	return run_table[s.count];
}

static long add_ten(__u32 i, void *data)
{
	struct loop_state *s = data;

	s->index += 10;
	return 0;
}

static long bump_then_add(__u32 i, void *data)
{
	struct loop_state *s = data;

	s->index += 1;
	bpf_loop(1, add_ten, data, 0);
	bpf_loop(1, add_ten, data, 0);
	return 0;
}

SEC("xdp")
int loop_counts_nested_runs(struct xdp_md *ctx)
{
	struct loop_state s = { 0, 0 };
	__u8 bytes[32] = {};

	bpf_loop(1, bump_then_add, &s, 0);
	/* s.index is 0, 1, 11 or 21: each a byte of the buffer */
	return bytes[s.index];
}

char LICENSE[] SEC("license") = "GPL";
