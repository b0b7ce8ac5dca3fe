// SPDX-License-Identifier: GPL-2.0
/*
 * casts.c - bpf_rdonly_cast (libbpf's bpf_core_cast), built against the running kernel's types (see
 * typed_kernel.c) and loaded into the kernel by CastAgreementTests. ok_* are accepted by Linux
 * 6.18, bad_* refused:
 *
 *  ok_cast_skb        tc: the context seen as the kernel's struct sk_buff, its len read
 *  ok_cast_task       tracepoint: bpf_get_current_task() (a number) seen as a task_struct, its
 *                     pid and real_parent->tgid read
 *  bad_cast_write     a write through the cast pointer (it is read-only)
 *  bad_cast_pass      the cast pointer passed to bpf_task_acquire (untrusted)
 *  bad_cast_not_const the type id not known when verified
 */
#include "vmlinux.h"

#define SEC(name) __attribute__((section(name), used))
#define __ksym __attribute__((section(".ksyms")))
/* libbpf's bpf_core_type_id_kernel / bpf_core_cast, in our own words: the kernel's id for the type
 * (a CO-RE relocation the loader resolves), and the cast. */
#define core_type_id_kernel(type) __builtin_btf_type_id(*(typeof(type) *)0, 1)
#define core_cast(ptr, type) ((typeof(type) *)bpf_rdonly_cast((ptr), core_type_id_kernel(type)))

static __u64 (*bpf_get_current_task)(void) = (void *)35;

extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id__k) __ksym;
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

long sink;

SEC("tc")
int ok_cast_skb(struct __sk_buff *ctx)
{
	struct sk_buff *skb = core_cast(ctx, struct sk_buff);

	sink = skb->len;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int ok_cast_task(void *ctx)
{
	struct task_struct *task = core_cast((void *)bpf_get_current_task(), struct task_struct);

	sink = task->pid + task->real_parent->tgid;
	return 0;
}

SEC("tc")
int bad_cast_write(struct __sk_buff *ctx)
{
	struct sk_buff *skb = core_cast(ctx, struct sk_buff);

	skb->mark = 1;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int bad_cast_pass(void *ctx)
{
	struct task_struct *task = core_cast((void *)bpf_get_current_task(), struct task_struct);
	struct task_struct *held = bpf_task_acquire(task);

	if (held)
		bpf_task_release(held);
	return 0;
}

SEC("tc")
int bad_cast_not_const(struct __sk_buff *ctx)
{
	struct sk_buff *skb = bpf_rdonly_cast(ctx, ctx->len & 3);

	sink = skb->len;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
