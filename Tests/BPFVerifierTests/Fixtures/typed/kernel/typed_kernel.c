// SPDX-License-Identifier: GPL-2.0
/*
 * typed_kernel.c - BTF-typed programs built against the running kernel's types (a
 * vmlinux.h that `swiftbpf btf dump /sys/kernel/btf/vmlinux --format c` generates at
 * build time; not committed). KernelTypedAgreementTests loads them into the kernel and
 * compares its verdicts with ours (CO-RE relocated against the kernel's BTF, as the
 * loader does). Programs named ok_* are accepted by Linux 6.18, bad_* refused:
 *
 *  ok_switch_fields   tp_btf/sched_switch: prev->pid, next->tgid, next->real_parent->tgid
 *                     (RCU-safe), next->comm[0]
 *  ok_acquire         tp_btf/sched_switch: bpf_task_acquire(next), NULL check, release
 *  ok_rcu             tp_btf/sched_switch: real_parent->real_parent->pid inside
 *                     bpf_rcu_read_lock/unlock
 *  ok_current_btf     tp_btf/sched_switch: bpf_get_current_task_btf()->pid
 *  bad_write          writes prev->pid
 *  bad_leak           acquires next and never releases it
 *  bad_untrusted      passes next->parent (not a published safe field: untrusted) to
 *                     bpf_task_acquire
 *  bad_release_arg    releases a task it never acquired
 *  bad_rcu_open       leaves an RCU read section open on one path
 *  bad_slot           reads argument 9 of sched_switch (it has 4)
 *  ok_iter_num        sums 0..99 with an open-coded number iterator (bpf_iter_num_*), into sink
 *  bad_iter_leak      creates a number iterator and never destroys it
 *  bad_iter_slot      reads the iterator's stack slot directly
 *  bad_iter_element   reads 8 bytes of the 4-byte element bpf_iter_num_next returns
 */
#include "vmlinux.h"

#define SEC(name) __attribute__((section(name), used))
#define __ksym __attribute__((section(".ksyms")))

static struct task_struct *(*bpf_get_current_task_btf)(void) = (void *)158;

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

long sink;

SEC("tp_btf/sched_switch")
int ok_switch_fields(unsigned long long *ctx)
{
	struct task_struct *prev = (struct task_struct *)ctx[1];
	struct task_struct *next = (struct task_struct *)ctx[2];
	sink = prev->pid + next->tgid + next->real_parent->tgid + next->comm[0];
	return 0;
}

SEC("tp_btf/sched_switch")
int ok_acquire(unsigned long long *ctx)
{
	struct task_struct *task = bpf_task_acquire((struct task_struct *)ctx[2]);
	if (!task)
		return 0;
	sink = task->pid;
	bpf_task_release(task);
	return 0;
}

SEC("tp_btf/sched_switch")
int ok_rcu(unsigned long long *ctx)
{
	struct task_struct *next = (struct task_struct *)ctx[2];
	bpf_rcu_read_lock();
	sink = next->real_parent->real_parent->pid;
	bpf_rcu_read_unlock();
	return 0;
}

SEC("tp_btf/sched_switch")
int ok_current_btf(unsigned long long *ctx)
{
	sink = bpf_get_current_task_btf()->pid;
	return 0;
}

SEC("tp_btf/sched_switch")
int bad_write(unsigned long long *ctx)
{
	struct task_struct *prev = (struct task_struct *)ctx[1];
	prev->pid = 0;
	return 0;
}

SEC("tp_btf/sched_switch")
int bad_leak(unsigned long long *ctx)
{
	struct task_struct *task = bpf_task_acquire((struct task_struct *)ctx[2]);
	if (task)
		sink = task->pid;
	return 0;
}

SEC("tp_btf/sched_switch")
int bad_untrusted(unsigned long long *ctx)
{
	struct task_struct *next = (struct task_struct *)ctx[2];
	struct task_struct *task = bpf_task_acquire(next->parent);
	if (task)
		bpf_task_release(task);
	return 0;
}

SEC("tp_btf/sched_switch")
int bad_release_arg(unsigned long long *ctx)
{
	bpf_task_release((struct task_struct *)ctx[2]);
	return 0;
}

SEC("tp_btf/sched_switch")
int bad_rcu_open(unsigned long long *ctx)
{
	struct task_struct *next = (struct task_struct *)ctx[2];
	bpf_rcu_read_lock();
	if (next->pid == 1)
		return 0;
	bpf_rcu_read_unlock();
	return 0;
}

SEC("tp_btf/sched_switch")
int bad_slot(unsigned long long *ctx)
{
	sink = ctx[9];
	return 0;
}

SEC("tp_btf/sched_switch")
int ok_iter_num(unsigned long long *ctx)
{
	struct bpf_iter_num it;
	long sum = 0;
	int *v;

	bpf_iter_num_new(&it, 0, 100);
	while ((v = bpf_iter_num_next(&it)))
		sum += *v;
	bpf_iter_num_destroy(&it);
	sink = sum;
	return 0;
}

SEC("tp_btf/sched_switch")
int bad_iter_leak(unsigned long long *ctx)
{
	struct bpf_iter_num it;
	int *v;

	bpf_iter_num_new(&it, 0, 10);
	v = bpf_iter_num_next(&it);
	if (v)
		sink = *v;
	return 0;
}

SEC("tp_btf/sched_switch")
int bad_iter_slot(unsigned long long *ctx)
{
	struct bpf_iter_num it;

	bpf_iter_num_new(&it, 0, 10);
	sink = *(volatile long *)&it;
	bpf_iter_num_destroy(&it);
	return 0;
}

SEC("tp_btf/sched_switch")
int bad_iter_element(unsigned long long *ctx)
{
	struct bpf_iter_num it;
	int *v;

	bpf_iter_num_new(&it, 0, 10);
	v = bpf_iter_num_next(&it);
	if (v)
		sink = *(volatile long *)v;
	bpf_iter_num_destroy(&it);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
