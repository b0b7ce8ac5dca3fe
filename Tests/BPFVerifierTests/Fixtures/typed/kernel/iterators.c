// SPDX-License-Identifier: GPL-2.0
/*
 * iterators.c - the kernel's open-coded iterators over tasks, cgroups (css), a cgroup's tasks and
 * bits, built against the running kernel's types (see typed_kernel.c), checked by ModernEBPFTests
 * and loaded into the kernel by ModernEBPFAgreementTests. ok_* are accepted by Linux 6.18, bad_*
 * refused:
 *
 *  ok_tasks             syscall: every task's pid summed, the iterator destroyed
 *  bad_css_walked_start the css iterator started at a cgroup reached by walking task pointers,
 *                       which 6.18 takes as untrusted (iterator arguments must be trusted)
 *  ok_bits              syscall: the set bits of a 128-bit mask counted
 *  bad_tasks_leak       the task iterator never destroyed
 *  bad_next_unset       bpf_iter_task_next on an iterator never created
 *  bad_bits_read_state  the iterator's own stack slots read directly
 *  ok_num_unrolled      iters_num's num_overfetched_elem_cnt: ten bpf_iter_num_next calls (an
 *                       unrolled loop), an element counted on each; after the first NULL the
 *                       iterator is drained and later calls return NULL without forking
 *                       (process_iter_next_call), so the paths grow linearly, not as 2^10
 *  bad_num_third_element a write through the third element, which only exists while the
 *                       iterator was still active at the first two calls (elements are read-only)
 */
#include "vmlinux.h"

#define SEC(name) __attribute__((section(name), used))
#define __ksym __attribute__((section(".ksyms")))

extern int bpf_iter_task_new(struct bpf_iter_task *it, struct task_struct *task__nullable, unsigned int flags) __ksym;
extern struct task_struct *bpf_iter_task_next(struct bpf_iter_task *it) __ksym;
extern void bpf_iter_task_destroy(struct bpf_iter_task *it) __ksym;
extern int bpf_iter_css_new(struct bpf_iter_css *it, struct cgroup_subsys_state *start, unsigned int flags) __ksym;
extern struct cgroup_subsys_state *bpf_iter_css_next(struct bpf_iter_css *it) __ksym;
extern void bpf_iter_css_destroy(struct bpf_iter_css *it) __ksym;
extern int bpf_iter_bits_new(struct bpf_iter_bits *it, const __u64 *unsafe_ptr__ign, __u32 nr_words) __ksym;
extern int *bpf_iter_bits_next(struct bpf_iter_bits *it) __ksym;
extern void bpf_iter_bits_destroy(struct bpf_iter_bits *it) __ksym;
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

static struct task_struct *(*bpf_get_current_task_btf)(void) = (void *)158;

#define ITER_TASK_ALL_PROCS 2	/* BPF_TASK_ITER_ALL_PROCS */
#define ITER_CSS_DESCENDANTS_PRE 1	/* BPF_CGROUP_ITER_DESCENDANTS_PRE */

long total;

SEC("syscall")
int ok_tasks(void *ctx)
{
	struct bpf_iter_task it;
	struct task_struct *task;
	long sum = 0;

	bpf_rcu_read_lock();
	bpf_iter_task_new(&it, 0, ITER_TASK_ALL_PROCS);
	while ((task = bpf_iter_task_next(&it)))
		sum += task->pid;
	bpf_iter_task_destroy(&it);
	bpf_rcu_read_unlock();
	total = sum;
	return 0;
}

SEC("syscall")
int bad_css_walked_start(void *ctx)
{
	struct bpf_iter_css it;
	struct cgroup_subsys_state *pos;
	struct task_struct *current = bpf_get_current_task_btf();
	long n = 0;

	bpf_rcu_read_lock();
	bpf_iter_css_new(&it, &current->cgroups->dfl_cgrp->self, ITER_CSS_DESCENDANTS_PRE);
	while ((pos = bpf_iter_css_next(&it)))
		n++;
	bpf_iter_css_destroy(&it);
	bpf_rcu_read_unlock();
	total = n;
	return 0;
}

SEC("syscall")
int ok_bits(void *ctx)
{
	__u64 mask[2] = { 0xf0, 0x3 };
	struct bpf_iter_bits it;
	int *bit;
	long n = 0;

	bpf_iter_bits_new(&it, mask, 2);
	while ((bit = bpf_iter_bits_next(&it)))
		n += *bit;
	bpf_iter_bits_destroy(&it);
	total = n;
	return 0;
}

SEC("syscall")
int bad_tasks_leak(void *ctx)
{
	struct bpf_iter_task it;
	struct task_struct *task;

	bpf_rcu_read_lock();
	bpf_iter_task_new(&it, 0, ITER_TASK_ALL_PROCS);
	task = bpf_iter_task_next(&it);
	total = task ? task->pid : 0;
	bpf_rcu_read_unlock();
	return 0;
}

SEC("syscall")
int bad_next_unset(void *ctx)
{
	struct bpf_iter_task it;
	struct task_struct *task;

	bpf_rcu_read_lock();
	task = bpf_iter_task_next(&it);
	total = task ? task->pid : 0;
	bpf_iter_task_destroy(&it);
	bpf_rcu_read_unlock();
	return 0;
}

SEC("syscall")
int bad_bits_read_state(void *ctx)
{
	__u64 mask[1] = { 0x5 };
	struct bpf_iter_bits it;

	bpf_iter_bits_new(&it, mask, 1);
	total = *(volatile __u64 *)&it;
	bpf_iter_bits_destroy(&it);
	return 0;
}

SEC("syscall")
int ok_num_unrolled(void *ctx)
{
	struct bpf_iter_num it;
	int cnt = 0, *v, i;

	bpf_iter_num_new(&it, 0, 5);
#pragma unroll
	for (i = 0; i < 10; i++) {
		v = bpf_iter_num_next(&it);
		if (v)
			cnt++;
	}
	bpf_iter_num_destroy(&it);
	total = cnt;
	return 0;
}

SEC("syscall")
int bad_num_third_element(void *ctx)
{
	struct bpf_iter_num it;
	int *a, *b, *c;

	bpf_iter_num_new(&it, 0, 5);
	a = bpf_iter_num_next(&it);
	b = bpf_iter_num_next(&it);
	c = bpf_iter_num_next(&it);
	if (c)
		*c = a && b;
	bpf_iter_num_destroy(&it);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
