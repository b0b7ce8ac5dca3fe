// SPDX-License-Identifier: GPL-2.0
/*
 * core_task.c - a CO-RE program built against a vmlinux.h that
 * `swiftbpf btf dump /sys/kernel/btf/vmlinux --format c` generated (build.sh
 * makes it at build time; it is not committed). A loader must resolve its
 * CO-RE relocations against the running kernel's BTF.
 *
 * core_task (raw_tp/sys_enter): run by BPF_PROG_TEST_RUN in the calling
 * thread, fills `result` (.bss) and returns 1:
 *   pid, tgid      current->pid, current->tgid (the test thread's tid and pid)
 *   parent_tgid    current->real_parent->tgid (the test process's parent pid)
 *   comm           current->comm
 *   flavor_tgid    tgid again, read through `struct task_struct___flavor`,
 *                  whose local layout is wrong on purpose: only a relocation
 *                  by name (flavor suffix stripped) gives the right value
 *   pid_exists 1, bogus_exists 0 (a field no kernel has)
 *   task_exists 1, task_size = sizeof(struct task_struct) in the kernel
 *   ringbuf_value  BPF_MAP_TYPE_RINGBUF (27), ringbuf_exists 1, bogus_enum_exists 0
 *   pid_offset     the byte offset of task_struct.pid in the kernel
 *   pid_signed 1, pid_size 4
 */
#include "vmlinux.h"

#define SEC(name) __attribute__((section(name), used))

static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
static long (*bpf_probe_read_kernel_str)(void *dst, __u32 size, const void *src) = (void *)115;
static __u64 (*bpf_get_current_task)(void) = (void *)35;

/* A deliberately wrong local layout: `tgid` is at offset 4 here. */
struct task_struct___flavor {
	int bogus_field;
	int tgid;
} __attribute__((preserve_access_index));

enum bpf_map_type___flavor {
	BPF_MAP_TYPE_RINGBUF___flavor = 1000,
	BPF_MAP_TYPE_NO_SUCH_MAP___flavor = 1001,
};

struct core_result {
	int pid;
	int tgid;
	int parent_tgid;
	int flavor_tgid;
	char comm[16];
	__u32 pid_exists;
	__u32 bogus_exists;
	__u32 task_exists;
	__u32 task_size;
	__u64 ringbuf_value;
	__u32 ringbuf_exists;
	__u32 bogus_enum_exists;
	__u32 pid_offset;
	__u32 pid_signed;
	__u32 pid_size;
};

struct core_result result;

#define READ(dst, src) bpf_probe_read_kernel(&(dst), sizeof(dst), __builtin_preserve_access_index(&(src)))

SEC("raw_tp/sys_enter")
int core_task(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___flavor *flavor = (struct task_struct___flavor *)task;
	struct task_struct *parent = 0;

	READ(result.pid, task->pid);
	READ(result.tgid, task->tgid);
	READ(parent, task->real_parent);
	if (parent)
		READ(result.parent_tgid, parent->tgid);
	READ(result.flavor_tgid, flavor->tgid);
	bpf_probe_read_kernel_str(result.comm, sizeof(result.comm), __builtin_preserve_access_index(&task->comm));

	result.pid_exists = __builtin_preserve_field_info(task->pid, 2);
	result.bogus_exists = __builtin_preserve_field_info(flavor->bogus_field, 2);
	result.task_exists = __builtin_preserve_type_info(*(struct task_struct *)0, 0);
	result.task_size = __builtin_preserve_type_info(*(struct task_struct *)0, 1);
	result.ringbuf_value = __builtin_preserve_enum_value(*(enum bpf_map_type___flavor *)BPF_MAP_TYPE_RINGBUF___flavor, 1);
	result.ringbuf_exists = __builtin_preserve_enum_value(*(enum bpf_map_type___flavor *)BPF_MAP_TYPE_RINGBUF___flavor, 0);
	result.bogus_enum_exists = __builtin_preserve_enum_value(*(enum bpf_map_type___flavor *)BPF_MAP_TYPE_NO_SUCH_MAP___flavor, 0);
	result.pid_offset = __builtin_preserve_field_info(task->pid, 0);
	result.pid_signed = __builtin_preserve_field_info(task->pid, 3);
	result.pid_size = __builtin_preserve_field_info(task->pid, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
