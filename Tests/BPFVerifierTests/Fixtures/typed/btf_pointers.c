// SPDX-License-Identifier: GPL-2.0
/*
 * btf_pointers.c - BTF-typed programs (tp_btf, fentry, fexit) reading kernel
 * objects through typed pointers, verified against kernel_types.o's BTF as the
 * kernel's. Programs named ok_* are safe (the kernel's rules accept them);
 * bad_* are refused for the reason in their comment.
 *
 *  ok_tp_fields      tp_btf/sb_event: task->pid, the bitfield, comm[3], files.count,
 *                    files.fd[2]->f_pos, task->real_parent->tgid (RCU-safe),
 *                    flags (a number argument); returns 0
 *  ok_fentry         fentry/sb_traced: task->tgid + flags; name (char *) is a number
 *  ok_fexit_ret      fexit/sb_traced: the return value (ctx slot 3)
 *  ok_null_check     fentry/sb_nullable: task__nullable checked before the read
 *  ok_pair           fentry/sb_pair: the struct argument takes slots 1-2; slot 0 is task
 *  ok_current_task   tp_btf/sb_event: bpf_get_current_task_btf()->pid, and the task
 *                    passed to bpf_get_task_stack (a trusted pointer)
 *  ok_walk_null      fentry/sb_traced: a loaded pointer compared with NULL (both branches)
 *  ok_flex           tp_btf/sb_event: task->extra[5] (past the struct, in its flexible array)
 *  bad_past_end      reads 4 bytes past struct sb_file through a pointer into it
 *  bad_write         writes task->pid
 *  bad_partial_ptr   reads 4 bytes of the pointer field real_parent
 *  bad_nullable      fentry/sb_nullable: reads task__nullable without a NULL check
 *  bad_slot          fentry/sb_traced: ctx slot 5 (sb_traced has 3 arguments)
 *  bad_untrusted     passes task->other (walked through a union: untrusted) to bpf_get_task_stack
 *  bad_misaligned    tp_btf/sb_event: a context read at offset 4
 *  bad_no_target     tp_btf/sb_missing: the kernel has no such tracepoint
 *
 * kfuncs (declared __ksym; kernel_types.o's BTF has bpf_task_acquire and
 * bpf_task_release, not bpf_sb_missing):
 *  ok_kfunc_acquire  acquires the tracepoint's task, checks it, reads it, releases it
 *  bad_kfunc_leak    acquires and never releases
 *  bad_kfunc_null    reads the acquired task without a NULL check
 *  bad_kfunc_release releases a task it never acquired
 *  bad_kfunc_missing calls a kfunc the kernel does not have
 *  ok_rcu_section    reads real_parent->tgid inside bpf_rcu_read_lock/unlock
 *  bad_rcu_open      returns inside an RCU read section on one path
 *  bad_rcu_unmatched calls bpf_rcu_read_unlock without a lock
 *  ok_ksym_exists    calls bpf_task_acquire only if bpf_ksym_exists says the kernel has it, and
 *                    the __weak bpf_sb_weak_missing (absent) only behind its own check: dead code
 */
#include "swiftbpf_helpers.h"
#include "kernel_types.h"

/* What the ok_* programs read, kept so the compiler keeps the reads. */
long sink;

#define __ksym __attribute__((section(".ksyms")))
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern int bpf_sb_missing(int x) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern int bpf_sb_weak_missing(int x) __ksym __attribute__((weak));
#define bpf_ksym_exists(sym) (!!(sym))
extern void bpf_rcu_read_unlock(void) __ksym;

static struct task_struct *(* const bpf_get_current_task_btf)(void) = (void *) 158;
static long (* const bpf_get_task_stack)(struct task_struct *task, void *buf, __u32 size, __u64 flags) = (void *) 141;

SEC("tp_btf/sb_event")
int ok_tp_fields(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	unsigned long flags = ctx[1];
	struct task_struct *parent = task->real_parent;
	sink = task->pid + task->state + task->comm[3] + task->files.count + task->files.fd[2]->f_pos
		+ parent->tgid + (long)flags;
	return 0;
}

SEC("fentry/sb_traced")
int ok_fentry(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	int flags = (int)ctx[1];
	char *name = (char *)ctx[2];
	sink = task->tgid + flags + (name != 0);
	return 0;
}

SEC("fexit/sb_traced")
int ok_fexit_ret(unsigned long long *ctx)
{
	sink = (long)ctx[3];
	return 0;
}

