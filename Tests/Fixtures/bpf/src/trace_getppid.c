// SPDX-License-Identifier: GPL-2.0
/*
 * trace_getppid.c - the `swiftbpf trace` fixture: one tracepoint program on
 * syscalls:sys_enter_getppid that, for every getppid() call in the system,
 *  - adds one to total[0] (an array) and to calls[tgid] (a hash by process),
 *  - submits a 32-byte record to the ring buffer `events`:
 *      {u32 tgid; u32 tid; u64 count (calls[tgid] after this call); char comm[16]},
 *  - writes "swiftbpf_trace: getppid from tgid %u, call %llu" with bpf_printk.
 * Returns 0.
 */
#include "swiftbpf_helpers.h"

struct getppid_event {
	__u32 tgid;
	__u32 tid;
	__u64 count;
	char  comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096 * 16);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
	__u32 zero = 0;
	__u64 *all = bpf_map_lookup_elem(&total, &zero);
	if (all)
		__sync_fetch_and_add(all, 1);

	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u64 count = 1;
	__u64 *seen = bpf_map_lookup_elem(&calls, &tgid);
	if (seen) {
		__sync_fetch_and_add(seen, 1);
		count = *seen;
	} else {
		bpf_map_update_elem(&calls, &tgid, &count, BPF_ANY);
	}

	struct getppid_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->tgid = tgid;
		e->tid = (__u32)id;
		e->count = count;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		bpf_ringbuf_submit(e, 0);
	}
	bpf_printk("swiftbpf_trace: getppid from tgid %u, call %llu", tgid, count);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
