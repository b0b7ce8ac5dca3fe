// SPDX-License-Identifier: GPL-2.0
/*
 * opensnoop.bpf.c - every openat(2) of the process target_pid (0: of every
 * process): an event {pid, comm, filename} through the ring buffer `events`,
 * and a count per PID in `opens`.
 */
#include "swiftbpf_helpers.h"

/* The fields of tracepoint syscalls/sys_enter_openat (tracefs: .../format). */
struct sys_enter_openat {
	__u64 common;
	__s32 syscall_nr;
	__u32 pad;
	__u64 dfd;
	__u64 filename;
	__u64 flags;
	__u64 mode;
};

struct open_event {
	__u32 pid;
	__u32 uid;
	char comm[16];
	char filename[64];
};

const volatile __u32 target_pid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} opens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Makes `struct open_event` part of the object's BTF, so the skeleton has it. */
struct open_event *unused_open_event __attribute__((unused));

SEC("tp/syscalls/sys_enter_openat")
int trace_openat(struct sys_enter_openat *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1, *count;

	if (target_pid && pid != target_pid)
		return 0;
	count = bpf_map_lookup_elem(&opens, &pid);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&opens, &pid, &one, BPF_NOEXIST);

	struct open_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = pid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), (const void *)ctx->filename);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
