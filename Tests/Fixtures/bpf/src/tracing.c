// SPDX-License-Identifier: GPL-2.0
/*
 * tracing.c - one tiny program per tracing section prefix. These exist mainly
 * so a loader's section-name -> (program type, expected attach type, attach
 * target) mapping can be tested; each program's behaviour is trivial.
 * Counters are in the .bss array hits[]; index in brackets.
 *
 *  program          section                               type / attach type      target
 *  tp_openat        tracepoint/syscalls/sys_enter_openat  TRACEPOINT / -           syscalls:sys_enter_openat
 *  raw_tp_enter     raw_tracepoint/sys_enter              RAW_TRACEPOINT / -       sys_enter
 *  kprobe_openat2   kprobe/do_sys_openat2                 KPROBE / -               do_sys_openat2
 *  kretprobe_openat2 kretprobe/do_sys_openat2             KPROBE / - (return probe) do_sys_openat2
 *  uprobe_event     uprobe                                KPROBE / -               (given at attach time)
 *  fentry_unlinkat  fentry/do_unlinkat                    TRACING / BPF_TRACE_FENTRY  do_unlinkat (BTF)
 *  fexit_unlinkat   fexit/do_unlinkat                     TRACING / BPF_TRACE_FEXIT   do_unlinkat (BTF)
 *  tp_btf_switch    tp_btf/sched_switch                   TRACING / BPF_TRACE_RAW_TP  sched_switch (BTF)
 *  lsm_file_open    lsm/file_open                         LSM / BPF_LSM_MAC        file_open (BTF)
 *  perf_sample      perf_event                            PERF_EVENT / -
 *  syscall_prog     syscall                               SYSCALL / - (sleepable)
 *  iter_task        iter/task                             TRACING / BPF_TRACE_ITER task
 *
 * Observable results (each run):
 *  tp_openat       hits[0] += 1; last_openat_flags = ctx->flags; returns 0
 *  raw_tp_enter    hits[1] += 1; last_syscall_id = ctx->args[1]; returns 0
 *  kprobe_openat2  hits[2] += 1; returns 0
 *  kretprobe_openat2 hits[3] += 1; returns 0
 *  uprobe_event    submits one 24-byte ringbuf record {pid = tgid (upper 32
 *                  bits of pid_tgid), tid = lower 32 bits, comm[16] from
 *                  bpf_get_current_comm}; returns 0
 *  fentry_unlinkat hits[4] += 1; returns 0
 *  fexit_unlinkat  hits[5] += 1; returns 0
 *  tp_btf_switch   hits[6] += 1; returns 0
 *  lsm_file_open   hits[7] += 1; returns 0 (allow)
 *  perf_sample     hits[8] += 1; returns 0
 *  syscall_prog    returns 7 + hits[0] (7 on a fresh object)
 *  iter_task       hits[9] += 1; returns 0
 */
#include "swiftbpf_helpers.h"

__u64 hits[10];
__u64 last_openat_flags;
__u64 last_syscall_id;

/* Layout of the syscalls:sys_enter_openat tracepoint record: an 8-byte
 * common header, the syscall number, then one 8-byte slot per argument. */
struct openat_enter_ctx {
	__u16 common_type;
	__u8  common_flags;
	__u8  common_preempt_count;
	__s32 common_pid;
	__s32 syscall_nr;
	__u32 pad;
	__u64 dfd;
	__u64 filename;   /* user pointer */
	__u64 flags;
	__u64 mode;
};

/* raw_tracepoint programs see the tracepoint arguments as an array of u64. */
struct raw_tp_args {
	__u64 args[2];    /* sys_enter: args[0] = struct pt_regs *, args[1] = id */
};

struct proc_event {
	__u32 pid;
	__u32 tid;
	char  comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096 * 4);
} proc_events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int tp_openat(struct openat_enter_ctx *ctx)
{
	hits[0] += 1;
	last_openat_flags = ctx->flags;
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int raw_tp_enter(struct raw_tp_args *ctx)
{
	hits[1] += 1;
	last_syscall_id = ctx->args[1];
	return 0;
}

SEC("kprobe/do_sys_openat2")
int kprobe_openat2(void *ctx)
{
	hits[2] += 1;
	return 0;
}

SEC("kretprobe/do_sys_openat2")
int kretprobe_openat2(void *ctx)
{
	hits[3] += 1;
	return 0;
}

SEC("uprobe")
int uprobe_event(void *ctx)
{
	struct proc_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
	if (!e)
		return 0;

	__u64 id = bpf_get_current_pid_tgid();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("fentry/do_unlinkat")
int fentry_unlinkat(__u64 *ctx)
{
	hits[4] += 1;
	return 0;
}

SEC("fexit/do_unlinkat")
int fexit_unlinkat(__u64 *ctx)
{
	hits[5] += 1;
	return 0;
}

SEC("tp_btf/sched_switch")
int tp_btf_switch(__u64 *ctx)
{
	hits[6] += 1;
	return 0;
}

SEC("lsm/file_open")
int lsm_file_open(__u64 *ctx)
{
	hits[7] += 1;
	return 0;
}

SEC("perf_event")
int perf_sample(void *ctx)
{
	hits[8] += 1;
	return 0;
}

SEC("syscall")
int syscall_prog(void *ctx)
{
	return 7 + (int)hits[0];
}

SEC("iter/task")
int iter_task(void *ctx)
{
	hits[9] += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
