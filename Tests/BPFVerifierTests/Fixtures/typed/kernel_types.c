// SPDX-License-Identifier: GPL-2.0
/*
 * kernel_types.c - not a program to run: its BTF stands in for a kernel's in the
 * verifier's typed-pointer tests (struct task_struct and friends from
 * kernel_types.h, the tracepoint typedefs btf_trace_sb_event and btf_trace_sb_skb,
 * the published task_struct__safe_rcu and sk_buff__safe_rcu_or_null, and the functions sb_traced and
 * sb_nullable that fentry/fexit programs attach to).
 *
 *   sb_traced(struct task_struct *task, int flags, char *name) -> long
 *   sb_nullable(struct task_struct *task__nullable) -> int
 *   sb_pair(struct task_struct *task, struct sb_file pair) -> int   (a 16-byte struct by value: two slots)
 *
 * and two kfuncs under the kernel's names, so the verifier's kfunc flags apply:
 *   bpf_task_acquire(struct task_struct *p) -> struct task_struct *   (acquire, may return NULL)
 *   bpf_task_release(struct task_struct *p)                           (release)
 *   bpf_rcu_read_lock(), bpf_rcu_read_unlock()                        (an RCU read section)
 */
#include "swiftbpf_helpers.h"
#include "kernel_types.h"

btf_trace_sb_event sb_event_prototype;
struct task_struct__safe_rcu sb_safe_rcu;
btf_trace_sb_skb sb_skb_prototype;
struct sk_buff__safe_rcu_or_null sb_skb_safe;
struct sock sb_sock;   /* so the BTF defines struct sock, not only declares it */

__attribute__((noinline)) long sb_traced(struct task_struct *task, int flags, char *name)
{
	return task ? task->pid + flags + (name ? 1 : 0) : 0;
}

__attribute__((noinline)) int sb_nullable(struct task_struct *task__nullable)
{
	return task__nullable ? 1 : 0;
}

__attribute__((noinline)) int sb_pair(struct task_struct *task, struct sb_file pair)
{
	return task ? (int)pair.f_pos : 0;
}

__attribute__((noinline)) struct task_struct *bpf_task_acquire(struct task_struct *p)
{
	return p;
}

__attribute__((noinline)) void bpf_task_release(struct task_struct *p)
{
	if (p)
		p->flags = 0;
}

__attribute__((noinline)) void bpf_rcu_read_lock(void)
{
	sb_safe_rcu.real_parent = 0;
}

__attribute__((noinline)) void bpf_rcu_read_unlock(void)
{
	sb_safe_rcu.real_parent = 0;
}

SEC("socket")
int kernel_types_user(struct __sk_buff *skb)
{
	struct task_struct t = {};
	struct sb_file f = {};
	bpf_task_release(&t);
	bpf_rcu_read_lock();
	bpf_rcu_read_unlock();
	return sb_traced(&t, skb->len, 0) + sb_nullable(&t) + sb_pair(&t, f) + (sb_event_prototype ? 1 : 0)
		+ (sb_safe_rcu.real_parent ? 1 : 0) + (bpf_task_acquire(&t) ? 1 : 0)
		+ (sb_skb_prototype ? 1 : 0) + (sb_skb_safe.sk ? 1 : 0) + sb_sock.sk_mark;
}

char LICENSE[] SEC("license") = "GPL";
