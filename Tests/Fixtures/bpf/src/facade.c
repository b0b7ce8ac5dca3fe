// SPDX-License-Identifier: GPL-2.0
/*
 * facade.c - the SwiftBPF façade's fixture: global variables of every kind,
 * typed maps (a hash, a per-CPU array) and a ring buffer, in a tracer and an
 * XDP program.
 *
 * Globals:
 *   .rodata  const volatile __u32 target_pid = 0;  (0: every process)
 *   .data    __u32 step = 1;
 *   .bss     __u64 events_seen;
 * Maps:
 *   counts       hash u32 -> u64, 1024 entries
 *   percpu_hits  percpu_array u32 -> u64, 1 entry
 *   events       ringbuf 64 KiB of struct facade_event {u32 pid; u32 target; u64 seen;}
 *   perf_events  perf_event_array: the same event, with bpf_perf_event_output
 *
 * on_getppid  SEC("tp/syscalls/sys_enter_getppid"): for a getppid() of the
 *   process target_pid (or any, when 0): events_seen += step, counts[tgid] += 1,
 *   percpu_hits[0] += 1, and an event {tgid, target_pid, events_seen} to both
 *   the ring buffer and the perf event array. Returns 0.
 * xdp_count   SEC("xdp"): the same with the packet's length in place of the
 *   tgid, for packets whose length is target_pid (or any, when 0). Returns
 *   XDP_PASS (2).
 *
 * Runtime, target_pid = 0, step = 1, one 64-byte packet: counts[64] = 1,
 *   percpu_hits[0] = 1 on one CPU, events_seen = 1, one event {64, 0, 1}.
 */
#include "swiftbpf_helpers.h"

struct facade_event {
	__u32 pid;
	__u32 target;
	__u64 seen;
};

const volatile __u32 target_pid = 0;
__u32 step = 1;
__u64 events_seen;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} percpu_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096 * 16);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

static __always_inline void record(void *ctx, __u32 pid)
{
	__u64 one = 1, *count;
	__u32 zero = 0;

	events_seen += step;
	count = bpf_map_lookup_elem(&counts, &pid);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&counts, &pid, &one, BPF_NOEXIST);
	count = bpf_map_lookup_elem(&percpu_hits, &zero);
	if (count)
		*count += 1;

	struct facade_event copy = {pid, target_pid, events_seen};
	bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &copy, sizeof(copy));

	struct facade_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return;
	e->pid = pid;
	e->target = target_pid;
	e->seen = events_seen;
	bpf_ringbuf_submit(e, 0);
}

SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (target_pid && tgid != target_pid)
		return 0;
	record(ctx, tgid);
	return 0;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	if (target_pid && len != target_pid)
		return XDP_PASS;
	record(ctx, len);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