SEC("fentry/sb_nullable")
int ok_null_check(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	if (!task)
		return 0;
	sink = task->pid;
	return 0;
}

SEC("fentry/sb_pair")
int ok_pair(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	long pos = (long)ctx[2];
	sink = task->pid + pos;
	return 0;
}

SEC("tp_btf/sb_event")
int ok_current_task(unsigned long long *ctx)
{
	char stack[64];
	struct task_struct *task = bpf_get_current_task_btf();
	bpf_get_task_stack(task, stack, sizeof(stack), 0);
	sink = task->pid;
	return 0;
}

SEC("fentry/sb_traced")
int ok_walk_null(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	struct task_struct *leader = task->group_leader;
	if (!leader)
		return 0;
	sink = leader->pid;
	return 0;
}

SEC("tp_btf/sb_event")
int ok_flex(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	sink = task->extra[5];
	return 0;
}

SEC("tp_btf/sb_event")
int bad_past_end(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	struct sb_file *file = task->files.fd[0];
	return *(volatile int *)((char *)file + sizeof(struct sb_file));
}

SEC("tp_btf/sb_event")
int bad_write(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	task->pid = 1;
	return 0;
}

SEC("tp_btf/sb_event")
int bad_partial_ptr(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	return *(volatile int *)&task->real_parent;
}

SEC("fentry/sb_nullable")
int bad_nullable(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	sink = task->pid;
	return 0;
}

SEC("fentry/sb_traced")
int bad_slot(unsigned long long *ctx)
{
	sink = ctx[5];
	return 0;
}

SEC("tp_btf/sb_event")
int bad_untrusted(unsigned long long *ctx)
{
	char stack[64];
	struct task_struct *task = (struct task_struct *)ctx[0];
	bpf_get_task_stack(task->other, stack, sizeof(stack), 0);
	return 0;
}

SEC("tp_btf/sb_event")
int bad_misaligned(unsigned long long *ctx)
{
	return *(volatile int *)((char *)ctx + 4);
}

SEC("tp_btf/sb_missing")
int bad_no_target(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	return task->pid;
}

SEC("tp_btf/sb_event")
int ok_kfunc_acquire(unsigned long long *ctx)
{
	struct task_struct *task = bpf_task_acquire((struct task_struct *)ctx[0]);
	if (!task)
		return 0;
	sink = task->pid;
	bpf_task_release(task);
	return 0;
}

SEC("tp_btf/sb_event")
int bad_kfunc_leak(unsigned long long *ctx)
{
	struct task_struct *task = bpf_task_acquire((struct task_struct *)ctx[0]);
	if (!task)
		return 0;
	sink = task->pid;
	return 0;
}

SEC("tp_btf/sb_event")
int bad_kfunc_null(unsigned long long *ctx)
{
	struct task_struct *task = bpf_task_acquire((struct task_struct *)ctx[0]);
	sink = task->pid;
	if (task)
		bpf_task_release(task);
	return 0;
}

SEC("tp_btf/sb_event")
int bad_kfunc_release(unsigned long long *ctx)
{
	bpf_task_release((struct task_struct *)ctx[0]);
	return 0;
}

SEC("tp_btf/sb_event")
int bad_kfunc_missing(unsigned long long *ctx)
{
	sink = bpf_sb_missing(1);
	return 0;
}

SEC("tp_btf/sb_event")
int ok_rcu_section(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	bpf_rcu_read_lock();
	sink = task->real_parent->tgid;
	bpf_rcu_read_unlock();
	return 0;
}

SEC("tp_btf/sb_event")
int bad_rcu_open(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	bpf_rcu_read_lock();
	if (task->pid == 1)
		return 0;
	bpf_rcu_read_unlock();
	return 0;
}

SEC("tp_btf/sb_event")
int bad_rcu_unmatched(unsigned long long *ctx)
{
	bpf_rcu_read_unlock();
	return 0;
}

SEC("tp_btf/sb_event")
int ok_ksym_exists(unsigned long long *ctx)
{
	if (bpf_ksym_exists(bpf_sb_weak_missing))
		sink = bpf_sb_weak_missing(2);
	if (bpf_ksym_exists(bpf_task_acquire)) {
		struct task_struct *task = bpf_task_acquire((struct task_struct *)ctx[0]);
		if (task)
			bpf_task_release(task);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
